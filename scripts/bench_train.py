"""Peak memory and step time of LoRA against full fine-tuning, each in a fresh process, in one run.

python scripts/bench_train.py --dataset data/manpages [--docs 300] [--steps 10] [--batch-size 32]

Each variant runs `ctxembed finetune` (the shipped configs/contextual-lora.yaml recipe, raw documents)
for a fixed number of steps in its own process, so its peak RSS (or CUDA peak) is its own. Printed:
seconds per step and peak memory of each, and their ratios to full fine-tuning.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

VARIANTS = {
    "full": {"lora": None},
    "lora": {},
    "lora + checkpointing": {"training.gradient_checkpointing": True},
}


def worker(args: argparse.Namespace) -> int:
    """One variant: train, then print one JSON line with time and memory."""
    import torch
    import yaml

    from ctxembed.config.loading import from_dict
    from ctxembed.contextual.settings import ContextualFinetuneConfig
    from ctxembed.contextual.training import finetune_contextual

    raw = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    raw.pop("eval", None)
    raw["corpus"] = {"path": args.corpus}
    raw["out"] = args.out
    changes = {
        "training.max_steps": args.steps,
        "training.eval_steps": args.steps + 1,  # no evaluation or checkpoint inside the timed steps
        "training.batch_size": args.batch_size,
        **json.loads(args.worker),
    }
    for key, value in changes.items():  # into the YAML mapping: `lora: null` (full fine-tuning) is a value
        *parents, last = key.split(".")
        node = raw
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = value
    config = from_dict(ContextualFinetuneConfig, raw, where=args.config)
    result = finetune_contextual(config)
    cuda = torch.cuda.is_available()
    print(
        "RESULT "
        + json.dumps(
            {
                "seconds_per_step": result.train_seconds / max(1, result.data["steps"]),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "cuda_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
                "trainable": result.trainable_params,
            }
        ),
        flush=True,
    )
    return 0


def main() -> int:
    from ctxembed.scoring.beir import load_beir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/manpages", help="BEIR folder whose corpus is trained on")
    parser.add_argument("--config", default="configs/contextual-lora.yaml")
    parser.add_argument("--docs", type=int, default=300, help="documents used (the first N)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    with tempfile.TemporaryDirectory(prefix="bench_train.") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        docs = list(load_beir(args.dataset).corpus)[: args.docs]
        corpus.write_text(
            "".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n" for d in docs), encoding="utf-8"
        )
        print(f"{args.dataset}: {len(docs)} documents, {args.steps} steps of {args.batch_size} pairs", flush=True)
        results = {}
        for name, changes in VARIANTS.items():
            command = [sys.executable, __file__, "--worker", json.dumps(changes), "--corpus", str(corpus)]
            command += ["--out", str(Path(tmp) / name.replace(" ", "_")), "--config", args.config]
            command += ["--steps", str(args.steps), "--batch-size", str(args.batch_size)]
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode or not lines:
                print(f"{name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                return 1
            results[name] = json.loads(lines[-1][len("RESULT ") :])
            print(f"  {name}: done in {time.perf_counter() - started:.0f}s", flush=True)

    full = results["full"]
    print(f"{'variant':<22} {'s/step':>7} {'vs full':>8} {'peak RSS MB':>12} {'vs full':>8} {'trainable':>11}")
    for name, r in results.items():
        memory = f"{r['peak_rss_mb']:>12.0f} {r['peak_rss_mb'] / full['peak_rss_mb']:>7.2f}x"
        if r["cuda_peak_mb"] is not None:
            memory += f"  CUDA peak {r['cuda_peak_mb']:.0f} MB ({r['cuda_peak_mb'] / full['cuda_peak_mb']:.2f}x)"
        step = f"{r['seconds_per_step']:>7.2f} {r['seconds_per_step'] / full['seconds_per_step']:>7.2f}x"
        print(f"{name:<22} {step} {memory} {r['trainable']:>11,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
