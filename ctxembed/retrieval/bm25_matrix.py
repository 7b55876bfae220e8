"""bm25s's BM25 score matrix (Lucene variant, CSC over terms) built from streamed token ids in small arrays.

bm25s's `BM25.index` needs every document's token ids as Python lists at once: at 1M documents that is
several GiB, about 7x the dense side of an index. Here each chunk of documents keeps only its distinct
(term, count) pairs in the narrowest integer types (in memory, or spilled to a work folder), and the final
matrix is filled column by column from them. The result is the matrix bm25s's `index` builds
(`tests/test_hybrid.py` checks that they are equal).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Postings:
    """One chunk of documents: its distinct term ids and their counts, document by document."""

    terms: np.ndarray  # term id of each (document, term) pair, grouped by document
    counts: np.ndarray  # occurrences of that term in that document
    per_doc: np.ndarray  # how many distinct terms each document has

    @classmethod
    def of(cls, rows: Sequence[Sequence[int]], lengths: np.ndarray, vocab_size: int) -> Postings:
        """The postings of tokenised documents (`lengths` tokens each) whose ids are all below `vocab_size`."""
        base = max(vocab_size, 1)
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
        doc = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
        pairs, counts = np.unique(doc * base + flat, return_counts=True)  # sorted by document, then term
        return cls(
            terms=(pairs % base).astype(np.min_scalar_type(base - 1)),
            counts=counts.astype(np.min_scalar_type(int(counts.max(initial=0)))),
            per_doc=np.bincount(pairs // base, minlength=len(rows)).astype(np.int32),
        )


class PostingsSpool:
    """Postings chunk by chunk, with each term's document frequency and each document's length so far.

    With a `folder`, chunks wait on disk there (their memory is freed at once); each file is read back once,
    in order, and deleted.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.chunks: deque[Postings | Path] = deque()
        self.doc_freq = np.zeros(0, dtype=np.int64)
        self.lengths: list[np.ndarray] = []
        self.max_count = 0  # the most occurrences of one term in one document

    def add(self, rows: Sequence[Sequence[int]], vocab_size: int) -> None:
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        postings = Postings.of(rows, lengths, vocab_size)
        self.lengths.append(lengths.astype(np.int32))
        self.doc_freq = np.pad(self.doc_freq, (0, vocab_size - len(self.doc_freq)))
        self.doc_freq += np.bincount(postings.terms, minlength=vocab_size)
        self.max_count = max(self.max_count, int(postings.counts.max(initial=0)))
        if self.folder is None:
            self.chunks.append(postings)
            return
        path = self.folder / f"postings-{len(self.chunks)}.npz"
        np.savez(path, terms=postings.terms, counts=postings.counts, per_doc=postings.per_doc)
        self.chunks.append(path)

    def drain(self, *, keep: bool = False) -> Iterator[Postings]:
        """Each chunk once, in order; a chunk is dropped (its file deleted) as soon as the next is asked for,
        unless `keep` (the postings are saved beside the index after its matrix is filled)."""
        position = 0
        while position < len(self.chunks):
            if keep:
                chunk = self.chunks[position]
                position += 1
            else:
                chunk = self.chunks.popleft()
            if isinstance(chunk, Path):
                with np.load(chunk) as stored:
                    loaded = Postings(stored["terms"], stored["counts"], stored["per_doc"])
                if not keep:
                    chunk.unlink()
                chunk = loaded
            yield chunk

    def add_postings(self, postings: Postings, lengths: np.ndarray) -> None:
        """Add documents already tokenised (stored postings of an index being updated)."""
        size = int(postings.terms.max()) + 1 if len(postings.terms) else 0
        self.doc_freq = np.pad(self.doc_freq, (0, max(0, size - len(self.doc_freq))))
        self.doc_freq[:size] += np.bincount(postings.terms, minlength=size)
        self.lengths.append(np.asarray(lengths, dtype=np.int32))
        self.max_count = max(self.max_count, int(postings.counts.max(initial=0)))
        self.chunks.append(postings)


