"""Merge a LoRA adapter into its base model and save a standalone sentence-transformers folder."""

from __future__ import annotations

import json
from pathlib import Path

from ctxembed._io import atomic_dir
from ctxembed.assets import resolve_contextual_model
from ctxembed.contextual.adapters import adapter_base_name
from ctxembed.contextual.st_compat import backbone, set_backbone


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
    merged = PeftModel.from_pretrained(backbone(model), str(adapter)).merge_and_unload()
    set_backbone(model, merged)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        model.save(str(tmp))
    return Path(out)
