"""Changing a saved index in place: add, replace and delete documents, encoding only the changed ones.

Every update writes one new generation of the folder, swapped in atomically (readers see the old or the new
index, never a mix; a kill at any moment leaves one of them), under a lock that serialises updates of one
folder. An update usually writes only the changed documents, as a new part (`index.append`), and links the
rest; BM25 then scores with the live corpus's statistics (`retrieval.bm25_segments`). An update that would
leave too many deleted positions or parts compacts the index instead: one folder as a fresh build writes
it, from the kept vectors and token postings (nothing is encoded or tokenised again). Either way, searches
answer as a fresh build of the final corpus would (the dense side exactly on a Flat index).
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
from ctxembed.index.append import write_part
from ctxembed.index.build import passage_splitter
from ctxembed.index.checks import id_hashes, left_out_message
from ctxembed.index.files import HASHES_FILE, MANIFEST_FILE, read_manifest
from ctxembed.index.metadata import metadata_table
from ctxembed.index.passage_map import encode_chunk
from ctxembed.index.persist import write_folder
from ctxembed.index.segments import current_vocab, stored_postings
from ctxembed.index.store import DocStoreWriter
from ctxembed.index.vector_index import VectorIndex
from ctxembed.retrieval.bm25 import COUNTS_FILE, SparseIndex
from ctxembed.types import Embedder

RETRAIN_SHARE = 0.5  # an IVF index whose vectors are more than this share new since it was trained: rebuild
MAX_PARTS = 16  # an update that would make more parts than this merges them into its own
DEAD_SHARE = 0.2  # an update that would leave more than this share of the positions deleted compacts the index


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
    compacted: bool = False  # the index was written whole again (else the changes were added as a part)


def update_index(
    folder: str | Path,
    embedder: Embedder,
    *,
    changes: Sequence[Document] = (),
    deletes: Sequence[str] = (),
    batch_size: int = 64,
    compact: bool = False,
) -> UpdateReport:
    """Add the `changes` whose id is new, replace those whose id the index has, and delete the ids in `deletes`,
    as one atomic new generation of the index in `folder` (built by `embedder`, as for `VectorIndex.load`).
    With `compact` (or when the index has many deleted positions or parts) the folder is written whole again."""
    started = time.perf_counter()
    folder = Path(folder)
    _check_request(changes, deletes, compact)
    with update_lock(folder):
        index = VectorIndex.load(folder, embedder)
        try:
            manifest = read_manifest(folder)
            found = index_positions(index.docs, index.live, [d.id for d in changes] + list(dict.fromkeys(deletes)))
            missing = [doc_id for doc_id in dict.fromkeys(deletes) if doc_id not in found]
            if missing:
                shown = ", ".join(map(repr, missing[:5])) + (", ..." if len(missing) > 5 else "")
                raise CorpusError(f"{len(missing)} id(s) to delete are not in {folder}: {shown}; nothing was changed")
            replaced = [found[d.id] for d in changes if d.id in found]
            dead = np.unique(np.array(replaced + [found[doc_id] for doc_id in deletes], dtype=np.int64))
            splitter = passage_splitter(index.embedder, index.passage_settings)
            encoded = encode_chunk(list(changes), splitter, _encoder(index, batch_size), len(index.docs))
            if encoded.left_out:
                warnings.warn(left_out_message(encoded.left_out), stacklevel=2)
            compact = compact or _needs_compaction(folder, index, manifest, dead, encoded)
            write = _rewrite if compact else _append
            report = write(folder, index, manifest, dead, encoded, {doc.id for doc in changes})
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
        compacted=compact,
    )


def index_positions(docs: Any, live: np.ndarray | None, ids: Sequence[str]) -> dict[str, int]:
    """The position of each of `ids` that the index holds (a live document of that id), found by the ids' stored
    hashes and checked against the documents' own ids."""
    hashes = docs.hashes()
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    wanted = id_hashes([Document(doc_id, "") for doc_id in ids])
    low, high = np.searchsorted(ordered, wanted, "left"), np.searchsorted(ordered, wanted, "right")
    found = {}
    for doc_id, start, end in zip(ids, low.tolist(), high.tolist()):
        for position in order[start:end].tolist():
            if (live is None or live[position]) and docs[position].id == doc_id:
                found[doc_id] = position
    return found


def _encoder(index: VectorIndex, batch: int) -> Any:
    def encode(texts: list[str]) -> np.ndarray:
        return index.embedder.encode_documents(texts, batch_size=batch)

    return encode


def _needs_compaction(
    folder: Path, index: VectorIndex, manifest: dict[str, Any], dead: np.ndarray, encoded: Any
) -> bool:
    """Whether this update should write the index whole again: it would leave more than `DEAD_SHARE` of the
    positions deleted (not for HNSW, which cannot be compacted), or the folder predates parts (no ids' hashes,
    no BM25 term counts)."""
    positions = len(index.docs) + len(encoded.docs)
    deleted = (0 if index.live is None else int(np.count_nonzero(~index.live))) + len(dead)
    sparse = manifest.get("sparse")
    predates = not (folder / HASHES_FILE).is_file() or (
        sparse is not None and (COUNTS_FILE not in sparse.get("files", {}) or not sparse.get("postings"))
    )
    if "HNSW" in index.factory.upper() and not predates:
        return False  # FAISS's HNSW cannot remove vectors: its deleted positions stay (a rebuild drops them)
    return predates or deleted > DEAD_SHARE * positions


