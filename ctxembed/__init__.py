"""ctxembed: adapt embedding models to your domain text and search with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctxembed.config import ContextualConfig, CorpusConfig, IndexConfig, IndexRunConfig, StaticConfig
from ctxembed.errors import CtxEmbedError
from ctxembed.index import VectorIndex
from ctxembed.types import Backend, Embedder, SearchResult

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "ContextualConfig",
    "CorpusConfig",
    "CtxEmbedError",
    "Embedder",
    "IndexConfig",
    "IndexRunConfig",
    "SearchResult",
    "StaticConfig",
    "VectorIndex",
    "__version__",
    "embedder_from_identity",
    "embedder_from_manifest",
    "load_embedder",
]


def load_embedder(backend: Backend | str, config: StaticConfig | ContextualConfig | None = None) -> Embedder:
    """Load the embedder of `backend` as `config` describes (defaults: GloVe 50d or MiniLM)."""
    backend = Backend(backend)
    if backend == Backend.STATIC:
        from ctxembed.static import StaticEmbedder

        return StaticEmbedder.from_config(config or StaticConfig())
    from ctxembed.contextual import ContextualEmbedder

    return ContextualEmbedder.from_config(config or ContextualConfig())


def embedder_from_manifest(
    manifest: dict[str, Any],
    folder: str | Path,
    *,
    device: str | None = None,
    model: str | None = None,
    adapter: str | None = None,
) -> Embedder:
    """The embedder a saved index records, found where it is now: explicit paths first, then the
    recorded ones, then paths relative to the index folder (for a `runs/` moved as a whole)."""
    identity = dict(manifest["embedder"])
    hints = manifest.get("relative_paths") or {}
    for key, given in (("model", model), ("adapter", adapter)):
        recorded = identity.get(key)
        if given is not None:
            identity[key] = given
        elif isinstance(recorded, str) and Path(recorded).is_absolute() and not Path(recorded).exists():
            moved = Path(folder) / str(hints.get(key, ""))
            if key in hints and moved.exists():
                identity[key] = str(moved.resolve())
    return embedder_from_identity(identity, device=device)


def embedder_from_identity(identity: dict[str, Any], *, device: str | None = None) -> Embedder:
    """Re-create the embedder an index manifest records (the index checks its fingerprint)."""
    try:
        return _embedder_from_identity(identity, device)
    except (KeyError, TypeError) as exc:
        raise CtxEmbedError(
            f"the index manifest's 'embedder' lacks or mistypes {exc}; the manifest is damaged: rebuild the index"
        ) from None


def _embedder_from_identity(identity: dict[str, Any], device: str | None) -> Embedder:
    if identity["backend"] not in {b.value for b in Backend}:
        raise CtxEmbedError(f"the index manifest names an unknown backend {identity['backend']!r}; rebuild the index")
    if identity["backend"] == Backend.STATIC.value:
        config: Any = StaticConfig(
            vectors=identity["model"],
            pooling=identity["pooling"],
            sif_a=identity.get("sif_a", 1e-3),
            lowercase=identity["lowercase"],
        )
    else:
        config = ContextualConfig(
            model=identity["model"],
            adapter=identity.get("adapter"),
            device=device,
            max_seq_length=identity.get("max_seq_length"),
        )
    return load_embedder(identity["backend"], config)
