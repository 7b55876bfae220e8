"""Hybrid search on a BEIR split through the real index: BM25, the dense model, and the fused modes.

python scripts/bench_fusion.py --dataset data/manpages --split dev [--weights 0.1,0.2,0.3,0.4] [--rrf]

Each line: nDCG@10, and its difference from the better of BM25 and the dense model with a paired-bootstrap
95% interval. `default` is the shipped weight (0.3 for keyword queries, 0.1 for questions). Choose on dev;
score test once.
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
    from ctxembed.contextual.embedder import ContextualEmbedder
    from ctxembed.retrieval.fusion import FusionSettings
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.metrics import index_retriever, per_query_metrics, rank_queries
    from ctxembed.scoring.significance import paired_bootstrap

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/manpages")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--adapter", help="a LoRA adapter folder for the dense model")
    parser.add_argument("--weights", default="", help="fixed BM25 weights to try beside the default, e.g. 0.1,0.3")
    parser.add_argument("--rrf", action="store_true", help="also reciprocal-rank fusion")
    args = parser.parse_args()

    dataset = load_beir(args.dataset)
    queries, relevant = dataset.split(args.split)
    model = ContextualEmbedder.load(args.model, adapter=args.adapter, device="cpu", precision="auto")
    index = VectorIndex.build(model, dataset.corpus, sparse=True)
    variants = {"BM25": ("sparse", None), "dense": ("dense", None), "default": ("hybrid", FusionSettings())}
    variants.update(
        {f"weight {w}": ("hybrid", FusionSettings(weight=float(w))) for w in filter(None, args.weights.split(","))}
    )
    if args.rrf:
        variants["RRF"] = ("hybrid", FusionSettings(method="rrf"))
    ndcg = {}
    for name, (mode, fusion) in variants.items():
        index.fusion = fusion or FusionSettings()
        run = rank_queries(index_retriever(index, mode), queries, relevant)
        ndcg[name] = {q: m["ndcg@10"] for q, m in per_query_metrics(run, relevant, {"ndcg": (10,)}).items()}
    mean = {name: float(np.mean(list(v.values()))) for name, v in ndcg.items()}
    better = max(("BM25", "dense"), key=mean.get)
    print(f"{args.dataset} {args.split} ({len(relevant)} queries), {model.name}: nDCG@10, vs {better}")
    for name, per_query in ndcg.items():
        c = paired_bootstrap(ndcg[better], per_query)
        print(f"  {name:>12}: {mean[name]:.4f}  ({c.delta:+.4f}, {c.low:+.4f} to {c.high:+.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
