"""Fusing a dense and a sparse ranking: a convex combination of per-query min-max scores (default) or RRF.

The default BM25 weight depends on the query, without labels: 0.3 for keyword-style queries and 0.1 for
natural-language questions, where BM25 matches incidental words and drags a strong dense model down.
Both values were chosen on the dev splits of man-pages, Debian and the Python FAQ (docs/hybrid.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ctxembed.errors import ConfigError

KEYWORD_WEIGHT, QUESTION_WEIGHT = 0.3, 0.1
RRF_K = 60
_QUESTION_WORDS = frozenset(
    "how why what when where which who whom whose can could should would is are was were do does did will shall "
    "may might must has have am".split()
)


@dataclass(frozen=True)
class FusionSettings:
    """How hybrid search combines the two sides."""

    method: str = field(default="convex", metadata={"help": "convex (min-max scores, weighted) or rrf."})
    weight: float | None = field(
        default=None,
        metadata={"help": "BM25's share in [0, 1]; null: 0.3 for keyword queries, 0.1 for questions."},
    )
    candidates: int = field(default=100, metadata={"help": "Each side's candidates: max(this, 10 k)."})

    def __post_init__(self) -> None:
        if self.method not in ("convex", "rrf"):
            raise ConfigError(f"fusion.method must be convex or rrf, got {self.method!r}", key="fusion.method")
        if self.weight is not None and not 0 <= self.weight <= 1:
            raise ConfigError(f"fusion.weight must be in [0, 1] or null, got {self.weight}", key="fusion.weight")
        if self.candidates < 1:
            raise ConfigError(f"fusion.candidates must be >= 1, got {self.candidates}", key="fusion.candidates")


def is_question(query: str) -> bool:
    """A natural-language question: ends with '?', or opens with a question word and has 3+ words."""
    text = query.strip().lower()
    words = re.findall(r"[a-z']+", text)
    return text.endswith("?") or (len(words) >= 3 and words[0] in _QUESTION_WORDS)


def query_weight(query: str, weight: float | None) -> float:
    """BM25's weight for one query: the fixed `weight`, or by the query's style when it is None."""
    if weight is not None:
        return weight
    return QUESTION_WEIGHT if is_question(query) else KEYWORD_WEIGHT


def _minmax(values: np.ndarray) -> np.ndarray:
    span = float(values.max() - values.min()) if len(values) else 0.0
    if span > 0:
        return (values - values.min()) / span
    return np.ones_like(values) if len(values) and values.max() > 0 else np.zeros_like(values)  # one candidate


def fuse(
    dense: np.ndarray,
    sparse: np.ndarray,
    dense_ranked: np.ndarray,
    sparse_ranked: np.ndarray,
    *,
    method: str,
    weight: float,
) -> np.ndarray:
    """Fused scores of a query's candidates (the union of both sides' top lists).

    `dense` and `sparse` are the candidates' scores on each side; `dense_ranked` and `sparse_ranked` are each
    candidate's rank in that side's own top list (-1 when it is not in it), used by RRF.
    """
    if method == "rrf":
        return np.where(dense_ranked >= 0, 1 / (RRF_K + dense_ranked + 1), 0) + np.where(
            sparse_ranked >= 0, 1 / (RRF_K + sparse_ranked + 1), 0
        )
    return weight * _minmax(sparse) + (1 - weight) * _minmax(dense)
