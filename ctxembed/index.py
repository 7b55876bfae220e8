"""`VectorIndex`: FAISS maximum-inner-product search over any `Embedder`'s vectors."""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import atomic_dir
from ctxembed.data import Document
from ctxembed.errors import CtxEmbedError, EmptyTextError, IndexMismatchError
from ctxembed.types import Embedder, SearchResult

INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
DOCS_FILE = "docs.jsonl"
FORMAT_VERSION = 1
MANIFEST_KEYS = ("format_version", "embedder", "factory", "count", "nprobe", "ef_search")


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
            ) from None
        self.nprobe = nprobe
        self.ef_search = ef_search
        self.docs: list[Document] = []
        self.skipped: list[str] = []
        self._apply_search_params()

    def _apply_search_params(self) -> None:
        faiss = _faiss()
        inner = self.faiss_index
        if "IVF" in self.factory:
            faiss.extract_index_ivf(inner).nprobe = self.nprobe
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = self.ef_search

    @classmethod
    def build(
        cls,
        embedder: Embedder,
        docs: Sequence[Document],
        *,
        factory: str = "Flat",
        batch_size: int = 64,
        show_progress: bool = False,
        **params: Any,
    ) -> VectorIndex:
        """Embed `docs` and index them; refuses a corpus of which no document could be embedded."""
        index = cls(embedder, factory=factory, **params)
        index.add(docs, batch_size=batch_size, show_progress=show_progress)
        if docs and not len(index):
            raise EmptyTextError(
                f"none of the {len(docs)} documents has a word the model knows, so the index would be empty; "
                f"check the corpus language and encoding, or use vectors that cover it"
            )
        return index

    def __len__(self) -> int:
        return len(self.docs)

    def add(self, docs: Sequence[Document], *, batch_size: int = 64, show_progress: bool = False) -> None:
        """Embed and append documents; documents with no known word are skipped with a warning."""
        known = {d.id for d in self.docs}
        for doc in docs:
            if doc.id in known:
                raise CtxEmbedError(f"document id {doc.id!r} is already in the index; ids must be unique")
            known.add(doc.id)
        vectors = self.embedder.encode_documents(
            [d.full_text for d in docs], batch_size=batch_size, show_progress=show_progress
        )
        empty = np.linalg.norm(vectors, axis=1) == 0
        if empty.any():
            skipped = [d.id for d, e in zip(docs, empty) if e]
            self.skipped.extend(skipped)
            warnings.warn(
                f"{len(skipped)} document(s) have no word the model knows and were left out of the "
                f"index (ids: {', '.join(skipped[:5])}{', ...' if len(skipped) > 5 else ''})",
                stacklevel=2,
            )
            docs = [d for d, e in zip(docs, empty) if not e]
            vectors = vectors[~empty]
        if not len(docs):
            return
        if not self.faiss_index.is_trained:
            self._train(vectors)
        self.faiss_index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.docs.extend(docs)

    def _train(self, vectors: np.ndarray) -> None:
        try:
            self.faiss_index.train(np.ascontiguousarray(vectors, dtype=np.float32))
        except RuntimeError as exc:
            raise CtxEmbedError(
                f"cannot train FAISS index {self.factory!r} on {len(vectors)} vectors "
                f"({str(exc).strip().splitlines()[-1]}); use fewer IVF lists or the exact Flat index"
            ) from None

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

    def search(self, queries: str | Sequence[str], k: int = 10) -> list[list[SearchResult]]:
        """Top-`k` hits for each query, best first."""
        if isinstance(queries, str):
            queries = [queries]
        scores, positions = self.search_vectors(self.encode_queries(queries), k)
        return [
            [
                SearchResult(self.docs[p].id, float(s), self.docs[p].full_text)
                for s, p in zip(row_scores, row_pos)
                if p >= 0
            ]
            for row_scores, row_pos in zip(scores, positions)
        ]

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
            "count": len(self.docs),
            "skipped": self.skipped,
        }

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write `index.faiss`, `manifest.json` and `docs.jsonl` into `folder`, atomically."""
        faiss = _faiss()
        with atomic_dir(folder, overwrite=overwrite) as tmp:
            faiss.write_index(self.faiss_index, str(tmp / INDEX_FILE))
            checksum = _sha256(tmp / INDEX_FILE)
            with (tmp / DOCS_FILE).open("w", encoding="utf-8") as fh:
                for doc in self.docs:
                    fh.write(
                        json.dumps({"_id": doc.id, "title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n"
                    )
            manifest = {**self.manifest(), "index_sha256": checksum, "relative_paths": _relative_paths(self, folder)}
            (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        return Path(folder)

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
                files = _open_generation(folder)
            except FileNotFoundError:
                if attempt:
                    raise
                continue  # a rebuild removed this generation between two opens: read the new one
            try:
                return cls._load(folder, files, embedder)
            finally:
                for fh in files.values():
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
        if expected and _sha256(vectors) != expected:
            raise CtxEmbedError(
                f"{path} does not match the checksum in {MANIFEST_FILE}: it is damaged; rebuild the index"
            )
        try:
            index.faiss_index = faiss.read_index(_readable_path(vectors))
        except RuntimeError:
            raise CtxEmbedError(f"{path} is empty or not a readable FAISS index; rebuild the index") from None
        if index.faiss_index.d != embedder.dim:
            raise CtxEmbedError(
                f"{path} holds {index.faiss_index.d}-d vectors but the manifest's model gives {embedder.dim}-d; "
                f"the folder mixes two indexes: rebuild it"
            )
        index.docs = list(_read_docs(files[DOCS_FILE], shown=folder / DOCS_FILE))
        if len(index.docs) != index.faiss_index.ntotal or len(index.docs) != manifest["count"]:
            raise CtxEmbedError(
                f"{folder} is inconsistent: {index.faiss_index.ntotal} vectors, {len(index.docs)} documents, "
                f"manifest count {manifest['count']}; rebuild the index"
            )
        index._apply_search_params()
        return index


def _relative_paths(index: VectorIndex, folder: str | Path) -> dict[str, str]:
    """Local model and adapter paths relative to the index folder: hints that survive moving both together."""
    identity = index.embedder.identity()
    out = {}
    for key in ("model", "adapter"):
        value = identity.get(key)
        if isinstance(value, str) and Path(value).is_absolute() and Path(value).exists():
            out[key] = os.path.relpath(value, Path(folder).resolve())
    return out


def _open_generation(folder: Path) -> dict[str, Any]:
    """Open the three files of one saved build; an open file stays readable if a rebuild deletes it."""
    files: dict[str, Any] = {}
    try:
        for name in (MANIFEST_FILE, INDEX_FILE, DOCS_FILE):
            try:
                files[name] = (folder / name).open("rb")
            except FileNotFoundError:
                if not folder.is_dir() or name == MANIFEST_FILE and not files:
                    raise CtxEmbedError(
                        f"{folder} is not a ctxembed index (no {name}); build one with `ctxembed index`"
                    ) from None
                if (folder / MANIFEST_FILE).is_file() and name != MANIFEST_FILE:
                    _check_same_build(folder, files)
                    raise CtxEmbedError(f"{folder / name} is missing; rebuild the index") from None
                raise
    except BaseException:
        for fh in files.values():
            fh.close()
        raise
    return files


def _check_same_build(folder: Path, files: dict[str, Any]) -> None:
    """Raise FileNotFoundError (retry) when the folder on disk is no longer the build we opened."""
    if os.fstat(files[MANIFEST_FILE].fileno()).st_ino != (folder / MANIFEST_FILE).stat().st_ino:
        raise FileNotFoundError(folder)


def _readable_path(fh: Any) -> str:
    """A path that reopens the file behind `fh`, even if it was deleted since (Linux); else its name."""
    proc = Path(f"/proc/self/fd/{fh.fileno()}")
    return str(proc) if proc.exists() else fh.name


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and check `manifest.json` of a saved index folder."""
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise CtxEmbedError(f"{folder} is not a ctxembed index (no {MANIFEST_FILE}); build one with `ctxembed index`")
    return parse_manifest(path.read_bytes(), path)


