"""Settings of static fine-tuning with gensim 4."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ctxembed.config import DEFAULT_STATIC_VECTORS, CorpusConfig
from ctxembed.config.loading import normalize_enums
from ctxembed.errors import ConfigError
from ctxembed.types import Backend, Pooling


class Algorithm(str, Enum):
    """The gensim model that continues training the vectors."""

    WORD2VEC = "word2vec"
    FASTTEXT = "fasttext"


DEFAULT_DOMAIN_DIMS = 100


@dataclass(frozen=True)
class StaticFinetuneConfig:
    """What `ctxembed finetune` does for the static backend (gensim 4)."""

    backend: Backend = field(default=Backend.STATIC, metadata={"help": "static (here) or contextual."})
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    vectors: str = field(
        default=DEFAULT_STATIC_VECTORS,
        metadata={"help": "Pretrained vectors: a well-known name, word2vec/GloVe text or binary, fastText .vec/.bin."},
    )
    algorithm: Algorithm = field(default=Algorithm.WORD2VEC, metadata={"help": "word2vec or fasttext."})
    sg: bool = field(default=True, metadata={"help": "Skip-gram (true) or CBOW (false)."})
    window: int = field(default=5, metadata={"help": "Context window."})
    negative: int = field(default=5, metadata={"help": "Negative samples."})
    min_count: int = field(default=3, metadata={"help": "Domain words seen fewer times are ignored."})
    epochs: int = field(default=40, metadata={"help": "Passes over the corpus."})
    alpha: float = field(default=0.05, metadata={"help": "Start learning rate (decays linearly to alpha/100)."})
    seed: int = field(default=42, metadata={"help": "gensim seed (with workers: 1 a run is reproducible)."})
    workers: int = field(default=1, metadata={"help": "Training threads; >1 is faster but not bit-reproducible."})
    lock_known: float = field(
        default=0.25, metadata={"help": "Lock factor of pretrained words: 0 frozen, 1 fully trainable."}
    )
    lock_new: float = field(default=1.0, metadata={"help": "Lock factor of new domain words."})
    lock_count: int = field(
        default=20,
        metadata={
            "help": "Scale a pretrained word's lock by min(1, count / lock_count): rare words move less (0: off)."
        },
    )
    domain_dims: int | None = field(
        default=None,
        metadata={
            "help": "Train this many extra dimensions beside the pretrained ones (random start, no lock): the "
            "domain's own coordinates (0: off; null: 100 for word2vec, 0 for fastText, whose .bin output keeps "
            "the pretrained size)."
        },
    )
    domain_weight: float = field(
        default=1.25,
        metadata={"help": "Scale of the domain dimensions after matching their median norm to the pretrained ones."},
    )
    top_components: int = field(
        default=3,
        metadata={
            "help": "With domain dimensions: all-but-the-top post-processing of the pretrained coordinates, "
            "removing their mean and this many principal directions (0: leave them as trained)."
        },
    )
    domain_top_components: int = field(
        default=1, metadata={"help": "The same for the domain coordinates (over the corpus words; 0: as trained)."}
    )
    warmup_epochs: int = field(
        default=0, metadata={"help": "First epochs train the output layer and new words only (pretrained words held)."}
    )
    anchor: float = field(
        default=0.0,
        metadata={
            "help": "Anchored mode: after each epoch pull known words this share back to their pretrained vector."
        },
    )
    drift_limit: float | None = field(
        default=None, metadata={"help": "Stop when SimLex/WordSim Spearman falls this far below pretrained."}
    )
    baselines: bool = field(
        default=True, metadata={"help": "Also train from scratch (and plain, if anchored) for the report."}
    )
    eval_dataset: str | None = field(default=None, metadata={"help": "BEIR folder for the retrieval comparison."})
    eval_split: str = field(default="dev", metadata={"help": "qrels split for retrieval (dev while tuning)."})
    pooling: Pooling = field(default=Pooling.SIF, metadata={"help": "Document pooling in the retrieval comparison."})
    neighbour_words: tuple[str, ...] = field(
        default=(), metadata={"help": "Words for the neighbour table and plot; empty: the most frequent domain words."}
    )
    out: str = field(default="runs/static", metadata={"help": "Output folder: vectors.bin, report.{json,md}, PNG."})

    def __post_init__(self) -> None:
        normalize_enums(self)
        for key in ("lock_known", "lock_new", "anchor"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{key} must be between 0 and 1, got {getattr(self, key)}")
        if self.epochs < 1 or self.min_count < 1 or self.window < 1 or self.workers < 1:
            raise ConfigError("epochs, min_count, window and workers must all be >= 1")
        if self.lock_count < 0 or not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(
                f"lock_count must be >= 0 and warmup_epochs between 0 and epochs - 1, got {self.lock_count} "
                f"and {self.warmup_epochs}"
            )
        if self.negative < 1:
            raise ConfigError(f"negative must be >= 1 (negative samples per word), got {self.negative}")
        if not self.alpha > 0:
            raise ConfigError(f"alpha (the learning rate) must be > 0, got {self.alpha}")
        if self.domain_dims is not None and self.domain_dims < 0 or not self.domain_weight > 0:
            raise ConfigError(
                f"domain_dims must be >= 0 or null and domain_weight > 0, got {self.domain_dims} and {self.domain_weight}"
            )
        if self.top_components < 0 or self.domain_top_components < 0:
            raise ConfigError(
                f"top_components and domain_top_components must be >= 0 (0: no post-processing), got "
                f"{self.top_components} and {self.domain_top_components}"
            )
        if self.algorithm == Algorithm.FASTTEXT and self.domain_dims:
            raise ConfigError(
                "domain_dims needs algorithm: word2vec (a fastText .bin keeps its pretrained size); set domain_dims: 0"
            )
        if self.drift_limit is not None and not self.drift_limit > 0:
            raise ConfigError(f"drift_limit must be > 0 (e.g. 0.05) or null, got {self.drift_limit}")
        if self.eval_split == "test":
            raise ConfigError("eval_split must not be 'test' while tuning; score test once with `ctxembed evaluate`")

    @property
    def domain_size(self) -> int:
        """Domain dimensions in effect: `domain_dims`, or its default for the algorithm."""
        if self.domain_dims is not None:
            return self.domain_dims
        return 0 if self.algorithm == Algorithm.FASTTEXT else DEFAULT_DOMAIN_DIMS
