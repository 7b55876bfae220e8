"""Build the Python-FAQ question-answering benchmark (BEIR format) from Debian's python3-doc.

python scripts/build_pyfaq.py --out data/pyfaq     # needs: apt-get install python3-doc
"""

from __future__ import annotations

import argparse
import sys
import time

from ctxembed.benchmarks.pyfaq import build_pyfaq


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/pyfaq", help="output folder (BEIR layout)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    dataset = build_pyfaq()
    dataset.save(args.out, overwrite=args.overwrite)
    print(f"{args.out}: {dataset.summary()} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
