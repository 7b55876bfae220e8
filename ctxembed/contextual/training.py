"""Fine-tune a sentence-transformers model on domain text: LoRA (peft) or full, via SentenceTransformerTrainer."""

from __future__ import annotations

import json
import logging
import resource
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ctxembed._io import atomic_dir, dumps_json, refuse_existing
from ctxembed.config.loading import to_dict
from ctxembed.contextual.adapters import TRAINING_INFO
from ctxembed.contextual.card import append_verdict, describe_in_card
from ctxembed.contextual.embedder import load_sentence_transformer
from ctxembed.contextual.objectives import Sources, build_training_data, read_pairs
from ctxembed.contextual.selection import build_dev_set, verify_best_checkpoint
from ctxembed.contextual.settings import ContextualFinetuneConfig, LoraSettings, Objective, TrainSettings
from ctxembed.contextual.st_compat import backbone
from ctxembed.data import load_corpus
from ctxembed.errors import ConfigError
from ctxembed.scoring.metrics import per_query_ndcg
from ctxembed.scoring.results import FinetuneResult
from ctxembed.scoring.significance import paired_bootstrap

logger = logging.getLogger(__name__)


def apply_lora(model: Any, lora: LoraSettings) -> None:
    """Attach a fresh LoRA adapter; peft matches the targets, and a miss lists the model's real module names.

    `target_modules` is a list of module-name suffixes, or one item that peft reads as a whole:
    "all-linear", or a regular expression over full module names.
    """
    from peft import LoraConfig, TaskType

    from ctxembed.contextual.versions import check_peft_versions

    check_peft_versions()
    targets: str | list[str] = list(lora.target_modules)
    if len(targets) == 1 and (targets[0] == "all-linear" or any(c in targets[0] for c in "^$*+?()[]|\\")):
        targets = targets[0]
    else:
        _check_targets(model, targets)
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
        task_type=TaskType.FEATURE_EXTRACTION,
    )
    model.add_adapter(config)
    if lora.base_attention_dropout is not None:
        set_attention_dropout(model, lora.base_attention_dropout)


def _check_targets(model: Any, targets: list[str]) -> None:
    """Refuse suffixes that name no module of the model (peft matches `name == t` or `name.endswith("." + t)`)."""
    names = [name for name, _ in backbone(model).named_modules()]
    missing = [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in names)]
    if missing:
        linear = sorted(
            {n.rsplit(".", 1)[-1] for n, m in backbone(model).named_modules() if type(m).__name__ == "Linear"}
        )
        raise ConfigError(
            f"lora.target_modules {', '.join(missing)} match no layer of this model; its linear modules are: "
            f"{', '.join(linear)}; or use [all-linear]",
            key="lora.target_modules",
        )


def set_attention_dropout(model: Any, p: float) -> int:
    """Set the attention-probability dropout of every self-attention block (the `Dropout` an attention module
    owns, which transformers passes to scaled_dot_product_attention); returns how many were set."""
    import torch

    count = 0
    for module in model.modules():
        if type(module).__name__.endswith(("SelfAttention", "Attention")):
            for child in module.children():
                if isinstance(child, torch.nn.Dropout):
                    child.p, count = p, count + 1
    return count


LORA_LEARNING_RATE, FULL_LEARNING_RATE = 5e-4, 2e-5


