"""Encoding speed of each `contextual.precision` against raw `SentenceTransformer.encode`, in one run.

python scripts/bench_encode.py --dataset data/manpages [--split dev] [--max-docs 0] [--model NAME]

For every precision it prints documents/s, the ratio to raw fp32 sentence-transformers measured in the
same run, the minimum and mean cosine of its document vectors against raw fp32, and nDCG@10 of the
split's queries over the corpus (exact search), so speed is never reported without its quality.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def ndcg10(queries: dict, relevant: dict, doc_ids: list, q_vecs, d_vecs) -> float:
    from ctxembed.scoring.metrics import per_query_ndcg

    scores = q_vecs @ d_vecs.T
    run = {}
    for qid, row in zip(queries, scores):
        top = row.argsort()[::-1][:100]
        run[qid] = {doc_ids[i]: float(row[i]) for i in top}
    per_query = per_query_ndcg(run, relevant)
    return sum(per_query.values()) / len(per_query)


def main() -> int:
    import torch

    from ctxembed.contextual.embedder import ContextualEmbedder, load_sentence_transformer
    from ctxembed.scoring.beir import load_beir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/manpages", help="BEIR folder")
    parser.add_argument("--split", default="dev", help="qrels split whose queries give nDCG@10")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--max-docs", type=int, default=0, help="encode only the first N documents (0: all)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precisions", default="fp32,bf16,int8,auto")
    args = parser.parse_args()

    dataset = load_beir(args.dataset)
    docs = list(dataset.corpus)[: args.max_docs or None]
    doc_ids, texts = [d.id for d in docs], [d.full_text for d in docs]
    queries, relevant = dataset.split(args.split)
    kept = set(doc_ids)
    relevant = {q: r for q, r in relevant.items() if set(r) & kept}
    queries = {q: t for q, t in queries.items() if q in relevant}
    q_texts = list(queries.values())
    print(
        f"{args.dataset}: {len(texts)} documents, {len(queries)} {args.split} queries; "
        f"torch threads {torch.get_num_threads()}, {args.model}",
        flush=True,
    )

    raw, _, _ = load_sentence_transformer(args.model, "cpu")
    raw.encode(texts[:8], batch_size=args.batch_size)  # warm-up
    started = time.perf_counter()
    ref = raw.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)
    raw_speed = len(texts) / (time.perf_counter() - started)
    ref_q = raw.encode(q_texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)
    print(f"{'encoder':<28} {'docs/s':>8} {'vs raw':>7} {'min cos':>8} {'mean cos':>9} {'nDCG@10':>8}")
    raw_ndcg = ndcg10(queries, relevant, doc_ids, ref_q, ref)
    print(f"{'raw sentence-transformers':<28} {raw_speed:>8.1f} {1.0:>6.2f}x {1.0:>8.5f} {1.0:>9.6f} {raw_ndcg:>8.4f}")

    for precision in args.precisions.split(","):
        embedder = ContextualEmbedder.load(args.model, device="cpu", precision=precision)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            started = time.perf_counter()
            embedder.encode_documents(
                texts[:: max(1, len(texts) // 32)][:32], batch_size=args.batch_size
            )  # check, warm-up
            setup = time.perf_counter() - started
        fallbacks = [str(w.message) for w in caught if "instead" in str(w.message)]
        started = time.perf_counter()
        vecs = embedder.encode_documents(texts, batch_size=args.batch_size)
        speed = len(texts) / (time.perf_counter() - started)
        q_vecs = embedder.encode_queries(q_texts, batch_size=args.batch_size)
        cos = (vecs * ref).sum(axis=1)
        label = f"ctxembed {precision} -> {embedder.precision_used.value}"
        quality = ndcg10(queries, relevant, doc_ids, q_vecs, vecs)
        print(
            f"{label:<28} {speed:>8.1f} {speed / raw_speed:>6.2f}x {cos.min():>8.5f} {cos.mean():>9.6f} "
            f"{quality:>8.4f}  (setup {setup:.1f}s{'; ' + fallbacks[0] if fallbacks else ''})",
            flush=True,
        )
        del embedder
    return 0


if __name__ == "__main__":
    sys.exit(main())
