"""An update written as a new part (`index.segments`): only the changed documents are written, every other
file of the index is linked into the new generation as it is.

The new documents go into `part-NNNNNN/` (their lines and their token postings), their vectors are appended
to the FAISS index, the replaced and deleted positions join `deleted.npy`, and BM25's vocabulary and document
frequencies are brought up to date (the deleted documents' terms out, the new ones' in).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import sha256_of
from ctxembed.errors import CorpusError
from ctxembed.index.files import (
    DELETED_FILE,
    DOC_FREQ_FILE,
    INDEX_FILE,
    MANIFEST_FILE,
    PART_PREFIX,
    PASSAGES_FILE,
    SPARSE_DIR,
    VOCAB_FILE,
)
from ctxembed.index.metadata import METADATA_FILE, metadata_table, write_metadata
from ctxembed.index.passage_map import EncodedChunk
from ctxembed.index.persist import write_dense
from ctxembed.index.segments import PART_FILES, TERM_COUNTS, current_vocab
from ctxembed.index.store import DocStoreWriter
from ctxembed.retrieval.bm25 import text_postings
from ctxembed.retrieval.bm25_matrix import POSTINGS, Postings
from ctxembed.retrieval.bm25_segments import TermCounts

REWRITTEN = {INDEX_FILE, PASSAGES_FILE, METADATA_FILE, DELETED_FILE, VOCAB_FILE, DOC_FREQ_FILE, MANIFEST_FILE}


def write_part(
    tmp: Path,
    folder: Path,
    index: Any,
    manifest: dict[str, Any],
    dead: np.ndarray,
    encoded: EncodedChunk,
    *,
    merge: bool = False,
) -> dict[str, Any]:
    """Write into `tmp` the generation after `index` (loaded from `folder`) with the positions `dead` deleted
    (replaced or deleted) and the `encoded` documents added as a new part; with `merge`, that part also takes
    the documents of every earlier part (whose positions stay as they are). Return its manifest."""
    segments = copy.deepcopy(manifest.get("segments") or {"parts": []})
    merged = [part["name"] for part in segments["parts"]] if merge else []
    link_unchanged(folder, tmp, skip=set(merged))
    earlier = index.docs.stores[1:] if merge else []
    part = None
    if encoded.docs or earlier:  # no part for deletes alone
        part = tmp / f"{PART_PREFIX}{int(manifest.get('generation', 0)) + 1:06d}"  # named by its generation
        part.mkdir()
        writer = DocStoreWriter(part)
        try:
            for store in earlier:
                writer.add_lines(store, np.ones(len(store), dtype=bool))
            writer.add(encoded.docs)
            writer.close()
        except BaseException:
            writer.abandon()
            raise
        if merge:
            segments["parts"] = []
    vectors = index.vectors
    if len(encoded.vectors):
        vectors.add(encoded.vectors)
    passages = index.passages.extend(encoded.rows, len(encoded.docs))
    split = {k: v for k, v in (manifest.get("passages") or {}).items() if k not in ("count", "sha256")}
    out = {**manifest, **write_dense(tmp, vectors, (passages, split or None))}
    out["count"] = len(index) - len(dead) + len(encoded.docs)
    out.pop("metadata", None)
    if (table := _joined_metadata(index.metadata, len(index.docs), encoded)) is not None:
        out["metadata"] = write_metadata(tmp, table)
    deleted = np.union1d(np.flatnonzero(~index.live) if index.live is not None else [], dead).astype(np.int64)
    np.save(tmp / DELETED_FILE, deleted)
    segments["deleted"] = {"count": len(deleted), "sha256": sha256_of(tmp / DELETED_FILE)}
    if index.sparse is not None:
        segments["bm25"] = _bm25_part(tmp, part, folder, index, manifest, dead, encoded, merged)
    if part is not None:
        files = {file: sha256_of(part / file) for file in PART_FILES if (part / file).is_file()}
        documents = len(encoded.docs) + sum(len(store) for store in earlier)
        segments["parts"].append({"name": part.name, "documents": documents, "files": files})
    out["segments"] = segments
    return out


def link_unchanged(folder: Path, tmp: Path, *, skip: set[str] = frozenset()) -> None:
    """Hard-link every file of `folder` that an update does not rewrite (nor the part folders in `skip`) into
    `tmp` (copy where links fail): no file is ever changed in place, so two generations may share them."""
    for source in folder.rglob("*"):
        relative = source.relative_to(folder)
        if relative.parts[0] in skip:
            continue
        target = tmp / relative
        if source.is_dir():
            target.mkdir(exist_ok=True)
        elif str(relative) not in REWRITTEN:
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)


def _joined_metadata(table: Any, positions: int, encoded: EncodedChunk) -> Any:
    """The metadata of every position: the index's rows, then the new documents'."""
    import pyarrow as pa

    new = metadata_table([doc.metadata for doc in encoded.docs])
    if table is None and not new.num_columns:
        return None
    if table is None:
        table = pa.table({name: pa.nulls(positions, new.schema.field(name).type) for name in new.column_names})
    if not new.num_columns:
        new = pa.table(
            {name: pa.nulls(len(encoded.docs), table.schema.field(name).type) for name in table.column_names}
        )
    try:
        return pa.concat_tables([table, new], promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CorpusError(
            f"the changes' metadata gives a field another type than the index's ({' '.join(str(exc).split())[:120]});"
            f" give each field one type"
        ) from exc


def _bm25_part(
    tmp: Path,
    part: Path | None,
    folder: Path,
    index: Any,
    manifest: dict[str, Any],
    dead: np.ndarray,
    encoded: EncodedChunk,
    merged: list[str],
) -> dict[str, str]:
    """The new part's postings (the `merged` parts' first) and term counts by term, and BM25's vocabulary and
    document frequencies of the live documents after it."""
    vocab = current_vocab(folder, manifest)
    doc_freq = index.sparse.doc_freq  # the live documents' (the first build's before any update)
    postings, lengths, vocab = text_postings([doc.full_text for doc in encoded.docs], vocab)
    doc_freq = np.pad(doc_freq, (0, len(vocab) - len(doc_freq)))
    np.subtract.at(doc_freq, _terms_of(folder, manifest, index, dead), 1)
    doc_freq += np.bincount(postings.terms, minlength=len(vocab))
    if part is not None:
        arrays = {"terms": postings.terms, "counts": postings.counts, "per_doc": postings.per_doc, "lengths": lengths}
        dtypes = {"terms": np.uint32, "counts": np.uint32, "per_doc": np.int32, "lengths": np.int32}
        for key in POSTINGS:
            earlier = [np.load(folder / name / f"postings.{key}.npy", mmap_mode="r") for name in merged]
            arrays[key] = np.concatenate([*earlier, arrays[key]]).astype(dtypes[key])
            np.save(part / f"postings.{key}.npy", arrays[key])
        counts = TermCounts.of(Postings(arrays["terms"], arrays["counts"], arrays["per_doc"]), 0)
        for name in TERM_COUNTS:  # the part's counts by term, for BM25 at query time
            np.save(part / f"bm25.{name}.npy", getattr(counts, name))
    (tmp / VOCAB_FILE).write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    np.save(tmp / DOC_FREQ_FILE, doc_freq)
    return {"vocab": sha256_of(tmp / VOCAB_FILE), "doc_freq": sha256_of(tmp / DOC_FREQ_FILE)}


def _terms_of(folder: Path, manifest: dict[str, Any], index: Any, positions: np.ndarray) -> np.ndarray:
    """The distinct terms of the documents at `positions`, one entry a (document, term), from the postings of the
    parts that hold them."""
    firsts = index.docs.first  # where each store of the loaded index (`JoinedDocs`) starts
    sources = [folder / SPARSE_DIR] + [folder / p["name"] for p in manifest.get("segments", {}).get("parts", [])]
    out = []
    for number, source in enumerate(sources):
        first, end = int(firsts[number]), int(firsts[number + 1])
        mine = positions[(positions >= first) & (positions < end)] - first
        if not len(mine):
            continue
        per_doc = np.load(source / "postings.per_doc.npy", mmap_mode="r")
        terms = np.load(source / "postings.terms.npy", mmap_mode="r")
        starts = np.concatenate([[0], np.cumsum(per_doc, dtype=np.int64)])
        out.extend(np.asarray(terms[starts[p] : starts[p + 1]], dtype=np.int64) for p in mine)
    return np.concatenate(out) if out else np.zeros(0, np.int64)
