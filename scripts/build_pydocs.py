"""Build the long-document benchmark (whole Python documentation pages, section-heading queries) (BEIR format) from Debian's python3-doc.

python scripts/build_pydocs.py --out data/pydocs     # needs: apt-get install python3-doc
"""

from __future__ import annotations

import argparse
import sys
import time

from ctxembed.benchmarks.pydocs import build_pydocs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/pydocs", help="output folder (BEIR layout)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    dataset = build_pydocs()
    dataset.save(args.out, overwrite=args.overwrite)
    print(f"{args.out}: {dataset.summary()} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