def _check_request(changes: Sequence[Document], deletes: Sequence[str], compact: bool) -> None:
    if not changes and not deletes and not compact:
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


def _append(
    folder: Path, index: VectorIndex, manifest: dict[str, Any], dead: np.ndarray, encoded: Any, changed: set[str]
) -> dict[str, Any]:
    """Write the new generation as the last one plus a part holding the changes (and the earlier parts' documents,
    once there are `MAX_PARTS`)."""
    parts = len((manifest.get("segments") or {"parts": []})["parts"])
    with atomic_dir(folder, overwrite=True) as tmp:  # past MAX_PARTS, the parts are merged into the new one
        written = write_part(tmp, folder, index, manifest, dead, encoded, merge=parts + bool(encoded.docs) > MAX_PARTS)
        notes = _finish(tmp, manifest, written, index.vectors, encoded, changed)
    return {"documents": written["count"], "generation": written["generation"], "notes": notes}


def _rewrite(
    folder: Path, index: VectorIndex, manifest: dict[str, Any], dead: np.ndarray, encoded: Any, changed: set[str]
) -> dict[str, Any]:
    """Write the new generation whole: the kept documents' vectors, passages and postings, then the changed ones."""
    keep = np.zeros(len(index.docs), dtype=bool)
    keep[index.live_positions()] = True
    keep[dead] = False
    first = int(keep.sum())
    encoded.rows[:, 0] += first - len(index.docs)  # the changes follow the kept documents
    removed_rows, _ = index.passages.passages_of(np.flatnonzero(~keep))
    vectors = index.vectors
    vectors.remove(removed_rows)
    if len(encoded.vectors):
        vectors.add(encoded.vectors)
    passages = index.passages.keep(keep).extend(encoded.rows, len(encoded.docs))
    new_texts = [doc.full_text for doc in encoded.docs]
    notes, sparse = [], None
    if index.sparse is not None:
        if manifest["sparse"].get("postings"):
            stored = stored_postings(folder, manifest)
            sparse = SparseIndex.updated(stored, current_vocab(folder, manifest), keep, new_texts)
        else:  # an index built before postings were kept: tokenise everything once, keep postings from now on
            kept_texts = (doc.full_text for doc, kept in zip(index.docs, keep) if kept)
            sparse = SparseIndex.build(list(kept_texts) + new_texts)
            notes.append("BM25 was rebuilt from the documents' texts once (this index kept no token postings)")
    metadata = None
    if index.metadata is not None or any(doc.metadata for doc in encoded.docs):
        kept = index.metadata.filter(keep).to_pylist() if index.metadata is not None else [{}] * first
        metadata = metadata_table(kept + [doc.metadata for doc in encoded.docs])
    with atomic_dir(folder, overwrite=True) as tmp:
        writer = DocStoreWriter(tmp)
        try:
            for store, start in zip(index.docs.stores, index.docs.first.tolist()):
                writer.add_lines(store, keep[start : start + len(store)])  # the kept lines as they are
            writer.add(encoded.docs)
            writer.close()
        except BaseException:
            writer.abandon()
            raise
        write_folder(tmp, folder, index.embedder, vectors, manifest.get("skipped", []), index.fusion,
                     passages=(passages, index.passage_record), sparse=sparse, metadata=metadata)  # fmt: skip
        written = json.loads((tmp / MANIFEST_FILE).read_text(encoding="utf-8"))
        for key in ("fusion_chosen", "fusion_tuned", "created"):
            if key in manifest:
                written[key] = manifest[key]
        notes += _finish(tmp, manifest, written, vectors, encoded, changed)
    return {"documents": passages.documents, "generation": written["generation"], "notes": notes}


def _finish(
    tmp: Path, manifest: dict[str, Any], written: dict[str, Any], vectors: Any, encoded: Any, changed: set[str]
) -> list[str]:
    """Stamp the new generation's manifest (generation, time, skipped ids, vectors added since IVF training) and
    write it into `tmp`; the notes for the user."""
    notes = []
    updates = dict(manifest.get("updates", {"added_since_training": 0}))
    updates["added_since_training"] += len(encoded.vectors)
    if "IVF" in vectors.factory.upper() and updates["added_since_training"] > RETRAIN_SHARE * vectors.count:
        notes.append(
            f"{updates['added_since_training']} of the index's {vectors.count} vectors were added after its IVF "
            f"lists were trained: a rebuild (`ctxembed index --overwrite`) would train them on today's corpus"
        )
    skipped = [doc_id for doc_id in manifest.get("skipped", []) if doc_id not in changed] + encoded.left_out
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    generation = int(manifest.get("generation", 0)) + 1
    written.update(generation=generation, updated=stamp, updates=updates, skipped=skipped)
    (tmp / MANIFEST_FILE).write_text(json.dumps(written, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return notes
