"""An index changed by updates, read back: the first build's files plus one part folder an update, and the
positions updates deleted.

An update never rewrites what earlier builds wrote. It writes its documents (and their BM25 postings) into a
new `part-NNNNNN` folder, appends their vectors to the FAISS index, and lists the positions of replaced and
deleted documents in `deleted.npy`; the new generation links every unchanged file of the last one. Positions
are stable: the first build's documents, then each part's. A deleted position stays in the FAISS index and
in BM25's matrix, and no search returns it; an update that finds too many of them compacts the index.

The manifest's `segments` record lists the parts (with their files' checksums), the deleted positions'
file, and BM25's vocabulary and document frequencies over the live documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import readable_path, sha256_of
from ctxembed.data import Document
from ctxembed.errors import CtxEmbedError
from ctxembed.index.files import (
    DELETED_FILE,
    DOC_FREQ_FILE,
    DOCS_FILE,
    HASHES_FILE,
    OFFSETS_FILE,
    SPARSE_DIR,
    VOCAB_FILE,
    PinnedFolder,
)
from ctxembed.index.store import DocStore, PositionalDocs
from ctxembed.retrieval.bm25 import COUNTS_FILE
from ctxembed.retrieval.bm25_matrix import POSTINGS
from ctxembed.retrieval.bm25_segments import LiveBM25, TermCounts

TERM_COUNTS = ("indptr", "indices", "counts")  # a part's BM25 term counts by term: bm25.NAME.npy
PART_FILES = (
    DOCS_FILE,
    OFFSETS_FILE,
    HASHES_FILE,
    *(f"postings.{name}.npy" for name in POSTINGS),
    *(f"bm25.{name}.npy" for name in TERM_COUNTS),
)


class JoinedDocs(PositionalDocs):
    """The documents of a loaded index as one sequence: position i, whichever store holds it (the first build's,
    then each part's)."""

    def __init__(self, stores: Sequence[DocStore]) -> None:
        self.stores = list(stores)
        self.first = np.concatenate([[0], np.cumsum([len(s) for s in self.stores])]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.first[-1])

    def _read(self, i: int) -> Document:
        part = int(np.searchsorted(self.first, i, side="right")) - 1
        return self.stores[part][i - int(self.first[part])]

    def __iter__(self) -> Iterator[Document]:
        for store in self.stores:
            yield from store

    def hashes(self) -> np.ndarray:
        return np.concatenate([store.hashes() for store in self.stores])

    def close(self) -> None:
        for store in self.stores:
            store.close()


def read_parts(
    folder: Path, files: dict[str, Any], manifest: dict[str, Any], base: DocStore
) -> tuple[JoinedDocs, np.ndarray | None]:
    """The index's documents (the first build's `base` and each part's) and the mask of live positions (None
    where no update deleted any); each part's files are checked against the manifest's checksums."""
    record = manifest.get("segments")
    if not record:
        return JoinedDocs([base]), None
    stores = [base]
    for part in record["parts"]:
        pinned = files.get(part["name"])
        if not isinstance(pinned, PinnedFolder):
            raise CtxEmbedError(f"{folder / part['name']} is missing; rebuild the index")
        check_files(pinned, part["files"])
        docs = pinned.files.pop(DOCS_FILE)  # the store keeps it open
        store = DocStore.open(docs, pinned.files[OFFSETS_FILE], pinned.path / DOCS_FILE, pinned.files[HASHES_FILE])
        if len(store) != part["documents"]:
            raise CtxEmbedError(f"{pinned.path} holds {len(store)} documents, not {part['documents']}; rebuild")
        stores.append(store)
    joined = JoinedDocs(stores)
    live = np.ones(len(joined), dtype=bool)
    deleted = record.get("deleted")
    if deleted:
        fh = files.get(DELETED_FILE)
        if fh is None or sha256_of(fh) != deleted["sha256"]:
            raise CtxEmbedError(f"{folder / DELETED_FILE} is missing or damaged; rebuild the index")
        live[np.load(readable_path(fh), allow_pickle=False)] = False
    return joined, live


def read_live_bm25(
    folder: Path, files: dict[str, Any], manifest: dict[str, Any], live: np.ndarray, docs: JoinedDocs
) -> LiveBM25:
    """BM25 of an updated index: the first build's term counts (`sparse/`) and each part's, with the live
    corpus's vocabulary and document frequencies."""
    record = manifest["segments"]["bm25"]
    sparse = files.get(SPARSE_DIR)
    if sparse is None:
        raise CtxEmbedError(f"{folder / SPARSE_DIR} is missing; rebuild the index (or search with --mode dense)")
    matrix = ("indptr.csc.index.npy", "indices.csc.index.npy", COUNTS_FILE)  # bm25s's, with each entry's count
    params, lengths_file = "params.index.json", "postings.lengths.npy"
    check_files(sparse, {name: manifest["sparse"]["files"].get(name) for name in (*matrix, params)})
    check_files(sparse, {lengths_file: manifest["sparse"]["postings"]["lengths"]})
    arrays = [np.load(readable_path(sparse.files[name]), mmap_mode="r", allow_pickle=False) for name in matrix]
    settings = json.loads(_text(sparse.files[params]))
    parts = [TermCounts(0, *arrays)]
    lengths = [np.load(readable_path(sparse.files[lengths_file]), mmap_mode="r", allow_pickle=False)]
    for part, first in zip(manifest["segments"]["parts"], docs.first[1:-1]):
        pinned = files[part["name"]]
        counts = [np.load(readable_path(pinned.files[f"bm25.{name}.npy"]), mmap_mode="r") for name in TERM_COUNTS]
        parts.append(TermCounts(int(first), *counts))
        lengths.append(np.load(readable_path(pinned.files["postings.lengths.npy"]), allow_pickle=False))
    for name, key in ((VOCAB_FILE, "vocab"), (DOC_FREQ_FILE, "doc_freq")):
        if files.get(name) is None or sha256_of(files[name]) != record[key]:
            raise CtxEmbedError(f"{folder / name} is missing or damaged; rebuild the index (or --mode dense)")
    vocab = json.loads(_text(files[VOCAB_FILE]))
    doc_freq = np.load(readable_path(files[DOC_FREQ_FILE]), allow_pickle=False)
    all_lengths = np.concatenate(lengths)
    if len(all_lengths) != len(live):
        raise CtxEmbedError(f"{folder}: BM25 holds {len(all_lengths)} lengths for {len(live)} documents; rebuild")
    return LiveBM25(parts, vocab, doc_freq, all_lengths, live, k1=float(settings["k1"]), b=float(settings["b"]))


def check_files(pinned: PinnedFolder, expected: dict[str, str | None]) -> None:
    """Refuse a pinned folder whose files are missing or differ from their checksums."""
    for name, digest in expected.items():
        if name not in pinned.files or digest is None:
            raise CtxEmbedError(f"{pinned.path / name} is missing; rebuild the index")
        if sha256_of(pinned.files[name]) != digest:
            raise CtxEmbedError(f"{pinned.path / name} does not match its checksum in the manifest; rebuild the index")


def _text(fh: Any) -> str:
    fh.seek(0)
    return fh.read().decode("utf-8")


def stored_postings(folder: Path, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    """The token postings of every position of the index in `folder` (the first build's, then each part's), as
    `write_postings` saves them, each file checked against the manifest."""
    record = manifest["sparse"].get("postings") or {}
    sources = [(folder / SPARSE_DIR, record)]
    for part in manifest.get("segments", {}).get("parts", []):
        sources.append((folder / part["name"], {name: part["files"][f"postings.{name}.npy"] for name in POSTINGS}))
    arrays: dict[str, list[np.ndarray]] = {name: [] for name in POSTINGS}
    for source, digests in sources:
        for name in POSTINGS:
            path = source / f"postings.{name}.npy"
            if digests.get(name) is None or not path.is_file():
                raise CtxEmbedError(f"{source} keeps no token postings (an index built before updates); rebuild it")
            if sha256_of(path) != digests[name]:
                raise CtxEmbedError(f"{path} does not match its checksum in the manifest: it is damaged; rebuild")
            arrays[name].append(np.load(path, mmap_mode="r", allow_pickle=False))
    return {name: parts[0] if len(parts) == 1 else np.concatenate(parts) for name, parts in arrays.items()}


def current_vocab(folder: Path, manifest: dict[str, Any]) -> dict[str, int]:
    """BM25's term ids today: the first build's, with the words updates added."""
    path = folder / VOCAB_FILE if manifest.get("segments") else folder / SPARSE_DIR / "vocab.index.json"
    return json.loads(path.read_text(encoding="utf-8"))
