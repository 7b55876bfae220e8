"""The label-free hybrid weight against labels: build each index as `ctxembed index` does (the weight chosen on
pseudo-queries), then score BM25, the model, the chosen hybrid and the older query-style rule on real queries.

python scripts/bench_label_free_fusion.py --split dev [--datasets manpages,debian,pyfaq,pydocs]
    [--models minilm,glove,glove-mean,distilled] [--distilled FOLDER]

Each row: nDCG@10 of each side and of the hybrids, and the chosen hybrid against the better side with a
paired-bootstrap 95% interval; the weight the pseudo-queries chose, and the build and choice times. Tune on
dev; score test once.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def embedder(name: str, distilled: str | None):
    from ctxembed.config import ContextualConfig, StaticConfig
    from ctxembed.registry import load_embedder

    if name == "minilm":
        return load_embedder("contextual", ContextualConfig(device="cpu"))
    if name in ("glove", "glove-mean"):
        return load_embedder("static", StaticConfig(pooling="sif" if name == "glove" else "mean"))
    if name == "distilled":
        if not distilled:
            raise SystemExit("--models distilled needs --distilled FOLDER (a model2vec folder)")
        return load_embedder("static", StaticConfig(vectors=distilled))
    raise SystemExit(f"unknown model {name!r}; choose minilm, glove, glove-mean or distilled")


def main() -> int:
    import numpy as np

    from ctxembed.index.vector_index import build_index
    from ctxembed.retrieval.fusion import FusionSettings
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.metrics import index_retriever, per_query_metrics, rank_queries
    from ctxembed.scoring.significance import paired_bootstrap

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--datasets", default="manpages,debian,pyfaq,pydocs")
    parser.add_argument("--models", default="minilm,glove,glove-mean")
    parser.add_argument("--distilled", help="a model2vec folder, for --models distilled")
    args = parser.parse_args()
    print("dataset model: weight chosen | BM25 model | hybrid (chosen) vs better side | query-style rule | no share")
    for dataset_name in args.datasets.split(","):
        dataset = load_beir(f"data/{dataset_name}")
        queries, relevant = dataset.split(args.split)
        for model_name in args.models.split(","):
            model = embedder(model_name, args.distilled)
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                corpus = dataset.corpus
                index = build_index(model, lambda corpus=corpus: corpus, f"{tmp}/i", sparse=True)
                built = time.perf_counter() - started
                chosen = index.fusion
                variants = {
                    "BM25": ("sparse", chosen),
                    "model": ("dense", chosen),
                    "chosen": ("hybrid", chosen),
                    "rule": ("hybrid", FusionSettings()),
                    "no share": ("hybrid", replace(chosen, questions=None)),
                }
                ndcg = {}
                for name, (mode, fusion) in variants.items():
                    run = rank_queries(index_retriever(index, mode, fusion), queries, relevant)
                    per_query = per_query_metrics(run, relevant, {"ndcg": (10,)})
                    ndcg[name] = {q: m["ndcg@10"] for q, m in per_query.items()}
                index.close()
            mean = {name: float(np.mean(list(v.values()))) for name, v in ndcg.items()}
            better = max(("BM25", "model"), key=mean.get)
            c = paired_bootstrap(ndcg[better], ndcg["chosen"])
            record = index.fusion_chosen or {}
            weight = f"{chosen.weight:g}" if chosen.weight is not None else "rule (too few pseudo-queries)"
            alone = f" ({record['alone']} alone)" if record.get("alone") else ""
            share = f", questions x{chosen.questions:g}" if chosen.questions not in (None, 1.0) else ""
            print(
                f"{dataset_name} {args.split} ({len(relevant)} q) {model_name}: weight {weight}{alone}{share} | "
                f"{mean['BM25']:.4f} {mean['model']:.4f} | {mean['chosen']:.4f} vs {better} {c.delta:+.4f} "
                f"({c.low:+.4f} to {c.high:+.4f}) | {mean['rule']:.4f} | {mean['no share']:.4f} | "
                f"build {built:.1f}s, choice {record.get('seconds', 0):.1f}s",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
