"""Peak memory and time of `ctxembed index` as the corpus grows, and search start-up, on synthetic text.

python scripts/bench_scale.py --sizes 100000,400000 [--backend static] [--words 40] [--factory Flat]

Each size gets a JSONL corpus of random GloVe words (seeded), is indexed by the CLI in a fresh
process (its peak RSS is its own), then searched once. Printed per size: documents/s, peak RSS,
search wall time; and between the first and last size, the RSS growth per document against the
vector bytes per document.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def write_corpus(path: Path, count: int, words: int, vocab: list[str], seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(count):
            fh.write(json.dumps({"_id": f"d{i}", "text": " ".join(rng.choices(vocab, k=words))}) + "\n")


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process (os.wait4 gives that child's own usage)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if child.returncode:
            err.seek(0)
            raise SystemExit(f"{' '.join(command)} failed:\n{err.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,400000")
    parser.add_argument("--backend", default="static", choices=["static", "contextual"])
    parser.add_argument("--words", type=int, default=40, help="words per synthetic document")
    parser.add_argument("--factory", default="Flat")
    parser.add_argument("--keep", help="keep corpora and indexes in this folder")
    args = parser.parse_args()

    from ctxembed.static.vectors import load_vectors

    vocab = list(load_vectors("glove-wiki-gigaword-50")[0].index_to_key[:50_000])
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench_scale."))
    root.mkdir(parents=True, exist_ok=True)
    ctxembed = [sys.executable, "-m", "ctxembed.cli"]
    rows = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            corpus = root / f"corpus-{size}.jsonl"
            if not corpus.exists():
                write_corpus(corpus, size, args.words, vocab, seed=size)
            out = root / f"index-{args.backend}-{size}"
            build = [*ctxembed, "index", "--backend", args.backend, "--corpus", str(corpus), "--out", str(out)]
            seconds, peak = run([*build, "--factory", args.factory, "--overwrite"])
            manifest = json.loads((out / "manifest.json").read_text())
            search_seconds, _ = run([*ctxembed, "search", str(out), "river bank loan", "-k", "5"])
            rows.append((size, seconds, peak, search_seconds, manifest["embedder"]["dim"]))
            print(
                f"{size:>9,} docs: {size / seconds:>8.0f} docs/s ({seconds:.0f}s), peak RSS {peak:.0f} MB, "
                f"search (process start to answer) {search_seconds:.1f}s",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if len(rows) > 1:
        (n0, _, m0, _, dim), (n1, _, m1, _, _) = rows[0], rows[-1]
        per_doc = (m1 - m0) * 2**20 / (n1 - n0)
        print(f"RSS growth {n0:,} -> {n1:,} docs: {per_doc:.0f} bytes/doc; vectors: {4 * dim} bytes/doc")
    return 0


if __name__ == "__main__":
    sys.exit(main())
