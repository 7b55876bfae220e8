"""What `ctxembed distill` does: the teacher, the corpus, model2vec's settings, domain tuning and contrastive training."""

from __future__ import annotations

from dataclasses import dataclass, field

from ctxembed.config import DEFAULT_CONTEXTUAL_MODEL, CorpusConfig
from ctxembed.errors import ConfigError


@dataclass(frozen=True)
class ContrastiveSettings:
    """Contrastive domain training of the distilled model: MNRL on pairs mined from the corpus (as `ict` mines them)."""

    epochs: float = field(default=5.0, metadata={"help": "Passes over the mined pairs."})
    learning_rate: float = field(default=0.02, metadata={"help": "Adam's rate for the token vectors."})
    batch_size: int = field(default=256, metadata={"help": "Pairs per step; the other pairs are the negatives."})
    pairs_per_doc: int = field(
        default=4, metadata={"help": "Mined pairs per document besides its title: lead, headings, sentences."}
    )
    holdout: float = field(
        default=0.1, metadata={"help": "Share of documents held out: their mined pairs select the best epoch."}
    )
    min_pairs: int = field(default=64, metadata={"help": "Refuse to train on fewer pairs (too few to learn from)."})

    def __post_init__(self) -> None:
        if not self.epochs > 0 or not self.learning_rate > 0 or self.pairs_per_doc < 1:
            raise ConfigError("contrastive needs epochs > 0, learning_rate > 0 and pairs_per_doc >= 1")
        if self.batch_size < 2:
            raise ConfigError("contrastive.batch_size must be >= 2: the other pairs of a batch are the negatives")
        if not 0 < self.holdout < 0.5:
            raise ConfigError(f"contrastive.holdout must be between 0 and 0.5, got {self.holdout}")


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
    max_length: int | None = field(
        default=512,
        metadata={
            "help": "Tokens of a text the static model reads (model2vec's max_length; null: all). 512 is model2vec's "
            "default; 256 (what MiniLM reads) encodes long documents 1.6-2x faster but scored 0.03 lower on "
            "man-pages dev nDCG@10."
        },
    )
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
    contrastive: ContrastiveSettings | None = field(
        default_factory=ContrastiveSettings,
        metadata={"help": "Then train on the corpus's own mined pairs (MNRL); null turns it off."},
    )
    pairs: str | None = field(
        default=None,
        metadata={"help": "JSONL of your {query, positive} pairs, added to the mined ones for contrastive training."},
    )
    seed: int = field(default=42, metadata={"help": "Seeds the text sample and the training."})
    device: str | None = field(default=None, metadata={"help": "cpu or cuda for the teacher; default: best available."})
    out: str = field(default="runs/distilled", metadata={"help": "Output folder, in model2vec's format."})

    def __post_init__(self) -> None:
        if self.vocabulary_size < 0 or self.min_count < 1 or self.max_texts < 16 or self.max_epochs < 1:
            raise ConfigError("distill needs vocabulary_size >= 0, min_count >= 1, max_texts >= 16, max_epochs >= 1")
        if self.max_length is not None and self.max_length < 8:
            raise ConfigError(f"max_length must be >= 8 tokens or null (no limit), got {self.max_length}")
        if self.pca_dims is not None and self.pca_dims < 2:
            raise ConfigError(f"pca_dims must be >= 2 or null (keep the teacher's), got {self.pca_dims}")
        if not 0 < self.sif_coefficient < 1 or not self.learning_rate > 0:
            raise ConfigError("distill needs 0 < sif_coefficient < 1 and learning_rate > 0")
        if self.pairs is not None and self.contrastive is None:
            raise ConfigError("pairs are used by contrastive training, which is off (contrastive: null)", key="pairs")
