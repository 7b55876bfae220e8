"""Atomic writes: a reader sees the old artifact or the new one, never half of one."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
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


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Any]:
    """A text file handle whose content replaces `path` only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refuse_existing(path: str | os.PathLike[str], overwrite: bool) -> None:
    """Raise `OutputExistsError` when `path` exists and `overwrite` was not asked for.

    Commands call this before long work, so a run fails fast instead of after training.
    """
    if Path(path).exists() and not overwrite:
        raise OutputExistsError(
            f"{path} already exists; choose another output path or allow replacing it (overwrite)", key="overwrite"
        )


@contextmanager
def atomic_dir(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that replaces `path` only if the block succeeds.

    An existing `path` is refused unless `overwrite`. On Linux the new folder is swapped in with
    one atomic `renameat2` call, so at every moment `path` holds the complete old or the complete
    new folder, and a run never replaces a folder that another run created in the meantime.
    A crash leaves a `.NAME.PID.*` folder beside it, which the next save removes.
    """
    path = Path(path)
    check_output_folder(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the result should look like a normal folder
    try:
        yield tmp
        _swap_in(tmp, path, overwrite)
    except BaseException:
        remove_path(tmp)
        raise
    remove_path(tmp)  # after an exchange it holds the old folder (or the old file)


def check_output_folder(path: str | os.PathLike[str], overwrite: bool) -> None:
    """Refuse an output folder before any work: it exists without `overwrite`, it holds the current folder,
    or a parent is a file."""
    path = Path(path)
    refuse_existing(path, overwrite)
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise OutputExistsError(f"refusing to replace {path}: it holds the current folder; choose a new output folder")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(20, "Not a directory", str(blocking))


def remove_path(path: str | os.PathLike[str]) -> None:
    """Delete a file, link or folder tree if it exists; errors are ignored (a best-effort clean-up)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _swap_in(tmp: Path, path: Path, overwrite: bool) -> None:
    taken = OutputExistsError(f"{path} was created by another run meanwhile; choose another output path", key="out")
    if path.exists():
        if not overwrite:
            raise taken
        if _renameat2(tmp, path, _RENAME_EXCHANGE):
            return
        old = path.parent / f".{path.name}.{os.getpid()}.old"  # not Linux: a short window without `path`
        os.replace(path, old)
        os.replace(tmp, path)
        remove_path(old)
        return
    try:
        if not _renameat2(tmp, path, _RENAME_NOREPLACE):
            os.rename(tmp, path)  # POSIX refuses to replace a non-empty folder
    except OSError as exc:
        if not path.exists():
            raise
        if not overwrite:
            raise taken from exc
        _swap_in(tmp, path, overwrite)  # it appeared meanwhile, and we may replace it


_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?:.*\.tmp|old)$")


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """Linux renameat2(2); False where the system or filesystem does not offer it."""
    import ctypes
    import errno

    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd = -100
    if call(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(dst))


def remove_leftovers(path: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary and old copies of `path` that crashed runs left behind; return them."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for entry in path.parent.iterdir():
        match = _LEFTOVER.match(entry.name)
        if match and match["name"] == path.name and not _alive(int(match["pid"])):
            remove_path(entry)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def readable_path(fh: Any) -> str:
    """A path that reopens the file behind `fh`, even if it was deleted since (Linux); else its name."""
    proc = Path(f"/proc/self/fd/{fh.fileno()}")
    return str(proc) if proc.exists() else fh.name


def sha256_of(source: Path | Any) -> str:
    """Hex SHA-256 of a file, given by path or as an open binary file (read from the start)."""
    import hashlib

    digest = hashlib.sha256()
    fh = source.open("rb") if isinstance(source, Path) else source
    try:
        fh.seek(0)
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    finally:
        if isinstance(source, Path):
            fh.close()
    return digest.hexdigest()


@contextmanager
def quiet_logger(name: str, level: int = logging.ERROR) -> Iterator[None]:
    """Raise a library logger's level for the duration of a block."""
    target = logging.getLogger(name)
    previous = target.level
    target.setLevel(level)
    try:
        yield
    finally:
        target.setLevel(previous)


def cache_root() -> Path:
    """ctxembed's cache folder: $CTXEMBED_CACHE, else $XDG_CACHE_HOME/ctxembed, else ~/.cache/ctxembed."""
    explicit = os.environ.get("CTXEMBED_CACHE")
    return Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ctxembed"
