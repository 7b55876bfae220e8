"""Search over passages at scale: documents by their best passage against raw FAISS passage search, same run.

python scripts/bench_passage_search.py [--passages 1000000] [--per-doc 10] [--dim 384] [--queries 200]

Random unit vectors stand in for encoded passages (the encoder's cost is bench_passages.py's), grouped into
documents of `--per-doc` consecutive passages, in an exact Flat index. Prints the p50/p95 latency of one query
for raw `faiss.Index.search` (k passages) and for ctxembed's document search (k documents, fetching passages
until k distinct documents are found, with the shipped lead margin), their ratio, and the index's size on disk with and without the map.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    import faiss
    import numpy as np

    from ctxembed.index.passage_map import PassageMap, top_documents
    from ctxembed.index.vectors import DenseVectors
    from ctxembed.passages import PassageSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--per-doc", type=int, default=10)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()

    margin = PassageSettings().lead_margin  # the shipped scoring: later passages count this much less
    rng = np.random.default_rng(0)
    dense = DenseVectors.create(args.dim, "Flat")
    for start in range(0, args.passages, 100_000):
        block = rng.standard_normal((min(100_000, args.passages - start), args.dim)).astype(np.float32)
        faiss.normalize_L2(block)
        dense.add(block)
    documents = -(-args.passages // args.per_doc)
    owners = np.arange(args.passages) // args.per_doc
    rows = np.column_stack([owners, np.zeros_like(owners), np.zeros_like(owners)])
    passages = PassageMap(rows, documents)
    queries = rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    faiss.normalize_L2(queries)
    raw, ours = [], []
    for q in queries:  # one query at a time, interleaved: both see the same machine state
        started = time.perf_counter()
        dense.search(q[None], args.k)
        raw.append(time.perf_counter() - started)
        started = time.perf_counter()
        top_documents(dense, passages, q[None], args.k, margin)
        ours.append(time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as tmp:
        dense.write(Path(tmp) / "index.faiss")
        np.save(Path(tmp) / "passages.npy", rows)
        faiss_mb = (Path(tmp) / "index.faiss").stat().st_size / 2**20
        map_mb = (Path(tmp) / "passages.npy").stat().st_size / 2**20
    p = {name: np.percentile(np.asarray(t) * 1000, [50, 95]) for name, t in (("raw", raw), ("ours", ours))}
    print(f"{args.passages:,} passages ({documents:,} documents of {args.per_doc}), {args.dim}-d Flat, k={args.k}, "
          f"{args.queries} queries, {faiss.omp_get_max_threads()} threads")  # fmt: skip
    print(f"  raw faiss search, k passages:    p50 {p['raw'][0]:.1f} ms, p95 {p['raw'][1]:.1f} ms")
    print(f"  ctxembed, k documents:           p50 {p['ours'][0]:.1f} ms, p95 {p['ours'][1]:.1f} ms")
    print(f"  ratio (p95): {p['ours'][1] / p['raw'][1]:.2f}x raw FAISS")
    print(f"  on disk: index.faiss {faiss_mb:.0f} MiB, passages.npy {map_mb:.0f} MiB (+{map_mb / faiss_mb:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
