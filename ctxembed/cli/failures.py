"""How a failed command is reported: one line and an exit code, blaming the input only when it is at fault."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from ctxembed.cli.output import printable, say
from ctxembed.cli.parser import flag_for
from ctxembed.errors import CtxEmbedError


@contextmanager
def show_warnings() -> Iterator[None]:
    """Print warnings (ctxembed's, and those of peft, transformers, torch) as `warning:` lines, once each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warnings.simplefilter("ignore", DeprecationWarning)  # about the libraries' own code, not the user's run
        try:
            yield
        finally:
            seen: set[str] = set()
            for warning in caught:
                text = " ".join(str(warning.message).split())
                if text not in seen:
                    seen.add(text)
                    say(f"warning: {printable(text)}")


def describe_failure(exc: BaseException, args: argparse.Namespace | None = None) -> tuple[str, int]:
    """One line and an exit code for a failed command: 1 for a problem the user can fix (ctxembed's own
    errors, a file or disk the system refused), 3 for anything else, reported as what it is, not blamed on
    the input. An error that names the setting that fixes it (`key`) also names the command's flag for it."""
    if isinstance(exc, CtxEmbedError):
        flag = flag_for(args, exc.key)
        return _describe(exc) + (f" (command line: {flag})" if flag else ""), 1
    if isinstance(exc, OSError) and exc.strerror:
        return _describe(exc), 1
    if isinstance(exc, MemoryError):
        return "out of memory; lower the batch size or use a machine with more memory (rerun with -v for where)", 3
    detail = " ".join(str(exc).split())[:300]
    return (
        f"unexpected {type(exc).__module__}.{type(exc).__name__}: {detail} - a bug in ctxembed or a library it "
        f"uses, not a problem with your input; rerun with -v for the traceback and report it",
        3,
    )


def _describe(exc: BaseException) -> str:
    """One line for an error; OS errors name the path and the cause."""
    if isinstance(exc, OSError) and not isinstance(exc, CtxEmbedError) and exc.strerror:
        where = exc.filename or ""
        hint = {
            "No space left on device": "free disk space or choose another --out",
            "Permission denied": "check its permissions, or choose a location you can use",
            "Not a directory": "a parent of the path is a file; choose another --out",
            "Read-only file system": "choose a writable location",
        }.get(exc.strerror, "check the path")
        return f"{where}: {exc.strerror}; {hint}" if where else f"{exc.strerror}; {hint}"
    return " ".join(str(exc).split()) or type(exc).__name__
