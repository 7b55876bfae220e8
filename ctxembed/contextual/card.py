"""The model card: sentence-transformers writes it; ctxembed fills its card data and adds the dev verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def describe_in_card(model: Any, config: Any, base_name: str) -> None:
    """Fill sentence-transformers' model card data before the model is saved."""
    card = model.model_card_data
    kind = "LoRA adapter" if config.lora is not None else "fully fine-tuned model"
    objectives = ", ".join(f"{k.value} x{w:g}" for k, w in config.objective.items())
    card.model_name = f"{kind} for {base_name}, adapted by ctxembed ({objectives})"
    card.add_tags(["ctxembed", "domain-adaptation", "peft" if config.lora is not None else "full-finetune"])


def append_verdict(readme: Path, info: dict[str, Any]) -> None:
    """Add ctxembed's section to the card sentence-transformers wrote: data, dev comparison, verdict."""
    primary = info["primary_metric"]
    c = info["comparison"]
    interval = (
        f"{c['delta']:+.4f} nDCG@10 (95% paired-bootstrap interval {c['low']:+.4f} to {c['high']:+.4f}, "
        f"{c['queries']} dev queries)"
    )
    verdict = (
        f"The tuned model beats the base model on dev by {interval}."
        if info["improved"]
        else f"**Warning: the tuned model does not beat the base model on dev by more than noise: {interval}. "
        f"Prefer the base model.**"
    )
    rows = "\n".join(
        f"| {name} | {info['base_metrics'][name]:.4f} | {info['tuned_metrics'][name]:.4f} |"
        for name in info["base_metrics"]
        if any(key in name for key in ("ndcg", "mrr", "recall", "map"))
    )
    data = "\n".join(f"- {key.replace('_', ' ')}: {value}" for key, value in info["data"].items())
    section = f"""
## ctxembed: domain adaptation

Objective `{json.dumps(info["objective"])}` on `{info["config"]["corpus"]["path"]}`. Load this folder with
`SentenceTransformer(path)`, or in ctxembed as `contextual.adapter` (LoRA) or `contextual.model` (full).

{data}

- trainable parameters: {info["trainable_params"]:,} of {info["total_params"]:,}
- training time: {info["train_seconds"]:.0f} s; peak memory (RSS): {info["peak_rss_mb"]:.0f} MB

| dev metric (primary: {primary}) | base | tuned |
| --- | --- | --- |
{rows}

{verdict}
"""
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    readme.write_text(text.rstrip() + "\n" + section, encoding="utf-8")
