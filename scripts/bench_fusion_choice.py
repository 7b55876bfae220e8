"""What the label-free fusion choice adds to a build: a contextual index of N documents, built as `ctxembed index`
builds it, timed as a whole and its choice (mining, held-out scoring, the grid) on its own, in the same run.

python scripts/bench_fusion_choice.py [--docs 100000] [--sentences 4] [--backend contextual|static]

The corpus is synthetic but reads like text: each document is `--sentences` sentences drawn (seeded) from the
bundled benchmark corpora (data/*/corpus.jsonl, `make data`), so the miners find pseudo-queries as they would in
real documents. Printed: build seconds, choice seconds, and the choice as a share of the build without it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def sentences() -> list[str]:
    from ctxembed.data import split_sentences

    out = []
    for corpus in sorted(Path("data").glob("*/corpus.jsonl")):
        with corpus.open(encoding="utf-8") as fh:
            for line in fh:
                out += [s for s in split_sentences(json.loads(line)["text"]) if len(s.split()) >= 5]
    if not out:
        raise SystemExit("no sentences under data/*/corpus.jsonl; run `make data` first")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--sentences", type=int, default=4)
    parser.add_argument("--backend", default="contextual", choices=("contextual", "static"))
    args = parser.parse_args()

    from ctxembed.data import Document
    from ctxembed.index.vector_index import build_index
    from ctxembed.registry import load_embedder

    pool = sentences()
    rng = random.Random(0)
    docs = [Document(f"d{i}", " ".join(rng.choices(pool, k=args.sentences))) for i in range(args.docs)]
    words = sum(len(d.text.split()) for d in docs) / len(docs)
    embedder = load_embedder(args.backend)
    print(f"{args.docs} documents of {args.sentences} sentences ({words:.0f} words on average), {embedder.name}")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        index = build_index(embedder, lambda: docs, Path(tmp) / "i", sparse=True, chunk_size=4096)
        build = time.perf_counter() - started
        chosen = index.fusion_chosen
        index.close()
    if chosen is None:
        raise SystemExit("the corpus gave too few pseudo-queries to choose a weight")
    choice = chosen["seconds"]
    print(
        f"build {build:.1f}s, of which the fusion choice {choice:.1f}s on {chosen['queries']} pseudo-queries: "
        f"{choice / (build - choice):.2%} of the build without it (weight {chosen['weight']}, alone "
        f"{chosen['alone']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
