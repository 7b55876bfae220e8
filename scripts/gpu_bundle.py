"""Prepare the upload set for `scripts/gpu_check.py` on the lent GPU machine (64 MiB in all, no network there).

    python scripts/gpu_bundle.py [--out .gpu-bundle]

It holds MiniLM in half precision (the check upcasts it on load), the man-pages corpus with its dev queries
(`make data` builds them), and cp312 wheels of the packages ctxembed's contextual training needs there that
the GPU image lacks, at the versions of requirements.lock. It prints the size and refuses to exceed the limit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from lock_env import LOCK, read_pins  # noqa: E402

LIMIT_MIB = 64
# What the GPU image lacks that contextual training imports (its image has torch, transformers,
# sentence-transformers, peft, accelerate, pyarrow, pandas, xxhash, pyyaml, fsspec).
WHEELS = ["datasets", "dill", "multiprocess", "pytrec-eval-terrier"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"]


def size_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / ".gpu-bundle"))
    parser.add_argument("--dataset", default=str(ROOT / "data" / "manpages"), help="the man-pages BEIR folder")
    args = parser.parse_args()
    out, dataset = Path(args.out), Path(args.dataset)
    if not (dataset / "corpus.jsonl").is_file():
        sys.exit(f"gpu bundle: {dataset}/corpus.jsonl not found; run `make data` first")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    from sentence_transformers import SentenceTransformer

    from ctxembed.assets import resolve_contextual_model

    model = SentenceTransformer(resolve_contextual_model("all-MiniLM-L6-v2").location, device="cpu").half()
    model.save(str(tmp / "minilm-fp16"))

    (tmp / "manpages" / "qrels").mkdir(parents=True)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/dev.tsv"):  # never the test split
        shutil.copy2(dataset / name, tmp / "manpages" / name)

    pins = read_pins(LOCK.read_text())
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
         "--implementation", "cp", *platforms, "-d", str(tmp / "wheels"), *(f"{n}=={pins[n]}" for n in WHEELS)],
        check=True,
    )  # fmt: skip
    manifest = {"model": "minilm-fp16", "corpus": "manpages/corpus.jsonl", "dataset": "manpages", "wheels": "wheels"}
    (tmp / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = size_mib(tmp)
    if total > LIMIT_MIB - 2:  # the working tree travels with it
        shutil.rmtree(tmp)
        sys.exit(f"gpu bundle: {total:.1f} MiB is over the {LIMIT_MIB} MiB upload limit")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    for part in sorted(out.iterdir()):
        print(f"  {part.name:<14} {size_mib(part) if part.is_dir() else part.stat().st_size / 2**20:6.1f} MiB")
    print(f"gpu bundle: {out} holds {total:.1f} MiB (limit {LIMIT_MIB} MiB with the working tree)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
