"""Attach a LoRA adapter folder (peft format) to a sentence-transformers model, and fold it into a plain copy."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ctxembed.errors import AssetNotFoundError, IndexMismatchError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

TRAINING_INFO = "ctxembed_training.json"  # what `finetune` records beside the adapter it saves


def adapter_base_name(adapter: str | Path) -> str | None:
    """The base model an adapter folder records (`base_model_name_or_path`)."""
    config = Path(adapter) / "adapter_config.json"
    if not config.is_file():
        raise AssetNotFoundError(
            f"{adapter} is not a peft adapter folder (no adapter_config.json); pass the folder "
            f"that `ctxembed finetune` wrote"
        )
    return json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")


def attach_adapter(model: SentenceTransformer, adapter: str, *, base_name: str) -> tuple[str, str | None]:
    """Load `adapter` onto `model` after checking that it was trained on `base_name`."""
    from ctxembed.assets import resolve_contextual_model
    from ctxembed.contextual.fingerprint import folder_fingerprint

    path = Path(adapter).expanduser().resolve()
    if not path.is_dir():
        raise AssetNotFoundError(f"adapter folder {path} not found; pass the folder `ctxembed finetune` wrote")
    recorded = adapter_base_name(path)
    if recorded is not None:
        try:
            recorded_name = resolve_contextual_model(recorded).name
        except AssetNotFoundError:
            recorded_name = recorded
        if recorded_name != base_name:
            raise IndexMismatchError(
                f"adapter {path} was trained on base model {recorded_name!r}, not {base_name!r}; "
                f"load it on {recorded_name!r} (contextual.model) or train a new adapter"
            )
    from ctxembed.contextual.versions import check_peft_versions

    check_peft_versions()
    model.load_adapter(str(path))
    return str(path), folder_fingerprint(path)


def merged_copy(model: SentenceTransformer) -> SentenceTransformer:
    """A copy of `model` with its adapter folded into the base weights and peft's layers gone, so it encodes
    without adapter matmuls and its backbone's state dict has the base model's keys. `model` keeps its adapter.

    peft's `merge_and_unload` is a `PeftModel` method, and an adapter that `load_adapter` attached lives in
    transformers' peft integration, which has no unload; so this does the same with public parts: each tuner
    layer's `merge` and `get_base_layer`, then transformers' `delete_adapter` for the config.
    """
    from ctxembed.contextual.st_compat import backbone

    twin = copy.deepcopy(model)
    inner = backbone(twin)
    if not getattr(inner, "peft_config", None):
        return twin
    from peft.tuners.tuners_utils import BaseTunerLayer

    for name, layer in [(n, m) for n, m in inner.named_modules() if isinstance(m, BaseTunerLayer)]:
        layer.merge()
        inner.set_submodule(name, layer.get_base_layer())
    inner.delete_adapter(list(inner.peft_config))
    return twin
