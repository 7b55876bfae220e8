"""Changing a saved index in place: add, replace and delete documents, encoding only the changed ones.

Every update rewrites the folder as one new generation, swapped in atomically (readers see the old or the
new index, never a mix; a kill at any moment leaves one of them), under a lock that serialises updates of
one folder. The kept documents' vectors are removed from and added to the FAISS index as they are, and
BM25 is rebuilt from the token postings saved beside it, so idf and lengths are those of the new corpus: the
result is what a fresh build of the final corpus gives (the dense side exactly on a Flat index).
"""

from __future__ import annotations

import errno
import fcntl
import json
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import atomic_dir
from ctxembed.data import Document
from ctxembed.errors import CorpusError, CtxEmbedError
from ctxembed.index.build import passage_splitter
from ctxembed.index.checks import left_out_message
from ctxembed.index.files import MANIFEST_FILE, SPARSE_DIR, read_manifest
from ctxembed.index.metadata import metadata_table
from ctxembed.index.passage_map import encode_chunk
from ctxembed.index.persist import write_folder
from ctxembed.index.store import DocStoreWriter
from ctxembed.index.vector_index import VectorIndex
from ctxembed.retrieval.bm25 import SparseIndex
from ctxembed.types import Embedder

RETRAIN_SHARE = 0.5  # an IVF index whose vectors are more than this share new since it was trained: rebuild


@dataclass(frozen=True)
class UpdateReport:
    """What one update did."""

    added: int
    replaced: int
    deleted: int
    documents: int  # in the index afterwards
    generation: int
    seconds: float
    notes: tuple[str, ...] = ()


def update_index(
    folder: str | Path,
    embedder: Embedder,
    *,
    changes: Sequence[Document] = (),
    deletes: Sequence[str] = (),
    batch_size: int = 64,
) -> UpdateReport:
    """Add the `changes` whose id is new, replace those whose id the index has, and delete the ids in `deletes`,
    as one atomic new generation of the index in `folder` (built by `embedder`, as for `VectorIndex.load`)."""
    started = time.perf_counter()
    folder = Path(folder)
    _check_request(changes, deletes)
    with update_lock(folder):
        index = VectorIndex.load(folder, embedder)
        try:
            manifest = read_manifest(folder)
            ids = index.docs.ids()
            position = {doc_id: i for i, doc_id in enumerate(ids)}
            missing = [doc_id for doc_id in dict.fromkeys(deletes) if doc_id not in position]
            if missing:
                shown = ", ".join(map(repr, missing[:5])) + (", ..." if len(missing) > 5 else "")
                raise CorpusError(f"{len(missing)} id(s) to delete are not in {folder}: {shown}; nothing was changed")
            keep = np.ones(len(ids), dtype=bool)
            replaced = [position[d.id] for d in changes if d.id in position]
            keep[replaced + [position[doc_id] for doc_id in deletes]] = False
            report = _rewrite(folder, index, manifest, keep, list(changes), batch_size)
        finally:
            index.close()
    return UpdateReport(
        added=len(changes) - len(replaced),
        replaced=len(replaced),
        deleted=len(set(deletes)),
        documents=report["documents"],
        generation=report["generation"],
        seconds=time.perf_counter() - started,
        notes=tuple(report["notes"]),
    )


def _check_request(changes: Sequence[Document], deletes: Sequence[str]) -> None:
    if not changes and not deletes:
        raise CorpusError("nothing to change: the change file holds no documents and no id was given to delete")
    seen: dict[str, int] = {}
    for number, doc in enumerate(changes, start=1):
        if doc.id in seen:
            raise CorpusError(
                f"the changes hold document id {doc.id!r} twice (documents {seen[doc.id]} and {number}); "
                f"keep one version of each document"
            )
        seen[doc.id] = number
    both = sorted(set(seen) & set(deletes))
    if both:
        raise CorpusError(f"id {both[0]!r} is both changed and deleted; do one or the other")


