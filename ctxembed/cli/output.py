"""What the command line prints: progress lines on stderr, safe text, short labels."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def say(message: str) -> None:
    """A progress or warning line, on stderr so that stdout stays the result."""
    print(message, file=sys.stderr, flush=True)


def printable(text: str) -> str:
    """Text with control characters (terminal escape sequences) shown as escapes, not executed."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def model_label(identity: dict[str, Any]) -> str:
    """A short label: the model's name or folder name, its pooling if it has one."""
    name = Path(str(identity.get("model"))).name
    return f"{name}, {identity['pooling']}" if identity.get("pooling") else name
