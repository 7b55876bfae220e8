"""Speed and cost of hybrid search on a static index: build time and peak memory with and without the sparse
side, then queries per second and p50/p95 latency per mode, all measured in one run.

python scripts/bench_hybrid.py --docs 100000 [--queries 200]

Documents are synthetic: 40 to 120 words drawn from GloVe's 20,000 most frequent words with a Zipf law;
queries are 3 to 6 such words. Each build runs in its own process, so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def words() -> list[str]:
    from ctxembed.static.vectors import load_vectors

    kv, _ = load_vectors("glove-wiki-gigaword-50")
    return [w for w in kv.index_to_key[:20000] if w.isalpha()]


def write_corpus(path: Path, n: int, seed: int = 0) -> None:
    import numpy as np

    vocab = words()
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            ids = rng.choice(len(vocab), size=int(rng.integers(40, 121)), p=p)
            fh.write(json.dumps({"_id": str(i), "text": " ".join(vocab[j] for j in ids)}) + "\n")


def build(corpus: str, out: str, sparse: str) -> None:
    """Child process: one `ctxembed index` build; prints seconds and peak RSS (MiB) as JSON."""
    from ctxembed.cli import main

    started = time.perf_counter()
    code = main(["index", "--backend", "static", "--corpus", corpus, "--sparse", sparse, "--out", out])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"code": code, "seconds": time.perf_counter() - started, "peak_mib": peak}))


def measure(folder: str, n_queries: int) -> dict[str, dict[str, float]]:
    import numpy as np

    from ctxembed import VectorIndex, embedder_from_manifest
    from ctxembed.index.files import read_manifest

    index = VectorIndex.load(folder, embedder_from_manifest(read_manifest(folder), folder))
    vocab = words()[:5000]
    rng = np.random.default_rng(1)
    queries = [" ".join(rng.choice(vocab, size=int(rng.integers(3, 7)))) for _ in range(n_queries)]
    out = {}
    for mode in ("dense", "sparse", "hybrid"):
        index.search(queries[:5], k=10, mode=mode, unknown="skip")  # warm-up
        times = []
        for query in queries:
            started = time.perf_counter()
            index.search([query], k=10, mode=mode, unknown="skip")
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        out[mode] = {
            "qps": 1000 / statistics.mean(times),
            "p50_ms": times[len(times) // 2],
            "p95_ms": times[int(len(times) * 0.95) - 1],
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        build(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-hybrid-") as tmp:
        corpus = Path(tmp) / "docs.jsonl"
        write_corpus(corpus, args.docs)
        builds = {}
        for sparse in ("none", "bm25"):
            out = str(Path(tmp) / f"idx-{sparse}")
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(corpus), out, sparse],
                capture_output=True,
                text=True,
                check=True,
            )
            builds[sparse] = json.loads(done.stdout.strip().splitlines()[-1])
            builds[sparse]["size_mib"] = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file()) / 2**20
        speeds = measure(str(Path(tmp) / "idx-bm25"), args.queries)
    dense, both = builds["none"], builds["bm25"]
    print(f"{args.docs} synthetic documents, static GloVe 50d (SIF), exact Flat index, 2-core CPU")
    print("| build | seconds | peak RSS MiB | folder MiB |\n|---|---|---|---|")
    for name, b in (("dense only", dense), ("dense + BM25", both)):
        print(f"| {name} | {b['seconds']:.1f} | {b['peak_mib']:.0f} | {b['size_mib']:.0f} |")
    print(f"sparse side: {both['seconds'] / dense['seconds']:.2f}x the build time, "
          f"{both['peak_mib'] / dense['peak_mib']:.2f}x the peak memory")  # fmt: skip
    print("| mode | QPS | p50 ms | p95 ms |\n|---|---|---|---|")
    for mode, s in speeds.items():
        print(f"| {mode} | {s['qps']:.0f} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
