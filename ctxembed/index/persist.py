"""Saving and loading an index folder: vectors, documents, the BM25 side and the manifest, written atomically
and read back as one build, each file checked against the manifest."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import atomic_dir, readable_path, sha256_of
from ctxembed.data import Document
from ctxembed.errors import CtxEmbedError
from ctxembed.index.files import (
    DOCS_FILE,
    FORMAT_VERSION,
    HASHES_FILE,
    INDEX_FILE,
    MANIFEST_FILE,
    OFFSETS_FILE,
    PASSAGES_FILE,
    SPARSE_DIR,
    check_identity,
    open_generation,
    parse_manifest,
    relative_paths,
)
from ctxembed.index.metadata import read_metadata, write_metadata
from ctxembed.index.passage_map import PassageMap
from ctxembed.index.segments import read_live_bm25, read_parts
from ctxembed.index.store import DocStore, write_store
from ctxembed.index.vectors import DenseVectors
from ctxembed.retrieval.bm25 import SparseIndex
from ctxembed.retrieval.fusion import FusionSettings
from ctxembed.types import Embedder


@dataclass(frozen=True)
class SavedIndex:
    """The parts of one saved build, checked against its manifest."""

    vectors: DenseVectors
    docs: DocStore
    passages: PassageMap
    sparse: SparseIndex | None
    manifest: dict[str, Any]
    metadata: Any = None  # a pyarrow Table, one row a document, where the documents have metadata
    live: Any = None  # a mask of the positions whose documents are in the index, where updates deleted any


def manifest_record(
    embedder: Embedder, vectors: DenseVectors, documents: int, skipped: Sequence[str], fusion: FusionSettings
) -> dict[str, Any]:
    """What a saved index records about itself and the model that built it."""
    from ctxembed._version import __version__

    return {
        "format_version": FORMAT_VERSION,
        "ctxembed_version": __version__,
        "embedder": embedder.identity(),
        "metric": "inner_product",
        "normalized": True,
        "factory": vectors.factory,
        "nprobe": vectors.nprobe,
        "ef_search": vectors.ef_search,
        "count": documents,
        "skipped": list(skipped),
        "fusion": asdict(fusion),
    }


def save_folder(
    folder: str | Path,
    embedder: Embedder,
    vectors: DenseVectors,
    docs: Sequence[Document],
    skipped: Sequence[str],
    fusion: FusionSettings,
    sparse: SparseIndex | None,
    passages: tuple[PassageMap, dict[str, Any] | None],
    *,
    overwrite: bool = False,
) -> Path:
    """Write an in-memory index into `folder` (documents, vectors, passages, BM25, manifest), atomically."""
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        write_store(tmp, docs)
        write_folder(tmp, folder, embedder, vectors, skipped, fusion, passages=passages, sparse=sparse)
    return Path(folder)


def write_folder(
    tmp: Path,
    folder: str | Path,
    embedder: Embedder,
    vectors: DenseVectors,
    skipped: Sequence[str],
    fusion: FusionSettings,
    *,
    passages: tuple[PassageMap, dict[str, Any] | None],
    sparse: SparseIndex | None = None,
    sparse_texts: Callable[[], Iterable[str]] | None = None,
    metadata: Any = None,
) -> None:
    """`index.faiss`, `passages.npy`, `manifest.json` (with the files' checksums) and `sparse/` into `tmp`, which
    becomes `folder`. `passages` is the map of FAISS rows to documents and what the manifest says of the split.
    `metadata` is the documents' metadata table where the caller has it (else it is read from the stored documents).

    With `sparse_texts` (a streaming build), BM25 is built from those texts once the vectors are written, and
    the caller should hold no other reference to `vectors`: they are released first, so the build's peak
    memory holds one side at a time.
    """
    passage_map = passages[0]
    manifest = {
        **manifest_record(embedder, vectors, passage_map.documents, skipped, fusion),
        **write_dense(tmp, vectors, passages),
        "relative_paths": relative_paths(embedder.identity(), folder),
    }
    if (record := write_metadata(tmp, metadata)) is not None:
        manifest["metadata"] = record
    if sparse_texts is not None:
        vectors.release()
        with tempfile.TemporaryDirectory(dir=tmp.parent, prefix=f".{tmp.name}.bm25.") as work:
            sparse = SparseIndex.build(sparse_texts(), workdir=Path(work))
            manifest["sparse"] = sparse.save(tmp / SPARSE_DIR)  # its postings wait in `work` until saved
    elif sparse is not None:
        manifest["sparse"] = sparse.save(tmp / SPARSE_DIR)
    (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def write_dense(tmp: Path, vectors: DenseVectors, passages: tuple[PassageMap, dict[str, Any] | None]) -> dict[str, Any]:
    """`index.faiss` and (where a document has several passages) `passages.npy` into `tmp`; their manifest
    entries (`index_sha256`, `passages`). `passages` is the map of FAISS rows to documents and what the manifest
    says of the split."""
    vectors.write(tmp / INDEX_FILE)
    passage_map, record = passages
    entries = {"index_sha256": sha256_of(tmp / INDEX_FILE)}
    entries["passages"] = {**(record or {"mode": "none"}), "count": len(passage_map)}
    if passage_map.split:  # where every document is one passage, the folder is as it was before passages
        np.save(tmp / PASSAGES_FILE, passage_map.rows)
        entries["passages"]["sha256"] = sha256_of(tmp / PASSAGES_FILE)
    return entries


def read_folder(folder: str | Path, embedder: Embedder) -> SavedIndex:
    """A saved index's parts; refused if `embedder` is not the model that built it.

    The manifest, vectors and texts are opened together from one pinned folder, so they come
    from one build even when a rebuild swaps (and deletes) the folder while this reads it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CtxEmbedError(f"{folder} is not a ctxembed index folder; build one with `ctxembed index`")
    for attempt in range(2):
        try:
            files = open_generation(folder)
        except FileNotFoundError:
            if attempt:
                raise
            continue  # a rebuild removed this generation between two opens: read the new one
        try:
            return _read(folder, files, embedder)
        except BaseException:
            files[DOCS_FILE].close()
            raise
        finally:  # the documents' file stays open: the index reads hits from it
            for name, fh in files.items():
                if fh is not None and name != DOCS_FILE:
                    fh.close()
    raise AssertionError("unreachable")


def _read(folder: Path, files: dict[str, Any], embedder: Embedder) -> SavedIndex:
    manifest = parse_manifest(files[MANIFEST_FILE].read(), folder / MANIFEST_FILE)
    check_identity(manifest["embedder"], embedder.identity(), folder)
    path = folder / INDEX_FILE
    expected = manifest.get("index_sha256")
    if expected and sha256_of(files[INDEX_FILE]) != expected:
        raise CtxEmbedError(f"{path} does not match the checksum in {MANIFEST_FILE}: it is damaged; rebuild the index")
    settings = {key: manifest[key] for key in ("factory", "nprobe", "ef_search")}
    try:
        vectors = DenseVectors.read(readable_path(files[INDEX_FILE]), **settings)
    except RuntimeError as exc:
        raise CtxEmbedError(f"{path} is empty or not a readable FAISS index; rebuild the index") from exc
    if vectors.dim != embedder.dim:
        raise CtxEmbedError(
            f"{path} holds {vectors.dim}-d vectors but the manifest's model gives {embedder.dim}-d; "
            f"the folder mixes two indexes: rebuild it"
        )
    docs, live = read_parts(folder, files, manifest, DocStore.open(
        files[DOCS_FILE], files[OFFSETS_FILE], folder / DOCS_FILE, files[HASHES_FILE]
    ))  # fmt: skip
    passages = _read_passages(folder, files[PASSAGES_FILE], manifest, len(docs))
    sparse = None
    if (record := manifest.get("sparse")) is not None:
        if files[SPARSE_DIR] is None:
            raise CtxEmbedError(f"{folder / SPARSE_DIR} is missing; rebuild the index (or search with --mode dense)")
        if live is not None:
            sparse = read_live_bm25(folder, files, manifest, live, docs)
        else:
            sparse = SparseIndex.load(files[SPARSE_DIR].files, record, shown=folder / SPARSE_DIR)
        if len(sparse) != len(docs):
            raise CtxEmbedError(
                f"{folder / SPARSE_DIR} holds {len(sparse)} documents, not {len(docs)}; rebuild the index"
            )
    documents = len(docs) if live is None else int(np.count_nonzero(live))
    if len(passages) != vectors.count or documents != manifest["count"]:
        raise CtxEmbedError(
            f"{folder} is inconsistent: {vectors.count} vectors, {len(passages)} passages, {documents} documents, "
            f"manifest count {manifest['count']}; rebuild the index"
        )
    metadata = read_metadata(folder, manifest.get("metadata"), len(docs))
    return SavedIndex(vectors, docs, passages, sparse, manifest, metadata, live)


def _read_passages(folder: Path, fh: Any, manifest: dict[str, Any], documents: int) -> PassageMap:
    """The passage map a manifest describes, checked; an index without one holds one vector a document."""
    record = manifest.get("passages")
    path = folder / PASSAGES_FILE
    if not isinstance(record, dict) or "sha256" not in record:  # one passage a document (or an older index)
        if isinstance(record, dict) and record.get("count", documents) != documents:
            raise CtxEmbedError(f"{path} is missing; rebuild the index")
        return PassageMap(None, documents)
    if fh is None:
        raise CtxEmbedError(f"{path} is missing; rebuild the index")
    if sha256_of(fh) != record["sha256"]:
        raise CtxEmbedError(f"{path} does not match the checksum in {MANIFEST_FILE}: it is damaged; rebuild the index")
    try:
        rows = np.load(readable_path(fh), allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise CtxEmbedError(f"{path} is not a readable .npy file; rebuild the index") from exc
    if rows.ndim != 2 or rows.shape[1] != 3 or (len(rows) and (rows[:, 0].min() < 0 or rows[:, 0].max() >= documents)):
        raise CtxEmbedError(f"{path} does not describe the index's {documents} documents; rebuild the index")
    return PassageMap(rows, documents)
