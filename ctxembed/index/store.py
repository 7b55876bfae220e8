"""The texts of a saved index: `docs.jsonl` plus `docs.offsets`, so a search reads only the lines it returns,
and `docs.hashes`, each id's 64-bit hash, so an update finds the documents it changes without reading them all.

`docs.offsets` holds little-endian int64 byte offsets: where each document's line starts, then the
file size. Opening a store reads that array (8 bytes a document) and parses no JSON, so search
start-up does not grow with the corpus. A folder without it (an older index) is scanned for line
starts once, without parsing.
"""

from __future__ import annotations

import json
import os
import re
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, overload

import numpy as np

from ctxembed.data import Document
from ctxembed.errors import CtxEmbedError
from ctxembed.index.checks import id_hashes
from ctxembed.index.files import DOCS_FILE, HASHES_FILE, OFFSETS_FILE

_DTYPE = np.dtype("<i8")
_ID = re.compile(rb'\{"_id": ("(?:[^"\\]|\\.)*")')  # how `document_line` starts every line


def document_line(doc: Document) -> bytes:
    """One `docs.jsonl` line."""
    row = {"_id": doc.id, "title": doc.title, "text": doc.text, **({"metadata": doc.metadata} if doc.metadata else {})}
    return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")


class DocStoreWriter:
    """Appends documents to `docs.jsonl`, their offsets to `docs.offsets` and their ids' hashes to `docs.hashes` in
    `folder`.

    `resume` continues a store of which the first `count` documents (`size` bytes) were checkpointed:
    anything written after that checkpoint is cut off first.
    """

    def __init__(self, folder: Path, *, resume: tuple[int, int] | None = None) -> None:
        count, size = resume or (0, 0)
        mode = "r+b" if resume else "wb"
        self._docs = (folder / DOCS_FILE).open(mode)
        self._offsets = (folder / OFFSETS_FILE).open(mode)
        # a build checkpointed before ids were hashed goes on without them (updates then read the ids)
        hashes = not resume or (folder / HASHES_FILE).exists()
        self._hashes = (folder / HASHES_FILE).open(mode) if hashes else None
        self._docs.truncate(size)
        self._docs.seek(size)
        for fh in self._files()[1:]:
            fh.truncate(count * _DTYPE.itemsize)
            fh.seek(count * _DTYPE.itemsize)
        self.count, self.size = count, size

    def add_lines(self, source: DocStore, keep: np.ndarray) -> None:
        """Copy the `source` store's documents where `keep` is True, as their stored lines (not parsed again)."""
        lengths = np.diff(source._offsets)[keep]
        self._offsets.write((self.size + np.concatenate([[0], np.cumsum(lengths)[:-1]])).astype(_DTYPE).tobytes())
        if self._hashes is not None:
            self._hashes.write(source.hashes()[keep].astype(_DTYPE).tobytes())
        edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))  # runs of kept lines
        for first, last in zip(edges[::2], edges[1::2]):
            start, end = int(source._offsets[first]), int(source._offsets[last])
            for at in range(start, end, 1 << 24):  # in blocks of 16 MiB
                self._docs.write(os.pread(source._fh.fileno(), min(1 << 24, end - at), at))
        self.size += int(lengths.sum())
        self.count += len(lengths)

    def add(self, docs: Iterable[Document]) -> None:
        docs = list(docs)
        starts = []
        for doc in docs:
            line = document_line(doc)
            starts.append(self.size)
            self._docs.write(line)
            self.size += len(line)
        self._offsets.write(np.asarray(starts, dtype=_DTYPE).tobytes())
        if self._hashes is not None:
            self._hashes.write(id_hashes(docs).astype(_DTYPE).tobytes())
        self.count += len(starts)

    def checkpoint(self) -> tuple[int, int]:
        """Flush the files to disk; returns (documents, bytes) to resume from."""
        for fh in self._files():
            fh.flush()
            os.fsync(fh.fileno())
        return self.count, self.size

    def close(self) -> None:
        """Write the closing offset (the file size) and close both files."""
        self._offsets.write(np.asarray([self.size], dtype=_DTYPE).tobytes())
        self.checkpoint()
        self.abandon()

    def abandon(self) -> None:
        for fh in self._files():
            fh.close()

    def _files(self) -> list[BinaryIO]:
        return [fh for fh in (self._docs, self._offsets, self._hashes) if fh is not None]


def write_store(folder: Path, docs: Iterable[Document]) -> None:
    """Write a whole store at once."""
    writer = DocStoreWriter(folder)
    try:
        writer.add(docs)
        writer.close()
    except BaseException:
        writer.abandon()
        raise


class PositionalDocs(Sequence[Document]):
    """A sequence of documents by position: indexes and slices checked here, one document read by `_read`."""

    @abstractmethod
    def _read(self, i: int) -> Document:
        """The document at position `i` (0 <= i < len)."""

    @overload
    def __getitem__(self, i: int) -> Document: ...
    @overload
    def __getitem__(self, i: slice) -> list[Document]: ...
    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self._read(int(i) % len(self))


