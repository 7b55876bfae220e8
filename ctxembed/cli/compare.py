"""`ctxembed demo`, `evaluate` and `senses`: the backends side by side, scored, and polysemy in the corpus."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctxembed._io import atomic_dir, dumps_json, refuse_existing
from ctxembed.cli.output import model_label, printable, say
from ctxembed.cli.parser import config_overrides


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


def cmd_demo(args: argparse.Namespace) -> int:
    from ctxembed._io import refuse_existing
    from ctxembed.config import DemoConfig
    from ctxembed.config.loading import load_config, override
    from ctxembed.data import load_corpus

    config = load_config(DemoConfig, args.config) if args.config else DemoConfig()
    config = override(config, **config_overrides(args))
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
        f"static ({model_label(indexes['static'].embedder.identity())})": (indexes["static"], "dense"),
        f"contextual ({model_label(indexes['contextual'].embedder.identity())})": (indexes["contextual"], "dense"),
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
                cells.append(f"{hit.score:.3f} [{hit.doc_id:>3}] {printable(hit.snippet(width))}" if hit else "")
            print("  " + "  ".join(f"{cell:<{width + 13}}" for cell in cells).rstrip())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ctxembed._io import refuse_existing
    from ctxembed.config.loading import load_config, override
    from ctxembed.evaluate.report import render_markdown, run_evaluation, write_report
    from ctxembed.evaluate.settings import EvaluateConfig

    config = load_config(EvaluateConfig, args.config) if args.config else EvaluateConfig()
    config = override(config, **config_overrides(args)).with_precision(args.precision)
    refuse_existing(config.out, args.overwrite)
    started = time.perf_counter()
    report = run_evaluation(config)
    out = write_report(report, config.out, overwrite=args.overwrite)
    print(render_markdown({**report, "words": {}}, []))
    say(f"wrote {out}/report.md, report.json and plots in {time.perf_counter() - started:.0f}s")
    return 0


def cmd_senses(args: argparse.Namespace) -> int:
    from ctxembed.config.loading import load_config, override
    from ctxembed.contextual.embedder import ContextualEmbedder
    from ctxembed.data import load_corpus
    from ctxembed.evaluate.corpus_senses import SensesConfig, find_senses, plot_senses, render_senses
    from ctxembed.static.vectors import load_vectors

    config = load_config(SensesConfig, args.config) if args.config else SensesConfig()
    config = override(config, **config_overrides(args))
    if args.words:
        config = override(config, words=tuple(w.strip() for w in args.words.split(",") if w.strip()))
    refuse_existing(config.out, args.overwrite)
    started = time.perf_counter()
    texts = [d.full_text for d in load_corpus(config.corpus)]
    contextual = ContextualEmbedder.from_config(config.contextual)
    static = {name: load_vectors(vectors)[0] for name, vectors in config.static.items()}  # distilled folders too
    report = find_senses(contextual, static, texts, config)
    with atomic_dir(config.out, overwrite=args.overwrite) as tmp:
        plots = {w["word"]: plot_senses(w, tmp / f"senses-{w['word']}.png") for w in report["words"]}
        saved = {
            **report,
            "words": [{k: v for k, v in w.items() if k not in ("points", "labels")} for w in report["words"]],
        }
        (tmp / "report.json").write_text(dumps_json(saved), encoding="utf-8")
        (tmp / "report.md").write_text(render_senses(report, plots), encoding="utf-8")
    print(
        f"{report['polysemous']} of {report['candidates']} frequent words split into separate senses; showing {len(report['words'])}:"
    )
    for word in report["words"]:
        sizes = "/".join(str(s["size"]) for s in word["senses"])
        print(f"  {word['word']:<16} silhouette {word['silhouette']:.3f}  senses {sizes}")
        for name, hits in word["neighbours"].items():
            print(f"    {name:<24} {', '.join(hits) or '(unknown word)'}")
    say(f"wrote {config.out}/report.md, report.json and plots in {time.perf_counter() - started:.0f}s")
    return 0
