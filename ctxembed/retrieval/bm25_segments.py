"""BM25 over an index that updates changed: the first build's matrix plus the parts added since, scored with the
statistics of the live corpus, so an updated index ranks as a fresh build of its final corpus would.

bm25s bakes idf and the mean document length into every weight it stores, so its weights go stale as soon as
documents come or go, and it cannot add documents. Here each part keeps its term counts by term (CSC) and
every document its length; a query's weights are computed for its own terms only, from the live corpus's
document frequencies and mean length, with Lucene's formula as bm25s uses it (`lucene_weight`). Deleted
documents keep their entries but score 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ctxembed.retrieval.bm25 import unindexed_scores
from ctxembed.retrieval.bm25_matrix import Postings, length_norm, lucene_idf


@dataclass(frozen=True)
class TermCounts:
    """One part of an index's documents, by term: documents `indices[indptr[t]:indptr[t + 1]]` (counted from the
    part's `first` position) hold term t, `counts` times each."""

    first: int
    indptr: np.ndarray
    indices: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, postings: Postings, first: int) -> TermCounts:
        """A part's counts by term from its postings (document by document), for parts small enough to sort."""
        terms = postings.terms.astype(np.int64)
        doc = np.repeat(np.arange(len(postings.per_doc), dtype=np.int32), postings.per_doc)
        order = np.argsort(terms, kind="stable")  # documents stay ascending within each term
        indptr = np.concatenate([[0], np.cumsum(np.bincount(terms))]).astype(np.int64)
        return cls(first, indptr, doc[order], np.asarray(postings.counts)[order])

    def entries(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """The positions (in the whole index) of the documents that hold `term`, and its count in each."""
        if term + 1 >= len(self.indptr):
            return np.zeros(0, np.int64), np.zeros(0, np.uint16)
        start, end = int(self.indptr[term]), int(self.indptr[term + 1])
        return self.first + np.asarray(self.indices[start:end], dtype=np.int64), self.counts[start:end]


class LiveBM25:
    """BM25 scores of every position of an updated index (0 for deleted documents), from its parts' term counts.

    `doc_freq` and `lengths` are the live documents' document frequencies (by term id of `vocab`) and every
    position's length in tokens; `live` marks the positions whose documents are in the index.
    """

    def __init__(
        self,
        parts: Sequence[TermCounts],
        vocab: dict[str, int],
        doc_freq: np.ndarray,
        lengths: np.ndarray,
        live: np.ndarray,
        *,
        k1: float,
        b: float,
    ) -> None:
        self.parts, self.vocab, self.live, self.k1, self.b = list(parts), vocab, live, k1, b
        documents = int(np.count_nonzero(live))
        self.average_length = float(np.asarray(lengths)[live].sum() / documents) if documents else 0.0
        self.doc_freq = np.asarray(doc_freq, dtype=np.int64)
        self.idf = lucene_idf(self.doc_freq.astype(np.float64), documents)
        self.norm = length_norm(lengths, self.average_length or 1.0, k1=k1, b=b)  # each position's, once

    def __len__(self) -> int:
        return len(self.live)

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every position for one tokenised query (a repeated token counts again, as in bm25s)."""
        out = np.zeros(len(self), dtype=np.float32)
        for term in (self.vocab[t] for t in tokens if t in self.vocab):
            for part in self.parts:
                docs, tf = part.entries(term)
                if len(docs):  # lucene_weight, with each document's length part computed once
                    out[docs] += (self.idf[term] * tf / (self.norm[docs] + tf)).astype(np.float32)
        out[~self.live] = 0.0
        return out

    def score_texts(self, tokens: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """BM25 score of each of `texts` (not in the index) for one tokenised query, with the live corpus's
        statistics (as `SparseIndex.score_texts`)."""
        known = [t for t in tokens if t in self.vocab]
        idf = self.idf[[self.vocab[t] for t in known]]
        return unindexed_scores(known, idf, texts, self.average_length, k1=self.k1, b=self.b)
