"""Streaming, resumable index builds: encode a chunk, add it, checkpoint; `resume` continues a killed build.

Documents go straight from the corpus reader to `docs.jsonl` (with their offsets), so memory holds
the FAISS index, one chunk, and 8 bytes a document (a hash of its id, for the uniqueness check).
Checkpoints live in `.OUT.partial/` beside the output: numbered FAISS and id files plus a state
file that names the last complete one, so a kill at any moment leaves a consistent checkpoint.
The finished folder is swapped in atomically, as every index save is.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import random
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import atomic_dir, atomic_file, check_output_folder, remove_path
from ctxembed.data import Document
from ctxembed.errors import CorpusError, CtxEmbedError
from ctxembed.index.checks import check_unique, cut_message, left_out_message, nothing_indexed
from ctxembed.index.files import HASHES_FILE, auto_factory, check_identity
from ctxembed.index.passage_map import PassageMap, encode_chunk
from ctxembed.index.persist import write_folder
from ctxembed.index.store import DOCS_FILE, OFFSETS_FILE, DocStore, DocStoreWriter
from ctxembed.index.vectors import DenseVectors
from ctxembed.passages import PassageSettings, PassageSplitter
from ctxembed.retrieval.fusion import FusionSettings
from ctxembed.types import Embedder

STATE_FILE = "progress.json"


@dataclass(frozen=True)
class BuildProgress:
    """Where a build stands, for progress lines."""

    read: int  # documents taken from the corpus, including those before a resume
    resumed_from: int  # documents that a resumed build did not read again (0: a fresh build)
    total: int | None = None  # documents in the corpus, when known


def partial_folder(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def reservoir_sample(docs: Iterable[Document], size: int, seed: int) -> tuple[list[Document], int]:
    """A seeded uniform sample of `size` documents (algorithm R) and how many documents there were."""
    rng = random.Random(seed)
    sample: list[Document] = []
    count = 0
    for count, doc in enumerate(docs, start=1):
        if len(sample) < size:
            sample.append(doc)
        elif (j := rng.randrange(count)) < size:
            sample[j] = doc
    return sample, count


class _Checkpoint:
    """The numbered checkpoint files of a partial build and the state file naming the newest."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self) -> dict[str, Any] | None:
        path = self.folder / STATE_FILE
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CtxEmbedError(f"{path} is damaged; run again without --resume to start over") from exc

    def write(
        self, vectors: DenseVectors, ids: np.ndarray, rows: np.ndarray, writer: DocStoreWriter, state: dict[str, Any]
    ) -> None:
        generation = state["generation"] + 1
        vectors.write(self.folder / f"index.{generation}.faiss")
        np.save(self.folder / f"ids.{generation}.npy", ids)
        np.save(self.folder / f"passages.{generation}.npy", rows)
        state["count"], state["size"] = writer.checkpoint()
        state["generation"] = generation
        with atomic_file(self.folder / STATE_FILE) as fh:
            json.dump(state, fh)
        for old in (f"index.{generation - 1}.faiss", f"ids.{generation - 1}.npy", f"passages.{generation - 1}.npy"):
            (self.folder / old).unlink(missing_ok=True)


