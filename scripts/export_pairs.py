"""Write one qrels split of a BEIR folder as (query, positive) JSONL pairs, for `objective: pairs`.

python scripts/export_pairs.py --dataset data/debian --split train --out data/debian-train-pairs.jsonl
"""

from __future__ import annotations

import argparse
import sys

from ctxembed._io import atomic_file
from ctxembed.scoring.beir import load_beir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="BEIR folder")
    parser.add_argument("--split", default="train", help="qrels split to export (never the one you test on)")
    parser.add_argument("--out", required=True, help="JSONL file to write")
    args = parser.parse_args()
    pairs = load_beir(args.dataset).pairs(args.split)
    with atomic_file(args.out) as fh:
        fh.writelines(line + "\n" for line in pairs)
    print(f"{args.out}: {len(pairs)} pairs from {args.dataset} ({args.split})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