def parse_manifest(raw: bytes, path: Path) -> dict[str, Any]:
    """Check the bytes of a manifest; errors name `path` and say to rebuild."""
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CtxEmbedError(f"{path}: not UTF-8 text; the index folder is damaged: rebuild the index") from None
    except json.JSONDecodeError as exc:
        raise CtxEmbedError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno}); rebuild the index") from None
    if not isinstance(manifest, dict):
        raise CtxEmbedError(f"{path}: expected a JSON object, got {type(manifest).__name__}; rebuild the index")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise CtxEmbedError(f"{path}: missing key(s) {', '.join(missing)}; the manifest is damaged: rebuild the index")
    if not isinstance(manifest["embedder"], dict) or not isinstance(manifest["count"], int):
        raise CtxEmbedError(f"{path}: 'embedder' must be an object and 'count' a number; rebuild the index")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CtxEmbedError(
            f"{path}: index format {manifest.get('format_version')!r} is not {FORMAT_VERSION}; rebuild the index"
        )
    return manifest


def describe_identity(identity: dict[str, Any]) -> str:
    """A one-line name for an embedder identity, for messages."""
    text = f"{identity.get('backend')} model {identity.get('model')!r}"
    if identity.get("adapter"):
        text += f" + adapter {identity['adapter']!r}"
    return text