def write_index(
    embedder: Embedder,
    corpus: Callable[[], Iterable[Document]],
    out: str | Path,
    *,
    factory: str = "Flat",
    nprobe: int = 16,
    ef_search: int = 64,
    batch_size: int = 64,
    chunk_size: int = 4096,
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_seconds: float = 60.0,
    seed: int = 0,
    source: str | None = None,
    encode: Callable[[list[str]], np.ndarray] | None = None,
    on_progress: Callable[[BuildProgress], None] | None = None,
    sparse: bool = False,
    fusion: FusionSettings | None = None,
    passages: PassageSettings | None = None,
    before_publish: Callable[[Path], None] | None = None,
) -> Path:
    """Index the documents `corpus()` yields into folder `out`, chunk by chunk; return `out`.

    Documents longer than `passages.max_tokens` of the model's tokens are split into passages (`passages.mode:
    auto`, the default), each one vector; search scores a document by its best passage.

    With `sparse`, the folder also holds BM25 over the same documents, for sparse and hybrid search
    (`fusion` says how hybrid search combines the sides; it is recorded in the manifest).

    `factory: auto` chooses by corpus size; a factory that needs training is trained on a seeded
    random sample of the corpus. `corpus` is called again for each pass (count, sample, build), so it
    must yield the same documents each time, as a file reader does. `source` describes the corpus
    (e.g. path, size and mtime); a resume with another refuses to mix two corpora. `encode` replaces
    `embedder.encode_documents` (e.g. a `ctxembed.index.ray.RayEncoder`); it must give the same vectors.
    `before_publish` gets the finished folder before it is swapped in (it may rewrite its manifest).
    """
    if encode is None:

        def encode(texts: list[str]) -> np.ndarray:
            return embedder.encode_documents(texts, batch_size=batch_size)

    out = Path(out)
    check_output_folder(out, overwrite)  # before any work: a refused output leaves nothing behind
    splitter = passage_splitter(embedder, passages or PassageSettings())
    split_record = splitter.record() if splitter is not None else {"mode": "none", "reason": "no token counter"}
    partial = partial_folder(out)
    checkpoints = _Checkpoint(partial)
    state = checkpoints.read() if resume else None
    if state is None and partial.exists():
        shutil.rmtree(partial)  # a stale interrupted build that was not asked to resume
    if state is not None and state.get("source") != source:
        raise CtxEmbedError(
            f"cannot resume {out}: the corpus changed since the interrupted build ({state.get('source')} -> "
            f"{source}); run again without --resume"
        )
    if state is not None and state.get("passages") != split_record:
        raise CtxEmbedError(
            f"cannot resume {out}: the passage settings changed since the interrupted build "
            f"({state.get('passages')} -> {split_record}); run again without --resume"
        )
    if state is None:
        total = sum(1 for _ in corpus())  # one cheap pass: the count, for `auto` and the ETA
        if not total:
            raise CorpusError("the corpus holds no documents (every line or file is empty); check corpus.path")
        factory = auto_factory(total, embedder.dim) if factory == "auto" else factory
        vectors = DenseVectors.create(embedder.dim, factory, nprobe=nprobe, ef_search=ef_search)
        partial.mkdir(parents=True)
        if vectors.needs_training:
            try:
                sample, _ = reservoir_sample(corpus(), vectors.training_size(), seed)
                vectors.train(encode_chunk(sample, splitter, encode, 0).vectors[: vectors.training_size()])
            except BaseException:
                remove_path(partial)
                raise
        state = {"embedder": embedder.identity(), "factory": factory, "source": source, "read": 0, "count": 0}
        state.update(size=0, skipped=[], generation=0, total=total, passages=split_record, cut=0)
        writer, ids = DocStoreWriter(partial), np.zeros(0, dtype=np.int64)
        rows = [np.zeros((0, 3), dtype=np.int64)]
    else:
        check_identity(state["embedder"], embedder.identity(), partial)
        generation = state["generation"]
        checkpoint = partial / f"index.{generation}.faiss"
        vectors = DenseVectors.read(checkpoint, factory=state["factory"], nprobe=nprobe, ef_search=ef_search)
        ids = np.load(partial / f"ids.{generation}.npy")
        rows = [np.load(partial / f"passages.{generation}.npy")]
        writer, total = DocStoreWriter(partial, resume=(state["count"], state["size"])), state.get("total")
    resumed_from, last_checkpoint = state["read"], time.perf_counter()
    try:
        reader = itertools.islice(iter(corpus()), state["read"], None)
        for chunk in _chunks(reader, chunk_size):
            ids = check_unique(chunk, ids)
            encoded = encode_chunk(chunk, splitter, encode, writer.count)
            state["skipped"].extend(encoded.left_out)
            state["cut"] += encoded.cut
            if encoded.docs:
                vectors.add(encoded.vectors)
                writer.add(encoded.docs)
                rows.append(encoded.rows)
            state["read"] += len(chunk)
            if time.perf_counter() - last_checkpoint >= checkpoint_seconds:
                rows = [np.concatenate(rows)]
                checkpoints.write(vectors, ids, rows[0], writer, state)
                last_checkpoint = time.perf_counter()
            if on_progress:
                on_progress(BuildProgress(state["read"], resumed_from, total))
        if not writer.count:
            raise nothing_indexed(state["read"])
        if state["skipped"]:
            warnings.warn(left_out_message(state["skipped"]), stacklevel=2)
        if state["cut"]:
            warnings.warn(cut_message(state["cut"], split_record), stacklevel=2)
        writer.close()
    except BaseException as exc:
        writer.abandon()
        if not _keep_for_resume(exc, partial):
            remove_path(partial)
        raise
    try:
        passage_map = PassageMap(np.concatenate(rows), writer.count)
        _publish(embedder, vectors, passage_map, state, partial, (out, overwrite), sparse, fusion, before_publish)
        return out
    except Exception:
        remove_path(partial)  # the checkpoint was already retired: nothing to resume from
        raise