class DocStore(PositionalDocs):
    """Documents read on demand from an open `docs.jsonl`; `shown` names the file in errors."""

    def __init__(self, fh: BinaryIO, offsets: np.ndarray, shown: Path, hashes: np.ndarray | None = None) -> None:
        self._fh, self._offsets, self._shown, self._hashes = fh, offsets, shown, hashes

    @classmethod
    def open(
        cls, fh: BinaryIO, offsets_fh: BinaryIO | None, shown: Path, hashes_fh: BinaryIO | None = None
    ) -> DocStore:
        """Check the offsets (and the ids' hashes) against the file (not its lines: they are parsed when read)."""
        size = os.fstat(fh.fileno()).st_size
        if offsets_fh is None:
            return cls(fh, _scan_line_starts(fh, size), shown)
        offsets_fh.seek(0)
        raw = offsets_fh.read()
        offsets = np.frombuffer(raw, dtype=_DTYPE) if len(raw) % _DTYPE.itemsize == 0 else np.zeros(0, _DTYPE)
        if (
            not len(offsets)
            or offsets[0] != 0
            or not _ends_at(fh, int(offsets[-1]), size)
            or np.any(np.diff(offsets) <= 0)
        ):
            raise CtxEmbedError(
                f"{shown.with_name(OFFSETS_FILE)} does not describe {shown.name}; the index folder is damaged: "
                f"rebuild it"
            )
        hashes = None
        if hashes_fh is not None:
            hashes_fh.seek(0)
            hashes = np.frombuffer(hashes_fh.read(), dtype=_DTYPE)
            if len(hashes) != len(offsets) - 1:
                raise CtxEmbedError(
                    f"{shown.with_name(HASHES_FILE)} holds {len(hashes)} ids for {len(offsets) - 1} documents; the "
                    f"index folder is damaged: rebuild it"
                )
        return cls(fh, offsets, shown, hashes)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _read(self, i: int) -> Document:
        start, end = int(self._offsets[i]), int(self._offsets[i + 1])
        return _parse(os.pread(self._fh.fileno(), end - start, start), self._shown, i + 1)

    def __iter__(self) -> Iterator[Document]:
        """Every document in order, read in blocks of about 1 MiB. Reads are positional (`os.pread`) and share
        no file position, so searches and iterations may run in several threads at once."""
        i, n = 0, len(self)
        while i < n:
            start = int(self._offsets[i])
            last = int(np.searchsorted(self._offsets, start + (1 << 20), side="right")) - 1
            last = min(max(last, i + 1), n)
            block = os.pread(self._fh.fileno(), int(self._offsets[last]) - start, start)
            for j in range(i, last):
                yield _parse(
                    block[int(self._offsets[j]) - start : int(self._offsets[j + 1]) - start], self._shown, j + 1
                )
            i = last

    def ids(self) -> list[str]:
        """Every document's id, in order, read from the start of each line (the rest is not parsed)."""
        out = []
        i, n = 0, len(self)
        while i < n:
            start = int(self._offsets[i])
            last = min(max(int(np.searchsorted(self._offsets, start + (1 << 20), side="right")) - 1, i + 1), n)
            block = os.pread(self._fh.fileno(), int(self._offsets[last]) - start, start)
            for j in range(i, last):
                at = int(self._offsets[j]) - start
                found = _ID.match(block, at)
                if found is None:  # a line not written by `document_line`: parse it whole
                    out.append(_parse(block[at : int(self._offsets[j + 1]) - start], self._shown, j + 1).id)
                else:
                    out.append(json.loads(found.group(1)))
            i = last
        return out

    def hashes(self) -> np.ndarray:
        """Each document id's 64-bit hash (`checks.id_hashes`), in order: stored, or from the ids where a folder
        written before `docs.hashes` has none."""
        if self._hashes is None:
            self._hashes = id_hashes([Document(doc_id, "") for doc_id in self.ids()])
        return self._hashes

    def close(self) -> None:
        self._fh.close()

    def __del__(self) -> None:
        self._fh.close()  # the store owns its file: close it with the index, quietly


def _ends_at(fh: BinaryIO, end: int, size: int) -> bool:
    """Whether the documents end at `end`, allowing blank lines after them (an editor's newline)."""
    if end == size:
        return True
    if not 0 <= end < size or size - end > 4096:
        return False
    fh.seek(end)
    return not fh.read().strip()


def _parse(raw: bytes, shown: Path, number: int) -> Document:
    try:
        row = json.loads(raw.decode("utf-8"))
        doc = Document(row["_id"], row["text"], row.get("title", ""), row.get("metadata") or {})
        if not all(isinstance(v, str) for v in (doc.id, doc.text, doc.title)):
            raise TypeError
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise CtxEmbedError(
            f"{shown}, document {number}: not a JSON object with string '_id' and 'text'; the index folder is "
            f"damaged: rebuild it"
        ) from exc
    return doc


def _scan_line_starts(fh: BinaryIO, size: int) -> np.ndarray:
    """Offsets of the non-blank lines of a store written without `docs.offsets` (older indexes)."""
    starts, ends, position = [], [], 0
    fh.seek(0)
    for raw in fh:
        if raw.strip():
            starts.append(position)
            ends.append(position + len(raw))
        position += len(raw)
    offsets = np.asarray([*starts, size], dtype=_DTYPE)
    if starts and ends[-1] != size:  # trailing blank lines: end the last document where its line ends
        offsets[-1] = ends[-1]
    # Blank lines between documents are read as part of the document before them; JSON ignores them.
    return offsets
