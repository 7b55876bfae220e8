"""Shared run configs: the corpus, both backends' embedder settings, the index, and the index and demo runs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ctxembed.config.loading import normalize_enums
from ctxembed.errors import ConfigError
from ctxembed.passages import PassageSettings
from ctxembed.retrieval.fusion import FusionSettings
from ctxembed.types import Backend, Pooling, Precision

DEFAULT_CORPUS = "gensim:lee_background.cor"
DEFAULT_CONTEXTUAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_STATIC_VECTORS = "glove-wiki-gigaword-50"


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
    metadata_columns: tuple[str, ...] = field(
        default=(),
        metadata={"help": "Columns of .csv/.parquet kept as each document's metadata (.jsonl keeps every extra key)."},
    )
    encoding: str = field(default="utf-8", metadata={"help": "Encoding of .txt and .jsonl files."})

    def __post_init__(self) -> None:
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError as exc:
            raise ConfigError(
                f"corpus.encoding {self.encoding!r} is not a known text encoding; use e.g. utf-8 or latin-1"
            ) from exc


@dataclass(frozen=True)
class StaticConfig:
    """The static (word-vector) backend."""

    vectors: str = field(
        default=DEFAULT_STATIC_VECTORS,
        metadata={"help": "A well-known name or a path to word2vec/GloVe/fastText vectors."},
    )
    pooling: Pooling = field(default=Pooling.MEAN, metadata={"help": "mean or sif."})
    sif_a: float = field(
        default=1e-3,
        metadata={
            "help": "The a of SIF weights a/(a+p(w)); p(w) from a .vocab counts file beside the vectors, else from rank."
        },
    )
    lowercase: bool = field(default=True, metadata={"help": "Lowercase tokens (GloVe 6B is lowercased)."})
    trust_pickle: bool = field(
        default=False,
        metadata={"help": "Read gensim .kv files, which are pickles that can run code: only for files you made."},
    )

    def __post_init__(self) -> None:
        normalize_enums(self)
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
    precision: Precision = field(
        default=Precision.AUTO,
        metadata={
            "help": "fp32, bf16, int8 (ONNX Runtime) or auto; a lower precision is used only when it matches "
            "fp32 (minimum cosine >= 0.99) on the first texts encoded, else fp32 with a warning."
        },
    )

    def __post_init__(self) -> None:
        normalize_enums(self)


SETTINGS: dict[Backend, type] = {Backend.STATIC: StaticConfig, Backend.CONTEXTUAL: ContextualConfig}


@dataclass(frozen=True)
class IndexConfig:
    """The FAISS index."""

    factory: str = field(
        default="Flat",
        metadata={
            "help": "A faiss.index_factory string: Flat (exact), HNSW32, IVF256,Flat, IVF256,PQ16..., or auto "
            "(exact Flat below 1M documents, IVF-PQ with an SQ8 re-rank from 1M)."
        },
    )
    nprobe: int = field(default=16, metadata={"help": "IVF lists visited per query."})
    ef_search: int = field(default=64, metadata={"help": "HNSW search breadth."})
    batch_size: int = field(default=64, metadata={"help": "Texts encoded per batch."})
    chunk_size: int = field(default=4096, metadata={"help": "Documents read, encoded and added at a time."})
    checkpoint_seconds: float = field(
        default=60.0, metadata={"help": "Checkpoint a build at most this often; `index --resume` continues it."}
    )
    sparse: str = field(
        default="bm25",
        metadata={"help": "bm25: also index BM25 (bm25s) for sparse and hybrid search; none: dense only."},
    )
    fusion: FusionSettings = field(default_factory=FusionSettings)
    passages: PassageSettings = field(default_factory=PassageSettings)

    def __post_init__(self) -> None:
        if self.nprobe < 1 or self.ef_search < 1 or self.batch_size < 1 or self.chunk_size < 1:
            raise ConfigError("index.nprobe, index.ef_search, index.batch_size and index.chunk_size must all be >= 1")
        if self.sparse not in ("bm25", "none"):
            raise ConfigError(f"index.sparse must be bm25 or none, got {self.sparse!r}", key="index.sparse")
        if not self.checkpoint_seconds >= 0:
            raise ConfigError(f"index.checkpoint_seconds must be >= 0, got {self.checkpoint_seconds}")


@dataclass(frozen=True)
class IndexRunConfig:
    """What `ctxembed index` does: embed a corpus with one backend and index it."""

    backend: Backend = field(default=Backend.CONTEXTUAL, metadata={"help": "static or contextual."})
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    static: StaticConfig = field(default_factory=StaticConfig)
    contextual: ContextualConfig = field(default_factory=ContextualConfig)
    index: IndexConfig = field(default_factory=IndexConfig)

    def __post_init__(self) -> None:
        normalize_enums(self)


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
