"""Checks shared by every way documents enter an index: unique ids, documents the model cannot embed, and a
corpus of which nothing could be indexed. Each check and each of its messages lives here only."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from ctxembed.data import Document
from ctxembed.errors import CorpusError, EmptyTextError


def id_hashes(docs: Sequence[Document]) -> np.ndarray:
    """A 64-bit hash of each document id (the unique-id check keeps these, not the ids)."""
    return np.asarray(
        [
            int.from_bytes(hashlib.blake2b(d.id.encode("utf-8"), digest_size=8).digest(), "little", signed=True)
            for d in docs
        ],
        dtype=np.int64,
    )


def check_unique(chunk: Sequence[Document], seen: np.ndarray) -> np.ndarray:
    """`seen` (sorted id hashes) with the chunk's merged in; a repeated id is a corpus error."""
    hashes = id_hashes(chunk)
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    at = np.searchsorted(seen, ordered)
    repeated = seen[np.minimum(at, len(seen) - 1)] == ordered if len(seen) else np.zeros(len(chunk), dtype=bool)
    repeated[1:] |= ordered[1:] == ordered[:-1]  # twice within the chunk
    if repeated.any():
        doc_id = chunk[int(order[np.argmax(repeated)])].id
        raise CorpusError(f"corpus: document id {doc_id!r} occurs twice; ids must be unique")
    return np.insert(seen, at, ordered)  # one linear merge a chunk, not a re-sort of everything seen


def left_out_message(ids: Sequence[str]) -> str:
    """The warning for documents that were left out of an index."""
    shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
    return f"{len(ids)} document(s) have no word the model knows and were left out of the index (ids: {shown})"


def cut_message(cut: int, record: dict) -> str:
    """The warning for passages (or whole documents) longer than the model reads."""
    if record.get("mode") == "none":
        return (
            f"{cut} document(s) are longer than the model's window and were indexed by their beginning only; "
            f"set index.passages.mode: auto to index every part of them"
        )
    return (
        f"{cut} passage(s) with their title repeated are longer than the model's window and were cut at it; "
        f"lower index.passages.max_tokens or set index.passages.title: false"
    )


def nothing_indexed(read: int) -> EmptyTextError:
    """The error for a corpus of which no document could be embedded."""
    return EmptyTextError(
        f"none of the {read} documents has a word the model knows, so the index would be empty; "
        f"check the corpus language and encoding, or use vectors that cover it"
    )