def training_arguments(
    settings: TrainSettings, output_dir: str, metric: str, *, use_cuda: bool, lora: bool = True
) -> Any:
    """`SentenceTransformerTrainingArguments` for a run: checkpoints, best-model selection, precision."""
    import torch
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    precision = settings.precision
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if use_cuda else _cpu_precision()
    checkpointing = _checkpointing_arg()
    return SentenceTransformerTrainingArguments(
        output_dir=output_dir,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate or (LORA_LEARNING_RATE if lora else FULL_LEARNING_RATE),
        warmup_steps=settings.warmup_ratio,  # a float below 1 is a ratio in transformers 5
        seed=settings.seed,
        data_seed=settings.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        **{checkpointing: settings.gradient_checkpointing},
        batch_sampler=BatchSamplers.NO_DUPLICATES,  # duplicates would be false in-batch negatives
        eval_strategy="steps",
        eval_steps=settings.eval_steps,
        save_strategy="steps",
        save_steps=settings.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=f"eval_{metric}",
        greater_is_better=True,
        logging_steps=max(1, settings.eval_steps // 5),
        report_to="none",
        disable_tqdm=False,
        use_cpu=not use_cuda,
    )


def quiet_trainer(model: Any, **kwargs: Any) -> Any:
    """A `SentenceTransformerTrainer` of `model` (`kwargs`: its arguments) that shows one progress bar (steps and
    ETA): the dict of each logging step goes to this module's logger (debug), and the model card's
    widget-example pass is skipped."""
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class BarOnly(ProgressCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if state.is_world_process_zero and logs:
                logger.debug("%s", {k: v for k, v in logs.items() if k != "total_flos"})

    card = getattr(model, "model_card_data", None)
    if card is not None and hasattr(card, "set_widget_examples"):
        # sentence-transformers computes them when the trainer starts, whatever generate_widget_examples says
        card.generate_widget_examples = False
        card.set_widget_examples = lambda dataset: None
    trainer = SentenceTransformerTrainer(model=model, **kwargs)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(BarOnly)
    return trainer


def _checkpointing_arg() -> str:
    """transformers 5.x renamed `gradient_checkpointing` to `activation_checkpointing` (the old name warns)."""
    from dataclasses import fields

    from transformers import TrainingArguments

    names = {f.name for f in fields(TrainingArguments)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def _cpu_precision() -> str:
    """bf16 autocast where the CPU has native bf16 (AVX-512 BF16 or AMX): about 1.7x faster steps."""
    from ctxembed.contextual.precision import native_bf16

    return "bf16" if native_bf16("cpu") else "fp32"


def count_truncated(model: Any, texts: Sequence[str], max_len: int) -> int:
    """How many texts are longer than `max_len` tokens (they will be truncated)."""
    lengths = model.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
    return sum(len(ids) > max_len for ids in lengths)


def finetune_contextual(
    config: ContextualFinetuneConfig, *, resume: bool = False, overwrite: bool = False
) -> FinetuneResult:
    """Train an adapter (or the full model) as `config` says, compare it with the base on dev, save it."""
    import torch

    out = Path(config.out)
    work = out.parent / f"{out.name}.checkpoints"
    refuse_existing(out, overwrite)
    if work.exists() and not resume:
        shutil.rmtree(work)  # stale checkpoints of an earlier, unfinished run
    settings = config.training
    device = config.contextual.device or ("cuda" if torch.cuda.is_available() else "cpu")
    use_cuda = device.startswith("cuda")
    model, base_name, _ = load_sentence_transformer(config.contextual.model, device)
    if config.contextual.max_seq_length is not None:
        model.max_seq_length = config.contextual.max_seq_length
    inference_length = model.max_seq_length
    raw_objectives = [o for o in config.objective if o != Objective.PAIRS]
    docs = load_corpus(config.corpus) if raw_objectives else []
    pairs = read_pairs(config.pairs) if Objective.PAIRS in config.objective else []
    dev = build_dev_set(config.eval, docs, pairs, seed=settings.seed)
    evaluator = dev.evaluator(inference_length)  # base, checkpoints and final model at one length
    base_metrics = evaluator(model)
    base_scores = per_query_ndcg(evaluator.last_run, dev.relevant)
    primary = evaluator.primary_metric
    train_length = settings.max_seq_length or inference_length  # train on what is embedded at inference
    model.max_seq_length = train_length
    logger.info("dev set: %s; base model %s = %.4f", dev.source, primary, base_metrics[primary])

    cache = out.parent / f"{out.name}.genq-cache.jsonl"
    sources = Sources(dev.train_docs, dev.train_pairs, config.genq, cache, config.pseudo)
    if config.lora is not None:
        apply_lora(model, config.lora)  # B starts at zero: mining and round trips still see the base model
    data = build_training_data(config.objective, model, sources, settings)
    columns = data.dataset.values() if isinstance(data.dataset, dict) else [data.dataset]
    texts = [
        t
        for ds in columns
        for col, kind in ds.features.items()
        if getattr(kind, "dtype", None) == "string"
        for t in ds[col]
    ]
    truncated = count_truncated(model, texts, train_length)
    if truncated:
        warnings.warn(
            f"{truncated} of {len(texts)} training texts are longer than max_seq_length={train_length} "
            f"tokens and are truncated",
            stacklevel=2,
        )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())

    args = training_arguments(settings, str(work), primary, use_cuda=use_cuda, lora=config.lora is not None)
    if config.lora is None and (settings.learning_rate or 0) > 1e-4:
        warnings.warn(
            f"training.learning_rate {settings.learning_rate} is a LoRA rate; full fine-tuning at it usually "
            f"wrecks the model: use about {FULL_LEARNING_RATE} (or leave it null)",
            stacklevel=2,
        )
    trainer = quiet_trainer(model, args=args, train_dataset=data.dataset, loss=data.loss, evaluator=evaluator)
    started = time.perf_counter()
    checkpoint = resume and any(work.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if checkpoint else None)
    train_seconds = time.perf_counter() - started
    model.max_seq_length = inference_length
    tuned_metrics = evaluator(model)
    comparison = paired_bootstrap(base_scores, per_query_ndcg(evaluator.last_run, dev.relevant), seed=settings.seed)
    verified = verify_best_checkpoint(trainer, tuned_metrics[primary], primary)
    stats = {
        **data.stats,
        "objective": {k.value: w for k, w in config.objective.items()},
        "dev_set": dev.source,
        "documents": len(dev.train_docs),
        "truncated_texts": truncated,
        "steps": trainer.state.global_step,
        "best_checkpoint": trainer.state.best_model_checkpoint and Path(trainer.state.best_model_checkpoint).name,
        "best_checkpoint_verified": verified,
    }

    result = FinetuneResult(
        out=str(out),
        base_metrics=_clean(base_metrics),
        tuned_metrics=_clean(tuned_metrics),
        primary_metric=primary,
        trainable_params=trainable,
        total_params=total,
        train_seconds=train_seconds,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        size_mb=0.0,
        comparison=comparison,
        data=stats,
    )
    if not trainer.is_world_process_zero():  # under torchrun/accelerate only rank 0 writes
        return result
    describe_in_card(model, config, base_name)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        model.save(str(tmp))  # sentence-transformers writes its model card (README.md) here
        portable_adapter_config(tmp, base_name)
        result.size_mb = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) / 2**20
        info = {
            "base_model": base_name,
            "objective": stats["objective"],
            "config": to_dict(config),
            **{k: v for k, v in asdict(result).items() if k != "out"},
            "improved": result.improved,
            # the documents no training pair came from (the label-free fusion choice mines its queries there)
            **({"held_out_documents": sorted({d.id for d in docs} - {d.id for d in dev.train_docs})} if docs else {}),
        }
        (tmp / TRAINING_INFO).write_text(dumps_json(info), encoding="utf-8")
        append_verdict(tmp / "README.md", info)
    shutil.rmtree(work, ignore_errors=True)
    return result


def portable_adapter_config(folder: Path, base_name: str) -> None:
    """Record the base model by its canonical name, not the local path it was loaded from.

    A packaged copy's site-packages path breaks the adapter on any other machine or venv;
    ctxembed resolves the canonical name to the packaged copy again on load.
    """
    config_file = folder / "adapter_config.json"
    if config_file.is_file() and not Path(base_name).is_absolute():
        config = json.loads(config_file.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base_name
        config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _clean(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}
