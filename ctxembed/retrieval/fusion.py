"""Fusing a dense and a sparse ranking: a convex combination of per-query min-max scores (default) or RRF.

BM25's weight is chosen for each index when it is built, without labels, from pseudo-queries mined from its
own documents (`ctxembed.index.fusion_choice`); a question-style query gets `questions` times that weight.
An index built before that choice (weight null) keeps the query-style rule: 0.3 for keyword-style queries,
0.1 for natural-language questions. docs/hybrid.md has the dev figures behind both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ctxembed.errors import ConfigError

KEYWORD_WEIGHT, QUESTION_WEIGHT = 0.3, 0.1  # the query-style rule of an index without a chosen weight
QUESTION_SHARE = 0.33  # a question's share of the chosen weight where the model is the better side
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
        metadata={
            "help": "BM25's share in [0, 1]; null: chosen when the index is built, from pseudo-queries mined from "
            "its documents (0 or 1 where one side alone is better)."
        },
    )
    questions: float | None = field(
        default=None,
        metadata={
            "help": "A question's BM25 share is the weight times this, in [0, 1]; null: chosen with the weight "
            f"({QUESTION_SHARE} where the model is the better side on the pseudo-queries, else 1)."
        },
    )
    candidates: int = field(default=100, metadata={"help": "Each side's candidates: max(this, 10 k)."})
    pseudo_queries: int = field(
        default=300, metadata={"help": "Pseudo-queries mined to choose a null weight (a seeded sample of documents)."}
    )
    seed: int = field(default=0, metadata={"help": "Seeds the pseudo-queries' sample."})

    def __post_init__(self) -> None:
        if self.method not in ("convex", "rrf"):
            raise ConfigError(f"fusion.method must be convex or rrf, got {self.method!r}", key="fusion.method")
        for name in ("weight", "questions"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ConfigError(f"fusion.{name} must be in [0, 1] or null, got {value}", key=f"fusion.{name}")
        if self.candidates < 1:
            raise ConfigError(f"fusion.candidates must be >= 1, got {self.candidates}", key="fusion.candidates")
        if self.pseudo_queries < 1:
            raise ConfigError(
                f"fusion.pseudo_queries must be >= 1, got {self.pseudo_queries}", key="fusion.pseudo_queries"
            )


def describe(fusion: FusionSettings) -> str:
    """How `fusion` combines the sides, for reports: 'weight 0.25 (questions x0.33)', 'BM25 alone (weight 1)'."""
    if fusion.method == "rrf":
        return "rrf"
    if fusion.weight is None:
        return f"query style ({KEYWORD_WEIGHT:g} / {QUESTION_WEIGHT:g})"
    if fusion.weight in (0.0, 1.0):
        return f"{'BM25' if fusion.weight else 'model'} alone (weight {fusion.weight:g})"
    share = f" (questions x{fusion.questions:g})" if fusion.questions not in (None, 1.0) else ""
    return f"weight {fusion.weight:g}{share}"


def is_question(query: str) -> bool:
    """A natural-language question: ends with '?', or opens with a question word and has 3+ words."""
    text = query.strip().lower()
    words = re.findall(r"[a-z']+", text)
    return text.endswith("?") or (len(words) >= 3 and words[0] in _QUESTION_WORDS)


def query_weight(query: str, fusion: FusionSettings) -> float:
    """BM25's weight for one query: the index's weight (times `questions` for a question), or by the query's
    style alone where the index has no weight."""
    if fusion.weight is None:
        return QUESTION_WEIGHT if is_question(query) else KEYWORD_WEIGHT
    if fusion.questions is not None and is_question(query):
        return fusion.weight * fusion.questions
    return fusion.weight


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
