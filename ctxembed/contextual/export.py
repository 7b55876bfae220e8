"""Merge a LoRA adapter into its base model and save a standalone sentence-transformers folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ctxembed._io import atomic_dir
from ctxembed.assets import resolve_contextual_model
from ctxembed.contextual.adapters import adapter_base_name


def export_merged(adapter: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write base + adapter, merged by peft, as a folder that plain `SentenceTransformer(out)` loads."""
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer

    adapter = Path(adapter)
    base = resolve_contextual_model(adapter_base_name(adapter) or "").location  # a packaged copy when offline
    model = SentenceTransformer(base, device="cpu")
    settings = adapter / "sentence_bert_config.json"
    if settings.is_file():  # the adapter run's max_seq_length
        model.max_seq_length = json.loads(settings.read_text(encoding="utf-8")).get("max_seq_length", None) or (
            model.max_seq_length
        )
    backbone = model[0].auto_model
    merged = PeftModel.from_pretrained(backbone, str(adapter)).merge_and_unload()
    _set_backbone(model[0], merged)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        model.save(str(tmp))
    return Path(out)


def _set_backbone(transformer: Any, backbone: Any) -> None:
    # sentence-transformers >= 6 stores the backbone as `model` (`auto_model` is a read-only alias).
    if isinstance(getattr(type(transformer), "auto_model", None), property):
        transformer.model = backbone
    else:
        transformer.auto_model = backbone
