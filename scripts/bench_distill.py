"""`ctxembed distill`'s steps against the teacher, in one run: build time, peak memory, encode speed, nDCG@10.

python scripts/bench_distill.py --dataset data/manpages --split dev [--teacher NAME] [--adapter DIR] \\
    [--out runs/bench-distill] [--steps plain,tuned,default] [--vectors glove-wiki-gigaword-50 ...]

Each step is `ctxembed distill --corpus DATASET/corpus.jsonl` as a user runs it (no queries), in a
child process so that its wall time and peak memory (RSS) are its own:
  plain    model2vec distillation only (domain_tune: false, contrastive: null)
  tuned    + domain tuning to the teacher's embeddings (contrastive: null)
  default  + contrastive training on the corpus's mined pairs: the shipped default
Then every model encodes the corpus (timed, after a warm-up), with the teacher at fp32 and at its
fastest checked precision (bf16 where the CPU has it), and scores the split's queries by exact search,
alone and fused with BM25 (ctxembed's hybrid search, default weights). Intervals are paired-bootstrap
95% intervals over the split's queries, against the teacher and against the plain distilled model.
Choose on dev; score test once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

STEPS = {
    "plain": {"domain_tune": False, "contrastive": None},
    "tuned": {"contrastive": None},
    "default": {},
}
CHILD = """
import json, resource, sys, time
from ctxembed.config.loading import from_dict
from ctxembed.distill import DistillConfig, distill_static
config = from_dict(DistillConfig, json.loads(sys.argv[1]), where="bench")
started = time.perf_counter()
result = distill_static(config, overwrite=True)
print(json.dumps({"seconds": time.perf_counter() - started, "steps": result.seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "contrastive": result.contrastive}, default=str))
"""


def distill(step: str, corpus: str, out: Path, teacher: str, adapter: str | None) -> dict:
    """Run one step in a child process; its wall time, per-part seconds and peak RSS."""
    settings = {"corpus": {"path": corpus}, "teacher": teacher, "adapter": adapter, "out": str(out), **STEPS[step]}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(settings)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"distill ({step}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    import numpy as np
    import torch

    from ctxembed import VectorIndex, load_embedder
    from ctxembed.config import StaticConfig
    from ctxembed.contextual.embedder import ContextualEmbedder
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.metrics import bm25_retriever, index_retriever, per_query_metrics, rank_queries
    from ctxembed.scoring.significance import paired_bootstrap

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/manpages")
    parser.add_argument("--split", default="dev", help="qrels split (test once, after the choices)")
    parser.add_argument("--teacher", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--adapter", help="the teacher's LoRA adapter, if it has one")
    parser.add_argument("--out", default="runs/bench-distill", help="where the distilled models go")
    parser.add_argument("--steps", default="plain,tuned,default", help=f"of {', '.join(STEPS)}")
    parser.add_argument("--vectors", nargs="*", default=[], help="word vectors to add as rows (SIF pooling)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the models an earlier run distilled in --out (no distilling, so no build time)",
    )
    args = parser.parse_args()

    dataset = load_beir(args.dataset)
    queries, relevant = dataset.split(args.split)
    texts = [d.full_text for d in dataset.corpus]
    corpus = str(Path(args.dataset) / "corpus.jsonl")
    print(
        f"{args.dataset} {args.split}: {len(texts)} documents, {len(relevant)} queries; {os.cpu_count()} CPUs, "
        f"torch threads {torch.get_num_threads()}",
        flush=True,
    )
    built: dict[str, Path] = {}
    for step in args.steps.split(","):
        out = Path(args.out) / f"{Path(args.dataset).name}-{step}"
        if args.reuse and out.is_dir():
            built[step] = out
            continue
        info = distill(step, corpus, out, args.teacher, args.adapter)
        parts = ", ".join(f"{k} {v:.0f}s" for k, v in info["steps"].items())
        kept = info["contrastive"]
        extra = f"; contrastive {'kept' if kept and kept['kept'] else 'not kept'}" if kept else ""
        print(f"distill {step:>8}: {info['seconds']:.0f}s ({parts}), peak RSS {info['peak_rss_mb']:,.0f} MB{extra}")
        built[step] = out

    def timed(encode, repeats: int) -> tuple[np.ndarray, float]:
        encode(texts[:64])  # warm-up
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            vectors = encode(texts)
            best = min(best, time.perf_counter() - started)
        return vectors, len(texts) / best

    models: dict[str, object] = {}
    speeds: dict[str, float] = {}
    for precision in ("fp32", "auto"):
        teacher = ContextualEmbedder.load(args.teacher, adapter=args.adapter, precision=precision)
        name = f"teacher ({teacher.precision_used.value})"
        if name not in models:
            # best of 2 (the static models: best of 5)
            _, speeds[name] = timed(teacher.encode_documents, repeats=2)
            models[name] = teacher
    teacher_name = max((n for n in models), key=lambda n: speeds[n])  # the fastest checked precision
    for step, folder in built.items():
        # a model2vec folder: the registry loads it as a DistilledEmbedder
        models[f"distilled {step}"] = load_embedder("static", StaticConfig(vectors=str(folder)))
    for vectors in args.vectors:
        models[f"{vectors} (SIF)"] = load_embedder("static", StaticConfig(vectors=vectors, pooling="sif"))

    runs = {"BM25": rank_queries(bm25_retriever(dataset.corpus), queries, relevant)}
    for name, embedder in models.items():
        if name not in speeds:
            _, speeds[name] = timed(embedder.encode_documents, repeats=5)
        index = VectorIndex.build(embedder, dataset.corpus, sparse=True)
        runs[name] = rank_queries(index_retriever(index), queries, relevant)
        runs[f"BM25 + {name}"] = rank_queries(index_retriever(index, "hybrid"), queries, relevant)
    ndcg = {
        name: {q: m["ndcg@10"] for q, m in per_query_metrics(run, relevant, {"ndcg": (10,)}).items()}
        for name, run in runs.items()
    }
    plain = "distilled plain" if "distilled plain" in ndcg else None
    base = float(np.mean(list(ndcg[teacher_name].values())))
    print(f"\n{'model':<40} {'docs/s':>9} {'vs teacher':>10} {'nDCG@10':>8} {'of teacher':>10}  vs teacher (95% CI)"
          f"{'  vs plain distilled (95% CI)' if plain else ''}")  # fmt: skip
    for name, scores in ndcg.items():
        mean = float(np.mean(list(scores.values())))
        speed = speeds.get(name.removeprefix("BM25 + "))
        speed_cells = f"{speed:>9,.0f} {speed / speeds[teacher_name]:>9.1f}x" if speed else f"{'':>9} {'':>10}"
        line = f"{name:<40} {speed_cells} {mean:>8.4f} {mean / base:>9.2f}x"
        for other in (teacher_name, plain):
            if other and other != name:
                c = paired_bootstrap(ndcg[other], scores)
                line += f"  {c.delta:+.4f} ({c.low:+.4f} to {c.high:+.4f})"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
