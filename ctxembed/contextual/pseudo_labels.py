"""GPL-style pseudo-labels from raw documents: a hybrid teacher (the base model plus BM25) scores mined queries.

Each mined query (a sentence, heading or title of a document, as for `ict`) gets its positive
passage and one hard negative from the base model's own top ranks. The teacher's score is the
base model's cosine plus BM25, rescaled per query to cosine units, so that the student learns
from `MarginMSELoss` how far apart the teacher puts the two passages. The lexical half is what
the base model lacks on a new domain: exact domain terms, identifiers and rare words.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from ctxembed.contextual.settings import PseudoSettings
from ctxembed.data import Document
from ctxembed.mining import mine_pairs_by_doc
from ctxembed.retrieval.bm25 import bm25_index, query_tokens

CHUNK = 256  # queries scored at once: memory stays (CHUNK x texts)


def _encode(model: Any, texts: Sequence[str]) -> np.ndarray:
    import torch

    from ctxembed.contextual.precision import native_bf16

    device = str(model.device)
    dtype = torch.bfloat16 if native_bf16(device) else torch.float32
    with torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32):
        vectors = model.encode(list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


def teacher_scores(dense: np.ndarray, lexical: np.ndarray, weight: float, n_docs: int) -> np.ndarray:
    """Hybrid scores in cosine units: cosine + weight * (std of cosine / std of BM25) * BM25, per query.

    The spreads are taken over the first `n_docs` columns (the corpus), so the ranking there is the
    z-score fusion of the two; every column is scored on the same scale. A query whose BM25 scores
    do not vary over the corpus gets no lexical part.
    """
    dense_std = dense[:, :n_docs].std(axis=1, keepdims=True)
    lexical_std = lexical[:, :n_docs].std(axis=1, keepdims=True)
    scale = np.divide(dense_std, lexical_std, out=np.zeros_like(dense_std), where=lexical_std > 1e-6)
    return dense + weight * scale * lexical


def pseudo_label_rows(
    model: Any, docs: Sequence[Document], settings: PseudoSettings, *, per_doc: int, seed: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """(query, positive, negative, teacher margin) rows for `MarginMSELoss`, and counts."""
    by_doc = mine_pairs_by_doc(docs, per_doc=per_doc, seed=seed)
    pairs = [(i, p["anchor"], p["positive"]) for i, rows in enumerate(by_doc) for p in rows]
    if not pairs or len(docs) < 2:
        return [], {"pseudo_queries": 0}
    texts = [d.full_text for d in docs] + [positive for _, _, positive in pairs]
    n_docs = len(docs)
    passage_vectors = _encode(model, texts)
    query_vectors = _encode(model, [anchor for _, anchor, _ in pairs])
    index = bm25_index(texts)
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start : start + CHUNK]
        dense = query_vectors[start : start + len(chunk)] @ passage_vectors.T
        tokens = query_tokens([anchor for _, anchor, _ in chunk])
        lexical = np.stack([index.scores(t) for t in tokens])
        teacher = teacher_scores(dense, lexical, settings.lexical_weight, n_docs)
        top = np.argsort(-dense[:, :n_docs], axis=1)[:, : settings.candidates + 1]  # the base model's own ranks
        for row, (owner, anchor, positive) in enumerate(chunk):
            negative = rng.choice([j for j in top[row] if j != owner][: settings.candidates])
            margin = teacher[row, n_docs + start + row] - teacher[row, negative]
            rows.append({"anchor": anchor, "positive": positive, "negative": texts[negative], "label": float(margin)})
    return rows, {"pseudo_queries": len(rows)}
