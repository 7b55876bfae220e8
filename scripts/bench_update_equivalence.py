"""An updated index against a fresh build of the same final corpus, on a BEIR corpus.

python scripts/bench_update_equivalence.py --dataset data/pydocs [--backend static|contextual] [--queries 200]

The index is built from 90% of the corpus; an update then adds the other 10% and replaces 2% (their text
reversed), and a delete removes 2%. A fresh build of the final corpus answers the same queries (the dataset's
dev queries, then test): printed are the dense and hybrid top-10 overlaps (same fusion weight on both), the
largest BM25 score difference, whether a deleted document was ever returned, and a filtered search's share of
matching hits.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> int:
    import numpy as np

    from ctxembed.data import Document
    from ctxembed.index import VectorIndex
    from ctxembed.index.update import update_index
    from ctxembed.index.vector_index import build_index
    from ctxembed.registry import load_embedder
    from ctxembed.retrieval.bm25 import query_tokens
    from ctxembed.scoring.beir import load_beir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/pydocs")
    parser.add_argument("--backend", default="static", choices=("static", "contextual"))
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    dataset = load_beir(args.dataset)
    docs = [Document(d.id, d.text, d.title, {"half": i % 2}) for i, d in enumerate(dataset.corpus)]
    cut = int(len(docs) * 0.9)
    base, extra = docs[:cut], docs[cut:]
    step = max(1, len(base) // max(1, int(len(docs) * 0.02)))
    replaced = [replace(d, text=d.text[::-1]) for d in base[::step]]
    deleted = [d.id for d in base[1::step] if d.id not in {r.id for r in replaced}]
    queries = list({**dataset.split("dev")[0], **dataset.split("test")[0]}.values())[: args.queries]
    embedder = load_embedder(args.backend)
    final = {d.id: d for d in base}
    final.update({d.id: d for d in extra + replaced})
    for doc_id in deleted:
        del final[doc_id]
    with tempfile.TemporaryDirectory() as tmp:
        build_index(embedder, lambda: base, Path(tmp) / "updated", sparse=True).close()
        for report in (
            update_index(Path(tmp) / "updated", embedder, changes=extra + replaced),
            update_index(Path(tmp) / "updated", embedder, deletes=deleted),
        ):
            print(f"  update: {'compacted' if report.compacted else 'a new part'} in {report.seconds:.1f}s")
        updated = VectorIndex.load(Path(tmp) / "updated", embedder)
        fresh = build_index(embedder, lambda: list(final.values()), Path(tmp) / "fresh", sparse=True)
        print(f"{args.dataset} ({args.backend}): built from {len(base)}, +{len(extra)} new, {len(replaced)} replaced, "
              f"-{len(deleted)} deleted = {len(updated)} documents (fresh build: {len(fresh)}); {len(queries)} queries")  # fmt: skip
        for mode in ("dense", "hybrid"):
            a = updated.search(queries, 10, mode=mode, fusion=fresh.fusion, unknown="skip")
            b = fresh.search(queries, 10, mode=mode, unknown="skip")
            overlap = [len({h.doc_id for h in x} & {h.doc_id for h in y}) / len(y) for x, y in zip(a, b) if y]
            identical = sum({h.doc_id for h in x} == {h.doc_id for h in y} for x, y in zip(a, b))
            gone = sum(h.doc_id in set(deleted) for row in a for h in row)
            print(f"  {mode}: top-10 overlap {np.mean(overlap):.4f} (identical sets {identical}/{len(queries)}), "
                  f"deleted documents returned: {gone}")  # fmt: skip
        order = {d.id: i for i, d in enumerate(fresh.docs)}
        live = updated.live_positions()  # positions that updates deleted are left out
        permutation = np.array([order[updated.docs[int(p)].id] for p in live])
        worst = max(float(np.abs(updated.sparse.scores(t)[live] - fresh.sparse.scores(t)[permutation]).max(initial=0))
                    for t in query_tokens(queries))  # fmt: skip
        print(f"  BM25: largest score difference {worst:.2e}")
        meta = {d.id: d.metadata for d in final.values()}
        for mode in ("dense", "hybrid"):  # dense: k whenever k match; hybrid may be BM25 alone (its matches only)
            hits = updated.search(queries, 10, mode=mode, filter="half=1", unknown="skip")
            only = sum(all(meta[h.doc_id]["half"] == 1 for h in row) for row in hits)
            full = sum(len(row) == 10 for row in hits)
            print(f"  filter half=1, {mode}: {only}/{len(hits)} queries got only matching documents; {full} got 10")
        updated.close()
        fresh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
