"""`StaticEmbedder`: documents as pooled word vectors from gensim `KeyedVectors`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ctxembed.static.words import tokenize, window_text
from ctxembed.types import Backend, Pooling, SymmetricEncoding

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from ctxembed.passages import TextWindow


@dataclass
class OOVStats:
    """Counts of what the embedder could and could not look up in some texts (`StaticEmbedder.oov_stats`)."""

    tokens: int = 0
    oov_tokens: int = 0
    empty_texts: int = 0


class StaticEmbedder(SymmetricEncoding):
    """Mean or SIF-weighted average of word vectors, L2-normalised.

    Out-of-vocabulary tokens are skipped (`oov_stats` counts them). A text with no
    known token becomes a row of zeros, which `VectorIndex` refuses to index.
    Hyphenated or dotted tokens that the vocabulary lacks are split into parts.
    SIF weights a/(a + p(w)) use `word_counts` (a `.vocab` file beside the vectors, which
    `ctxembed finetune` writes from the domain corpus) or, without counts, p(w) estimated
    from the word's rank in the vector file.
    """

    IDENTITY_KEYS = ("model", "pooling", "lowercase")  # what `from_identity` reads from a manifest

    def __init__(
        self,
        vectors: KeyedVectors,
        *,
        name: str,
        pooling: Pooling | str = Pooling.MEAN,
        sif_a: float = 1e-3,
        lowercase: bool = True,
        context_window: int = 0,
        word_counts: Mapping[str, int] | None = None,
    ) -> None:
        self.kv = vectors
        self.context_window = context_window
        self.name = name
        self.pooling = Pooling(pooling)
        self.sif_a = sif_a
        self.lowercase = lowercase
        self._fingerprint: str | None = None
        self._subwords = hasattr(vectors, "buckets_word") and getattr(vectors, "bucket", 0) > 0  # fastText
        self.word_counts = dict(word_counts) if word_counts else None
        self._sif_weights = (sif_a / (sif_a + self._word_probabilities())).astype(np.float32)
        self._unseen_weight = float(self._sif_weights.max()) if len(self._sif_weights) else 1.0  # the rarest

    def _word_probabilities(self) -> np.ndarray:
        """SIF's p(w): from `word_counts` (the domain corpus) when given, else estimated from rank."""
        if self.word_counts:
            counts = np.array([self.word_counts.get(w, 0) for w in self.kv.index_to_key], dtype=np.float64)
            return counts / max(counts.sum(), 1.0)
        # Vector files list words by falling frequency; without real counts,
        # Zipf's law p(rank r) ~ 1 / (r * H_n) estimates the word probability.
        ranks = np.arange(1, len(self.kv.index_to_key) + 1, dtype=np.float64)
        return 1.0 / (ranks * np.log(len(ranks) + 1))

    def count_words(self, texts: Iterable[str]) -> dict[str, int]:
        """How often each vocabulary word is pooled over `texts`: `word_counts` for SIF on that corpus."""
        ids = [np.asarray(self._lookup(text)[0], dtype=np.int64) for text in texts]
        counts = np.bincount(np.concatenate(ids) if ids else np.zeros(0, np.int64), minlength=len(self.kv))
        return {self.kv.index_to_key[i]: int(counts[i]) for i in np.flatnonzero(counts)}

    def with_word_counts(self, word_counts: Mapping[str, int] | None) -> StaticEmbedder:
        """The same vectors with SIF weights from these corpus counts (None: estimated from rank)."""
        return StaticEmbedder(
            self.kv,
            name=self.name,
            pooling=self.pooling,
            sif_a=self.sif_a,
            lowercase=self.lowercase,
            context_window=self.context_window,
            word_counts=word_counts,
        )

    @classmethod
    def from_config(cls, config: Any) -> StaticEmbedder:
        """Build from a `StaticConfig` naming word vectors (the registry sends model2vec folders elsewhere)."""
        from ctxembed.static.vectors import load_vectors, load_word_counts

        kv, name = load_vectors(config.vectors, trust_pickle=config.trust_pickle)
        counts = load_word_counts(config.vectors)
        return cls(
            kv, name=name, pooling=config.pooling, sif_a=config.sif_a, lowercase=config.lowercase, word_counts=counts
        )

    @property
    def dim(self) -> int:
        return int(self.kv.vector_size)

    def oov_stats(self, texts: Iterable[str]) -> OOVStats:
        """How many tokens of `texts` the vectors miss, and how many texts have no known word at all."""
        stats = OOVStats()
        for text in texts:
            ids, composed, missed = self._lookup(text, count=True)
            stats.tokens += len(tokenize(text, lowercase=self.lowercase))
            stats.oov_tokens += missed
            stats.empty_texts += not ids and not composed
        return stats

    def _lookup(self, text: str, *, count: bool = False) -> Any:
        """Known tokens' indices, and vectors composed from subwords for unknown ones (fastText); with `count`,
        also how many tokens were neither."""
        ids: list[int] = []
        missed = 0
        composed: list[np.ndarray] = []
        tokens = tokenize(text, lowercase=self.lowercase)
        for token in tokens:
            index = self.kv.key_to_index.get(token)
            if index is not None:
                ids.append(index)
                continue
            parts = [self.kv.key_to_index.get(p) for p in re.split(r"[-'.]", token) if p]
            known = [p for p in parts if p is not None]
            ids.extend(known)
            if known:
                continue
            if self._subwords and token in self.kv:  # fastText: any of its character n-grams is known
                composed.append(self.kv.get_vector(token))
            else:
                missed += 1
        return (ids, composed, missed) if count else (ids, composed)

    def _pool(self, ids: list[int], composed: Sequence[np.ndarray] = ()) -> np.ndarray:
        if not ids and not len(composed):
            return np.zeros(self.dim, dtype=np.float32)
        vecs = self.kv.vectors[ids]
        weights = self._sif_weights[ids] if self.pooling == Pooling.SIF else np.ones(len(ids), dtype=np.float32)
        if len(composed):  # an unseen word is as rare as the rarest known one
            vecs = np.vstack([vecs, np.asarray(composed, dtype=np.float32)])
            rare = self._unseen_weight if self.pooling == Pooling.SIF else 1.0
            weights = np.concatenate([weights, np.full(len(composed), rare, dtype=np.float32)])
        vec = weights @ vecs
        norm = float(np.linalg.norm(vec))
        return (vec / norm if norm > 0 else vec).astype(np.float32)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """One L2-normalised row per text; zeros where a text has no known word."""
        from tqdm.auto import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(tqdm(texts, desc="encode (static)", disable=not show_progress)):
            out[i] = self._pool(*self._lookup(text))
        return out

    def encode_spans(self, items: Sequence[tuple[str, tuple[int, int]]], *, batch_size: int = 32) -> np.ndarray:
        """The word vector at each span (with `context_window`, the mean over it and its neighbours)."""
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for i, (text, span) in enumerate(items):
            out[i] = self.encode_in_context(text, span)
        return out

    def word_vectors(self) -> KeyedVectors:
        """The vectors themselves: lexical benchmarks apply."""
        return self.kv

    def context_window_variant(self, window: int) -> StaticEmbedder | None:
        """The same vectors averaged over `window` words each side of a target word (a polysemy baseline)."""
        return self.with_context_window(window) if window > 0 else None

    def held_out_documents(self) -> None:
        """Word vectors are not trained on query-document pairs."""
        return None

    def text_window(self) -> TextWindow:
        """Word vectors read a text of any length; passages are counted in words."""
        from ctxembed.passages import word_window

        return word_window()

    @classmethod
    def from_identity(cls, identity: dict[str, Any], *, device: str | None = None) -> StaticEmbedder:
        """The embedder an index manifest records (the index then checks its fingerprint)."""
        from ctxembed.config import StaticConfig

        config = StaticConfig(
            vectors=identity["model"],
            pooling=identity["pooling"],
            sif_a=identity.get("sif_a", 1e-3),
            lowercase=identity["lowercase"],
        )
        return cls.from_config(config)

    def encode_in_context(self, text: str, span: tuple[int, int]) -> np.ndarray:
        """The word's own vector; with `context_window` N, the mean over it and N words each side."""
        if self.context_window <= 0:
            return self._pool(*self._lookup(text[span[0] : span[1]]))
        return self._pool(*self._lookup(window_text(text, span, self.context_window, lowercase=self.lowercase)))

    def fingerprint(self) -> str:
        """A short hash of the vocabulary and vectors, to tell vector sets apart."""
        if self._fingerprint is None:
            digest = hashlib.sha256(np.ascontiguousarray(self.kv.vectors).tobytes())
            digest.update("\n".join(self.kv.index_to_key).encode("utf-8"))
            if self.word_counts:  # the SIF weights: the same vectors with other counts embed differently
                digest.update(repr(sorted(self.word_counts.items())).encode("utf-8"))
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def with_context_window(self, window: int) -> StaticEmbedder:
        """The same vectors, reading `window` words each side of a target word."""
        clone = StaticEmbedder.__new__(StaticEmbedder)
        clone.__dict__.update(self.__dict__)
        clone.context_window = window
        return clone

    def identity(self) -> dict[str, Any]:
        return {
            "backend": Backend.STATIC.value,
            "model": self.name,
            "adapter": None,
            "dim": self.dim,
            "pooling": self.pooling.value,
            "sif_a": self.sif_a,
            "lowercase": self.lowercase,
            "fingerprint": self.fingerprint(),
        }
