"""A living index at scale: update 1% of a static index of N documents, delete 1%, compact it, and search it
(filtered and not, before and after the updates), each against the full build (or unfiltered search of the
fresh build) measured in the same run.

python scripts/bench_update.py [--docs 1000000] [--share 0.01] [--queries 200]

The corpus is synthetic: 40 to 120 Zipf-drawn GloVe words a document (as scripts/bench_hybrid.py), each with a
`bucket` field (its number modulo 1000), so that `bucket<500`, `bucket<50` and `bucket<1` select 50%, 5% and
0.1% of the documents. Static GloVe 50d, exact Flat index, BM25, built in this process.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    import numpy as np

    from ctxembed.data import Document
    from ctxembed.index import VectorIndex
    from ctxembed.index.update import DEAD_SHARE, MAX_PARTS, update_index
    from ctxembed.index.vector_index import build_index
    from ctxembed.registry import load_embedder
    from ctxembed.static.vectors import load_vectors

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    kv, _ = load_vectors("glove-wiki-gigaword-50")
    vocab = [w for w in kv.index_to_key[:20000] if w.isalpha()]
    rng = np.random.default_rng(0)
    p = 1 / np.arange(1, len(vocab) + 1)
    p /= p.sum()

    def text() -> str:
        return " ".join(vocab[j] for j in rng.choice(len(vocab), size=int(rng.integers(40, 121)), p=p))

    docs = [Document(str(i), text(), "", {"bucket": i % 1000}) for i in range(args.docs)]
    embedder = load_embedder("static")
    changed = int(args.docs * args.share)
    replaced = changed - changed // 2
    batches = iter(range(10**9))

    def fresh_changes() -> list:
        """Half new documents, half replacing documents spread over the index."""
        batch = next(batches)
        out = [Document(f"new{batch}-{i}", text(), "", {"bucket": i % 1000}) for i in range(changed // 2)]
        step = args.docs // replaced
        return (
            out + [Document(str(i), text(), "", {"bucket": i % 1000}) for i in range(batch, args.docs, step)][:replaced]
        )

    changes = fresh_changes()
    deletes = [str(i) for i in range(1, args.docs, args.docs // changed)][:changed]
    queries = [" ".join(rng.choice(vocab[:5000], size=int(rng.integers(3, 7)))) for _ in range(args.queries)]
    print(
        f"{args.docs} documents; update {len(changes)} ({changed // 2} new, the rest replaced), delete {len(deletes)}"
    )
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        folder = Path(tmp) / "index"
        started = time.perf_counter()
        build_index(embedder, lambda: docs, folder, sparse=True, chunk_size=4096).close()
        build = time.perf_counter() - started
        print(f"full build: {build:.1f}s")
        fresh = VectorIndex.load(folder, embedder)
        before = {mode: _p95(fresh, queries, mode, None) for mode in ("dense", "hybrid")}
        fresh.close()
        update = update_index(folder, embedder, changes=changes)
        print(f"update {args.share:.0%}: {update.seconds:.1f}s = {update.seconds / build:.1%} of the full build")
        delete = update_index(folder, embedder, deletes=deletes)
        print(f"delete {args.share:.0%}: {delete.seconds:.1f}s = {delete.seconds / build:.1%} of the full build")
        more = [update_index(folder, embedder, changes=fresh_changes()) for _ in range(MAX_PARTS)]
        merge = more[-1]  # it would make a part past MAX_PARTS: the parts are merged into its own
        seconds = [update.seconds] + [r.seconds for r in more]
        print(
            f"{len(seconds)} updates of {args.share:.0%}: mean {np.mean(seconds):.1f}s = "
            f"{np.mean(seconds) / build:.1%} of the full build; the last merged {MAX_PARTS} parts into one in "
            f"{merge.seconds:.1f}s ({len(list(folder.glob('part-*')))} part now)"
        )
        index = VectorIndex.load(folder, embedder)
        for mode in ("dense", "hybrid"):
            base = _p95(index, queries, mode, None)
            print(
                f"{mode}: p95 {base:.1f} ms after the updates, {before[mode]:.1f} ms fresh = {base / before[mode]:.2f}x"
            )
            for condition, share in (("bucket<500", "50%"), ("bucket<50", "5%"), ("bucket<1", "0.1%")):
                filtered = _p95(index, queries, mode, condition)
                print(f"  filter {condition} ({share}): p95 {filtered:.1f} ms = {filtered / base:.2f}x unfiltered")
        index.close()
        compact = update_index(folder, embedder, compact=True)
        print(f"compaction: {compact.seconds:.1f}s = {compact.seconds / build:.1%} of the full build")
        cycle = math.ceil(DEAD_SHARE / (replaced / args.docs))  # updates like these before one compacts
        amortised = np.mean(seconds) + compact.seconds / cycle
        print(
            f"each update leaves {replaced / args.docs:.2%} of the positions deleted, so one in {cycle} compacts: "
            f"amortised {amortised:.1f}s an update = {amortised / build:.1%} of the full build"
        )
        index = VectorIndex.load(folder, embedder)
        print("after compaction: " + ", ".join(
            f"{mode} p95 {_p95(index, queries, mode, None) / before[mode]:.2f}x fresh" for mode in ("dense", "hybrid")
        ))  # fmt: skip
        index.close()
    return 0


def _p95(index, queries, mode, condition) -> float:
    import numpy as np

    index.search(queries[0], k=10, mode=mode, filter=condition)  # warm
    times = []
    for query in queries:
        started = time.perf_counter()
        index.search(query, k=10, mode=mode, filter=condition)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 95))


if __name__ == "__main__":
    sys.exit(main())
