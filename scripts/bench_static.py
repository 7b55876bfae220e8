"""Static models against their contextual teacher, in one run: encoding speed and nDCG@10.

python scripts/bench_static.py --dataset data/manpages --split dev --distilled runs/distilled-manpages \\
    [--plain-distilled DIR] [--teacher NAME] [--adapter DIR] [--vectors glove-wiki-gigaword-50 ...]

Every model encodes the whole corpus (timed, after a warm-up) and the split's queries; nDCG@10 is
exact search over the corpus. Speeds are documents/s and the ratio to the teacher at its fastest
precision (`contextual.precision: auto`) measured in the same run; the raw model2vec
`StaticModel.encode` is timed too, so ctxembed's own overhead shows. BM25 (bm25s) is the lexical line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# TOKENIZERS_PARALLELISM is left as the user has it (unset: the Rust tokenizer uses every core),
# and printed: the Makefile sets it to false, which halves model2vec's speed on 2 cores.


def main() -> int:
    import numpy as np
    import torch

    from ctxembed import load_embedder
    from ctxembed.config import StaticConfig
    from ctxembed.contextual.embedder import ContextualEmbedder
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.metrics import bm25_retriever, exact_ndcg, per_query_ndcg

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/manpages")
    parser.add_argument("--split", default="dev", help="qrels split (test once, after the choices)")
    parser.add_argument("--teacher", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--adapter", help="the teacher's LoRA adapter, if it had one")
    parser.add_argument("--distilled", required=True, help="the (domain-tuned) distilled model2vec folder")
    parser.add_argument("--plain-distilled", help="the same distillation without domain tuning, to compare")
    parser.add_argument("--vectors", nargs="*", default=["glove-wiki-gigaword-50"], help="word vectors (SIF)")
    args = parser.parse_args()

    dataset = load_beir(args.dataset)
    ids, texts = [d.id for d in dataset.corpus], [d.full_text for d in dataset.corpus]
    queries, relevant = dataset.split(args.split)
    qids = list(relevant)
    q_texts = [queries[q] for q in qids]

    def ndcg(q: np.ndarray, d: np.ndarray) -> float:
        return exact_ndcg(q, d, qids, ids, relevant)

    def timed(encode, repeats: int = 1) -> tuple[np.ndarray, float]:
        encode(texts[:64])  # warm-up
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            out = encode(texts)
            best = min(best, time.perf_counter() - started)
        return out, len(texts) / best

    print(
        f"{args.dataset} {args.split}: {len(texts)} documents, {len(qids)} queries; "
        f"torch threads {torch.get_num_threads()}, TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM', 'unset')}",
        flush=True,
    )
    rows = []
    teacher = ContextualEmbedder.load(args.teacher, adapter=args.adapter, precision="auto")
    vecs, speed = timed(teacher.encode_documents, repeats=2)
    label = f"teacher {args.teacher.split('/')[-1]}{' + LoRA' if args.adapter else ''} ({teacher.precision_used.value})"
    rows.append((label, speed, ndcg(teacher.encode_queries(q_texts), vecs)))
    teacher_speed, teacher_ndcg = speed, rows[0][2]
    static_models = [("distilled, domain-tuned", args.distilled)]
    if args.plain_distilled:
        static_models.append(("distilled", args.plain_distilled))
    static_models += [(f"{v} (SIF)", v) for v in args.vectors]
    for name, path in static_models:
        # the registry loads a model2vec folder as a DistilledEmbedder, word vectors as a StaticEmbedder
        embedder = load_embedder("static", StaticConfig(vectors=path, pooling="sif"))
        vecs, speed = timed(embedder.encode_documents, repeats=9)
        rows.append((name, speed, ndcg(embedder.encode_queries(q_texts), vecs)))
        if hasattr(embedder, "model") and name.startswith("distilled, domain"):
            raw = embedder.model  # the library itself: model2vec's StaticModel.encode

            _, raw_speed = timed(lambda t, raw=raw: raw.encode(t, use_multiprocessing=False), repeats=9)
            print(
                f"  raw model2vec StaticModel.encode: {raw_speed:,.0f} docs/s; ctxembed {speed / raw_speed:.2f}x of raw"
            )
    ranked = bm25_retriever(dataset.corpus)(q_texts, 10)
    bm25 = per_query_ndcg({q: {d: 10.0 - r for r, d in enumerate(docs)} for q, docs in zip(qids, ranked)}, relevant)
    print(f"{'model':<44} {'docs/s':>10} {'vs teacher':>11} {'nDCG@10':>8} {'of teacher':>11}")
    for name, speed, score in rows:
        print(
            f"{name:<44} {speed:>10,.0f} {speed / teacher_speed:>10.1f}x {score:>8.4f} {score / teacher_ndcg:>10.2f}x"
        )
    print(f"{'BM25 (bm25s)':<44} {'':>10} {'':>11} {np.mean(list(bm25.values())):>8.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
