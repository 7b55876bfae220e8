"""Build the benchmarks made from Debian's python3-doc (BEIR format): the Python-FAQ question-answering set, or
the long-document set of whole documentation pages against their sections' headings.

python scripts/build_pyfaq.py --out data/pyfaq                   # needs: apt-get install python3-doc
python scripts/build_pyfaq.py --set pydocs --out data/pydocs
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    from ctxembed.benchmarks.pydocs import build_pydocs
    from ctxembed.benchmarks.pyfaq import build_pyfaq

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=["pyfaq", "pydocs"], default="pyfaq", help="which benchmark to build")
    parser.add_argument("--out", default="data/pyfaq", help="output folder (BEIR layout)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    dataset = build_pydocs() if args.set == "pydocs" else build_pyfaq()
    dataset.save(args.out, overwrite=args.overwrite)
    print(f"{args.out}: {dataset.summary()} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
