"""Retrieval metrics (nDCG, MRR, Recall, MAP) over ranked lists, as BEIR and sentence-transformers define them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ctxembed.data import Document

Ranking = Sequence[str]  # doc ids, best first
Retriever = Callable[[Sequence[str], int], list[list[str]]]  # queries, k -> ranked doc ids
Qrels = Mapping[str, "Mapping[str, int] | set[str]"]  # qid -> {doc: grade} (graded) or {doc, ...} (binary)

DEFAULT_CUTOFFS: dict[str, tuple[int, ...]] = {
    "ndcg": (10,),
    "mrr": (10,),
    "recall": (10, 100),
    "map": (100,),
}
_TREC_NAMES = {"ndcg": "ndcg_cut", "recall": "recall", "map": "map_cut"}


def retrieval_metrics(
    rankings: Mapping[str, Ranking],
    relevant: Qrels,
    cutoffs: Mapping[str, Sequence[int]] = DEFAULT_CUTOFFS,
) -> dict[str, float]:
    """Mean metrics over the queries of `relevant`, e.g. {'ndcg@10': ...}, computed by trec_eval.

    Graded judgements ({doc: grade}) give graded nDCG, exactly as BEIR (which also uses
    pytrec_eval) reports it; sets are binary. A query without a ranking scores zero.
    """
    per_query = per_query_metrics(rankings, relevant, cutoffs)
    names = [f"{m}@{k}" for m, ks in cutoffs.items() for k in ks]
    return {
        name: float(np.mean([scores[name] for scores in per_query.values()])) if per_query else 0.0 for name in names
    }


def per_query_metrics(
    rankings: Mapping[str, Ranking], relevant: Qrels, cutoffs: Mapping[str, Sequence[int]] = DEFAULT_CUTOFFS
) -> dict[str, dict[str, float]]:
    """Each query's metrics ({qid: {'ndcg@10': ...}}), for means and paired tests."""
    import pytrec_eval

    qrels = {
        q: ({d: 1 for d in docs} if isinstance(docs, (set, frozenset)) else {d: int(g) for d, g in docs.items()})
        for q, docs in relevant.items()
    }
    # trec_eval orders a run by score: give each ranking descending scores that keep its order.
    run = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in rankings.items() if q in qrels and r}
    out: dict[str, dict[str, float]] = {q: {} for q in qrels}
    for metric, ks in cutoffs.items():
        for k in ks:
            name = f"{metric}@{k}"
            if metric == "mrr":  # trec_eval's recip_rank has no cutoff: score the top k only
                top = {q: dict(list(docs.items())[:k]) for q, docs in run.items()}
                scored = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top)
                key = "recip_rank"
            else:
                trec = _TREC_NAMES[metric]
                scored = pytrec_eval.RelevanceEvaluator(qrels, {f"{trec}.{k}"}).evaluate(run)
                key = f"{trec}_{k}"
            for q in qrels:
                out[q][name] = float(scored[q][key]) if q in scored else 0.0
    return out


def per_query_ndcg(run: Mapping[str, Mapping[str, float]], relevant: Qrels, k: int = 10) -> dict[str, float]:
    """nDCG@k of each query from scored hits ({qid: {doc: score}}), ties broken by doc id as sentence-transformers does."""
    rankings = {q: sorted(hits, key=lambda d: (-hits[d], d)) for q, hits in run.items()}
    return {q: m[f"ndcg@{k}"] for q, m in per_query_metrics(rankings, relevant, {"ndcg": (k,)}).items()}


def exact_ndcg(
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    qids: Sequence[str],
    doc_ids: Sequence[str],
    relevant: Qrels,
    k: int = 10,
) -> float:
    """Mean nDCG@k of exact inner-product search of the queries' vectors over the documents' (for benchmarks)."""
    return float(np.mean(list(exact_ndcg_per_query(query_vectors, doc_vectors, qids, doc_ids, relevant, k).values())))


def exact_ndcg_per_query(
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    qids: Sequence[str],
    doc_ids: Sequence[str],
    relevant: Qrels,
    k: int = 10,
) -> dict[str, float]:
    """Each query's nDCG@k under exact inner-product search (for paired comparisons in benchmarks)."""
    return score_matrix_ndcg(np.asarray(query_vectors) @ np.asarray(doc_vectors).T, qids, doc_ids, relevant, k)


def score_matrix_ndcg(
    scores: np.ndarray, qids: Sequence[str], doc_ids: Sequence[str], relevant: Qrels, k: int = 10
) -> dict[str, float]:
    """Each query's nDCG@k when its documents are ranked by its row of a (queries x documents) score matrix."""
    run = {q: {doc_ids[j]: float(row[j]) for j in np.argsort(-row)[:k]} for q, row in zip(qids, scores)}
    return per_query_ndcg(run, relevant, k)


def evaluate_retrieval(
    retrieve: Retriever,
    queries: Mapping[str, str],
    relevant: Qrels,
    cutoffs: Mapping[str, Sequence[int]] = DEFAULT_CUTOFFS,
) -> dict[str, float]:
    """Run `retrieve` on the queries and score its rankings."""
    return retrieval_metrics(rank_queries(retrieve, queries, relevant, cutoffs), relevant, cutoffs)


def rank_queries(
    retrieve: Retriever,
    queries: Mapping[str, str],
    relevant: Qrels,
    cutoffs: Mapping[str, Sequence[int]] = DEFAULT_CUTOFFS,
) -> dict[str, Ranking]:
    """Each judged query's ranking by `retrieve`, deep enough for the cutoffs ({qid: doc ids})."""
    k = max(max(ks) for ks in cutoffs.values())
    qids = list(relevant)
    return dict(zip(qids, retrieve([queries[q] for q in qids], k)))


def index_retriever(index: Any, mode: str = "dense", fusion: Any = None) -> Retriever:
    """A `Retriever` over a `VectorIndex` in one search mode (hybrid: with `fusion`, else the index's settings);
    a query no side can read ranks nothing (a miss)."""

    def retrieve(queries: Sequence[str], k: int) -> list[list[str]]:
        hits = index.search(list(queries), k=min(k, len(index)), mode=mode, fusion=fusion, unknown="skip")
        return [[h.doc_id for h in row] for row in hits]

    return retrieve


def bm25_retriever(corpus: Sequence[Document]) -> Retriever:
    """A BM25 `Retriever` (the bm25s package) over `corpus`, English stopwords removed."""
    from ctxembed.retrieval.bm25 import bm25_index, query_tokens

    index = bm25_index([d.full_text for d in corpus])
    ids = [d.id for d in corpus]

    def retrieve(queries: Sequence[str], k: int) -> list[list[str]]:
        rankings = []
        for tokens in query_tokens(queries):
            scores = index.scores(tokens)
            top = np.argsort(-scores, kind="stable")[: min(k, len(ids))]
            rankings.append([ids[p] for p in top if scores[p] > 0])
        return rankings

    return retrieve
