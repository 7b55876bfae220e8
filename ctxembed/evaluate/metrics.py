"""Retrieval metrics (nDCG, MRR, Recall, MAP) over ranked lists, as BEIR and sentence-transformers define them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ctxembed._logs import quiet_logger
from ctxembed.data import Document

Ranking = Sequence[str]  # doc ids, best first
Retriever = Callable[[Sequence[str], int], list[list[str]]]  # queries, k -> ranked doc ids

DEFAULT_CUTOFFS: dict[str, tuple[int, ...]] = {
    "ndcg": (10,),
    "mrr": (10,),
    "recall": (10, 100),
    "map": (100,),
}


def retrieval_metrics(
    rankings: Mapping[str, Ranking],
    relevant: Mapping[str, set[str]],
    cutoffs: Mapping[str, Sequence[int]] = DEFAULT_CUTOFFS,
) -> dict[str, float]:
    """Mean metrics over the queries of `relevant` (binary relevance), e.g. {'ndcg@10': ...}."""
    per_query: dict[str, list[float]] = {f"{m}@{k}": [] for m, ks in cutoffs.items() for k in ks}
    for qid, rel in relevant.items():
        hits = [doc in rel for doc in rankings.get(qid, ())]
        for metric, ks in cutoffs.items():
            for k in ks:
                per_query[f"{metric}@{k}"].append(_METRICS[metric](hits[:k], len(rel), k))
    return {name: float(np.mean(values)) if values else 0.0 for name, values in per_query.items()}


def _ndcg(hits: list[bool], n_relevant: int, k: int) -> float:
    dcg = sum(1.0 / np.log2(i + 2) for i, hit in enumerate(hits) if hit)
    ideal = sum(1.0 / np.log2(i + 2) for i in range(min(n_relevant, k)))
    return dcg / ideal


def _mrr(hits: list[bool], n_relevant: int, k: int) -> float:
    return next((1.0 / (i + 1) for i, hit in enumerate(hits) if hit), 0.0)


def _recall(hits: list[bool], n_relevant: int, k: int) -> float:
    return sum(hits) / n_relevant


def _map(hits: list[bool], n_relevant: int, k: int) -> float:
    found, total = 0, 0.0
    for i, hit in enumerate(hits):
        if hit:
            found += 1
            total += found / (i + 1)
    return total / min(k, n_relevant)


_METRICS = {"ndcg": _ndcg, "mrr": _mrr, "recall": _recall, "map": _map}


def evaluate_retrieval(
    retrieve: Retriever,
    queries: Mapping[str, str],
    relevant: Mapping[str, set[str]],
    cutoffs: Mapping[str, Sequence[int]] = DEFAULT_CUTOFFS,
) -> dict[str, float]:
    """Run `retrieve` on the queries and score its rankings."""
    k = max(max(ks) for ks in cutoffs.values())
    qids = list(relevant)
    ranked = retrieve([queries[q] for q in qids], k)
    return retrieval_metrics(dict(zip(qids, ranked)), relevant, cutoffs)


def index_retriever(index) -> Retriever:  # type: ignore[no-untyped-def]
    """A `Retriever` over a `VectorIndex`; a query the model cannot embed ranks nothing (a miss)."""

    def retrieve(queries: Sequence[str], k: int) -> list[list[str]]:
        vectors = index.embedder.encode(list(queries))
        _, positions = index.search_vectors(vectors, k=min(k, len(index)))
        return [
            [index.docs[p].id for p in row if p >= 0] if np.any(vec) else [] for vec, row in zip(vectors, positions)
        ]

    return retrieve


def bm25_retriever(corpus: Sequence[Document]) -> Retriever:
    """A BM25 `Retriever` (the bm25s package) over `corpus`, English stopwords removed."""
    try:
        import bm25s
    except ImportError:
        raise ImportError("the BM25 baseline needs bm25s: pip install 'ctxembed[eval]'") from None
    retriever = bm25s.BM25()
    with quiet_logger("bm25s"):  # bm25s logs at DEBUG
        retriever.index(
            bm25s.tokenize([d.full_text for d in corpus], stopwords="en", show_progress=False),
            show_progress=False,
        )
    ids = [d.id for d in corpus]

    def retrieve(queries: Sequence[str], k: int) -> list[list[str]]:
        tokens = bm25s.tokenize(list(queries), stopwords="en", show_progress=False)
        with quiet_logger("bm25s"):
            positions, _ = retriever.retrieve(tokens, k=min(k, len(ids)), show_progress=False)
        return [[ids[p] for p in row] for row in positions]

    return retrieve
