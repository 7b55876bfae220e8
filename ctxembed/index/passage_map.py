"""Which document each dense vector belongs to: an index holds one vector a passage, and answers with documents.

`passages.npy` is an int64 array of (document position, start, end) rows, one a FAISS row, in document order,
so the passages of document i are one run of rows. An index written before passages (no such file) holds one
vector a document: the map is then the identity and a passage is the whole text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ctxembed.data import Document
from ctxembed.passages import PassageSplitter, Span, whole_documents


class PassageMap:
    """Passage rows -> documents, and each document's run of passage rows."""

    def __init__(self, rows: np.ndarray | None, documents: int) -> None:
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        self.documents = documents
        if self.rows is None:
            self.first = np.arange(documents + 1, dtype=np.int64)
        else:
            self.first = np.searchsorted(self.rows[:, 0], np.arange(documents + 1), side="left").astype(np.int64)

    def __len__(self) -> int:
        return self.documents if self.rows is None else len(self.rows)

    @property
    def split(self) -> bool:
        """Whether any document has more than one passage."""
        return len(self) > self.documents

    def documents_of(self, positions: np.ndarray) -> np.ndarray:
        """The document of each passage row."""
        positions = np.asarray(positions, dtype=np.int64)
        return positions if self.rows is None else self.rows[positions, 0]

    def passages_of(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The passage rows of each document in `docs`, flat, and where each document's run starts in it."""
        docs = np.asarray(docs, dtype=np.int64)
        starts, ends = self.first[docs], self.first[docs + 1]
        counts = ends - starts
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        flat = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
        return flat, offsets

    def span(self, passage: int | None) -> Span | None:
        """The character span of a passage row in its document's full text (None: the whole text)."""
        if passage is None or self.rows is None or not self.split:
            return None
        doc = int(self.rows[passage, 0])
        if self.first[doc + 1] - self.first[doc] == 1:
            return None  # the document is one passage
        return int(self.rows[passage, 1]), int(self.rows[passage, 2])

    def extend(self, rows: np.ndarray, documents: int) -> PassageMap:
        """This map with more rows (for documents appended after it)."""
        base = self.rows if self.rows is not None else _identity_rows(self.documents)
        return PassageMap(np.concatenate([base, rows]), self.documents + documents)

    def keep(self, kept: np.ndarray) -> PassageMap:
        """This map without the documents where `kept` is False (and their passages); the others are numbered
        0.. again, in order, as the rows of a FAISS index that removed those passages are."""
        kept = np.asarray(kept, dtype=bool)
        renumbered = np.cumsum(kept) - 1
        if self.rows is None:
            return PassageMap(None, int(kept.sum()))
        rows = self.rows[kept[self.rows[:, 0]]].copy()
        rows[:, 0] = renumbered[rows[:, 0]]
        return PassageMap(rows, int(kept.sum()))


def _identity_rows(documents: int) -> np.ndarray:
    """One row a document for a map that had none; end -1: the whole text (`span` gives None for it)."""
    return np.stack([np.arange(documents), np.zeros(documents, np.int64), np.full(documents, -1)], axis=1)


@dataclass
class EncodedChunk:
    """A chunk of documents after splitting and encoding: what the index keeps of it."""

    docs: list[Document]  # the documents with at least one passage the model could embed
    vectors: np.ndarray  # one row per kept passage
    rows: np.ndarray  # (document position, start, end) of each kept passage, positions counted from `first`
    left_out: list[str]  # ids of documents none of whose passages the model could embed
    cut: int  # passages the model read only in part (longer than its window)


def encode_chunk(
    docs: Sequence[Document],
    splitter: PassageSplitter | None,
    encode: Callable[[list[str]], np.ndarray],
    first: int,
) -> EncodedChunk:
    """Split `docs` into passages (one a document without a splitter), encode them and drop the passages the
    model cannot embed (zero rows); a document left with none is left out. Kept documents are numbered from
    `first`, the position the first of them will have in the index."""
    passages = splitter.split(docs) if splitter is not None else whole_documents(docs)
    vectors = encode(passages.texts) if passages.texts else np.zeros((0, 0), np.float32)
    embedded = np.linalg.norm(vectors, axis=1) > 0 if len(vectors) else np.zeros(0, bool)
    owners = np.asarray(passages.owners, dtype=np.int64)
    has = np.zeros(len(docs), dtype=bool)
    has[owners[embedded]] = True
    position = np.cumsum(has) - 1 + first  # each kept document's place in the index
    spans = np.asarray(passages.spans, dtype=np.int64).reshape(-1, 2)
    rows = np.column_stack([position[owners], spans])[embedded]
    kept = [d for d, h in zip(docs, has) if h]
    return EncodedChunk(kept, vectors[embedded], rows, [d.id for d, h in zip(docs, has) if not h], passages.cut)


def allowed_rows(dense: Any, passages: PassageMap, allowed: np.ndarray) -> tuple[Any, int]:
    """The FAISS selection of the passages of the `allowed` documents (a mask), and how many documents that is."""
    return dense.selection(passages.passages_of(np.flatnonzero(allowed))[0]), int(np.count_nonzero(allowed))


def top_documents(
    dense: Any,
    passages: PassageMap,
    queries: np.ndarray,
    k: int,
    margin: float = 0.0,
    allowed: Any = None,
    selection: tuple[Any, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's `k` best documents: (scores, document positions, best passage rows), each (n, k), padded
    with -inf and -1 where the index has fewer documents. A document scores as its best passage, where a passage
    after its first counts `margin` less (see `document_score_rule`).

    FAISS is asked for passages (16 k at first, then four times more) until `k` distinct documents are among them
    and, with a margin, until no document outside them could score higher, so `k` counts documents however many
    passages each has, and the scores are exact. With `allowed` (a mask over documents), only those documents'
    passages are searched, inside FAISS (`selection`: those passages already selected, by `allowed_rows`).
    """
    n = len(queries)
    total, documents = len(passages), passages.documents
    if allowed is not None or selection is not None:
        selection, documents = selection or allowed_rows(dense, passages, allowed)
        total = len(selection)
        if not documents:
            return np.full((n, 1), -np.inf, np.float32), np.full((n, 1), -1), np.full((n, 1), -1)
    k = max(1, min(int(k), documents))
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    docs = np.full((n, k), -1, dtype=np.int64)
    best = np.full((n, k), -1, dtype=np.int64)
    todo = np.arange(n)
    fetch = k if not passages.split else 16 * k
    while len(todo):
        found, positions = dense.search(queries[todo], min(fetch, total), allowed=selection)
        everything, again = fetch >= total, []
        for row, q in enumerate(todo):
            valid = positions[row] >= 0
            hits, owners = positions[row][valid], passages.documents_of(positions[row][valid])
            _, first = np.unique(owners, return_index=True)  # FAISS's order is best first: a first sighting is best
            first = np.sort(first)
            if len(first) < k and not everything:
                again.append(q)
                continue
            scored = document_scores(dense, passages, queries[q], owners[first], margin) if margin else None
            if scored is None:
                top, top_scores, top_best = owners[first[:k]], found[row][valid][first[:k]], hits[first[:k]]
            else:
                order = np.argsort(-scored[0], kind="stable")[:k]
                if not everything and len(hits) and scored[0][order[-1]] < found[row][valid][-1]:
                    again.append(q)  # a document not yet seen could still outscore the k-th
                    continue
                top, top_scores, top_best = owners[first][order], scored[0][order], scored[1][order]
            m = len(top)
            scores[q, :m], docs[q, :m], best[q, :m] = top_scores, top, top_best
        todo, fetch = np.asarray(again, dtype=np.int64), fetch * 4
    return scores, docs, best


def document_score_rule(scores: np.ndarray, offsets: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Documents' scores from their passages' (runs of `scores` starting at `offsets`): the best passage, where
    every passage but a document's first counts `margin` less, so a later passage wins only by beating the
    beginning by `margin`; and the position in `scores` of the passage that gave each score."""
    adjusted = scores - np.float32(margin)
    adjusted[offsets] = scores[offsets]
    best = np.maximum.reduceat(adjusted, offsets)
    counts = np.diff(np.append(offsets, len(scores)))
    marked = np.where(adjusted == np.repeat(best, counts), np.arange(len(scores)), len(scores))
    return best.astype(np.float32), np.minimum.reduceat(marked, offsets)


def document_scores(
    dense: Any, passages: PassageMap, query: np.ndarray, docs: np.ndarray, margin: float = 0.0
) -> tuple[np.ndarray, np.ndarray] | None:
    """Each of `docs`' score for one query (`document_score_rule`, from the stored passage vectors) and the row of
    the passage that gave it; None where the FAISS index keeps no vectors to give back."""
    flat, offsets = passages.passages_of(docs)
    if not len(flat):
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    stored = dense.stored(flat)
    if stored is None:
        return None
    best, pick = document_score_rule(stored @ query, offsets, margin)
    return best, flat[pick]
