"""Every place ctxembed reaches past sentence-transformers' public API, in one module.

A `SentenceTransformer`'s first module wraps the transformers model (the "backbone") that peft adapts,
ONNX Runtime replaces for int8, and distillation reads. sentence-transformers 6 names it `model` and keeps
`auto_model` as a read-only alias; older releases had only `auto_model`. If a release moves it again, this
is the one file to change (the tests that train, export, distil and quantise all go through it).
"""

from __future__ import annotations

from typing import Any


def backbone(model: Any) -> Any:
    """The transformers model inside a SentenceTransformer's first module."""
    first = model[0]
    return first.model if hasattr(first, "model") else first.auto_model


def set_backbone(model: Any, new: Any) -> None:
    """Replace that transformers model (a merged adapter, an ONNX Runtime session wrapper)."""
    first = model[0]
    if isinstance(getattr(type(first), "auto_model", None), property) or hasattr(first, "model"):
        first.model = new
    else:
        first.auto_model = new
