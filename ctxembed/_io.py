"""Atomic writes: a reader sees the old artifact or the new one, never half of one."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ctxembed.errors import OutputExistsError


def dumps_json(obj: Any) -> str:
    """Indented, strictly valid JSON: NaN and infinities (which JSON lacks) are written as null."""
    return json.dumps(_finite(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def refuse_existing(path: str | os.PathLike[str], overwrite: bool) -> None:
    """Raise `OutputExistsError` when `path` exists and `overwrite` was not asked for.

    Commands call this before long work, so a run fails fast instead of after training.
    """
    if Path(path).exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; choose another --out or pass --overwrite to replace it")


@contextmanager
def atomic_dir(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that replaces `path` only if the block succeeds.

    An existing `path` is refused unless `overwrite`; with it, the old folder is
    kept until the new one is fully written, so a failure leaves it intact.
    """
    path = Path(path)
    refuse_existing(path, overwrite)
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise OutputExistsError(f"refusing to replace {path}: it holds the current folder; choose a new output folder")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(20, "Not a directory", str(blocking))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the result should look like a normal folder
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    """The process umask, read without setting it (os.umask would race with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, enums, tuples and dicts as plain JSON values."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {getattr(k, "value", k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return getattr(obj, "value", obj)
