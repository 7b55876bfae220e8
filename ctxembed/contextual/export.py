"""Merge a LoRA adapter into its base model and save a standalone sentence-transformers folder."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from ctxembed._io import atomic_dir
from ctxembed.assets import resolve_contextual_model
from ctxembed.contextual.adapters import adapter_base_name, attach_adapter, merged_copy
from ctxembed.contextual.st_compat import backbone


def export_merged(adapter: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write base + adapter, merged, as a folder that plain `SentenceTransformer(out)` loads."""
    from sentence_transformers import SentenceTransformer

    adapter = Path(adapter)
    base = resolve_contextual_model(adapter_base_name(adapter) or "")  # a packaged copy when offline
    model = SentenceTransformer(base.location, device="cpu")
    settings = adapter / "sentence_bert_config.json"
    if settings.is_file():  # the adapter run's max_seq_length
        model.max_seq_length = json.loads(settings.read_text(encoding="utf-8")).get("max_seq_length", None) or (
            model.max_seq_length
        )
    adapted = copy.deepcopy(model)
    attach_adapter(adapted, str(adapter), base_name=base.name)
    # The merged weights go into `model`, which never had an adapter: transformers saves a model that
    # `load_adapter` touched under peft's key names, even after the adapter is folded in and deleted.
    backbone(model).load_state_dict(backbone(merged_copy(adapted)).state_dict())
    with atomic_dir(out, overwrite=overwrite) as tmp:
        model.save(str(tmp))
    return Path(out)
