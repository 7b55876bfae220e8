"""Settings of `ctxembed evaluate`: which models, which dataset split, polysemy and lexical checks."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from ctxembed.config import SETTINGS, ContextualConfig, StaticConfig
from ctxembed.config.loading import normalize_enums
from ctxembed.errors import ConfigError
from ctxembed.types import Backend, Pooling


@dataclass(frozen=True)
class ModelEntry:
    """One embedder in an evaluation report."""

    name: str = field(metadata={"help": "Label in the report."})
    backend: Backend = field(metadata={"help": "static or contextual."})
    static: StaticConfig | None = field(default=None, metadata={"help": "Settings when backend is static."})
    contextual: ContextualConfig | None = field(default=None, metadata={"help": "Settings when contextual."})

    def __post_init__(self) -> None:
        normalize_enums(self)
        wanted = self.backend.value
        others = [b.value for b in Backend if b != self.backend and getattr(self, b.value) is not None]
        if others:
            raise ConfigError(f"model {self.name!r} is {wanted}: give only `{wanted}:` settings, not `{others[0]}:`")

    @property
    def settings(self) -> StaticConfig | ContextualConfig:
        """This backend's settings, defaults where none were given."""
        return getattr(self, self.backend.value) or SETTINGS[self.backend]()


@dataclass(frozen=True)
class PolysemySettings:
    """The static-vs-contextual word-sense comparison."""

    enabled: bool = field(default=True, metadata={"help": "Build the WordNet WiC set and score each model."})
    words: tuple[str, ...] = field(
        default=("bank", "server", "crane", "bass", "cell"), metadata={"help": "Words for the per-word view."}
    )
    max_pairs_per_lemma: int = field(default=4, metadata={"help": "WiC pairs drawn per lemma (balanced)."})
    static_context_window: int = field(
        default=5, metadata={"help": "Also score static models on the mean of +-N context words (0: off)."}
    )


DEFAULT_MODELS = (
    ModelEntry(name="GloVe 50d (SIF)", backend=Backend.STATIC, static=StaticConfig(pooling=Pooling.SIF)),
    ModelEntry(name="MiniLM-L6", backend=Backend.CONTEXTUAL, contextual=ContextualConfig()),
)


@dataclass(frozen=True)
class EvaluateConfig:
    """What `ctxembed evaluate` compares and where it writes the report."""

    dataset: str | None = field(default="data/manpages", metadata={"help": "BEIR folder for retrieval."})
    split: str = field(default="test", metadata={"help": "qrels split scored (report test once)."})
    bm25: bool = field(default=True, metadata={"help": "Include the BM25 baseline."})
    hybrid: bool = field(
        default=True, metadata={"help": "Add a BM25 + model row (hybrid search) beside each model, with its CI."}
    )
    models: tuple[ModelEntry, ...] = field(
        default_factory=lambda: DEFAULT_MODELS, metadata={"help": "Embedders to compare (default: GloVe and MiniLM)."}
    )
    polysemy: PolysemySettings = field(default_factory=PolysemySettings)
    lexical: bool = field(default=True, metadata={"help": "SimLex-999/WordSim-353 for static models."})
    out: str = field(default="runs/report", metadata={"help": "Folder for report.md, report.json, PNGs."})

    def __post_init__(self) -> None:
        names = [entry.name for entry in self.models]
        if len(set(names)) != len(names):
            raise ConfigError(f"models: names must be unique, got {names}")
        if not self.models and not self.bm25:
            raise ConfigError("nothing to evaluate: list `models:` or set `bm25: true`")

    def with_precision(self, precision: str | None) -> EvaluateConfig:
        """Every model whose settings have a `precision` encodes at `precision` (None: unchanged)."""
        if precision is None:
            return self
        models = tuple(
            replace(m, **{m.backend.value: replace(m.settings, precision=precision)})
            if any(f.name == "precision" for f in fields(m.settings))
            else m
            for m in self.models
        )
        return replace(self, models=models)
