"""How a document's score is made from its passages' scores, on a BEIR split: dense nDCG@10 of each rule.

python scripts/bench_passage_scoring.py --dataset data/pyfaq --split dev [--model NAME]

One index of passages (the shipped settings) is built; every query is scored against every passage, and each
rule turns a document's passage scores into its score:
  best          the best passage (the shipped rule)
  lead          the first passage only (what a model reading the beginning sees, on these passages)
  best+0.1      the best passage plus a tenth of the second best
  lead|best-d   the better of the first passage and the best later one less d (later passages must beat
                the beginning by d)
Each line: nDCG@10 and its paired-bootstrap 95% interval against `best`. Choose on dev; score test once.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> int:
    import numpy as np

    from ctxembed import VectorIndex
    from ctxembed.config import ContextualConfig
    from ctxembed.registry import load_embedder
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.metrics import score_matrix_ndcg
    from ctxembed.scoring.significance import paired_bootstrap

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/pyfaq")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--margins", default="0.02,0.05,0.1")
    parser.add_argument("--bm25", action="store_true", help="also fuse with BM25 over documents or over passages")
    args = parser.parse_args()

    dataset = load_beir(args.dataset)
    queries, relevant = dataset.split(args.split)
    embedder = load_embedder("contextual", ContextualConfig(model=args.model, device="cpu"))
    index = VectorIndex.build(embedder, dataset.corpus, sparse=args.bm25)
    stored = index.vectors.stored(np.arange(len(index.passages)))
    qids = list(relevant)
    scores = embedder.encode_queries([queries[q] for q in qids]) @ stored.T  # queries x passages
    first = index.passages.first
    counts = np.diff(first)
    lead = scores[:, first[:-1]]
    best = np.maximum.reduceat(scores, first[:-1], axis=1)
    masked = scores.copy()
    masked[:, first[:-1]] = -np.inf
    later = np.maximum.reduceat(masked, first[:-1], axis=1)  # -inf for a one-passage document
    second = np.full_like(best, -np.inf)
    for j, (a, b) in enumerate(zip(first[:-1], first[1:])):
        if b - a > 1:
            second[:, j] = np.sort(scores[:, a:b], axis=1)[:, -2]
    rules = {"best": best, "lead": lead, "best+0.1": best + 0.1 * np.where(np.isfinite(second), second, 0)}
    for d in filter(None, args.margins.split(",")):
        rules[f"lead|best-{d}"] = np.maximum(lead, later - float(d))
    doc_ids = [d.id for d in index.docs]
    ndcg = {name: score_matrix_ndcg(m, qids, doc_ids, relevant) for name, m in rules.items()}
    if args.bm25:  # BM25 over whole documents (shipped) or over passages (a document: its best), fused alike
        ndcg.update(
            bm25_sides(index, [queries[q] for q in qids], qids, doc_ids, relevant, np.maximum(lead, later - 0.02))
        )  # the shipped dense rule
    split_docs = int((counts > 1).sum())
    print(
        f"{args.dataset} {args.split} ({len(qids)} queries, {split_docs} of {len(doc_ids)} documents split): dense nDCG@10"
    )
    for name, per_query in ndcg.items():
        c = paired_bootstrap(ndcg["best"], per_query)
        print(f"  {name:>14}: {np.mean(list(per_query.values())):.4f}  ({c.delta:+.4f}, {c.low:+.4f} to {c.high:+.4f})")
    return 0


def bm25_sides(index, texts, qids, doc_ids, relevant, dense):  # noqa: ANN001, ANN201
    """Hybrid nDCG@10 (the shipped per-query convex weights, min-max over all documents) with BM25 scoring whole
    documents and with BM25 scoring passages (a document: its best passage), beside BM25 alone each way."""
    import numpy as np

    from ctxembed.retrieval.bm25 import SparseIndex, query_tokens
    from ctxembed.retrieval.fusion import FusionSettings, fuse, query_weight
    from ctxembed.scoring.metrics import score_matrix_ndcg

    docs = list(index.docs)
    rows = index.passages.rows
    spans = [(i, 0, len(d.full_text)) for i, d in enumerate(docs)] if rows is None else rows.tolist()
    passage_index = SparseIndex.build(docs[d].full_text[s:e] for d, s, e in spans)
    first = index.passages.first[:-1]
    out = {}
    for name, side in (("documents", index.sparse), ("passages", passage_index)):
        lexical = np.stack([side.scores(tokens) for tokens in query_tokens(texts)])
        if name == "passages":
            lexical = np.maximum.reduceat(lexical, first, axis=1)
        fused = np.stack([
            fuse(dense[i], lexical[i], np.zeros(0), np.zeros(0), method="convex", weight=query_weight(t, FusionSettings()))
            for i, t in enumerate(texts)
        ])  # fmt: skip
        out[f"BM25 ({name})"] = score_matrix_ndcg(lexical, qids, doc_ids, relevant)
        out[f"hybrid, BM25 {name}"] = score_matrix_ndcg(fused, qids, doc_ids, relevant)
    return out


if __name__ == "__main__":
    sys.exit(main())