def _keep_for_resume(exc: BaseException, partial: Path) -> bool:
    """Keep a partial build that `--resume` can continue: after an interrupt (Ctrl-C) or a failure that is not
    the input's (e.g. out of memory) once a checkpoint exists; not on a full disk, where leftovers make it worse."""
    if isinstance(exc, CtxEmbedError) or (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)):
        return False  # a resume would meet the same input error, or the same full disk
    return not isinstance(exc, Exception) or (partial / STATE_FILE).exists()


def _chunks(docs: Iterator[Document], size: int) -> Iterator[list[Document]]:
    while chunk := list(itertools.islice(docs, size)):
        yield chunk


def _stored_texts(folder: Path) -> Iterator[str]:
    """The full text of each document in `folder`'s store, in index order (BM25's second pass)."""
    with (folder / DOCS_FILE).open("rb") as docs, (folder / OFFSETS_FILE).open("rb") as offsets:
        for doc in DocStore.open(docs, offsets, folder / DOCS_FILE):
            yield doc.full_text


def passage_splitter(embedder: Embedder, settings: PassageSettings) -> PassageSplitter | None:
    """The splitter for `embedder`'s window (None where the model cannot count its tokens)."""
    window = embedder.text_window()
    return None if window is None else PassageSplitter(window, settings)


def _publish(
    embedder: Embedder,
    vectors: DenseVectors,
    passage_map: PassageMap,
    state: dict[str, Any],
    partial: Path,
    target: tuple[Path, bool],
    sparse: bool,
    fusion: FusionSettings | None,
    before_publish: Callable[[Path], None] | None,
) -> None:
    """Write the final FAISS file and manifest beside the streamed documents (and, with `sparse`, BM25 over
    them: a second pass over docs.jsonl, after the vectors are written and dropped), and swap the folder in."""
    out, overwrite = target
    (partial / STATE_FILE).unlink(missing_ok=True)  # from here on the build is no longer resumable, only repeatable
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for name in (DOCS_FILE, OFFSETS_FILE, HASHES_FILE):
            if name != HASHES_FILE or (partial / name).exists():
                os.replace(partial / name, tmp / name)
        texts = (lambda: _stored_texts(tmp)) if sparse else None
        write_folder(
            tmp,
            out,
            embedder,
            vectors,
            state["skipped"],
            fusion or FusionSettings(),
            passages=(passage_map, {**state["passages"], "cut": state["cut"]}),
            sparse_texts=texts,
        )
        if before_publish is not None:
            before_publish(tmp)
    shutil.rmtree(partial, ignore_errors=True)
