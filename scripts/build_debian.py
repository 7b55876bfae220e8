"""Build the Debian package-search benchmark (BEIR format) from apt's English package descriptions.

python scripts/build_debian.py --out data/debian     # needs: apt-get update -o Acquire::Languages=en
"""

from __future__ import annotations

import argparse
import sys
import time

from ctxembed.benchmarks.debian import build_debian


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/debian", help="output folder (BEIR layout)")
    parser.add_argument("--size", type=int, default=2000, help="packages (documents) sampled")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and the splits")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    dataset = build_debian(size=args.size, seed=args.seed)
    dataset.save(args.out, overwrite=args.overwrite)
    print(f"{args.out}: {dataset.summary()} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
