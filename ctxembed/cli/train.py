"""`ctxembed finetune`, `export` and `distill`: adapt a model to domain text, merge an adapter, distil a static model."""

from __future__ import annotations

import argparse

from ctxembed.cli.output import model_label, say
from ctxembed.cli.parser import config_overrides
from ctxembed.errors import CtxEmbedError


def cmd_finetune(args: argparse.Namespace) -> int:
    from ctxembed.config.loading import load_config, override
    from ctxembed.contextual.settings import ContextualFinetuneConfig
    from ctxembed.registry import finetune_config_class
    from ctxembed.static.settings import StaticFinetuneConfig

    cls = finetune_config_class(args.config, args.backend)
    if cls is StaticFinetuneConfig:
        return _finetune_static(args)
    config = load_config(ContextualFinetuneConfig, args.config) if args.config else ContextualFinetuneConfig()
    if args.vectors:
        raise CtxEmbedError("--vectors is for static fine-tuning (backend: static); use --model for contextual")
    config = override(config, **config_overrides(args, config))
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
    from ctxembed.config.loading import load_config, override
    from ctxembed.static.run import VECTORS_FILE, finetune_static
    from ctxembed.static.settings import StaticFinetuneConfig

    if args.pairs or args.model or args.resume:
        raise CtxEmbedError("--pairs, --model and --resume are for contextual fine-tuning; use --vectors for static")
    config = load_config(StaticFinetuneConfig, args.config) if args.config else StaticFinetuneConfig()
    config = override(config, **config_overrides(args, config))
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


def cmd_distill(args: argparse.Namespace) -> int:
    from ctxembed.config.loading import load_config, override
    from ctxembed.distill.distillation import distill_static
    from ctxembed.distill.settings import DistillConfig

    config = load_config(DistillConfig, args.config) if args.config else DistillConfig()
    config = override(config, **config_overrides(args))
    result = distill_static(config, overwrite=args.overwrite)
    print(f"saved {result.out} (model2vec format: {result.vocabulary:,} tokens x {result.dim} dimensions)")
    print(f"teacher: {model_label(result.teacher)}; {result.domain_words:,} corpus words added to its vocabulary")
    timing = ", ".join(f"{k.replace('_', ' ')} {v:.0f}s" for k, v in result.seconds.items())
    tuned = f"; domain-tuned on {result.tuned_texts:,} corpus texts" if result.tuned_texts else ""
    print(f"{timing}{tuned}")
    if result.contrastive is not None:
        c = result.contrastive
        verdict = "kept" if c["kept"] else "not kept (the distilled model is saved)"
        print(
            f"contrastive: {c['pairs']:,} pairs, {c['steps']} steps; held-out nDCG@10 {c['before']:.4f} -> "
            f"{c['after']:.4f} on {c['dev_set']}: {verdict}"
        )
    print(f"use it as static vectors: ctxembed index --backend static --vectors {result.out} ...")
    return 0
