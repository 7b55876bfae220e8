"""Passage settings on a BEIR set through the real index: whole documents against passages of several lengths.

python scripts/bench_passages.py --dataset data/pydocs --split dev [--variants none,default,128/16/m0] [--vectors DIR]

A variant is `none` (one vector a document: the model reads its beginning), `default` (the shipped settings) or
`TOKENS/OVERLAP[/notitle][/mMARGIN]` (e.g. 128/16/m0: no lead margin). Each
line gives the passages indexed, the build time and its ratio to the whole-document build (as a ratio to the
passages), and nDCG@10 in dense and hybrid mode on the split and on its `-head` and `-tail` parts where the set
has them (pydocs: the relevant section starts before or after word 200), with a paired-bootstrap 95% interval
against the first variant. Choose on dev; score test once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def settings(variant: str):  # noqa: ANN201
    from ctxembed.passages import PassageSettings

    if variant in ("none", "default"):
        return PassageSettings(mode="none") if variant == "none" else PassageSettings()
    tokens, overlap, *rest = variant.split("/")
    margin = next((float(r[1:]) for r in rest if r.startswith("m")), PassageSettings().lead_margin)
    return PassageSettings(
        max_tokens=int(tokens), overlap=int(overlap), title="notitle" not in rest, lead_margin=margin
    )


def main() -> int:
    import numpy as np

    from ctxembed import VectorIndex
    from ctxembed.registry import load_embedder
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.metrics import index_retriever, per_query_metrics, rank_queries
    from ctxembed.scoring.significance import paired_bootstrap

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/pydocs")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--vectors", help="a static model instead (word vectors or a distilled model2vec folder)")
    parser.add_argument("--variants", default="none,default")
    parser.add_argument("--modes", default="dense,hybrid")
    args = parser.parse_args()

    from ctxembed.config import ContextualConfig, StaticConfig

    dataset = load_beir(args.dataset)
    splits = [s for s in (args.split, f"{args.split}-head", f"{args.split}-tail") if s in dataset.qrels]
    if args.vectors:
        embedder = load_embedder("static", StaticConfig(vectors=args.vectors))
    else:
        embedder = load_embedder("contextual", ContextualConfig(model=args.model, device="cpu"))
    print(f"{args.dataset} {args.split}, {embedder.identity()['model']}: nDCG@10 (vs the first variant)")
    base: dict[tuple[str, str], dict[str, float]] = {}
    first_seconds = first_passages = None
    for variant in args.variants.split(","):
        started = time.perf_counter()
        index = VectorIndex.build(embedder, dataset.corpus, sparse="hybrid" in args.modes, passages=settings(variant))
        seconds = time.perf_counter() - started
        passages = len(index.passages)
        first_seconds, first_passages = first_seconds or seconds, first_passages or passages
        ratio = (seconds / first_seconds) / (passages / first_passages)
        print(f"  {variant}: {passages} passages, build {seconds:.0f}s ({ratio:.2f}x the first's time a passage)")
        for mode in args.modes.split(","):
            cells = []
            for split in splits:
                queries, relevant = dataset.split(split)
                run = rank_queries(index_retriever(index, mode), queries, relevant)
                ndcg = {q: m["ndcg@10"] for q, m in per_query_metrics(run, relevant, {"ndcg": (10,)}).items()}
                base.setdefault((mode, split), ndcg)
                c = paired_bootstrap(base[(mode, split)], ndcg)
                cells.append(
                    f"{split} {np.mean(list(ndcg.values())):.4f} ({c.delta:+.4f}, {c.low:+.4f}..{c.high:+.4f})"
                )
            print(f"    {mode:>6}: " + "; ".join(cells))
        if variant == args.variants.split(",")[0] and "hybrid" in args.modes:
            for split in splits:
                queries, relevant = dataset.split(split)
                run = rank_queries(index_retriever(index, "sparse"), queries, relevant)
                ndcg = [m["ndcg@10"] for m in per_query_metrics(run, relevant, {"ndcg": (10,)}).values()]
                print(f"    BM25 {split}: {np.mean(ndcg):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
