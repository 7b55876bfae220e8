"""`VectorIndex`: one `Embedder`'s documents, searchable in dense (FAISS), sparse (BM25) or hybrid mode."""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import atomic_file
from ctxembed.data import Document
from ctxembed.errors import CtxEmbedError, EmptyTextError
from ctxembed.index.build import passage_splitter, write_index
from ctxembed.index.checks import check_unique, cut_message, id_hashes, left_out_message
from ctxembed.index.files import MANIFEST_FILE, read_manifest
from ctxembed.index.fusion_choice import choose_fusion
from ctxembed.index.metadata import matching, metadata_table
from ctxembed.index.passage_map import PassageMap, allowed_rows, document_scores, encode_chunk, top_documents
from ctxembed.index.persist import manifest_record, read_folder, save_folder
from ctxembed.index.vectors import DenseVectors
from ctxembed.passages import PassageSettings
from ctxembed.retrieval.bm25 import SparseIndex
from ctxembed.retrieval.fusion import QUESTION_SHARE, FusionSettings
from ctxembed.retrieval.hybrid import hybrid_search, search_result, sparse_search
from ctxembed.types import Embedder, SearchMode, SearchResult


class VectorIndex:
    """Documents embedded by one `Embedder`, searchable by inner product (cosine on unit vectors), and with a
    sparse side (`sparse`, BM25 over the same documents, row for row) also by keywords or both fused.

    `factory` is a `faiss.index_factory` string: `Flat` is exact; `HNSW32`, `IVF256,Flat` or `IVF256,PQ16`
    trade exactness for speed on large corpora.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        factory: str = "Flat",
        nprobe: int = 16,
        ef_search: int = 64,
        passages: PassageSettings | None = None,
    ) -> None:
        self.embedder = embedder
        self.vectors = DenseVectors.create(embedder.dim, factory, nprobe=nprobe, ef_search=ef_search)
        self.docs: Sequence[Document] = []  # a list while building, a `DocStore` (read on demand) when loaded
        self.passages = PassageMap(np.zeros((0, 3), dtype=np.int64), 0)  # FAISS rows -> documents
        self.passage_settings = passages or PassageSettings()
        self.passage_record: dict[str, Any] | None = None
        self.skipped: list[str] = []
        self.sparse: SparseIndex | None = None
        self.fusion = FusionSettings()
        self.fusion_chosen: dict[str, Any] | None = None  # how a label-free weight was chosen (the manifest's)
        self.metadata: Any = None  # the documents' metadata (a pyarrow Table), for filters
        self.live: np.ndarray | None = None  # positions still in the index, where updates deleted any (`segments`)
        self._live_rows: Any = None  # the FAISS selection of the live documents' passages, made at first use

    @property
    def faiss_index(self) -> Any:
        """The FAISS index of the dense side."""
        return self.vectors.index

    @property
    def factory(self) -> str:
        return self.vectors.factory

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
        passages: PassageSettings | None = None,
    ) -> VectorIndex:
        """Embed `docs` and index them (long ones as passages, per `passages`; with `sparse`, also BM25 for hybrid
        search, fused by `fusion`); refuses a corpus of which no document could be embedded.

        This is `build_index`, the streaming builder behind `ctxembed index`, run in a temporary folder that is
        gone once the index is loaded; call `build_index` to keep the folder.
        """
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
                passages=passages,
            )

    @classmethod
    def load(cls, folder: str | Path, embedder: Embedder) -> VectorIndex:
        """Load a saved index; refuse it if `embedder` is not the model that built it (`persist.read_folder`)."""
        saved = read_folder(folder, embedder)
        index = cls.__new__(cls)
        index.embedder, index.vectors, index.docs, index.sparse = embedder, saved.vectors, saved.docs, saved.sparse
        index.passages, index.passage_record = saved.passages, saved.manifest.get("passages")
        record = index.passage_record or {"mode": "none"}  # an index written before passages: whole documents
        index.passage_settings = PassageSettings(
            **{key: record[key] for key in ("mode", "max_tokens", "overlap", "title", "lead_margin") if key in record}
        )
        index.skipped = list(saved.manifest.get("skipped", []))
        index.fusion = FusionSettings(**saved.manifest.get("fusion", {}))
        index.fusion_chosen = saved.manifest.get("fusion_chosen")
        index.metadata, index.live, index._live_rows = saved.metadata, saved.live, None
        return index

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write `index.faiss`, `manifest.json`, `docs.jsonl`, `docs.offsets` (and `sparse/`) into `folder`,
        atomically."""
        self._refuse_if_updated("saved elsewhere: copy its folder instead")
        return save_folder(folder, self.embedder, self.vectors, self.docs, self.skipped, self.fusion, self.sparse,
                           (self.passages, self.passage_record), overwrite=overwrite)  # fmt: skip

    def close(self) -> None:
        """Close the documents' file of a loaded index (it stays open while the index is in use)."""
        close = getattr(self.docs, "close", None)
        if close is not None:
            close()

    def __len__(self) -> int:
        """How many documents the index holds."""
        return len(self.docs) if self.live is None else int(np.count_nonzero(self.live))

    def live_positions(self) -> np.ndarray:
        """The positions (in `docs`) of the documents the index holds: all of them unless updates deleted some."""
        return np.arange(len(self.docs)) if self.live is None else np.flatnonzero(self.live)

    def _refuse_if_updated(self, what: str) -> None:
        if self.live is not None:
            raise CtxEmbedError(
                f"this index was changed by updates, so it cannot be {what}; change it with `ctxembed update` "
                f"(`ctxembed.index.update.update_index`)"
            )

    def add(self, docs: Sequence[Document], *, batch_size: int = 64, show_progress: bool = False) -> None:
        """Embed and append documents in memory (long ones as passages, as the index was built); documents with no
        known word are skipped with a warning."""
        self._refuse_if_updated("extended in memory")
        check_unique(docs, np.sort(id_hashes(self.docs)))
        splitter = passage_splitter(self.embedder, self.passage_settings)
        if self.passage_record is None and splitter is not None:
            self.passage_record = splitter.record()

        def encode(texts: list[str]) -> np.ndarray:
            return self.embedder.encode_documents(texts, batch_size=batch_size, show_progress=show_progress)

        encoded = encode_chunk(docs, splitter, encode, len(self.docs))
        if encoded.left_out:
            self.skipped.extend(encoded.left_out)
            warnings.warn(left_out_message(encoded.left_out), stacklevel=2)
        if encoded.cut:
            warnings.warn(cut_message(encoded.cut, self.passage_record or {}), stacklevel=2)
        if not encoded.docs:
            return
        if self.vectors.needs_training:
            self.vectors.train(encoded.vectors)
        self.vectors.add(encoded.vectors)
        self.passages = self.passages.extend(encoded.rows, len(encoded.docs))
        if not isinstance(self.docs, list):
            self.docs = list(self.docs)  # a loaded index's on-demand store, extended in memory
        self.docs.extend(encoded.docs)
        if any(doc.metadata for doc in encoded.docs) or self.metadata is not None:
            self.metadata = metadata_table([doc.metadata for doc in self.docs])
        if self.sparse is not None:  # BM25's statistics cover the whole corpus: index it again
            self.sparse = SparseIndex.build(d.full_text for d in self.docs)

    def document_scores(self, vector: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The best passage score of each of `docs` for one query vector and that passage's row; None where the
        FAISS index keeps no vectors to give back."""
        return document_scores(self.vectors, self.passages, vector, docs, self.passage_settings.lead_margin)

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Embed queries, refusing any with nothing the model knows."""
        vectors = self.embedder.encode_queries(list(queries))
        for query, vec in zip(queries, vectors):
            if not np.any(vec):
                raise EmptyTextError(f"query {query!r} has no word the model knows; rephrase it")
        return vectors

    def search_vectors(self, vectors: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Documents by their best passage: (scores, document positions), at most (n, len(index)); position -1
        means no hit (`search_passages` also gives the best passage of each)."""
        scores, docs, _ = self.search_passages(vectors, k)
        return scores, docs

    def search_passages(
        self, vectors: np.ndarray, k: int = 10, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The top `k` documents of each query vector: (scores, document positions, best passage rows); with
        `allowed` (a mask over documents), among those only."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a whole number >= 1, got {k!r}")
        queries = np.asarray(vectors, dtype=np.float32)
        selection = None
        if self.live is not None and allowed is None:  # deleted documents are no hits
            if self._live_rows is None:
                self._live_rows = allowed_rows(self.vectors, self.passages, self.live)
            selection = self._live_rows
        elif self.live is not None:
            allowed = allowed & self.live
        return top_documents(
            self.vectors, self.passages, queries, k, self.passage_settings.lead_margin, allowed, selection
        )

    def matching(self, filters: str | Sequence[str]) -> np.ndarray:
        """A mask over the documents' positions: True where every filter (`field=value`, `field in a,b`,
        `field>=3`...) holds (`ctxembed.index.metadata`), and never at a deleted one."""
        mask = matching(self.metadata, [filters] if isinstance(filters, str) else list(filters), len(self.docs))
        return mask if self.live is None else mask & self.live

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
        filter: str | Sequence[str] | None = None,
    ) -> list[list[SearchResult]]:
        """Top-`k` hits for each query, best first: dense (FAISS), sparse (BM25) or hybrid (both, fused).

        `unknown="skip"` answers a query that no side can read with no hits instead of an error (evaluation).
        `filter` (one or several, all must hold) keeps documents by metadata, inside the search: k hits come back
        whenever k documents match.
        """
        if isinstance(queries, str):
            queries = [queries]
        mode = self._mode(mode)
        if unknown not in ("raise", "skip"):
            raise ValueError(f"unknown must be 'raise' or 'skip', got {unknown!r}")
        skip = unknown == "skip"
        allowed = self.matching(filter) if filter else None
        fusion = fusion or self.fusion
        if mode is SearchMode.HYBRID and fusion.method == "convex" and fusion.weight in (0.0, 1.0):
            mode = SearchMode.SPARSE if fusion.weight else SearchMode.DENSE  # one side alone: exactly that side
        if mode is SearchMode.SPARSE:
            return sparse_search(self, self.sparse, queries, k, skip_unknown=skip, allowed=allowed)
        if mode is SearchMode.HYBRID:
            return hybrid_search(self, self.sparse, queries, k, fusion, skip_unknown=skip, allowed=allowed)
        vectors = self.embedder.encode_queries(list(queries)) if skip else self.encode_queries(queries)
        scores, positions, best = self.search_passages(vectors, k, allowed)
        return [
            [search_result(self, int(p), float(s), passage=int(b)) for s, p, b in zip(*row) if p >= 0]
            if np.any(vector)
            else []
            for vector, *row in zip(vectors, scores, positions, best)
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
        record = manifest_record(self.embedder, self.vectors, len(self), self.skipped, self.fusion)
        return {**record, **({"passages": self.passage_record} if self.passage_record else {})}


def build_index(
    embedder: Embedder, corpus: Callable[[], Iterable[Document]], out: str | Path, **settings: Any
) -> VectorIndex:
    """Index the documents `corpus()` yields into folder `out` with the streaming, checkpointed builder
    (`ctxembed.index.build.write_index`, whose keyword settings this takes) and return the loaded index.

    With a sparse side and no fixed `fusion.weight`, the hybrid weight is chosen before the folder is published,
    without labels (`ctxembed.index.fusion_choice`), and recorded in its manifest."""
    fusion = settings.get("fusion") or FusionSettings()
    if settings.get("sparse") and fusion.weight is None:
        batch_size = settings.get("batch_size", 64)
        settings["before_publish"] = lambda folder: record_label_free_fusion(folder, embedder, fusion, batch_size)
    return VectorIndex.load(write_index(embedder, corpus, out, **settings), embedder)


def record_label_free_fusion(folder: Path, embedder: Embedder, fusion: FusionSettings, batch_size: int) -> None:
    """Choose the hybrid weight of the index in `folder` on its pseudo-queries and write it into the manifest (the
    query-style rule stays where the corpus yields too few of them)."""
    index = VectorIndex.load(folder, embedder)
    try:
        choice = choose_fusion(index, fusion, batch_size=batch_size)
    finally:
        index.close()
    if choice is None:
        return
    dense_better = choice.ndcg["dense"] > choice.ndcg["sparse"]
    questions = QUESTION_SHARE if choice.alone is None and dense_better else 1.0
    manifest = read_manifest(folder)
    manifest["fusion"] = asdict(replace(fusion, weight=choice.weight, questions=questions))
    manifest["fusion_chosen"] = choice.record()
    with atomic_file(Path(folder) / MANIFEST_FILE) as fh:
        fh.write(json.dumps(manifest, indent=2, allow_nan=False) + "\n")
