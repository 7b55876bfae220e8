"""Domain adaptation as a user runs it: fine-tune on a benchmark's raw documents (no queries), then score.

python scripts/bench_adaptation.py --dataset data/manpages --config configs/contextual-lora.yaml \\
    --out runs/bench/manpages-lora --split dev [--set training.learning_rate=5e-4 ...] [--pairs-from train]

The run sees only `corpus.jsonl` (eval.dataset is removed, as for a user with no queries), or,
with --pairs-from SPLIT, also (query, document) pairs made from that split's qrels. Base, tuned
and BM25 are then scored on --split, each with nDCG@10 and a paired-bootstrap 95% interval of its
difference from the base model. Score test once, after every choice was made on dev.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> int:
    import yaml

    from ctxembed.config.loading import from_dict, override
    from ctxembed.contextual.embedder import load_sentence_transformer
    from ctxembed.contextual.selection import DevSet
    from ctxembed.contextual.settings import ContextualFinetuneConfig
    from ctxembed.contextual.training import finetune_contextual
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.metrics import bm25_retriever, per_query_ndcg
    from ctxembed.scoring.significance import paired_bootstrap

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("--config", default="configs/contextual-lora.yaml")
    parser.add_argument("--out", required=True, help="adapter/model folder; reused if it exists")
    parser.add_argument("--split", default="dev", help="qrels split to score (test once, at the end)")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE config override (YAML value)")
    parser.add_argument("--pairs-from", help="also train on (query, document) pairs of this qrels split")
    args = parser.parse_args()

    dataset = load_beir(args.dataset)
    raw = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
    raw.pop("eval", None)  # no queries: a user with raw documents only
    raw.setdefault("corpus", {})["path"] = f"{args.dataset}/corpus.jsonl"
    raw["out"] = args.out
    if args.pairs_from:
        if args.pairs_from == args.split:
            raise SystemExit("--pairs-from must differ from --split")
        pairs_path = Path(f"{args.out}.pairs.jsonl")
        pairs_path.parent.mkdir(parents=True, exist_ok=True)
        pairs_path.write_text("".join(line + "\n" for line in dataset.pairs(args.pairs_from)), encoding="utf-8")
        raw["pairs"] = str(pairs_path)
    config = from_dict(ContextualFinetuneConfig, raw, where=args.config)
    changes = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    config = override(config, **changes)

    started = time.perf_counter()
    if not Path(args.out).exists():
        result = finetune_contextual(config)
        info = {"seconds": round(time.perf_counter() - started), "peak_rss_mb": round(result.peak_rss_mb)}
        info.update(steps=result.data.get("steps"), dev_set=result.data.get("dev_set"))
        info.update(examples=result.data.get("examples"), improved=result.improved)
        print(f"trained: {json.dumps(info)}", flush=True)

    queries, relevant = dataset.split(args.split)
    corpus = {d.id: d.full_text for d in dataset.corpus}
    scores = {}
    adapter = config.lora is not None
    for name, path in (("base", config.contextual.model), ("tuned", args.out)):
        model, _, _ = load_sentence_transformer(config.contextual.model if adapter else path, "cpu")
        if adapter and name == "tuned":
            model.load_adapter(path)
        evaluator = DevSet(queries, corpus, relevant, args.split, [], []).evaluator(model.max_seq_length)
        evaluator(model)
        scores[name] = per_query_ndcg(evaluator.last_run, relevant)
    retrieve = bm25_retriever(dataset.corpus)
    qids = list(relevant)
    ranked = retrieve([queries[q] for q in qids], 10)
    scores["BM25"] = per_query_ndcg(
        {q: {d: 10.0 - r for r, d in enumerate(docs)} for q, docs in zip(qids, ranked)}, relevant
    )
    print(f"{args.dataset} {args.split} ({len(qids)} queries), nDCG@10, difference from base with 95% CI:")
    for name, per_query in scores.items():
        mean = sum(per_query.values()) / len(per_query)
        c = paired_bootstrap(scores["base"], per_query)
        print(f"  {name:>6}: {mean:.4f}  ({c.delta:+.4f}, {c.low:+.4f} to {c.high:+.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
