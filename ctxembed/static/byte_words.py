"""BERT's pre-tokenized words of plain text, and their vocabulary ids, found by numpy over the text's bytes.

For the texts `model2vec_tokens.AsciiWords` takes (printable ASCII plus a few Unicode punctuation marks,
no control characters), BERT's pre-tokenizer gives runs of letters and digits and single punctuation
marks. Byte classes find those words without a Python step per word. A word of up to 16 bytes is packed
into two 64-bit integers (its bytes, zero-padded) and looked up in an open-addressing table of the
vocabulary's whole words; both integers are compared, so a hit is exact. Longer words and misses go to
the tokenizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

KEY_BYTES = 16  # words up to this many bytes have exact integer keys
_SPACE, _BREAK, _ALNUM, _PUNCT, _LEAD, _CONT = range(6)
_CLASS = np.full(256, _PUNCT, np.uint8)  # every byte's role; control bytes never reach here (but 0: the break)
_CLASS[list(b"\t\n\r ")] = _SPACE
_CLASS[0] = _BREAK
_CLASS[list(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")] = _ALNUM
_CLASS[0x80:0xC0] = _CONT  # inside a multi-byte character (a punctuation mark: a word of its own)
_CLASS[0xC0:] = _LEAD
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[65:91] += 32
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


@dataclass(frozen=True)
class Words:
    """The words of texts joined by NUL bytes: spans into `data` (lowercased if asked) and each one's text."""

    data: bytes
    starts: np.ndarray
    ends: np.ndarray
    rows: np.ndarray

    @classmethod
    def split(cls, joined: bytes, *, lowercase: bool) -> Words:
        """BERT's pre-tokenizer on `joined` (texts separated by NUL bytes), with its lowercasing if asked."""
        raw = np.frombuffer(joined, np.uint8)
        data = _LOWER[raw] if lowercase else raw
        kind = _CLASS[data]
        alnum, inside = kind == _ALNUM, kind == _CONT
        single = (kind == _PUNCT) | (kind == _LEAD)
        starts = np.flatnonzero(single | (alnum & ~np.r_[False, alnum[:-1]]))
        last = (alnum & ~np.r_[alnum[1:], False]) | (kind == _PUNCT) | (inside & ~np.r_[inside[1:], False])
        rows = np.searchsorted(np.flatnonzero(kind == _BREAK), starts)
        return cls(data.tobytes() if lowercase else joined, starts, np.flatnonzero(last) + 1, rows)

    def keys(self) -> tuple[np.ndarray, np.ndarray]:
        """Each word's exact integer keys (see `word_keys`)."""
        return word_keys(self.data, self.starts, self.ends - self.starts)

    def text(self, i: int) -> str:
        """Word `i` as text."""
        return self.data[self.starts[i] : self.ends[i]].decode("utf-8")


def word_keys(data: bytes, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first 16 bytes of each span of `data`, zero-padded, as two uint64 keys (exact up to `KEY_BYTES`)."""
    padded = np.frombuffer(data + bytes(KEY_BYTES), np.uint8)
    windows = np.lib.stride_tricks.sliding_window_view(padded, KEY_BYTES)[starts]
    kept = np.ascontiguousarray(windows * (np.arange(KEY_BYTES) < lengths[:, None])).view(np.uint64)
    return kept[:, 0], kept[:, 1]


def mix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A 64-bit hash of the two keys (uint64 arithmetic wraps)."""
    return first * _MIX[0] ^ second * _MIX[1]


@dataclass(frozen=True)
class VocabularyTable:
    """Open addressing over the vocabulary's whole words of up to 16 bytes: keys in, ids out (-1: not one)."""

    first: np.ndarray
    second: np.ndarray
    ids: np.ndarray  # -1: an empty slot
    probes: int  # the longest run a stored key sits from its home slot

    @classmethod
    def of(cls, words: Mapping[str, int]) -> VocabularyTable:
        """The table of `words` (spelling -> id); longer words are left out (the tokenizer handles them)."""
        encoded = [(w.encode("utf-8"), i) for w, i in words.items() if 0 < len(w.encode("utf-8")) <= KEY_BYTES]
        lengths = np.array([len(spelling) for spelling, _ in encoded], dtype=np.int64)
        ids = np.array([i for _, i in encoded], dtype=np.int64)
        first, second = word_keys(b"".join(spelling for spelling, _ in encoded), np.cumsum(lengths) - lengths, lengths)
        size = 1 << max(4, (4 * len(encoded)).bit_length())  # at most a quarter full: short probe runs
        table = cls(np.zeros(size, np.uint64), np.zeros(size, np.uint64), np.full(size, -1, np.int64), 0)
        home = table.slots(first, second)
        slot, pending = home.copy(), np.arange(len(encoded))
        while pending.size:  # linear probing, all words at once: a free slot goes to the first word asking
            free = pending[table.ids[slot[pending]] < 0]
            _, winners = np.unique(slot[free], return_index=True)
            placed = free[winners]
            at = slot[placed]
            table.first[at], table.second[at] = first[placed], second[placed]
            table.ids[at] = ids[placed]
            pending = np.setdiff1d(pending, placed, assume_unique=True)
            slot[pending] = (slot[pending] + 1) & (size - 1)
        probes = int(((slot - home) & (size - 1)).max(initial=0))
        return cls(table.first, table.second, table.ids, probes)

    def slots(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Each key's home slot: the top bits of its hash."""
        bits = np.uint64(64 - (len(self.ids).bit_length() - 1))
        return (mix(first, second) >> bits).astype(np.int64)

    def lookup(self, first: np.ndarray, second: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The id of each word that is a whole vocabulary entry, else -1."""
        found = np.full(len(first), -1, np.int64)
        active = np.flatnonzero(lengths <= KEY_BYTES)
        slot = self.slots(first[active], second[active])
        for _ in range(self.probes + 1):
            ids = self.ids[slot]
            hit = (ids >= 0) & (self.first[slot] == first[active]) & (self.second[slot] == second[active])
            found[active[hit]] = ids[hit]
            on = (ids >= 0) & ~hit  # a slot taken by another word: look at the next
            active, slot = active[on], (slot[on] + 1) & (len(self.ids) - 1)
            if not active.size:
                break
        return found
