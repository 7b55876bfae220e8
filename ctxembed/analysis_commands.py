"""`ctxembed distill` and `ctxembed senses`: static models from contextual ones, and polysemy in the corpus."""

from __future__ import annotations

import argparse
import time

from ctxembed._io import atomic_dir, dumps_json, refuse_existing
from ctxembed.commands import _model_label, say


def cmd_distill(args: argparse.Namespace) -> int:
    from ctxembed.static.distill import distill_static
    from ctxembed.static.settings import DistillConfig
    from ctxembed.yaml_config import load_config, override

    config = load_config(DistillConfig, args.config) if args.config else DistillConfig()
    config = override(config, out=args.out, teacher=args.teacher, adapter=args.adapter, **{"corpus.path": args.corpus})
    result = distill_static(config, overwrite=args.overwrite)
    print(f"saved {result.out} (model2vec format: {result.vocabulary:,} tokens x {result.dim} dimensions)")
    print(f"teacher: {_model_label(result.teacher)}; {result.domain_words:,} corpus words added to its vocabulary")
    timing = ", ".join(f"{k.replace('_', ' ')} {v:.0f}s" for k, v in result.seconds.items())
    tuned = f"; domain-tuned on {result.tuned_texts:,} corpus texts" if result.tuned_texts else ""
    print(f"{timing}{tuned}")
    print(f"use it as static vectors: ctxembed index --backend static --vectors {result.out} ...")
    return 0


def cmd_senses(args: argparse.Namespace) -> int:
    from ctxembed.contextual.embedder import ContextualEmbedder
    from ctxembed.data import load_corpus
    from ctxembed.evaluate.corpus_senses import SensesConfig, find_senses, plot_senses, render_senses
    from ctxembed.static.vectors import load_vectors
    from ctxembed.yaml_config import load_config, override

    config = load_config(SensesConfig, args.config) if args.config else SensesConfig()
    config = override(config, out=args.out, **{"corpus.path": args.corpus})
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
