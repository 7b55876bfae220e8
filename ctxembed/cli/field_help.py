"""Flag help from the config dataclasses' field metadata (`field(metadata={"help": ...})`), as
sentence-transformers' `TrainingArguments` derive theirs: one text per setting, shown by `--help` and
read only then (an optional part's config is imported only when its help is printed)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import types
import typing
from typing import Any

HELP_FROM = "help_from"  # an override flag's (config class paths, dotted key, prefix), for its help text


class ConfigHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows an override flag's help from its config field's metadata (read only when help is printed)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        configs, key, prefix = getattr(action, HELP_FROM, ((), "", ""))
        text = field_help(*configs, key) if key else None
        return f"{prefix}{text.replace('%', '%%')}" if text else action.help


def field_help(*configs_and_key: str) -> str | None:
    """The `help` metadata of the dotted key's field in the first of the config classes that has it, with
    its default when every class that has the field agrees on it.

    A class whose module cannot be imported (an optional part without its extras) is skipped.
    """
    *configs, key = configs_and_key
    found = [f for f in (_field(path, key) for path in configs) if f is not None]
    text = next((f.metadata["help"] for f in found if f.metadata.get("help")), None)
    defaults = {getattr(f.default, "value", f.default) for f in found}
    default = defaults.pop() if len(defaults) == 1 else None
    if text and isinstance(default, (str, int, float)) and not isinstance(default, bool):
        return f"{text} (default: {default})"
    return text


def _field(path: str, key: str) -> dataclasses.Field | None:
    """The field of "module:Class" at the dotted `key`, or None (no such field, or the module cannot load)."""
    module, _, name = path.partition(":")
    try:
        cls: Any = getattr(importlib.import_module(module), name)
    except Exception:  # noqa: BLE001 - an extra's missing dependency: the flag keeps its short help
        return None
    found = None
    for part in key.split("."):
        found = {f.name: f for f in dataclasses.fields(cls)}.get(part) if dataclasses.is_dataclass(cls) else None
        if found is None:
            return None
        cls = _dataclass_of(typing.get_type_hints(cls).get(part))
    return found


def _dataclass_of(hint: Any) -> Any:
    """The dataclass in a type hint (`X` or `X | None`), if any."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return next((a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)), None)
    return hint if dataclasses.is_dataclass(hint) else None
