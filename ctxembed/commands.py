"""What each `ctxembed` subcommand does: parsed arguments -> config -> library call -> printed lines."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctxembed.errors import CtxEmbedError, EmptyTextError


def say(message: str) -> None:
    """A progress or warning line, on stderr so that stdout stays the result."""
    print(message, file=sys.stderr, flush=True)


def _build(backend: str, config: Any, docs: Sequence[Any]) -> Any:
    """Load one backend's embedder and index `docs` with progress output."""
    from ctxembed import VectorIndex, load_embedder

    started = time.perf_counter()
    embedder = load_embedder(backend, getattr(config, backend))
    elapsed = time.perf_counter() - started
    say(f"{backend}: loaded {embedder.identity()['model']} (dim {embedder.dim}) in {elapsed:.1f}s")
    started = time.perf_counter()
    index = VectorIndex.build(
        embedder,
        docs,
        factory=config.index.factory,
        batch_size=config.index.batch_size,
        show_progress=True,
        nprobe=config.index.nprobe,
        ef_search=config.index.ef_search,
        sparse=config.index.sparse == "bm25",
        fusion=config.index.fusion,
    )
    sides = " (and BM25)" if index.sparse is not None else ""
    say(f"{backend}: indexed {len(index)} documents{sides} in {time.perf_counter() - started:.1f}s")
    return index


def _open_index(args: argparse.Namespace) -> Any:
    """The index folder `args.index`, with the model its manifest names (moved paths from --model/--adapter)."""
    from ctxembed import VectorIndex, embedder_from_manifest
    from ctxembed.index.files import read_manifest

    embedder = embedder_from_manifest(
        read_manifest(args.index),
        args.index,
        device=args.device,
        model=args.model,
        adapter=args.adapter,
        precision=args.precision,
    )
    return VectorIndex.load(args.index, embedder)


