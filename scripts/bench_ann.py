"""Approximate search at scale: recall@10 against exact search, queries/s and memory, per FAISS factory.

python scripts/bench_ann.py [--count 1000000] [--dim 384] [--queries 1000] [--factories "Flat;HNSW32;IVF4096,PQ96,Refine(SQ8)"]

Vectors are a seeded mixture of Gaussian clusters on the unit sphere (embedding-like: neighbours
are meaningful, not uniform noise); queries are held-out points of the same mixture. Each index
is built through ctxembed's own settings path (`faiss.ParameterSpace` for nprobe/efSearch, the
IVF trained on a seeded sample of POINTS_PER_LIST vectors a list) and searched with every search
breadth listed; the exact Flat index measured in the same run is the reference for recall and speed.
"""

from __future__ import annotations

import argparse
import sys
import time


def mixture(count: int, dim: int, clusters: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, 100_000):
        n = min(100_000, count - start)
        block = centres[rng.integers(0, clusters, n)] + 0.9 * rng.standard_normal((n, dim)).astype(np.float32)
        out[start : start + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def main() -> int:
    import faiss
    import numpy as np

    from ctxembed.index.vectors import POINTS_PER_LIST

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument(
        "--factories", default="Flat;HNSW32;IVF4096,PQ96;IVF4096,PQ96,Refine(SQ8)", help="separated by ;"
    )
    parser.add_argument("--hnsw-ef", default="64,128,256,512")
    parser.add_argument("--nprobe", default="8,16,32,64")
    args = parser.parse_args()

    data = mixture(args.count + args.queries, args.dim, args.clusters, seed=0)
    base, queries = data[: args.count], data[args.count :]
    print(
        f"{args.count:,} vectors, {args.dim}-d, {args.queries} queries, {faiss.omp_get_max_threads()} threads",
        flush=True,
    )
    truth = exact_qps = None
    print(f"{'factory':<16} {'setting':<12} {'build s':>8} {'MB':>7} {'QPS':>9} {'vs exact':>9} {'recall@10':>10}")
    for factory in args.factories.split(";"):
        index = faiss.index_factory(args.dim, factory, faiss.METRIC_INNER_PRODUCT)
        started = time.perf_counter()
        if not index.is_trained:
            lists = faiss.extract_index_ivf(index).nlist
            sample = np.random.default_rng(0).choice(
                args.count, min(args.count, POINTS_PER_LIST * lists), replace=False
            )
            index.train(base[np.sort(sample)])
        for start in range(0, args.count, 100_000):
            index.add(base[start : start + 100_000])
        build = time.perf_counter() - started
        megabytes = faiss.serialize_index(index).nbytes / 2**20
        space = faiss.ParameterSpace()
        name = "efSearch" if "HNSW" in factory else "nprobe" if "IVF" in factory else None
        if "Refine" in factory or "RFlat" in factory:
            space.set_index_parameter(index, "k_factor_rf", 8)  # as ctxembed sets it
        values = (args.hnsw_ef if name == "efSearch" else args.nprobe).split(",") if name else [""]
        for value in values:
            if name:
                space.set_index_parameter(index, name, int(value))
            index.search(queries[:10], 10)  # warm-up
            started = time.perf_counter()
            _, found = index.search(queries, 10)
            qps = len(queries) / (time.perf_counter() - started)
            if truth is None:
                truth, exact_qps = found, qps  # the first factory (Flat) is the reference
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
            setting = f"{name}={value}" if name else "exact"
            print(
                f"{factory:<16} {setting:<12} {build:>8.1f} {megabytes:>7.0f} {qps:>9.0f} {qps / exact_qps:>8.1f}x "
                f"{recall:>10.3f}",
                flush=True,
            )
        del index
    return 0


if __name__ == "__main__":
    sys.exit(main())
