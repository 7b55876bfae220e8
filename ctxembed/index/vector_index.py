"""`VectorIndex`: FAISS maximum-inner-product search over any `Embedder`'s vectors."""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import atomic_dir, readable_path, sha256_of
from ctxembed.data import Document
from ctxembed.errors import CtxEmbedError, EmptyTextError
from ctxembed.index.checks import check_unique, id_hashes, left_out_message, split_embedded
from ctxembed.index.files import (
    DOCS_FILE,
    FORMAT_VERSION,
    INDEX_FILE,
    MANIFEST_FILE,
    OFFSETS_FILE,
    SPARSE_DIR,
    check_factory,
    check_identity,
    open_generation,
    parse_manifest,
    relative_paths,
)
from ctxembed.index.store import DocStore, write_store
from ctxembed.retrieval.bm25 import SparseIndex
from ctxembed.retrieval.fusion import FusionSettings
from ctxembed.retrieval.hybrid import hybrid_search, sparse_search
from ctxembed.types import Embedder, SearchMode, SearchResult

POINTS_PER_LIST = 64  # FAISS warns below 39 training points per IVF list and uses at most 256


def _faiss() -> Any:
    import faiss

    return faiss


class VectorIndex:
    """Documents embedded by one `Embedder`, searchable by inner product (cosine on unit vectors).

    `factory` is a `faiss.index_factory` string: `Flat` is exact; `HNSW32`,
    `IVF256,Flat` or `IVF256,PQ16` trade exactness for speed on large corpora.
    """

    def __init__(self, embedder: Embedder, *, factory: str = "Flat", nprobe: int = 16, ef_search: int = 64) -> None:
        faiss = _faiss()
        self.embedder = embedder
        self.factory = factory
        check_factory(factory)
        try:
            self.faiss_index = faiss.index_factory(embedder.dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise CtxEmbedError(
                f"invalid FAISS factory string {factory!r}: {str(exc).strip().splitlines()[-1]}; "
                f"try Flat, HNSW32 or IVF256,Flat"
            ) from exc
        self.nprobe = nprobe
        self.ef_search = ef_search
        self.docs: Sequence[Document] = []  # a list while building, a `DocStore` (read on demand) when loaded
        self.skipped: list[str] = []
        self.sparse: SparseIndex | None = None  # BM25 over the same documents, row for row
        self.fusion = FusionSettings()
        self._apply_search_params()

    def _apply_search_params(self) -> None:
        """Set nprobe / efSearch (and a refine stage's candidates, 8 per hit) through FAISS's ParameterSpace,
        which finds them in nested indexes too."""
        space = _faiss().ParameterSpace()
        for name, value in (("nprobe", self.nprobe), ("efSearch", self.ef_search), ("k_factor_rf", 8)):
            try:
                space.set_index_parameter(self.faiss_index, name, value)
            except RuntimeError:
                pass  # this kind of index has no such parameter (Flat has neither)

    @classmethod
    def build(
        cls,
        embedder: Embedder,
        docs: Sequence[Document],
        *,
        factory: str = "Flat",
        batch_size: int = 64,
        show_progress: bool = False,
        sparse: bool = False,
        fusion: FusionSettings | None = None,
        nprobe: int = 16,
        ef_search: int = 64,
    ) -> VectorIndex:
        """Embed `docs` and index them (with `sparse`, also BM25 for hybrid search, fused by `fusion`);
        refuses a corpus of which no document could be embedded.

        This is `ctxembed.index.build.build_index`, the streaming builder behind `ctxembed index`, run in a
        temporary folder that is gone once the index is loaded; call that directly to keep the folder.
        """
        from ctxembed.index.build import build_index

        docs = list(docs)

        def encode(texts: list[str]) -> np.ndarray:
            return embedder.encode_documents(texts, batch_size=batch_size, show_progress=show_progress)

        with tempfile.TemporaryDirectory(prefix="ctxembed-index-") as tmp:
            return build_index(
                embedder,
                lambda: docs,
                Path(tmp) / "index",
                factory=factory,
                nprobe=nprobe,
                ef_search=ef_search,
                chunk_size=max(len(docs), 1),
                checkpoint_seconds=math.inf,
                encode=encode,
                sparse=sparse,
                fusion=fusion,
            )

    def __len__(self) -> int:
        return len(self.docs)

    def add(self, docs: Sequence[Document], *, batch_size: int = 64, show_progress: bool = False) -> None:
        """Embed and append documents in memory; documents with no known word are skipped with a warning."""
        check_unique(docs, np.sort(id_hashes(self.docs)))
        vectors = self.embedder.encode_documents(
            [d.full_text for d in docs], batch_size=batch_size, show_progress=show_progress
        )
        docs, vectors, left_out = split_embedded(docs, vectors)
        if left_out:
            self.skipped.extend(left_out)
            warnings.warn(left_out_message(left_out), stacklevel=2)
        if not len(docs):
            return
        if self.needs_training:
            self.train(vectors)
        self.add_vectors(vectors)
        if not isinstance(self.docs, list):
            self.docs = list(self.docs)  # a loaded index's on-demand store, extended in memory
        self.docs.extend(docs)
        if self.sparse is not None:  # BM25's statistics cover the whole corpus: index it again
            self.sparse = SparseIndex.build(d.full_text for d in self.docs)

    @property
    def needs_training(self) -> bool:
        """Whether the FAISS index must be trained (IVF, PQ) before vectors are added."""
        return not self.faiss_index.is_trained

    def training_size(self) -> int:
        """Training points for an untrained index: POINTS_PER_LIST per IVF list, and at least 2^14 (a PQ's
        256-centroid codebooks want 39 x 256); 2^16 without IVF."""
        faiss = _faiss()
        try:
            return max(POINTS_PER_LIST * faiss.extract_index_ivf(self.faiss_index).nlist, 1 << 14)
        except RuntimeError:
            return 1 << 16

    def train(self, vectors: np.ndarray) -> None:
        """Train the FAISS index (IVF lists, PQ codebooks) on a sample of document vectors."""
        try:
            self.faiss_index.train(np.ascontiguousarray(vectors, dtype=np.float32))
        except RuntimeError as exc:
            raise CtxEmbedError(
                f"cannot train FAISS index {self.factory!r} on {len(vectors)} vectors "
                f"({str(exc).strip().splitlines()[-1]}); use fewer IVF lists or the exact Flat index"
            ) from exc

    def add_vectors(self, vectors: np.ndarray) -> None:
        """Append document vectors (their documents are the caller's to store, in the same order)."""
        self.faiss_index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def write_vectors(self, path: Path) -> None:
        _faiss().write_index(self.faiss_index, str(path))

    def read_vectors(self, path: Path) -> None:
        """Replace the vectors with a FAISS file's (a resumed build's checkpoint)."""
        self.faiss_index = _faiss().read_index(str(path))
        self._apply_search_params()

    def release_vectors(self) -> None:
        """Drop the in-memory vectors once they are saved (a builder's last step before loading the folder)."""
        self.faiss_index = None

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Embed queries, refusing any with nothing the model knows."""
        vectors = self.embedder.encode_queries(list(queries))
        for query, vec in zip(queries, vectors):
            if not np.any(vec):
                raise EmptyTextError(f"query {query!r} has no word the model knows; rephrase it")
        return vectors

    def search_vectors(self, vectors: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Raw FAISS search: (scores, positions), at most (n, len(index)); position -1 means no hit."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a whole number >= 1, got {k!r}")
        k = max(1, min(int(k), self.faiss_index.ntotal))  # FAISS allocates n x k results
        return self.faiss_index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)

    def stored_vectors(self, positions: np.ndarray) -> np.ndarray | None:
        """The stored (for compressed indexes, decoded) vectors at `positions`; None where FAISS keeps none."""
        try:
            return self.faiss_index.reconstruct_batch(np.asarray(positions, dtype=np.int64))
        except RuntimeError:
            try:  # an IVF index reconstructs once it maps ids to lists
                _faiss().extract_index_ivf(self.faiss_index).make_direct_map()
                return self.faiss_index.reconstruct_batch(np.asarray(positions, dtype=np.int64))
            except RuntimeError:
                return None

    @property
    def default_mode(self) -> SearchMode:
        """Hybrid when the index has a sparse side, else dense."""
        return SearchMode.HYBRID if self.sparse is not None else SearchMode.DENSE

    def search(
        self,
        queries: str | Sequence[str],
        k: int = 10,
        *,
        mode: SearchMode | str | None = None,
        fusion: FusionSettings | None = None,
        unknown: str = "raise",
    ) -> list[list[SearchResult]]:
        """Top-`k` hits for each query, best first: dense (FAISS), sparse (BM25) or hybrid (both, fused).

        `unknown="skip"` answers a query that no side can read with no hits instead of an error (evaluation).
        """
        if isinstance(queries, str):
            queries = [queries]
        mode = self._mode(mode)
        if unknown not in ("raise", "skip"):
            raise ValueError(f"unknown must be 'raise' or 'skip', got {unknown!r}")
        skip = unknown == "skip"
        if mode is SearchMode.SPARSE:
            return sparse_search(self, self.sparse, queries, k, skip_unknown=skip)
        if mode is SearchMode.HYBRID:
            return hybrid_search(self, self.sparse, queries, k, fusion or self.fusion, skip_unknown=skip)
        vectors = self.embedder.encode_queries(list(queries)) if skip else self.encode_queries(queries)
        scores, positions = self.search_vectors(vectors, k)
        return [
            [
                SearchResult(self.docs[p].id, float(s), self.docs[p].full_text)
                for s, p in zip(row_scores, row_pos)
                if p >= 0
            ]
            if np.any(vector)
            else []
            for vector, row_scores, row_pos in zip(vectors, scores, positions)
        ]

    def _mode(self, mode: SearchMode | str | None) -> SearchMode:
        try:
            mode = self.default_mode if mode is None else SearchMode(mode)
        except ValueError as exc:
            raise CtxEmbedError(f"unknown search mode {mode!r}; choose dense, sparse or hybrid") from exc
        if mode is not SearchMode.DENSE and self.sparse is None:
            raise CtxEmbedError(
                f"this index has no sparse side, so it cannot search in {mode.value} mode; rebuild it with "
                f"index.sparse: bm25 (the default), or search with --mode dense"
            )
        return mode

    def manifest(self) -> dict[str, Any]:
        """What a saved index records about itself and the model that built it."""
        from ctxembed._version import __version__

        return {
            "format_version": FORMAT_VERSION,
            "ctxembed_version": __version__,
            "embedder": self.embedder.identity(),
            "metric": "inner_product",
            "normalized": True,
            "factory": self.factory,
            "nprobe": self.nprobe,
            "ef_search": self.ef_search,
            "count": int(self.faiss_index.ntotal),
            "skipped": self.skipped,
            "fusion": asdict(self.fusion),
        }

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write `index.faiss`, `manifest.json`, `docs.jsonl` and `docs.offsets` into `folder`, atomically."""
        with atomic_dir(folder, overwrite=overwrite) as tmp:
            write_store(tmp, self.docs)
            self.write_vectors_and_manifest(tmp, folder)
        return Path(folder)

    def write_vectors_and_manifest(
        self, tmp: Path, folder: str | Path, *, sparse_texts: Callable[[], Iterable[str]] | None = None
    ) -> None:
        """`index.faiss` and `manifest.json` (with the file's checksum) into `tmp`, which becomes `folder`.

        With `sparse_texts` (a streaming build), the in-memory vectors are dropped once written and BM25 is
        built from those texts afterwards, so the build's peak memory holds one side at a time.
        """
        self.write_vectors(tmp / INDEX_FILE)
        manifest = {
            **self.manifest(),
            "index_sha256": sha256_of(tmp / INDEX_FILE),
            "relative_paths": relative_paths(self.embedder.identity(), folder),
        }
        if sparse_texts is not None:
            self.release_vectors()
            with tempfile.TemporaryDirectory(dir=tmp.parent, prefix=f".{tmp.name}.bm25.") as work:
                self.sparse = SparseIndex.build(sparse_texts(), workdir=Path(work))
        if self.sparse is not None:
            manifest["sparse"] = self.sparse.save(tmp / SPARSE_DIR)
        if sparse_texts is not None:
            self.sparse = None
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path, embedder: Embedder) -> VectorIndex:
        """Load a saved index; refuse it if `embedder` is not the model that built it.

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
                return cls._load(folder, files, embedder)
            except BaseException:
                files[DOCS_FILE].close()
                raise
            finally:  # the documents' file stays open: the index reads hits from it
                for name, fh in files.items():
                    if fh is not None and name != DOCS_FILE:
                        fh.close()
        raise AssertionError("unreachable")

    @classmethod
    def _load(cls, folder: Path, files: dict[str, Any], embedder: Embedder) -> VectorIndex:
        faiss = _faiss()
        manifest = parse_manifest(files[MANIFEST_FILE].read(), folder / MANIFEST_FILE)
        check_identity(manifest["embedder"], embedder.identity(), folder)
        index = cls.__new__(cls)
        index.embedder = embedder
        index.factory = manifest["factory"]
        index.nprobe = manifest["nprobe"]
        index.ef_search = manifest["ef_search"]
        index.skipped = list(manifest.get("skipped", []))
        path = folder / INDEX_FILE
        vectors = files[INDEX_FILE]
        expected = manifest.get("index_sha256")
        if expected and sha256_of(vectors) != expected:
            raise CtxEmbedError(
                f"{path} does not match the checksum in {MANIFEST_FILE}: it is damaged; rebuild the index"
            )
        try:
            index.faiss_index = faiss.read_index(readable_path(vectors))
        except RuntimeError as exc:
            raise CtxEmbedError(f"{path} is empty or not a readable FAISS index; rebuild the index") from exc
        if index.faiss_index.d != embedder.dim:
            raise CtxEmbedError(
                f"{path} holds {index.faiss_index.d}-d vectors but the manifest's model gives {embedder.dim}-d; "
                f"the folder mixes two indexes: rebuild it"
            )
        index.docs = DocStore.open(files[DOCS_FILE], files[OFFSETS_FILE], folder / DOCS_FILE)
        index.fusion, index.sparse = FusionSettings(**manifest.get("fusion", {})), None
        record = manifest.get("sparse")
        if record is not None:
            if files[SPARSE_DIR] is None:
                raise CtxEmbedError(
                    f"{folder / SPARSE_DIR} is missing; rebuild the index (or search with --mode dense)"
                )
            index.sparse = SparseIndex.load(files[SPARSE_DIR].files, record, shown=folder / SPARSE_DIR)
            if len(index.sparse) != len(index.docs):
                raise CtxEmbedError(
                    f"{folder / SPARSE_DIR} holds {len(index.sparse)} documents, not {len(index.docs)}; rebuild the index"
                )
        if len(index.docs) != index.faiss_index.ntotal or len(index.docs) != manifest["count"]:
            raise CtxEmbedError(
                f"{folder} is inconsistent: {index.faiss_index.ntotal} vectors, {len(index.docs)} documents, "
                f"manifest count {manifest['count']}; rebuild the index"
            )
        index._apply_search_params()
        return index
