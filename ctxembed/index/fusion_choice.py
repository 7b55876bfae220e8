"""Choosing an index's hybrid weight without labels, from pseudo-queries mined from its own documents.

Each pseudo-query is a sentence of a sampled document that is not its title or its lead (an inverse-cloze
query, mined as training mines them), and the document it answers is that document *without the
sentence*: both sides score the held-out version (BM25 with the index's own statistics, the model on its
passages), so neither finds it by copying. Without that, BM25 finds nearly every mined query by its exact
words and every corpus looks like BM25's. Each BM25 weight of a grid ranks the candidates of every
pseudo-query; the weight of best mean nDCG@10 wins, and where one side is much weaker, or the best weight
gains nothing over the better side, the hybrid uses the better side alone. docs/hybrid.md has the dev
figures behind the rule.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ctxembed.data import Document
from ctxembed.index.passage_map import document_score_rule
from ctxembed.mining import cloze_queries
from ctxembed.passages import passage_text
from ctxembed.retrieval.fusion import FusionSettings
from ctxembed.retrieval.hybrid import Candidates, hybrid_candidates
from ctxembed.scoring.metrics import per_query_metrics

GRID = tuple(round(w, 2) for w in np.arange(0.0, 1.0001, 0.05))
WEAK_SIDE = 0.5  # a side below half the other's nDCG@10 on the pseudo-queries is left out
MIN_GAIN = 0.005  # a fusion that gains less than this over the better side is not worth its noise
MIN_QUERIES = 20  # fewer pseudo-queries than this choose nothing
TARGET = "\x00held-out"  # the held-out document's id in the pseudo-queries' rankings


@dataclass(frozen=True)
class LabelFreeChoice:
    """The weight chosen on the pseudo-queries, what each side and each weight scored there, and why."""

    weight: float
    alone: str | None  # "dense" or "sparse" when the hybrid uses that side alone
    queries: int
    ndcg: dict[str, float]  # "dense", "sparse" and each grid weight ("0.3") -> mean nDCG@10
    seconds: float
    held_out: str  # where the pseudo-queries come from, against the model's training

    def record(self) -> dict[str, Any]:
        """The manifest's `fusion_chosen` record."""
        return {
            "source": "label-free",
            "weight": self.weight,
            "alone": self.alone,
            "queries": self.queries,
            "ndcg@10": {name: round(value, 4) for name, value in self.ndcg.items()},
            "seconds": round(self.seconds, 2),
            "held_out": self.held_out,
        }


def choose_fusion(index: Any, fusion: FusionSettings, *, batch_size: int = 64) -> LabelFreeChoice | None:
    """The label-free BM25 weight for `index` (a loaded `VectorIndex` with a sparse side); None where the corpus
    yields fewer than `MIN_QUERIES` pseudo-queries (the caller keeps the query-style default)."""
    started = time.perf_counter()
    pool, source = _pool(index)
    positions = _sample(pool, fusion.pseudo_queries, fusion.seed)
    docs = [index.docs[p] for p in positions]
    mined = cloze_queries(docs, seed=fusion.seed)
    if len(mined) < MIN_QUERIES:
        return None
    queries = [sentence for _, sentence in mined]
    targets = [int(positions[i]) for i, _ in mined]
    held_out = [_without(docs[i], sentence) for i, sentence in mined]  # for BM25
    found = hybrid_candidates(index, index.sparse, queries, min(fusion.candidates, len(index)), skip_unknown=True)
    dense = _held_out_dense(index, queries, targets, batch_size)
    rankings: dict[str, dict[str, list[str]]] = {name: {} for name in ("dense", "sparse", *map(str, GRID))}
    for q, (candidates, target) in enumerate(zip(found, targets)):
        if candidates is None:
            continue
        tokens = candidates.tokens
        sparse = float(index.sparse.score_texts(tokens, [held_out[q].full_text])[0])
        pool = _with_held_out(candidates, target, dense[q], sparse)
        ids = [TARGET if p < 0 else str(p) for p in pool.union]
        for name in rankings:
            scores = {"dense": pool.dense, "sparse": pool.sparse}.get(name)
            scores = pool.fused("convex", float(name)) if scores is None else scores
            order = np.argsort(-scores, kind="stable")[:10]
            rankings[name][str(q)] = [ids[j] for j in order]
    relevant = {str(q): {TARGET} for q in range(len(queries))}
    ndcg = {
        name: float(np.mean([m["ndcg@10"] for m in per_query_metrics(run, relevant, {"ndcg": (10,)}).values()]))
        for name, run in rankings.items()
    }
    weight, alone = decide(ndcg)
    return LabelFreeChoice(weight, alone, len(queries), ndcg, time.perf_counter() - started, source)


def decide(ndcg: dict[str, float]) -> tuple[float, str | None]:
    """The weight of best mean nDCG@10 on the grid (the lowest of equals), or a side alone (weight 0 for the
    dense side, 1 for BM25) where the other scores below `WEAK_SIDE` of it or fusion gains under `MIN_GAIN`."""
    better = max(("dense", "sparse"), key=lambda side: ndcg[side])
    weaker = "sparse" if better == "dense" else "dense"
    best = max(GRID, key=lambda w: ndcg[str(w)])
    if ndcg[weaker] < WEAK_SIDE * ndcg[better] or ndcg[str(best)] < ndcg[better] + MIN_GAIN:
        return (0.0 if better == "dense" else 1.0), better
    return float(best), None


