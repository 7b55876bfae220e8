"""Search over an index's dense and sparse sides: BM25 alone, or both fused per query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ctxembed.errors import EmptyTextError
from ctxembed.retrieval.bm25 import SparseIndex, query_tokens
from ctxembed.retrieval.fusion import FusionSettings, fuse, query_weight
from ctxembed.types import SearchResult


def sparse_search(
    index: Any, sparse: SparseIndex, queries: Sequence[str], k: int, *, skip_unknown: bool, allowed: Any = None
) -> list:
    """BM25's top-`k` for each query (among the `allowed` documents, a mask); documents that match no query term
    are not hits."""
    results = []
    for query, tokens in zip(queries, query_tokens(queries)):
        unmasked = sparse.scores(tokens)
        if not unmasked.any():
            if skip_unknown:
                results.append([])
                continue
            raise EmptyTextError(f"query {query!r} has no word the BM25 index knows; rephrase it")
        scores = _masked(unmasked, allowed)
        top = _top(scores, k)
        results.append([search_result(index, int(p), float(scores[p]), tokens=tokens) for p in top if scores[p] > 0])
    return results


@dataclass(frozen=True)
class Candidates:
    """One query's hybrid candidates: the union of both sides' top documents (positions, ascending), each side's
    score of each, each one's rank in that side's own top list (-1: not in it), and its best passage's row."""

    union: np.ndarray
    dense: np.ndarray
    sparse: np.ndarray
    dense_ranked: np.ndarray
    sparse_ranked: np.ndarray
    best: np.ndarray
    tokens: list[str]

    def fused(self, method: str, weight: float) -> np.ndarray:
        """The candidates' fused scores."""
        return fuse(self.dense, self.sparse, self.dense_ranked, self.sparse_ranked, method=method, weight=weight)


def hybrid_candidates(
    index: Any, sparse: SparseIndex, queries: Sequence[str], pool: int, *, skip_unknown: bool, allowed: Any = None
) -> list[Candidates | None]:
    """Each side's top `pool` documents of each query (among the `allowed` ones, a mask over documents), both sides
    scored on their union (None: a query that neither side can read, with `skip_unknown`). A document's dense
    score is its best passage's."""
    vectors = index.embedder.encode_queries(list(queries))
    dense_scores, dense_positions, dense_best = index.search_passages(vectors, pool, allowed)
    out: list[Candidates | None] = []
    for i, (query, tokens) in enumerate(zip(queries, query_tokens(queries))):
        lexical = _masked(sparse.scores(tokens), allowed)
        has_dense, has_sparse = bool(np.any(vectors[i])), bool(lexical.any())
        if not (has_dense or has_sparse):
            if skip_unknown:
                out.append(None)
                continue
            raise EmptyTextError(f"query {query!r} has no word the model knows (nor the BM25 index); rephrase it")
        dense_top = dense_positions[i][dense_positions[i] >= 0] if has_dense else np.zeros(0, dtype=np.int64)
        sparse_top = _top(lexical, pool) if has_sparse else np.zeros(0, dtype=np.int64)
        sparse_top = sparse_top[lexical[sparse_top] > 0]
        union = np.union1d(dense_top, sparse_top)
        if has_dense:
            dense, best = _dense_scores(index, vectors[i], union, dense_top, dense_scores[i], dense_best[i])
        else:
            dense, best = np.zeros(len(union)), np.full(len(union), -1)
        ranks = [_ranks(union, top) for top in (dense_top, sparse_top)]
        out.append(Candidates(union, dense, lexical[union], *ranks, best, list(tokens)))
    return out


def candidate_pool(index: Any, k: int, fusion: FusionSettings) -> int:
    """How many documents each side contributes: `max(candidates, 10 k)`, at most the whole index."""
    return min(max(fusion.candidates, 10 * k), len(index))


def hybrid_search(
    index: Any,
    sparse: SparseIndex,
    queries: Sequence[str],
    k: int,
    fusion: FusionSettings,
    *,
    skip_unknown: bool,
    allowed: Any = None,
) -> list:
    """Each side's top `max(candidates, 10 k)` documents, both sides scored on their union, normalised and fused.
    A document's dense score is its best passage's; the hit's passage is that one."""
    pool = candidate_pool(index, k, fusion)
    results = []
    found_all = hybrid_candidates(index, sparse, queries, pool, skip_unknown=skip_unknown, allowed=allowed)
    for query, found in zip(queries, found_all):
        if found is None:
            results.append([])
            continue
        fused = found.fused(fusion.method, query_weight(query, fusion))
        order = np.argsort(-fused, kind="stable")[:k]
        results.append(
            [
                search_result(
                    index,
                    int(found.union[j]),
                    float(fused[j]),
                    {"dense": float(found.dense[j]), "sparse": float(found.sparse[j])},
                    passage=int(found.best[j]) if found.best[j] >= 0 else None,
                    tokens=found.tokens,
                )
                for j in order
            ]
        )
    return results


def _masked(scores: np.ndarray, allowed: Any) -> np.ndarray:
    """BM25 scores with the documents outside `allowed` (a mask) at zero: they are no hits."""
    return scores if allowed is None else scores * allowed


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` highest scores, best first."""
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def _ranks(union: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Each union member's rank in `top` (-1 where it is not there)."""
    ranks = np.full(len(union), -1)
    ranks[np.searchsorted(union, top)] = np.arange(len(top))
    return ranks


def _dense_scores(
    index: Any,
    vector: np.ndarray,
    union: np.ndarray,
    top: np.ndarray,
    top_scores: np.ndarray,
    top_best: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each union member's document score for the query and the row of the passage that gave it: the dense side's
    own for its top documents, and from the stored passage vectors for the others (BM25's alone); where the FAISS
    index cannot give stored vectors back, its lowest score for those."""
    scores = np.full(len(union), float(top_scores[: len(top)].min()) if len(top) else 0.0, dtype=np.float32)
    best = np.full(len(union), -1, dtype=np.int64)
    at = np.searchsorted(union, top)
    scores[at], best[at] = top_scores[: len(top)], top_best[: len(top)]
    rest = np.ones(len(union), dtype=bool)
    rest[at] = False
    if rest.any() and (scored := index.document_scores(vector, union[rest])) is not None:
        scores[rest], best[rest] = scored
    return scores, best


def search_result(
    index: Any,
    position: int,
    score: float,
    scores: dict[str, float] | None = None,
    *,
    passage: int | None = None,
    tokens: Sequence[str] = (),
) -> SearchResult:
    """The hit for the document at `position` of `index` (with each side's score, for hybrid search), with the
    span of its best passage: `passage` (a dense side's), else the one that holds most of the query's `tokens`."""
    doc = index.docs[position]
    text = doc.full_text
    span = index.passages.span(passage) if passage is not None else _lexical_passage(index, position, text, tokens)
    return SearchResult(doc.id, score, text, {**scores, "fused": score} if scores else None, doc.title, span)


def _lexical_passage(index: Any, position: int, text: str, tokens: Sequence[str]) -> tuple[int, int] | None:
    """The span of the document's passage that holds the most occurrences of the query's BM25 tokens (None for a
    document of one passage)."""
    first, last = int(index.passages.first[position]), int(index.passages.first[position + 1])
    if last - first < 2 or not tokens:
        return None
    spans = [index.passages.span(p) for p in range(first, last)]
    wanted = set(tokens)
    counts = [sum(t in wanted for t in words) for words in query_tokens([text[s:e] for s, e in spans])]
    return spans[int(np.argmax(counts))]
