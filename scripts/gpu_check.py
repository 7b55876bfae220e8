"""The prepared GPU check: environment, the CUDA tests, LoRA and full fine-tuning at GPU scale, encode speed.

On the lent GPU machine (one call, no network; `make gpu-bundle` here first, then carry `.gpu-bundle`):

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
        .gpu-bundle/wheels/*.whl && PYTHONPATH=/tmp/site python3 scripts/gpu_check.py --out "$OUT"

Here, the same code path on 2 CPU cores with a tiny random BERT and a few steps (a test runs it):

    python scripts/gpu_check.py --device cpu --tiny --out /tmp/gpu-check

It writes `gpu_check.json` and `gpu_check.log` under --out. Each part runs even if another failed; a failed
part records its error, and the exit code is 1 if any part failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's ctxembed, also where it is not installed (the GPU machine)

LOG: Any = None


def say(text: str) -> None:
    print(text, flush=True)
    if LOG is not None:
        LOG.write(text + "\n")
        LOG.flush()


def environment(device: str) -> dict[str, Any]:
    """Versions of what ctxembed's contextual path uses, and the CUDA device."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    info: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(), "device": device}
    for name in ("torch", "transformers", "sentence-transformers", "peft", "accelerate", "datasets", "numpy"):
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["cuda"] = {
            "name": props.name,
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "torch_cuda": torch.version.cuda,
            "bf16": torch.cuda.is_bf16_supported(),
            "count": torch.cuda.device_count(),
        }
    return info


def cuda_tests() -> dict[str, Any]:
    """The `gpu`-marked tests (skipped, and so reported, without CUDA)."""
    started = time.perf_counter()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-m",
            "gpu",
            "-p",
            "no:cacheprovider",
            "tests/contextual/test_contextual_training.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    tail = done.stdout.strip().splitlines()[-1:] or [done.stderr.strip()[-300:]]
    return {"exit": done.returncode, "summary": tail[0], "seconds": round(time.perf_counter() - started, 1)}


def tiny_assets(folder: Path) -> tuple[str, str, None]:
    """A random 2-layer BERT and a 200-document corpus (the dev set is mined from held-out documents)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_bert import save_tiny_bert

    model = save_tiny_bert(folder / "tiny-bert")
    topics = ["river bank water", "web server network", "open a file", "memory page fault", "socket bind port"]
    lines = [
        f"Document {i} is about {topics[i % 5]}. It explains {topics[(i + 1) % 5]} in detail. "
        f"The {topics[i % 5]} part number {i} matters here."
        for i in range(200)
    ]
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(lines), encoding="utf-8")
    return str(model), str(corpus), None


def bundle_assets(bundle: Path, folder: Path) -> tuple[str, str, str]:
    """MiniLM upcast to fp32 from the bundle's half-precision copy, the man-pages corpus and its dev split."""
    from sentence_transformers import SentenceTransformer

    manifest = json.loads((bundle / "bundle.json").read_text())
    model = folder / "minilm-fp32"
    SentenceTransformer(str(bundle / manifest["model"]), device="cpu").float().save(str(model))
    return str(model), str(bundle / manifest["corpus"]), str(bundle / manifest["dataset"])