def check_identity(recorded: dict[str, Any], current: dict[str, Any], folder: Path) -> None:
    """Refuse an embedder whose identity differs from the one recorded in a manifest."""
    # Paths are hints: a moved or copied model or adapter with the same content (fingerprint) is the same.
    ignored = {"adapter"}
    if recorded.get("fingerprint") and recorded.get("fingerprint") == current.get("fingerprint"):
        ignored.add("model")
    keys = sorted((set(recorded) | set(current)) - ignored)
    differing = [key for key in keys if recorded.get(key) != current.get(key)]
    if differing:
        raise IndexMismatchError(
            f"index {folder} was built with {describe_identity(recorded)} but is queried with "
            f"{describe_identity(current)} (differing: {', '.join(differing)}); query it with the model "
            f"it was built with, or rebuild it with `ctxembed index`"
        )


def _read_docs(fh: Any, *, shown: Path) -> Iterable[Document]:
    for lineno, raw in enumerate(fh, start=1):
        try:
            row = json.loads(raw.decode("utf-8"))
            doc = Document(row["_id"], row["text"], row.get("title", ""))
            if not all(isinstance(v, str) for v in (doc.id, doc.text, doc.title)):
                raise TypeError
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise CtxEmbedError(
                f"{shown}, line {lineno}: not a JSON object with string '_id' and 'text'; the index folder is "
                f"damaged: rebuild it"
            ) from None
        yield doc


def _sha256(source: Path | Any) -> str:
    """Hex SHA-256 of a file, given by path or as an open binary file (read from the start)."""
    import hashlib

    digest = hashlib.sha256()
    fh = source.open("rb") if isinstance(source, Path) else source
    try:
        fh.seek(0)
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    finally:
        if isinstance(source, Path):
            fh.close()
    return digest.hexdigest()


_FACTORY_NUMBER = re.compile(r"(HNSW|IVF|PQ|NSG)(\d+)")


def check_factory(factory: str) -> None:
    """Refuse factory strings that FAISS accepts but that abort, fail later or clash with ctxembed's ids."""
    if not isinstance(factory, str) or not factory.strip():
        raise CtxEmbedError("index.factory must be a FAISS factory string such as Flat, HNSW32 or IVF256,Flat")
    if "IDMap" in factory:
        raise CtxEmbedError(f"index.factory {factory!r}: drop 'IDMap'; ctxembed keeps document ids itself")
    for kind, number in _FACTORY_NUMBER.findall(factory):
        if int(number) < (2 if kind in ("HNSW", "NSG") else 1):
            raise CtxEmbedError(
                f"index.factory {factory!r}: {kind}{number} is not a usable size; try Flat, HNSW32 or IVF256,Flat"
            )