def _pool(index: Any) -> tuple[Sequence[int], str]:
    """The documents pseudo-queries may come from: those the model's training held out where ctxembed trained it
    on this corpus, else all; and a line that says which."""
    held_out = index.embedder.held_out_documents()
    if held_out is None:
        return index.live_positions().tolist(), "the model was not trained on pairs by ctxembed: any document"
    live = index.live
    positions = [i for i, doc in enumerate(index.docs) if doc.id in held_out and (live is None or live[i])]
    if len(positions) >= MIN_QUERIES:
        return positions, f"the {len(positions)} documents the model's training held out"
    return index.live_positions().tolist(), (
        f"any document: only {len(positions)} of the documents its training held out are in the index, so the "
        "pseudo-queries may include sentences it was trained on"
    )


def _sample(pool: Sequence[int], size: int, seed: int) -> np.ndarray:
    """A seeded sample of `size` of the document positions in `pool` (all of them if fewer), ascending."""
    return np.array(sorted(random.Random(seed).sample(pool, min(size, len(pool)))), dtype=np.int64)


def _without(doc: Document, sentence: str) -> Document:
    """The document without (the first occurrence of) `sentence`."""
    return replace(doc, text=doc.text.replace(sentence, " ", 1))


def _held_out_dense(index: Any, queries: list[str], targets: list[int], batch_size: int) -> np.ndarray:
    """Each target document's dense score for its query with the query's sentence cut out of it: its passages
    that hold the sentence are encoded again without it, the others keep their stored vectors (encoded again
    where FAISS keeps none); a document scores as its best passage, as the index scores it."""
    owners, texts, rows, spans = [], [], [], []
    for q, (position, sentence) in enumerate(zip(targets, queries)):
        doc = index.docs[position]
        full = doc.full_text
        start = len(full) - len(doc.text) + doc.text.index(sentence)
        cut = (start, start + len(sentence))
        held = _without(doc, sentence).full_text  # the text before the cut, one space, the text after it
        flat, _ = index.passages.passages_of(np.array([position]))
        for row in flat.tolist():
            span = index.passages.span(row) or (0, len(full))
            touched = span[0] < cut[1] and cut[0] < span[1]
            source, where = (held, (_shift(span[0], cut), _shift(span[1], cut))) if touched else (full, span)
            owners.append(q)
            rows.append(-1 if touched else row)
            spans.append(span)
            texts.append(passage_text(source, doc.title, where, repeat_title=index.passage_settings.title))
    rows_array, owners_array = np.array(rows, dtype=np.int64), np.array(owners, dtype=np.int64)
    vectors = np.zeros((len(texts), index.embedder.dim), dtype=np.float32)
    stored = index.vectors.stored(rows_array[rows_array >= 0]) if (rows_array >= 0).any() else None
    fresh = rows_array < 0 if stored is not None else np.ones(len(texts), dtype=bool)
    if stored is not None:
        vectors[~fresh] = stored
    if fresh.any():
        vectors[fresh] = index.embedder.encode_documents([t for t, f in zip(texts, fresh) if f], batch_size=batch_size)
    query_vectors = index.embedder.encode_queries(queries)
    scores = np.einsum("ij,ij->i", vectors, query_vectors[owners_array])
    scores[np.linalg.norm(vectors, axis=1) == 0] = -np.inf  # a passage the model cannot embed
    offsets = np.flatnonzero(np.r_[True, owners_array[1:] != owners_array[:-1]])
    best, _ = document_score_rule(scores.astype(np.float32), offsets, index.passage_settings.lead_margin)
    return best


def _shift(position: int, cut: tuple[int, int]) -> int:
    """Where `position` of a text lies once the span `cut` is replaced by one space."""
    if position <= cut[0]:
        return position
    return max(cut[0] + 1, position - (cut[1] - cut[0]) + 1)


def _with_held_out(candidates: Candidates, target: int, dense: float, sparse: float) -> Candidates:
    """The query's candidates with its document replaced by the held-out version (position -1), which is a
    candidate only where it would be in either side's top list."""
    keep = candidates.union != target
    dense_top, sparse_top = candidates.dense_ranked >= 0, candidates.sparse_ranked >= 0
    in_dense = not dense_top[keep].any() or dense >= candidates.dense[keep & dense_top].min(initial=np.inf)
    in_sparse = sparse > 0 and (not sparse_top[keep].any() or sparse >= candidates.sparse[keep & sparse_top].min())
    add = bool(in_dense or in_sparse) and np.isfinite(dense)
    extra = np.array([-1]) if add else np.zeros(0, dtype=np.int64)
    return replace(
        candidates,
        union=np.concatenate([extra, candidates.union[keep]]),
        dense=np.concatenate([[dense] if add else [], candidates.dense[keep]]).astype(np.float32),
        sparse=np.concatenate([[sparse] if add else [], candidates.sparse[keep]]).astype(np.float32),
        dense_ranked=np.concatenate([[-1] if add else [], candidates.dense_ranked[keep]]).astype(np.int64),
        sparse_ranked=np.concatenate([[-1] if add else [], candidates.sparse_ranked[keep]]).astype(np.int64),
        best=np.concatenate([[-1] if add else [], candidates.best[keep]]).astype(np.int64),
    )
