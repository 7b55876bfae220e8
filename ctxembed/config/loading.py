"""The YAML engine of run configs: frozen dataclasses from mappings, unknown keys rejected, types recorded."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import fields
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from ctxembed.errors import ConfigError

T = TypeVar("T")
TYPE_KEY = "config_type"  # a saved config names its class, so a folder reloads without guessing (like peft_type)


def normalize_enums(config: Any) -> None:
    """Accept plain strings for Enum fields (`objective="tsdae"`), as YAML does."""
    for f in fields(config):
        tp = typing.get_type_hints(type(config))[f.name]
        value = getattr(config, f.name)
        if isinstance(tp, type) and issubclass(tp, Enum) and not isinstance(value, tp):
            object.__setattr__(config, f.name, coerce(tp, value, f.name))


def from_dict(cls: type[T], data: Any, *, where: str = "config") -> T:
    """Build dataclass `cls` from a mapping, checking keys and types; `where` prefixes errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {type(data).__name__}")
    if TYPE_KEY in data:
        data = dict(data)
        recorded = data.pop(TYPE_KEY)
        if recorded != cls.__name__:
            raise ConfigError(
                f"{where}: this is a saved {recorded}, not a {cls.__name__}; pass it where that is expected"
            )
    valid = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid keys are: {', '.join(valid)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {name: coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def coerce(tp: Any, value: Any, where: str) -> Any:
    """Check `value` against annotation `tp`, converting enums, nested configs and tuples."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(inner, value, where)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where=where)  # type: ignore[arg-type]
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError as exc:
            choices = ", ".join(repr(m.value) for m in tp)
            raise ConfigError(f"{where}: {value!r} is not one of {choices}") from exc
    if origin is dict:
        # A mapping of names to weights; a single name or a list of names means weight 1 each.
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            value = dict.fromkeys(value, 1.0)
        if not isinstance(value, dict) or not value:
            raise ConfigError(f"{where}: expected a name, a list of names or a mapping of names to weights")
        key_tp, value_tp = typing.get_args(tp)
        return {coerce(key_tp, k, where): coerce(value_tp, v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (inner, _) = typing.get_args(tp)
        return tuple(coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value)  # PyYAML reads 1e-5 (no dot) as a string
    if tp is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    if tp in (str, int, float, bool):
        if type(value) is not tp:
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    raise TypeError(f"{where}: unsupported config annotation {tp!r}")  # a bug, not user input


def load_config(cls: type[T], path: str | Path) -> T:
    """Load a YAML run config into `cls`; errors name the file and the key."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; pass the path of an existing YAML config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    return from_dict(cls, data or {}, where=str(path))


def override(config: T, **changes: Any) -> T:
    """Return `config` with dotted keys replaced (`corpus.path=...`); `None` values are ignored."""
    for dotted, value in changes.items():
        if value is None:
            continue
        try:
            config = _replace_path(config, dotted.split("."), value)
        except ConfigError as exc:
            if exc.key is not None:
                raise
            raise ConfigError(str(exc), key=dotted) from exc
    return config


def _replace_path(obj: Any, keys: list[str], value: Any) -> Any:
    head, *rest = keys
    new = _replace_path(getattr(obj, head), rest, value) if rest else value
    hints = typing.get_type_hints(type(obj))
    if not rest:
        new = coerce(hints[head], value, head)
    return dataclasses.replace(obj, **{head: new})


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain JSON values, with its type recorded; `from_dict` reads it back."""
    from ctxembed._io import to_jsonable

    return {TYPE_KEY: type(config).__name__, **to_jsonable(config)}
