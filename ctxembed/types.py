"""The core contract: one `Embedder` protocol that both backends implement."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np


class Backend(str, Enum):
    """Which family of embeddings a model belongs to."""

    STATIC = "static"
    CONTEXTUAL = "contextual"


class Pooling(str, Enum):
    """How a static embedder turns word vectors into one document vector."""

    MEAN = "mean"
    SIF = "sif"  # smooth inverse frequency weights a / (a + p(w)), Arora et al. 2017


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into float32, L2-normalised vectors.

    A row of zeros from `encode` means the text held nothing the model knows
    (only static embedders produce these); callers must not index it.
    """

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray: ...

    def encode_in_context(self, text: str, span: tuple[int, int]) -> np.ndarray:
        """The vector of the word at character `span` of `text` (static: ignores context)."""
        ...

    def identity(self) -> dict[str, Any]:
        """What an index manifest records: backend, model, adapter, dim, fingerprint."""
        ...


class SearchResult(NamedTuple):
    """One hit of a search."""

    doc_id: str
    score: float
    text: str
