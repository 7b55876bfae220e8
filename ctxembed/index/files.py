"""The files of a saved index: manifest checks, checksums, one build's files opened together, identity."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from ctxembed.errors import CtxEmbedError, IndexMismatchError

INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
DOCS_FILE = "docs.jsonl"
OFFSETS_FILE = "docs.offsets"  # optional: indexes written before it existed are scanned for line starts
HASHES_FILE = "docs.hashes"  # optional: each document id's 64-bit hash (updates find ids by it without a scan)
PASSAGES_FILE = "passages.npy"  # optional: indexes written before passages hold one vector a document
SPARSE_DIR = "sparse"  # optional: BM25 in bm25s's own format, for sparse and hybrid search
# What updates add beside the first build's files (`index.segments`): each update's documents and their token
# postings in a part folder, the deleted positions, and BM25's vocabulary and document frequencies of today.
PART_PREFIX = "part-"
DELETED_FILE = "deleted.npy"
VOCAB_FILE = "bm25.vocab.json"
DOC_FREQ_FILE = "bm25.doc_freq.npy"
FORMAT_VERSION = 1
MANIFEST_KEYS = ("format_version", "embedder", "factory", "count", "nprobe", "ef_search")


def relative_paths(identity: dict[str, Any], folder: str | Path) -> dict[str, str]:
    """Local model and adapter paths relative to the index folder: hints that survive moving both together."""
    out = {}
    for key in ("model", "adapter"):
        value = identity.get(key)
        if isinstance(value, str) and Path(value).is_absolute() and Path(value).exists():
            out[key] = os.path.relpath(value, Path(folder).resolve())
    return out


def open_generation(folder: Path) -> dict[str, Any]:
    """Open the three files of one saved build; an open file stays readable if a rebuild deletes it.

    A file missing because a rebuild replaced the folder between two opens raises FileNotFoundError
    (the caller opens the new build); a file missing from a build that is still there is damage.
    """
    files: dict[str, Any] = {}
    try:
        for name in (MANIFEST_FILE, INDEX_FILE, DOCS_FILE):
            try:
                files[name] = (folder / name).open("rb")
            except FileNotFoundError as exc:
                if name == MANIFEST_FILE:
                    raise CtxEmbedError(
                        f"{folder} is not a ctxembed index (no {name}); build one with `ctxembed index`"
                    ) from exc
                if _replaced(folder, files[MANIFEST_FILE]):
                    raise
                raise CtxEmbedError(f"{folder / name} is missing; rebuild the index") from exc
        try:
            files[OFFSETS_FILE] = (folder / OFFSETS_FILE).open("rb")
        except FileNotFoundError:
            if _replaced(folder, files[MANIFEST_FILE]):
                raise
            files[OFFSETS_FILE] = None
        try:
            files[PASSAGES_FILE] = (folder / PASSAGES_FILE).open("rb")
        except FileNotFoundError:
            if _replaced(folder, files[MANIFEST_FILE]):
                raise
            files[PASSAGES_FILE] = None
        try:
            files[SPARSE_DIR] = PinnedFolder(folder / SPARSE_DIR)
        except FileNotFoundError:
            if _replaced(folder, files[MANIFEST_FILE]):
                raise
            files[SPARSE_DIR] = None  # a dense-only index (or one written before hybrid search)
        for name in (HASHES_FILE, DELETED_FILE, VOCAB_FILE, DOC_FREQ_FILE):  # optional
            files[name] = (folder / name).open("rb") if (folder / name).is_file() else None
        for entry in sorted(os.listdir(folder)):
            if entry.startswith(PART_PREFIX):
                files[entry] = PinnedFolder(folder / entry)
        if _replaced(folder, files[MANIFEST_FILE]):
            raise FileNotFoundError(f"{folder} was replaced while it was opened")
    except BaseException:
        for fh in files.values():
            if fh is not None:
                fh.close()
        raise
    return files


class PinnedFolder:
    """Every file of a folder, opened at once: each stays readable (`readable_path`) even after a rebuild
    swaps the folder away and deletes it."""

    def __init__(self, path: Path) -> None:
        self.name, self.path = str(path), path
        self.files: dict[str, Any] = {}
        folder = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for entry in sorted(os.listdir(folder)):
                try:
                    fd = os.open(entry, os.O_RDONLY, dir_fd=folder)
                except IsADirectoryError:
                    continue
                self.files[entry] = os.fdopen(fd, "rb")
        except BaseException:
            self.close()
            raise
        finally:
            os.close(folder)

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        self.files = {}


def _replaced(folder: Path, manifest: Any) -> bool:
    """Whether the manifest on disk is no longer the one we opened (a rebuild swapped the folder)."""
    try:
        return os.fstat(manifest.fileno()).st_ino != (folder / MANIFEST_FILE).stat().st_ino
    except FileNotFoundError:
        return True


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
    except UnicodeDecodeError as exc:
        raise CtxEmbedError(f"{path}: not UTF-8 text; the index folder is damaged: rebuild the index") from exc
    except json.JSONDecodeError as exc:
        raise CtxEmbedError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno}); rebuild the index") from exc
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
    # Precision is how, not what: a lower one is used only after it matched fp32 on the texts at hand.
    ignored = {"adapter", "precision"}
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


def auto_factory(count: int, dim: int) -> str:
    """Exact search below 1M vectors, IVF-PQ with an SQ8 re-rank from 1M (scripts/bench_ann.py at 1M x 384:
    recall@10 0.966 at 35x exact search's queries/s in a third of its memory; HNSW32 reached 0.908 at 6.6x)."""
    if count < 1_000_000:
        return "Flat"
    lists = 2 ** round(math.log2(4 * math.sqrt(count)))
    m = next(m for m in (dim // 4, dim // 2, dim) if m and dim % m == 0 and m <= 96 or m == dim)
    return f"IVF{lists},PQ{m},Refine(SQ8)"  # PQ codes shortlist, 8-bit vectors re-rank (PQ alone: recall 0.58)