def lucene_idf(doc_freq: np.ndarray, n_docs: int) -> np.ndarray:
    """Lucene's BM25 idf of each term (0 for a term of no document), as bm25s computes it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(doc_freq > 0, np.log1p((n_docs - doc_freq + 0.5) / (doc_freq + 0.5)), 0.0)


def lucene_weight(
    idf: np.ndarray, tf: np.ndarray, length: np.ndarray | float, avg_len: float, *, k1: float, b: float
) -> np.ndarray:
    """Lucene's BM25 weight of a term that occurs `tf` times in a document of `length` tokens (bm25s's)."""
    return idf * tf / (length_norm(length, avg_len, k1=k1, b=b) + tf)


def length_norm(length: np.ndarray | float, avg_len: float, *, k1: float, b: float) -> np.ndarray:
    """The part of Lucene's BM25 denominator that depends on a document's length, not on the term."""
    return k1 * ((1 - b) + b * np.asarray(length, dtype=np.float64) / avg_len)


def average_length(spool: PostingsSpool) -> float:
    """The mean length (in tokens) of the documents in `spool`."""
    lengths = np.concatenate(spool.lengths) if spool.lengths else np.zeros(0, dtype=np.int32)
    return float(lengths.mean()) if len(lengths) else 0.0


def csc_scores(
    spool: PostingsSpool, vocab_size: int, *, k1: float, b: float, dtype: str, keep: bool = False
) -> dict[str, Any]:
    """bm25s's `scores` record (`data`, `indices`, `indptr`, `num_docs`) of the documents in `spool` (which keeps
    its chunks with `keep`), and `counts`: each entry's term count, which lets an updated index score it again
    with new corpus statistics (`bm25_segments`)."""
    doc_freq = np.pad(spool.doc_freq, (0, vocab_size - len(spool.doc_freq)))
    lengths = np.concatenate(spool.lengths) if spool.lengths else np.zeros(0, dtype=np.int32)
    n_docs = len(lengths)
    avg_len = average_length(spool)
    idf = lucene_idf(doc_freq, n_docs)
    indptr = np.concatenate([[0], np.cumsum(doc_freq)]).astype(np.int64)
    data = np.empty(int(indptr[-1]), dtype=dtype)
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    counts = np.empty(int(indptr[-1]), dtype=count_dtype(spool.max_count))
    cursor = indptr[:-1].copy()  # next free slot in each term's column
    first_doc = 0
    for chunk in spool.drain(keep=keep):
        terms = chunk.terms.astype(np.int64)
        doc = np.repeat(np.arange(first_doc, first_doc + len(chunk.per_doc), dtype=np.int64), chunk.per_doc)
        tf = chunk.counts.astype(np.float64)
        score = lucene_weight(idf[terms], tf, lengths[doc], avg_len, k1=k1, b=b)
        order = np.argsort(terms, kind="stable")  # by term, documents ascending within each term
        sorted_terms = terms[order]
        starts = np.flatnonzero(np.r_[True, sorted_terms[1:] != sorted_terms[:-1]])
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        slots = cursor[sorted_terms] + rank
        data[slots] = score[order]
        indices[slots] = doc[order]
        counts[slots] = chunk.counts[order]
        cursor += np.bincount(terms, minlength=vocab_size)
        first_doc += len(chunk.per_doc)
    return {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs, "counts": counts}


def count_dtype(largest: int) -> np.dtype:
    """The narrowest unsigned type (at least 16 bits) for term counts up to `largest`."""
    return np.dtype(np.uint16) if largest <= np.iinfo(np.uint16).max else np.dtype(np.uint32)


POSTINGS = ("terms", "counts", "per_doc", "lengths")  # postings.NAME.npy in an index's sparse folder


def write_postings(spool: PostingsSpool, target: Path) -> dict[str, str]:
    """The spool's postings as four .npy files in `target` (term ids and counts of each document's distinct terms,
    distinct terms per document, tokens per document), written chunk by chunk; their paths by name."""
    chunks = list(spool.drain(keep=True))
    sizes = {"terms": sum(len(c.terms) for c in chunks), "per_doc": sum(len(c.per_doc) for c in chunks)}
    arrays = {
        name: np.lib.format.open_memmap(target / f"postings.{name}.npy", mode="w+", dtype=dtype, shape=(size,))
        for name, dtype, size in (
            ("terms", np.uint32, sizes["terms"]),
            ("counts", np.uint32, sizes["terms"]),
            ("per_doc", np.int32, sizes["per_doc"]),
            ("lengths", np.int32, sizes["per_doc"]),
        )
    }
    at = np.zeros(2, dtype=np.int64)  # next pair, next document
    for chunk, lengths in zip(chunks, spool.lengths):
        pairs, docs = len(chunk.terms), len(chunk.per_doc)
        arrays["terms"][at[0] : at[0] + pairs] = chunk.terms
        arrays["counts"][at[0] : at[0] + pairs] = chunk.counts
        arrays["per_doc"][at[1] : at[1] + docs] = chunk.per_doc
        arrays["lengths"][at[1] : at[1] + docs] = lengths
        at += (pairs, docs)
    for array in arrays.values():
        array.flush()
    return {name: str(target / f"postings.{name}.npy") for name in POSTINGS}


def kept_postings(stored: dict[str, np.ndarray], keep: np.ndarray) -> tuple[Postings, np.ndarray]:
    """The stored postings (`write_postings`'s arrays) of the documents where `keep` is True, and their lengths."""
    per_doc = np.asarray(stored["per_doc"])
    mask = np.repeat(keep, per_doc)
    return (
        Postings(np.asarray(stored["terms"])[mask], np.asarray(stored["counts"])[mask], per_doc[keep]),
        np.asarray(stored["lengths"])[keep],
    )
