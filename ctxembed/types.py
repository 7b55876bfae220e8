"""The core contract: one `Embedder` protocol that both backends implement."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from ctxembed.passages import TextWindow


class Backend(str, Enum):
    """Which family of embeddings a model belongs to."""

    STATIC = "static"
    CONTEXTUAL = "contextual"


class Precision(str, Enum):
    """The number format a contextual model encodes in; a lower one is checked against fp32 first."""

    FP32 = "fp32"
    BF16 = "bf16"  # half-precision weights (fp16 on CUDA devices without bf16)
    INT8 = "int8"  # ONNX Runtime with per-channel int8 weights, CPU only
    AUTO = "auto"  # bf16 where the device computes it natively, else int8 when ONNX Runtime is installed


class SearchMode(str, Enum):
    """Which side of an index answers: FAISS (dense), BM25 (sparse) or both fused (hybrid)."""

    DENSE = "dense"
    SPARSE = "sparse"
    HYBRID = "hybrid"


class Pooling(str, Enum):
    """How a static embedder turns word vectors into one document vector."""

    MEAN = "mean"
    SIF = "sif"  # smooth inverse frequency weights a / (a + p(w)), Arora et al. 2017


Span = tuple[int, int]  # character offsets [start, end) of a word inside its text


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into float32, L2-normalised vectors.

    "Unknown" has one meaning everywhere: a row of zeros is text (or a word) the model cannot
    place, such as a static model's out-of-vocabulary words or a word past a contextual model's
    max_seq_length. Callers never index or compare zero rows.
    """

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Symmetric embeddings: the same treatment for every text."""
        ...

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """Embeddings of documents to index (with the model's document prompt, if it has one)."""
        ...

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Embeddings of search queries (with the model's query prompt, if it has one)."""
        ...

    def encode_spans(self, items: Sequence[tuple[str, Span]], *, batch_size: int = 32) -> np.ndarray:
        """One vector per (text, span): the word at the span, read in its text (static: ignores context)."""
        ...

    def identity(self) -> dict[str, Any]:
        """What an index manifest records: backend, model, adapter, dim, fingerprint, prompts."""
        ...

    def word_vectors(self) -> Any | None:
        """Capability: gensim KeyedVectors for lexical benchmarks (SimLex, WordSim), or None."""
        ...

    def context_window_variant(self, window: int) -> Embedder | None:
        """Capability: the same model reading `window` words around a target word, or None."""
        ...

    def text_window(self) -> TextWindow | None:
        """How much of one text the model reads, counted with its own tokenizer (None: it cannot count)."""
        ...

    def held_out_documents(self) -> frozenset[str] | None:
        """Capability: the ids of the documents that ctxembed's training of this model held out (empty: it held
        none out), or None where ctxembed did not train it on query-document pairs."""
        ...


class SymmetricEncoding:
    """For embedders that treat documents and queries alike (static models): both go through `encode`."""

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        raise NotImplementedError

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """Documents and queries are treated alike."""
        return self.encode(texts, batch_size=batch_size, show_progress=show_progress)

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Documents and queries are treated alike."""
        return self.encode(texts, batch_size=batch_size)


class SearchResult(NamedTuple):
    """One hit of a search."""

    doc_id: str
    score: float
    text: str
    scores: dict[str, float] | None = None  # hybrid search: each side's score and the fused one
    title: str = ""
    passage: tuple[int, int] | None = None  # the best passage's character span in `text` (None: the whole text)

    @property
    def passage_text(self) -> str:
        """The best passage: the part of the document that matched (the whole text for a one-passage document)."""
        return self.text if self.passage is None else self.text[self.passage[0] : self.passage[1]]

    def snippet(self, width: int) -> str:
        """The best passage with its white space folded, cut to `width` characters (with "...")."""
        text = " ".join(self.passage_text.split())
        return text if len(text) <= width else text[: width - 3] + "..."
