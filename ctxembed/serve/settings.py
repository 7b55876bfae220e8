"""What `ctxembed serve` allows: where it listens, the request limits and the API key."""

from __future__ import annotations

from dataclasses import dataclass, field

from ctxembed.errors import ConfigError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
API_KEY_ENV = "CTXEMBED_API_KEY"


@dataclass(frozen=True)
class ServeConfig:
    """The service's address and limits; every limit answers a clear 4xx (or 429) when passed."""

    host: str = field(default="127.0.0.1", metadata={"help": "Address to bind (local only by default)."})
    port: int = field(default=8000, metadata={"help": "TCP port."})
    max_k: int = field(default=100, metadata={"help": "Most hits a search may ask for."})
    max_batch: int = field(default=64, metadata={"help": "Most queries (or embedding inputs) in one request."})
    max_text_chars: int = field(default=8192, metadata={"help": "Longest query or embedding input, in characters."})
    max_body_bytes: int = field(default=1_000_000, metadata={"help": "Largest request body, in bytes."})
    timeout_s: float = field(default=30.0, metadata={"help": "A request still running after this answers 504."})
    max_concurrency: int = field(default=4, metadata={"help": "Requests computed at once (2 cores: 2 to 4)."})
    max_queue: int = field(default=64, metadata={"help": "Requests waiting for a slot; one more answers 429."})
    api_key: str | None = field(
        default=None,
        metadata={"help": f"Bearer token required on every route but /health (or set {API_KEY_ENV})."},
    )

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, got {self.port}", key="port")
        small = {
            k: getattr(self, k) for k in ("max_k", "max_batch", "max_text_chars", "max_body_bytes", "max_concurrency")
        }
        bad = [k for k, v in small.items() if v < 1] + (["max_queue"] if self.max_queue < 0 else [])
        if bad or not self.timeout_s > 0:
            raise ConfigError(
                f"serve limits must be positive (max_queue may be 0), got {', '.join(bad) or 'timeout_s'}",
                key=(bad or ["timeout_s"])[0],
            )
        if self.api_key is not None and len(self.api_key) < 8:
            raise ConfigError("api_key must be at least 8 characters", key="api_key")

    @property
    def local_only(self) -> bool:
        """Whether the service binds to a loopback address only."""
        return self.host in LOCAL_HOSTS or self.host.startswith("127.")