def train(model: str, corpus: str, dataset: str | None, device: str, *, lora: bool, steps: int, tiny: bool) -> dict:
    """One fine-tuning run through ctxembed's own trainer: speed, peak memory, dev nDCG@10 before and after."""
    import torch

    from ctxembed.config import ContextualConfig, CorpusConfig
    from ctxembed.contextual.settings import ContextualFinetuneConfig, EvalSettings, LoraSettings, TrainSettings
    from ctxembed.contextual.training import finetune_contextual

    settings = {"max_steps": steps, "eval_steps": max(steps // 4, 1)}
    if tiny:
        settings.update(batch_size=8, max_seq_length=64)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        config = ContextualFinetuneConfig(
            corpus=CorpusConfig(path=corpus),
            contextual=ContextualConfig(model=model, device=device),
            lora=LoraSettings() if lora else None,
            training=TrainSettings(**settings),
            eval=EvalSettings(dataset=dataset, split="dev"),
            out=str(Path(tmp) / "out"),
        )
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        result = finetune_contextual(config)
        wall = time.perf_counter() - started
    metric = result.primary_metric
    row = {
        "mode": "lora" if lora else "full",
        "steps": result.data.get("steps", steps),
        "steps_per_s": round(result.data.get("steps", steps) / result.train_seconds, 2),
        "train_s": round(result.train_seconds, 1),
        "wall_s": round(wall, 1),
        "metric": metric,
        "before": round(result.base_metrics[metric], 4),
        "after": round(result.tuned_metrics[metric], 4),
        "trainable_params": result.trainable_params,
    }
    if result.comparison is not None:
        c = result.comparison
        row["gain"] = {
            "delta": round(c.delta, 4),
            "low": round(c.low, 4),
            "high": round(c.high, 4),
            "queries": c.queries,
        }
    if device == "cuda":
        row["cuda_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return row


def encode_speed(model: str, corpus: str, device: str, *, tiny: bool) -> list[dict[str, Any]]:
    """Documents per second of ctxembed's encoder at each precision, against raw sentence-transformers loaded in
    that dtype. ctxembed has one half precision, bf16 (fp16 on GPUs without bf16): the fp16 row compares it
    with raw fp16."""
    import torch
    from sentence_transformers import SentenceTransformer

    from ctxembed.contextual import ContextualEmbedder
    from ctxembed.data import iter_corpus

    texts = [d.full_text for _, d in zip(range(64 if tiny else 4000), iter_corpus(corpus))]
    precisions = ["fp32"] if device == "cpu" else ["fp32", "bf16", "fp16"]
    rows = []
    for precision in precisions:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        raw = SentenceTransformer(model, device=device, model_kwargs={"torch_dtype": dtype})
        ours = ContextualEmbedder.load(model, device=device, precision="bf16" if precision != "fp32" else "fp32")
        timings = {}
        for name, encode in (
            ("raw", lambda raw=raw: raw.encode(texts, batch_size=128, normalize_embeddings=True)),
            ("ctxembed", lambda ours=ours: ours.encode_documents(texts, batch_size=128)),
        ):
            encode()  # warm-up: kernels, allocator
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            encode()
            if device == "cuda":
                torch.cuda.synchronize()
            timings[name] = len(texts) / (time.perf_counter() - started)
        used = ours.identity().get("precision")
        rows.append(
            {
                "precision": precision,
                "ctxembed_precision": used,
                "raw_docs_per_s": round(timings["raw"]),
                "ctxembed_docs_per_s": round(timings["ctxembed"]),
                "ratio": round(timings["ctxembed"] / timings["raw"], 2),
            }
        )
    return rows


def part(results: dict[str, Any], name: str, fn: Any) -> None:
    say(f"== {name}")
    started = time.perf_counter()
    try:
        results[name] = fn()
        say(json.dumps(results[name], indent=1))
    except Exception as exc:  # a failed part is recorded; the others still run
        results[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}
        say(f"FAILED {name}: {type(exc).__name__}: {exc}")
    say(f"   ({time.perf_counter() - started:.1f}s)")


def main() -> int:
    global LOG
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a tiny random BERT and a few steps (CPU self-test)")
    parser.add_argument("--bundle", default=str(ROOT / ".gpu-bundle"), help="folder written by `make gpu-bundle`")
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu-check-out"), help="where the JSON and log go")
    parser.add_argument("--cpu-steps", type=int, help="the CPU recipe's step count (default: 80, tiny: 2)")
    parser.add_argument("--scale", type=int, default=10, help="GPU runs take this many times the CPU steps")
    parser.add_argument("--skip-full", action="store_true", help="no full fine-tuning runs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    LOG = (out / "gpu_check.log").open("w", encoding="utf-8")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.perf_counter()
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "tiny": args.tiny}
    part(results, "environment", lambda: environment(args.device))
    part(results, "cuda_tests", cuda_tests)
    with tempfile.TemporaryDirectory(prefix="gpu-check-assets-") as tmp:
        model, corpus, dataset = tiny_assets(Path(tmp)) if args.tiny else bundle_assets(Path(args.bundle), Path(tmp))
        cpu_steps = args.cpu_steps or (2 if args.tiny else 80)
        scale = 2 if args.tiny else args.scale
        runs = [(True, cpu_steps), (True, cpu_steps * scale)]
        if not args.skip_full:
            runs += [(False, cpu_steps), (False, cpu_steps * scale)]
        results["training"] = []
        for lora, steps in runs:
            name = f"{'lora' if lora else 'full'}_{steps}_steps"
            part(
                results,
                name,
                lambda lora=lora, steps=steps: train(
                    model, corpus, dataset, args.device, lora=lora, steps=steps, tiny=args.tiny
                ),
            )
            results["training"].append(results.pop(name))
        part(results, "encode", lambda: encode_speed(model, corpus, args.device, tiny=args.tiny))
    results["seconds"] = round(time.perf_counter() - started, 1)
    failed = [k for k, v in results.items() if isinstance(v, dict) and "error" in v]
    failed += [f"training[{i}]" for i, row in enumerate(results["training"]) if "error" in row]
    results["failed"] = failed
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    say(f"gpu check: {'FAILED ' + ', '.join(failed) if failed else 'all parts passed'} in {results['seconds']}s")
    LOG.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