@contextmanager
def update_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder`'s updates (a `.NAME.lock` file beside it); a second update is refused."""
    if not folder.is_dir():
        raise CtxEmbedError(f"{folder} is not a ctxembed index folder; build one with `ctxembed index`")
    with (folder.parent / f".{folder.name}.lock").open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise CtxEmbedError(
                f"another update of {folder} is running; wait for it to finish, then run this one again"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _rewrite(
    folder: Path, index: VectorIndex, manifest: dict[str, Any], keep: np.ndarray, changes: list[Document], batch: int
) -> dict[str, Any]:
    """Write the new generation: the kept documents' vectors, passages and postings, then the changed ones."""
    notes = []
    splitter = passage_splitter(index.embedder, index.passage_settings)

    def encode(texts: list[str]) -> np.ndarray:
        return index.embedder.encode_documents(texts, batch_size=batch)

    encoded = encode_chunk(changes, splitter, encode, int(keep.sum()))
    if encoded.left_out:
        warnings.warn(left_out_message(encoded.left_out), stacklevel=3)
    removed_rows, _ = index.passages.passages_of(np.flatnonzero(~keep))
    vectors = index.vectors
    vectors.remove(removed_rows)
    if len(encoded.vectors):
        vectors.add(encoded.vectors)
    passages = index.passages.keep(keep).extend(encoded.rows, len(encoded.docs))
    new_texts = [doc.full_text for doc in encoded.docs]
    sparse = None
    if index.sparse is not None:
        record = manifest["sparse"]
        if record.get("postings"):
            sparse = SparseIndex.updated(folder / SPARSE_DIR, record, keep, new_texts)
        else:  # an index built before postings were kept: tokenise everything once, keep postings from now on
            kept_texts = (doc.full_text for doc, kept in zip(index.docs, keep) if kept)
            sparse = SparseIndex.build(list(kept_texts) + new_texts)
            notes.append("BM25 was rebuilt from the documents' texts once (this index kept no token postings)")
    updates = manifest.get("updates", {"added_since_training": 0})
    updates["added_since_training"] += len(encoded.vectors)
    if _is_ivf(index) and updates["added_since_training"] > RETRAIN_SHARE * vectors.count:
        notes.append(
            f"{updates['added_since_training']} of the index's {vectors.count} vectors were added after its IVF "
            f"lists were trained: a rebuild (`ctxembed index --overwrite`) would train them on today's corpus"
        )
    changed = {doc.id for doc in changes}
    skipped = [doc_id for doc_id in manifest.get("skipped", []) if doc_id not in changed] + encoded.left_out
    generation = int(manifest.get("generation", 0)) + 1
    metadata = None
    if index.metadata is not None or any(doc.metadata for doc in encoded.docs):
        kept = index.metadata.filter(keep).to_pylist() if index.metadata is not None else [{}] * int(keep.sum())
        metadata = metadata_table(kept + [doc.metadata for doc in encoded.docs])
    with atomic_dir(folder, overwrite=True) as tmp:
        writer = DocStoreWriter(tmp)
        try:
            writer.add_lines(index.docs, keep)  # the kept documents' lines as they are: not parsed again
            writer.add(encoded.docs)
            writer.close()
        except BaseException:
            writer.abandon()
            raise
        write_folder(tmp, folder, index.embedder, vectors, skipped, index.fusion,
                     passages=(passages, index.passage_record), sparse=sparse, metadata=metadata)  # fmt: skip
        written = json.loads((tmp / MANIFEST_FILE).read_text(encoding="utf-8"))
        for key in ("fusion_chosen", "fusion_tuned", "created"):
            if key in manifest:
                written[key] = manifest[key]
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        written.update(generation=generation, updated=stamp, updates=updates)
        (tmp / MANIFEST_FILE).write_text(json.dumps(written, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return {"documents": passages.documents, "generation": generation, "notes": notes}


def _is_ivf(index: VectorIndex) -> bool:
    return "IVF" in index.factory.upper()
