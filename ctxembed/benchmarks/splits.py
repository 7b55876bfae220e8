"""Deterministic splits: a query's split follows from a hash of its id, so rebuilding a benchmark (or building
it on another machine) puts every query where it was."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

SPLITS = (("train", 6), ("dev", 2), ("test", 2))  # tenths of the queries


def hash_bucket(key: str, modulo: int) -> int:
    """A stable bucket in [0, modulo) for `key` (SHA-1, not Python's salted `hash`)."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % modulo


def split_of(key: str, splits: Sequence[tuple[str, int]] = SPLITS) -> str:
    """The split of `key`: its bucket among ten, walked through the splits' tenths."""
    bucket = hash_bucket(key, 10)
    for name, tenths in splits:
        if bucket < tenths:
            return name
        bucket -= tenths
    raise AssertionError("the splits must cover ten tenths")
