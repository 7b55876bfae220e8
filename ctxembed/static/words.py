"""How static models cut text into words: one tokenizer, and the words around a span."""

from __future__ import annotations

import re

TOKEN = re.compile(r"\w+(?:[-'.]\w+)*")


def tokenize(text: str, *, lowercase: bool = True) -> list[str]:
    """Split text into word tokens the way GloVe-style vocabularies expect."""
    return TOKEN.findall(text.lower() if lowercase else text)


def window_text(text: str, span: tuple[int, int], window: int, *, lowercase: bool) -> str:
    """The words of `text` from `window` words before the span to `window` words after it ("" if no word
    overlaps the span)."""
    start, end = span
    tokens = list(TOKEN.finditer(text.lower() if lowercase else text))
    inside = [i for i, m in enumerate(tokens) if m.start() < end and m.end() > start]
    if not inside:
        return ""
    lo, hi = max(0, inside[0] - window), inside[-1] + window + 1
    return " ".join(m.group() for m in tokens[lo:hi])
