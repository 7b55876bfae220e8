"""BM25 through bm25s: one tokenizer for documents and queries, built in chunks, saved in bm25s's own format."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import quiet_logger, readable_path, sha256_of
from ctxembed.errors import CtxEmbedError
from ctxembed.retrieval.bm25_matrix import (
    Postings,
    PostingsSpool,
    average_length,
    csc_scores,
    kept_postings,
    lucene_idf,
    lucene_weight,
    write_postings,
)

COUNTS_FILE = "counts.csc.index.npy"  # each entry of bm25s's matrix: its term's count in its document

# bm25s's defaults, recorded in every manifest: lowercase, words of 2+ word characters, English stopwords.
TOKENIZER = {"lower": True, "splitter": r"(?u)\b\w\w+\b", "stopwords": "en"}


def _bm25s() -> Any:
    from ctxembed.assets import require

    return require("bm25s", "BM25: pip install 'ctxembed[eval]' (bm25s)")


def stopwords_digest() -> str:
    """A short hash of the stopword list, so a manifest tells which list tokenised its documents."""
    from bm25s.stopwords import STOPWORDS_EN

    return hashlib.sha256("\n".join(sorted(STOPWORDS_EN)).encode()).hexdigest()[:16]


def query_tokens(queries: Sequence[str]) -> list[list[str]]:
    """Queries tokenised as the documents were (token strings, for `scores` and bm25s's `retrieve`)."""
    bm25s = _bm25s()
    return bm25s.tokenize(list(queries), stopwords="en", lower=True, show_progress=False, return_ids=False)


class SparseIndex:
    """A BM25 index whose rows follow the dense index's positions (document i here is document i there)."""

    def __init__(
        self,
        model: Any,
        average_length: float | None = None,
        spool: PostingsSpool | None = None,
        counts: np.ndarray | None = None,
    ) -> None:
        self.model = model
        self.average_length = average_length  # documents' mean length in tokens (None: an index saved before it)
        self.spool = spool  # a new index's postings, saved beside it so that an update need not tokenise again
        self.counts = counts  # each matrix entry's term count (a new index's), saved as COUNTS_FILE

    @classmethod
    def build(cls, texts: Iterable[str], *, chunk_size: int = 4096, workdir: Path | None = None) -> SparseIndex:
        """Index `texts` with bm25s's tokenizer and its BM25 (Lucene) scores, in one streaming pass.

        bm25s's own `index` wants every document's token ids as Python lists at once (about 7x the memory of
        the dense side at 1M documents); this keeps each chunk's distinct (term, count) pairs in small arrays
        and fills bm25s's CSC matrix from them, giving the same matrix (a test checks it against `index`).
        With a `workdir`, those arrays wait on disk there until the matrix is filled.
        """
        return cls._from_spool(_tokenizer(), PostingsSpool(workdir), texts, chunk_size)

    @classmethod
    def updated(
        cls,
        stored: dict[str, np.ndarray],
        vocab: dict[str, int],
        keep: np.ndarray,
        texts: Iterable[str],
        *,
        chunk_size: int = 4096,
    ) -> SparseIndex:
        """The BM25 index of the documents where `keep` is True, given by their `stored` postings (the arrays
        `write_postings` saves, over every position of an index; not tokenised again) and the term ids of
        `vocab`, followed by `texts`, tokenised; idf and lengths over the result, as a fresh build of that corpus
        would give them."""
        tokenizer = _tokenizer()
        tokenizer.word_to_id = dict(vocab)
        spool = PostingsSpool()
        spool.add_postings(*kept_postings(stored, keep))
        return cls._from_spool(tokenizer, spool, texts, chunk_size)

    @classmethod
    def _from_spool(cls, tokenizer: Any, spool: PostingsSpool, texts: Iterable[str], chunk_size: int) -> SparseIndex:
        """Tokenise `texts` onto `spool` and fill bm25s's matrix from all of it."""
        bm25s = _bm25s()
        iterator = iter(texts)
        while batch := list(itertools.islice(iterator, chunk_size)):
            rows = tokenizer.tokenize(batch, update_vocab=True, return_as="ids", show_progress=False)
            spool.add(rows, len(tokenizer.get_vocab_dict()))
        model = bm25s.BM25()
        vocab = tokenizer.get_vocab_dict()
        model.scores = csc_scores(spool, len(vocab), k1=model.k1, b=model.b, dtype=model.dtype, keep=True)
        counts = model.scores.pop("counts")
        if "" not in vocab:  # as bm25s's `index` adds it
            vocab[""] = max(vocab.values(), default=-1) + 1
        model.vocab_dict = vocab
        model.nonoccurrence_array = None  # Lucene's BM25 has none
        model.unique_token_ids_set = set(vocab.values())
        return cls(model, average_length(spool), spool, counts)

    def __len__(self) -> int:
        return int(self.model.scores["num_docs"])

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for one tokenised query (zeros where no term matches, and for a query of
        stopwords only, which has no tokens)."""
        if not tokens:
            return np.zeros(len(self), dtype=np.float32)
        with quiet_logger("bm25s"):
            return np.asarray(self.model.get_scores(list(tokens)), dtype=np.float32)

    def score_texts(self, tokens: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """BM25 score of each of `texts` (documents that are not in the index) for one tokenised query, with the
        index's own statistics (idf, average length): what each would score had it been indexed in place of a
        document of the index, without changing them."""
        if self.average_length is None:
            raise CtxEmbedError("this BM25 index was saved before it recorded its average length; rebuild it")
        vocab = self.model.vocab_dict
        known = [t for t in tokens if t in vocab]
        idf = lucene_idf(self.doc_freq[[vocab[t] for t in known]], len(self))
        return unindexed_scores(known, idf, texts, self.average_length, k1=self.model.k1, b=self.model.b)

    @property
    def doc_freq(self) -> np.ndarray:
        """Each term's document frequency (by term id): the matrix holds one entry a (term, document)."""
        return np.diff(np.asarray(self.model.scores["indptr"])).astype(np.int64)

    def save(self, target: Path) -> dict[str, Any]:
        """Write bm25s's .npy + JSON files (no pickle) into the folder `target`; return the manifest's record."""
        with quiet_logger("bm25s"):
            self.model.save(str(target), allow_pickle=False, show_progress=False)
        if self.counts is not None:
            np.save(target / COUNTS_FILE, self.counts)
        files = {p.name: sha256_of(p) for p in sorted(target.iterdir()) if p.is_file()}
        postings = {}
        if self.spool is not None:
            postings = {name: sha256_of(Path(path)) for name, path in write_postings(self.spool, target).items()}
        return {
            **({"postings": postings} if postings else {}),
            "kind": "bm25",
            "count": len(self),
            "tokenizer": {**TOKENIZER, "stopwords_sha": stopwords_digest()},
            "files": files,
            **({"average_length": self.average_length} if self.average_length is not None else {}),
        }

    @classmethod
    def load(cls, files: dict[str, Any], record: dict[str, Any], *, shown: Path) -> SparseIndex:
        """Load bm25s's files (open handles of one build's `sparse/`), each checked against the manifest."""
        bm25s = _bm25s()
        expected = record.get("files")
        if not isinstance(expected, dict) or not expected:
            raise CtxEmbedError(f"{shown}: the manifest's 'sparse' record lists no files; rebuild the index")
        paths = {}
        for name, digest in expected.items():
            if name not in files:
                raise CtxEmbedError(f"{shown / name} is missing; rebuild the index (or search with --mode dense)")
            if sha256_of(files[name]) != digest:
                raise CtxEmbedError(
                    f"{shown / name} does not match its checksum in the manifest: it is damaged; rebuild the index "
                    f"(or search with --mode dense)"
                )
            paths[name] = readable_path(files[name])
        names = {"data_name": "data.csc.index.npy", "indices_name": "indices.csc.index.npy"}
        names.update(indptr_name="indptr.csc.index.npy", vocab_name="vocab.index.json", params_name="params.index.json")
        nnoc = "nonoccurrence_array.index.npy"
        try:
            with quiet_logger("bm25s"):  # absolute paths: os.path.join ignores the folder
                model = bm25s.BM25.load(
                    ".",
                    **{key: paths.get(name, str(shown / name)) for key, name in names.items()},
                    nnoc_name=paths.get(nnoc, str(shown / nnoc)),
                    mmap=True,
                    show_progress=False,
                    allow_pickle=False,
                )
        except (ValueError, OSError, KeyError) as exc:
            raise CtxEmbedError(f"{shown}: bm25s cannot read the sparse index ({exc}); rebuild the index") from exc
        return cls(model, record.get("average_length"))


def text_postings(texts: Sequence[str], vocab: dict[str, int]) -> tuple[Postings, np.ndarray, dict[str, int]]:
    """The postings and lengths of `texts` tokenised as every index is, with the term ids of `vocab` (new words
    get new ids), and the vocabulary with them."""
    tokenizer = _tokenizer()
    tokenizer.word_to_id = dict(vocab)
    rows = tokenizer.tokenize(list(texts), update_vocab=True, return_as="ids", show_progress=False)
    vocab = dict(tokenizer.get_vocab_dict())
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    return Postings.of(rows, lengths, len(vocab)), lengths.astype(np.int32), vocab


def unindexed_scores(
    known: Sequence[str], idf: np.ndarray, texts: Sequence[str], average_length: float, *, k1: float, b: float
) -> np.ndarray:
    """BM25 score of each of `texts` for a query of the index's `known` tokens (of idf `idf`), as documents of an
    index of mean length `average_length`."""
    out = np.zeros(len(texts), dtype=np.float32)
    for i, words in enumerate(query_tokens(texts)):
        counts = Counter(words)
        tf = np.array([counts.get(t, 0) for t in known], dtype=np.float64)
        if tf.any():
            out[i] = lucene_weight(idf, tf, len(words), average_length, k1=k1, b=b).sum()
    return out


def _tokenizer() -> Any:
    """bm25s's tokenizer with the settings every index records (`TOKENIZER`)."""
    _bm25s()
    from bm25s.tokenization import Tokenizer

    return Tokenizer(lower=TOKENIZER["lower"], splitter=TOKENIZER["splitter"], stopwords=TOKENIZER["stopwords"])


def bm25_index(texts: Sequence[str]) -> SparseIndex:
    """An in-memory BM25 index over `texts` (the BM25 baseline's and the pseudo-label teacher's)."""
    return SparseIndex.build(texts)