def cmd_search(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise CtxEmbedError(f"-k must be >= 1 (hits per query), got {args.k}")
    if args.queries:
        path = Path(args.queries)
        if not path.is_file():
            raise CtxEmbedError(f"queries file {path} not found; pass a file with one query per line")
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError as exc:
            raise CtxEmbedError(f"{path}: not UTF-8 (byte {exc.start}); re-encode the queries file as UTF-8") from exc
        queries = [q.strip() for q in lines if q.strip()]
    else:
        queries = list(args.query)
    if not queries:
        raise CtxEmbedError('no query given; pass one or more queries ("...") or --queries FILE')
    index = _open_index(args)
    fusion = index.fusion
    if args.fusion is not None or args.weight is not None:
        from dataclasses import replace

        fusion = replace(
            fusion,
            method=args.fusion or fusion.method,
            weight=args.weight if args.weight is not None else fusion.weight,
        )
    failed = 0
    for query in queries:
        try:
            (hits,) = index.search([query], k=args.k, mode=args.mode, fusion=fusion)
        except EmptyTextError as exc:  # in a batch, one unknown query is reported and the others answered
            if len(queries) == 1:
                raise
            failed += 1
            if args.json:
                print(json.dumps({"query": query, "error": str(exc)}, ensure_ascii=False))
            else:
                print(f"query: {printable(query)}\n  error: {printable(str(exc))}")
            continue
        if args.json:
            print(json.dumps({"query": query, "hits": [h._asdict() for h in hits]}, ensure_ascii=False))
            continue
        print(f"query: {printable(query)}")
        for rank, hit in enumerate(hits, start=1):
            print(f"  {rank:>2}. {hit.score:.4f}  [{printable(hit.doc_id)}] {_snippet(hit.text, 90)}")
    return 1 if failed == len(queries) else 0


def cmd_tune_fusion(args: argparse.Namespace) -> int:
    from ctxembed.evaluate.beir import load_beir
    from ctxembed.evaluate.fusion_tuning import WEIGHTS, label, record_fusion, tune_fusion

    dataset = load_beir(args.dataset)  # fails on a bad dataset before a model loads
    queries, relevant = dataset.split(args.split)
    index = _open_index(args)
    started = time.perf_counter()
    choice = tune_fusion(index, queries, relevant, WEIGHTS)
    say(f"{args.index}: hybrid nDCG@10 on {choice.queries} {args.split} queries of {args.dataset}")
    for name, value in choice.ndcg.items():
        marks = " (current)" * (name == choice.current) + " <- best" * (name == label(choice.chosen))
        say(f"  {name:>24}: {value:.4f}{marks}")
    c = choice.against_current
    say(f"best vs current: {c.delta:+.4f} (95% CI {c.low:+.4f} to {c.high:+.4f}), {time.perf_counter() - started:.0f}s")
    if label(choice.chosen) == choice.current:
        say("the index's fusion is already the best here; manifest unchanged")
        return 0
    if not c.significant:
        say(f"warning: the gain is within noise on {choice.queries} queries; it may not hold on new queries")
    if args.dry_run:
        say("--dry-run: manifest unchanged")
        return 0
    record_fusion(args.index, choice, {"dataset": str(args.dataset), "split": args.split})
    say(f"recorded {label(choice.chosen)} in {Path(args.index) / 'manifest.json'}; search uses it from now on")
    return 0


def printable(text: str) -> str:
    """Text with control characters (terminal escape sequences) shown as escapes, not executed."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _snippet(text: str, width: int) -> str:
    text = printable(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 3] + "..."


def cmd_demo(args: argparse.Namespace) -> int:
    from ctxembed._io import refuse_existing
    from ctxembed.config import DemoConfig
    from ctxembed.data import load_corpus
    from ctxembed.yaml_config import load_config, override

    config = load_config(DemoConfig, args.config) if args.config else DemoConfig()
    config = override(config, **{"corpus.path": args.corpus})
    if args.out:
        refuse_existing(args.out, args.overwrite)
    docs = load_corpus(config.corpus)
    say(f"corpus: {len(docs)} documents from {config.corpus.path}")
    indexes = {}
    for backend in ("static", "contextual"):
        indexes[backend] = _build(backend, config, docs)
        if args.out:
            out = Path(args.out) / backend
            indexes[backend].save(out, overwrite=args.overwrite)
            say(f"{backend}: saved index to {out}")
    columns = {  # (index, mode): the contextual index answers twice, alone and fused with its BM25 side
        f"static ({_model_label(indexes['static'].embedder.identity())})": (indexes["static"], "dense"),
        f"contextual ({_model_label(indexes['contextual'].embedder.identity())})": (indexes["contextual"], "dense"),
    }
    if indexes["contextual"].sparse is not None:
        columns["hybrid (contextual + BM25)"] = (indexes["contextual"], "hybrid")
    results = [index.search(list(config.queries), k=config.k, mode=mode) for index, mode in columns.values()]
    width = 34
    for qi, query in enumerate(config.queries):
        print(f"\nquery: {query}")
        print("  " + "  ".join(f"{label:<{width + 13}}" for label in columns).rstrip())
        for rank in range(config.k):
            cells = []
            for hits in (column[qi] for column in results):
                hit = hits[rank] if rank < len(hits) else None
                cells.append(f"{hit.score:.3f} [{hit.doc_id:>3}] {_snippet(hit.text, width)}" if hit else "")
            print("  " + "  ".join(f"{cell:<{width + 13}}" for cell in cells).rstrip())
    return 0


def _model_label(identity: dict[str, Any]) -> str:
    """A short label: the model's name or folder name, its pooling if it has one."""
    name = Path(str(identity.get("model"))).name
    return f"{name}, {identity['pooling']}" if identity.get("pooling") else name


def cmd_finetune(args: argparse.Namespace) -> int:
    from ctxembed.contextual.settings import ContextualFinetuneConfig
    from ctxembed.registry import finetune_config_class
    from ctxembed.static.settings import StaticFinetuneConfig
    from ctxembed.yaml_config import load_config, override

    cls = finetune_config_class(args.config, args.backend)
    if cls is StaticFinetuneConfig:
        return _finetune_static(args)
    config = load_config(ContextualFinetuneConfig, args.config) if args.config else ContextualFinetuneConfig()
    config = override(
        config,
        out=args.out,
        pairs=args.pairs,
        **{"corpus.path": args.corpus, "contextual.model": args.model},
    )
    from ctxembed.contextual.training import finetune_contextual

    result = finetune_contextual(config, resume=args.resume, overwrite=args.overwrite)
    metric = result.primary_metric
    share = 100 * result.trainable_params / result.total_params
    print(f"saved {'adapter' if config.lora else 'model'} to {result.out} ({result.size_mb:.1f} MB)")
    print(f"trainable parameters: {result.trainable_params:,} of {result.total_params:,} ({share:.2f}%)")
    print(
        f"training: {result.train_seconds:.0f}s, {result.data.get('steps')} steps, peak RSS {result.peak_rss_mb:.0f} MB"
    )
    c = result.comparison
    print(
        f"dev {metric}: base {result.base_metrics[metric]:.4f} -> tuned {result.tuned_metrics[metric]:.4f} "
        f"({c.delta:+.4f}, 95% paired-bootstrap interval {c.low:+.4f} to {c.high:+.4f} over {c.queries} queries; "
        f"dev set: {result.data.get('dev_set')})"
    )
    if not result.improved:
        say(
            "warning: the tuned model does not beat the base model on dev by more than noise (the interval "
            "includes zero or lies below it); it is not an improvement: prefer the base model"
        )
    return 0


def _finetune_static(args: argparse.Namespace) -> int:
    from ctxembed.static.run import VECTORS_FILE, finetune_static
    from ctxembed.static.settings import StaticFinetuneConfig
    from ctxembed.yaml_config import load_config, override

    if args.pairs or args.model or args.resume:
        raise CtxEmbedError("--pairs, --model and --resume are for contextual fine-tuning; use --vectors for static")
    config = load_config(StaticFinetuneConfig, args.config) if args.config else StaticFinetuneConfig()
    config = override(config, out=args.out, vectors=args.vectors, **{"corpus.path": args.corpus})
    result = finetune_static(config, overwrite=args.overwrite)
    report = result.data
    c = report["coverage"]
    print(f"saved {config.out}/{VECTORS_FILE}, report.md, report.json, neighbours.png")
    print(f"coverage: {100 * c['known_token_share']:.1f}% of tokens known, {c['new_types']} new words")
    for name, scores in report["lexical"].items():
        line = f"{name:>20}: SimLex {scores['simlex999_spearman']:.4f}  WordSim {scores['wordsim353_spearman']:.4f}"
        if "retrieval" in report:
            line += f"  nDCG@10 {report['retrieval'][name]['ndcg@10']:.4f}"
        print(line)
    for warning in result.warnings:
        say(f"warning: {warning}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ctxembed.contextual.export import export_merged

    export_merged(args.adapter, args.out, overwrite=args.overwrite)
    print(f"saved merged model to {args.out}; load it with SentenceTransformer({str(args.out)!r})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ctxembed._io import refuse_existing
    from ctxembed.evaluate.report import render_markdown, run_evaluation, write_report
    from ctxembed.evaluate.settings import EvaluateConfig
    from ctxembed.yaml_config import load_config, override

    config = load_config(EvaluateConfig, args.config) if args.config else EvaluateConfig()
    config = override(config, dataset=args.dataset, out=args.out, split=args.split).with_precision(args.precision)
    refuse_existing(config.out, args.overwrite)
    started = time.perf_counter()
    report = run_evaluation(config)
    out = write_report(report, config.out, overwrite=args.overwrite)
    print(render_markdown({**report, "words": {}}, []))
    say(f"wrote {out}/report.md, report.json and plots in {time.perf_counter() - started:.0f}s")
    return 0
