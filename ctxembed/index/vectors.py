"""The dense side of an index: a FAISS inner-product index made from a factory string, with its search
parameters applied, trained, filled, searched, written and read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ctxembed.errors import CtxEmbedError
from ctxembed.index.files import check_factory

POINTS_PER_LIST = 64  # FAISS warns below 39 training points per IVF list and uses at most 256


def _faiss() -> Any:
    import faiss

    return faiss


class Selection:
    """Rows of a FAISS index that a filtered search may return: a bitmap selector for many rows, a batch (hash
    set) selector for few; it keeps the memory FAISS reads alive."""

    def __init__(self, rows: np.ndarray, total: int) -> None:
        faiss = _faiss()
        self.rows = rows
        if len(rows) * 64 >= total:
            mask = np.zeros(total, dtype=bool)
            mask[rows] = True
            self.bits = np.packbits(mask, bitorder="little")
            self.selector = faiss.IDSelectorBitmap(total, faiss.swig_ptr(self.bits))
        else:
            self.selector = faiss.IDSelectorBatch(rows)

    def __len__(self) -> int:
        return len(self.rows)


class DenseVectors:
    """Vectors in a FAISS index searched by inner product (cosine on unit vectors).

    `factory` is a `faiss.index_factory` string: `Flat` is exact; `HNSW32`, `IVF256,Flat` or `IVF256,PQ16`
    trade exactness for speed on large corpora. `nprobe` and `ef_search` tune IVF and HNSW search.
    """

    def __init__(self, index: Any, *, factory: str, nprobe: int = 16, ef_search: int = 64) -> None:
        self.index, self.factory, self.nprobe, self.ef_search = index, factory, nprobe, ef_search
        space = _faiss().ParameterSpace()  # finds the parameters in nested indexes too
        for name, value in (("nprobe", nprobe), ("efSearch", ef_search), ("k_factor_rf", 8)):
            try:
                space.set_index_parameter(index, name, value)
            except RuntimeError:
                pass  # this kind of index has no such parameter (Flat has neither)
        try:  # an IVF index gives stored vectors back (hybrid search scores candidates) once ids map to lists
            _faiss().extract_index_ivf(index).make_direct_map()
        except RuntimeError:
            pass  # not an IVF index

    @classmethod
    def create(cls, dim: int, factory: str = "Flat", *, nprobe: int = 16, ef_search: int = 64) -> DenseVectors:
        """An empty index of `dim`-d vectors."""
        faiss = _faiss()
        check_factory(factory)
        try:
            index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise CtxEmbedError(
                f"invalid FAISS factory string {factory!r}: {str(exc).strip().splitlines()[-1]}; "
                f"try Flat, HNSW32 or IVF256,Flat"
            ) from exc
        return cls(index, factory=factory, nprobe=nprobe, ef_search=ef_search)

    @classmethod
    def read(cls, path: str | Path, *, factory: str, nprobe: int = 16, ef_search: int = 64) -> DenseVectors:
        """A FAISS file written by `write` (a checkpoint, or a saved index's `index.faiss`)."""
        return cls(_faiss().read_index(str(path)), factory=factory, nprobe=nprobe, ef_search=ef_search)

    def write(self, path: Path) -> None:
        _faiss().write_index(self.index, str(path))

    def release(self) -> None:
        """Drop the vectors from memory once they are written (a streaming build, before BM25 is built)."""
        self.index = None

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def needs_training(self) -> bool:
        """Whether the index must be trained (IVF, PQ) before vectors are added."""
        return not self.index.is_trained

    def training_size(self) -> int:
        """Training points for an untrained index: POINTS_PER_LIST per IVF list, and at least 2^14 (a PQ's
        256-centroid codebooks want 39 x 256); 2^16 without IVF."""
        try:
            return max(POINTS_PER_LIST * _faiss().extract_index_ivf(self.index).nlist, 1 << 14)
        except RuntimeError:
            return 1 << 16

    def train(self, vectors: np.ndarray) -> None:
        """Train the index (IVF lists, PQ codebooks) on a sample of document vectors."""
        try:
            self.index.train(np.ascontiguousarray(vectors, dtype=np.float32))
        except RuntimeError as exc:
            raise CtxEmbedError(
                f"cannot train FAISS index {self.factory!r} on {len(vectors)} vectors "
                f"({str(exc).strip().splitlines()[-1]}); use fewer IVF lists or the exact Flat index"
            ) from exc

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors (their documents are the caller's to keep, in the same order)."""
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def remove(self, rows: np.ndarray) -> None:
        """Remove the vectors at `rows`; the others keep their order and are numbered 0.. again, as the rows of a
        list would be. Flat and IVF indexes (with a re-rank or not) can; HNSW cannot, in FAISS."""
        faiss = _faiss()
        removed = np.unique(np.asarray(rows, dtype=np.int64))
        if not len(removed):
            return
        index = faiss.downcast_index(self.index)
        parts = [index]
        if isinstance(index, faiss.IndexRefine):
            parts = [faiss.downcast_index(index.base_index), faiss.downcast_index(index.refine_index)]
        for part in parts:
            try:
                ivf = faiss.extract_index_ivf(part)
            except RuntimeError:
                ivf = None
            if ivf is not None:
                ivf.set_direct_map_type(faiss.DirectMap.NoMap)  # FAISS cannot remove under an array direct map
            try:
                part.remove_ids(faiss.IDSelectorBatch(removed))
            except RuntimeError as exc:
                raise CtxEmbedError(
                    f"a FAISS {self.factory} index cannot delete vectors; rebuild the index with `ctxembed index` "
                    f"(or build it with a Flat or IVF factory, which can be updated)"
                ) from exc
            if ivf is not None:  # IVF keeps each vector's old number: number the survivors 0.. again
                _renumber(ivf, removed)
                ivf.make_direct_map()
        if isinstance(index, faiss.IndexRefine):
            index.ntotal = parts[0].ntotal

    def search(self, vectors: np.ndarray, k: int, *, allowed: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions) of each vector's top `k`, at most all; position -1 means no hit. With `allowed` (a
        `Selection` of rows), only those rows are searched, inside FAISS."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a whole number >= 1, got {k!r}")
        k = max(1, min(int(k), self.count))  # FAISS allocates n x k results
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        if allowed is None:
            return self.index.search(queries, k)
        return self.index.search(queries, k, params=self._parameters(allowed.selector))

    def selection(self, rows: np.ndarray) -> Selection:
        """The rows a filtered search may return, as a FAISS id selector."""
        return Selection(np.asarray(rows, dtype=np.int64), self.count)

    def _parameters(self, selector: Any) -> Any:
        """Search parameters that keep this index's own (nprobe, efSearch) and add `selector`."""
        faiss = _faiss()
        index = faiss.downcast_index(self.index)
        if isinstance(index, faiss.IndexRefine):
            base = self._plain_parameters(faiss.downcast_index(index.base_index), selector)
            return faiss.IndexRefineSearchParameters(k_factor=index.k_factor, base_index_params=base)
        return self._plain_parameters(index, selector)

    def _plain_parameters(self, index: Any, selector: Any) -> Any:
        faiss = _faiss()
        if isinstance(index, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=self.ef_search)
        try:
            faiss.extract_index_ivf(index)
        except RuntimeError:
            return faiss.SearchParameters(sel=selector)
        return faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)

    def stored(self, positions: np.ndarray) -> np.ndarray | None:
        """The stored (for compressed indexes, decoded) vectors at `positions`; None where FAISS keeps none."""
        try:
            return self.index.reconstruct_batch(np.asarray(positions, dtype=np.int64))
        except RuntimeError:
            return None


def _renumber(ivf: Any, removed: np.ndarray) -> None:
    """Give every vector of an IVF index the number it has once the `removed` ones are gone (ids stay in order)."""
    faiss = _faiss()
    lists = ivf.invlists
    for number in range(ivf.nlist):
        size = lists.list_size(number)
        if not size:
            continue
        ids = faiss.rev_swig_ptr(lists.get_ids(number), size).copy()
        codes = faiss.rev_swig_ptr(lists.get_codes(number), size * lists.code_size).copy()
        renumbered = ids - np.searchsorted(removed, ids)
        lists.update_entries(number, 0, size, faiss.swig_ptr(renumbered), faiss.swig_ptr(codes))
