"""What `ctxembed distill` does: the teacher, the corpus, model2vec's settings and domain tuning."""

from __future__ import annotations

from dataclasses import dataclass, field

from ctxembed.config import DEFAULT_CONTEXTUAL_MODEL, CorpusConfig
from ctxembed.errors import ConfigError


@dataclass(frozen=True)
class DistillConfig:
    """What `ctxembed distill` does: a static model2vec model distilled from a contextual teacher."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    teacher: str = field(
        default=DEFAULT_CONTEXTUAL_MODEL,
        metadata={
            "help": "The contextual teacher: a well-known name, a sentence-transformers folder (full fine-tune)."
        },
    )
    adapter: str | None = field(
        default=None, metadata={"help": "A LoRA adapter folder of the teacher, merged into it for distillation."}
    )
    vocabulary_size: int = field(
        default=0,
        metadata={
            "help": "Most frequent corpus words the teacher splits into pieces, added whole to the vocabulary "
            "(0: none; on the man-pages dev split 4,901 words lowered domain-tuned nDCG@10 from 0.542 to 0.517 "
            "and made distillation 10x slower)."
        },
    )
    min_count: int = field(default=3, metadata={"help": "A corpus word is added only if seen this often."})
    pca_dims: int | None = field(
        default=None, metadata={"help": "PCA dimensions of the static vectors; null keeps the teacher's."}
    )
    sif_coefficient: float = field(default=1e-4, metadata={"help": "model2vec's SIF weighting of token vectors."})
    domain_tune: bool = field(
        default=True,
        metadata={"help": "Then fit the static model to the teacher's embeddings of the corpus (tokenlearn-style)."},
    )
    max_texts: int = field(
        default=20000, metadata={"help": "Domain tuning: corpus sentences and passages the teacher embeds (a sample)."}
    )
    learning_rate: float = field(default=1e-3, metadata={"help": "Domain tuning: learning rate."})
    max_epochs: int = field(
        default=20, metadata={"help": "Domain tuning: most epochs (early stopping on held-out texts)."}
    )
    seed: int = field(default=42, metadata={"help": "Seeds the text sample and the training."})
    device: str | None = field(default=None, metadata={"help": "cpu or cuda for the teacher; default: best available."})
    out: str = field(default="runs/distilled", metadata={"help": "Output folder, in model2vec's format."})

    def __post_init__(self) -> None:
        if self.vocabulary_size < 0 or self.min_count < 1 or self.max_texts < 16 or self.max_epochs < 1:
            raise ConfigError("distill needs vocabulary_size >= 0, min_count >= 1, max_texts >= 16, max_epochs >= 1")
        if self.pca_dims is not None and self.pca_dims < 2:
            raise ConfigError(f"pca_dims must be >= 2 or null (keep the teacher's), got {self.pca_dims}")
        if not 0 < self.sif_coefficient < 1 or not self.learning_rate > 0:
            raise ConfigError("distill needs 0 < sif_coefficient < 1 and learning_rate > 0")
