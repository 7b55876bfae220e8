"""Build the man-pages known-item retrieval set (BEIR format) from the installed Linux man-pages.

python scripts/build_manpages.py --out data/manpages        # needs: apt-get install manpages manpages-dev groff-base
"""

from __future__ import annotations

import argparse
import sys
import time

from ctxembed.benchmarks.manpages import build_manpages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/manpages", help="output folder (BEIR layout)")
    parser.add_argument("--sections", default="2,3", help="man sections, comma-separated")
    parser.add_argument("--max-words", type=int, default=1000, help="words kept per document")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    dataset = build_manpages(sections=args.sections.split(","), max_words=args.max_words)
    dataset.save(args.out, overwrite=args.overwrite)
    print(f"{args.out}: {dataset.summary()} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
