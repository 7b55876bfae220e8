"""Fine-tune pretrained word vectors on domain text with gensim 4, and measure what changed.

The recipe gensim 4 users keep asking for (`intersect_word2vec_format` + `train` no longer
works, gensim issues #3094 and #3195): build the vocabulary from the domain corpus, copy the
pretrained vectors of the words it knows, set per-word lock factors (`wv.vectors_lockf`),
and let gensim train. Anchored mode pulls known words back toward their pretrained vectors
after every epoch (a proximal step, through a gensim callback).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ctxembed.errors import ConfigError, CorpusError
from ctxembed.static.embedder import tokenize
from ctxembed.static.settings import Algorithm, StaticFinetuneConfig

logger = logging.getLogger(__name__)


def uses_lowercase(kv: Any, sample: int = 5000) -> bool:
    """Whether a vocabulary is lowercased (GloVe 6B is), so tokens are normalised to match."""
    return not any(any(ch.isupper() for ch in word) for word in kv.index_to_key[:sample])


MAX_SENTENCE = 10000  # gensim's MAX_WORDS_IN_BATCH: it silently drops the tokens of a longer "sentence"


def domain_sentences(texts: Sequence[str], *, lowercase: bool) -> list[list[str]]:
    """Token lists for gensim, tokenised like `StaticEmbedder` does; long documents are cut into pieces."""
    out = []
    for tokens in (tokenize(t, lowercase=lowercase) for t in texts):
        out.extend(tokens[i : i + MAX_SENTENCE] for i in range(0, len(tokens), MAX_SENTENCE))
    return out


def coverage(sentences: Sequence[Sequence[str]], pretrained: Any, min_count: int) -> dict[str, float]:
    """Shares of corpus tokens and word types that the pretrained set knows, that are new, or OOV."""
    counts = Counter(token for sentence in sentences for token in sentence)
    known = {w for w in counts if w in pretrained.key_to_index}
    new = {w for w, c in counts.items() if w not in known and c >= min_count}
    total = sum(counts.values())

    def share(words: set[str]) -> float:
        return sum(counts[w] for w in words) / total if total else 0.0

    oov = set(counts) - known - new
    return {
        "tokens": total,
        "types": len(counts),
        "known_types": len(known),
        "new_types": len(new),
        "oov_types": len(oov),
        "known_token_share": share(known),
        "new_token_share": share(new),
        "oov_token_share": share(oov),
    }


class AnchorCallback:
    """After each epoch, move known words `strength` of the way back to their pretrained vectors."""

    def __init__(self, rows: np.ndarray, targets: np.ndarray, strength: float) -> None:
        self.rows, self.targets, self.strength = rows, targets, strength

    def on_epoch_end(self, model: Any) -> None:
        table = _trained_table(model)
        current = table[self.rows]
        table[self.rows] = current + self.strength * (self.targets - current)
        if hasattr(model.wv, "adjust_vectors"):  # fastText: word vectors = word + subword rows
            model.wv.adjust_vectors()

    # gensim calls these too
    def on_train_begin(self, model: Any) -> None: ...
    def on_train_end(self, model: Any) -> None: ...
    def on_epoch_begin(self, model: Any) -> None: ...
    def on_batch_begin(self, model: Any) -> None: ...
    def on_batch_end(self, model: Any) -> None: ...


@dataclass
class TrainedVectors:
    """One trained variant: its gensim model, the merged vectors and the per-epoch history."""

    name: str
    model: Any
    vectors: Any  # KeyedVectors: pretrained vocabulary + new words, domain rows updated
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0
    words_per_second: float = 0.0


def merge_vectors(pretrained: Any, trained: Any) -> Any:
    """Pretrained vocabulary with the trained rows replaced, plus the new domain words appended."""
    from gensim.models import KeyedVectors

    if trained.vector_size != pretrained.vector_size:
        raise ConfigError(
            f"mismatched dimensions: pretrained vectors have {pretrained.vector_size}, trained ones "
            f"{trained.vector_size}; train with the pretrained dimension"
        )
    merged = KeyedVectors(vector_size=pretrained.vector_size, count=0, dtype=np.float32)
    merged.add_vectors(list(pretrained.index_to_key), pretrained.vectors.copy())
    words = list(trained.index_to_key)
    merged.add_vectors(words, trained.vectors, replace=True)
    return merged


def _trained_table(model: Any) -> np.ndarray:
    """The per-word input vectors gensim trains (fastText keeps them apart from subwords)."""
    return model.wv.vectors_vocab if hasattr(model.wv, "vectors_vocab") else model.wv.vectors


def _set_word_lockf(model: Any, lockf: np.ndarray) -> None:
    # gensim's inner loops read lockf[index % len(lockf)], so a full-length array is per word.
    if hasattr(model.wv, "vectors_vocab_lockf"):
        model.wv.vectors_vocab_lockf = lockf
    else:
        model.wv.vectors_lockf = lockf


def known_word_locks(config: StaticFinetuneConfig, wv: Any, rows: np.ndarray) -> np.ndarray:
    """Per-word lock factors: `lock_new` for new words; `lock_known` for pretrained ones, scaled by
    min(1, count / lock_count) with `lock_count`, so rare words keep their pretrained vector."""
    lockf = np.full(len(wv), config.lock_new, dtype=np.float32)
    lockf[rows] = config.lock_known
    if config.lock_count and len(rows):
        counts = np.array([wv.get_vecattr(wv.index_to_key[i], "count") for i in rows], dtype=np.float32)
        lockf[rows] *= np.minimum(1.0, counts / config.lock_count)
    return lockf


def load_fasttext_model(config: StaticFinetuneConfig, sentences: list[list[str]]) -> Any:
    """A full fastText model (.bin) with the domain words added to its vocabulary."""
    from gensim.models.fasttext import load_facebook_model

    from ctxembed.assets import resolve_data_path

    path = resolve_data_path(config.vectors)
    if not path.endswith(".bin"):
        raise ConfigError(
            f"algorithm: fasttext continues training a full fastText model, so `vectors` must be a .bin file "
            f"(got {config.vectors!r}); use algorithm: word2vec for GloVe/word2vec/.vec vectors"
        )
    model = load_facebook_model(path)
    model.workers, model.min_count, model.sg = config.workers, config.min_count, int(config.sg)
    model.window, model.negative, model.alpha = config.window, config.negative, config.alpha
    model.min_alpha, model.seed = config.alpha / 100, config.seed
    model.random = np.random.RandomState(config.seed)  # what gensim's Word2Vec uses
    model.build_vocab(sentences, update=True)
    return model


def build_model(config: StaticFinetuneConfig, sentences: list[list[str]], dim: int) -> Any:
    """A gensim Word2Vec model with the domain vocabulary built and weights initialised at random."""
    from gensim.models import Word2Vec

    model = Word2Vec(
        vector_size=dim,
        window=config.window,
        min_count=config.min_count,
        sg=int(config.sg),
        negative=config.negative,
        seed=config.seed,
        workers=config.workers,
        alpha=config.alpha,
        min_alpha=config.alpha / 100,
    )
    model.build_vocab(sentences)
    if not len(model.wv):
        raise CorpusError(f"no word occurs min_count={config.min_count} times in the corpus; lower min_count")
    return model


def train_vectors(
    config: StaticFinetuneConfig,
    sentences: list[list[str]],
    pretrained: Any,
    *,
    name: str,
    init: bool = True,
    anchor: float = 0.0,
    drift_check: Any = None,
    dim: int | None = None,
) -> TrainedVectors:
    """Continue training from `pretrained` (or from scratch with `init=False`, `dim` dimensions)."""
    fasttext = config.algorithm == Algorithm.FASTTEXT and init
    if fasttext:
        model = load_fasttext_model(config, sentences)  # pretrained rows are already in place
    else:
        model = build_model(config, sentences, pretrained.vector_size if init or dim is None else dim)
    wv = model.wv
    table = _trained_table(model)
    rows = np.array([i for i, w in enumerate(wv.index_to_key) if w in pretrained.key_to_index], dtype=np.int64)
    if init and not len(rows):
        raise CorpusError(
            "the corpus shares no word with the pretrained vectors; check corpus.encoding and the "
            "tokenisation, or train from scratch (the baseline: gensim Word2Vec on the corpus alone)"
        )
    targets = (
        table[rows].copy()
        if fasttext
        else pretrained.vectors[[pretrained.key_to_index[wv.index_to_key[i]] for i in rows]]
    )
    callbacks: list[Any] = []
    lockf = np.ones(1, dtype=np.float32)
    if init:
        table[rows] = targets
        new = np.setdiff1d(np.arange(len(wv)), rows)
        if not fasttext and len(new):  # gensim starts new words ~1/dim long: scale them like the pretrained ones
            norms = np.linalg.norm(table[new], axis=1, keepdims=True)
            table[new] *= float(np.median(np.linalg.norm(targets, axis=1))) / np.maximum(norms, 1e-12)
        lockf = known_word_locks(config, wv, rows)
        _set_word_lockf(model, lockf)
        if fasttext:  # n-grams are pretrained parameters too: lock_known: 0 must freeze them
            model.wv.vectors_ngrams_lockf = np.full(len(model.wv.vectors_ngrams), config.lock_known, np.float32)
        if anchor > 0:
            callbacks.append(AnchorCallback(rows, targets.copy(), anchor))
    started = time.perf_counter()
    history: list[dict[str, float]] = []
    stopped = False
    alphas = np.linspace(config.alpha, config.alpha / 100, config.epochs + 1)
    words = 0
    snapshot = table.copy()
    for epoch in range(config.epochs):
        if init and epoch < config.warmup_epochs:  # output layer first: pretrained input rows held still
            frozen = lockf.copy()
            frozen[rows] = 0.0
            _set_word_lockf(model, frozen)
        elif init and epoch == config.warmup_epochs:
            _set_word_lockf(model, lockf)
        # One gensim call per epoch so the drift guard can stop between epochs.
        _, raw = model.train(
            sentences,
            total_examples=model.corpus_count,
            epochs=1,
            start_alpha=float(alphas[epoch]),
            end_alpha=float(alphas[epoch + 1]),
            callbacks=callbacks,
        )
        words += raw
        record: dict[str, float] = {"epoch": epoch + 1}
        if drift_check is not None:
            record.update(drift_check(model.wv))
            if record.get("exceeded"):
                table[:] = snapshot  # back to the last epoch within the limit
                if fasttext:
                    wv.adjust_vectors()
                stopped = True
                history.append(record)
                break
            snapshot = table.copy()
        history.append(record)
    seconds = time.perf_counter() - started
    merged = merge_vectors(pretrained, wv) if init and not fasttext else wv
    return TrainedVectors(name, model, merged, history, stopped, seconds, words / seconds if seconds else 0.0)


def drift_guard(pretrained: Any, base: dict[str, float], limit: float) -> Any:
    """A per-epoch check that flags SimLex/WordSim drops beyond `limit` below the pretrained `base` scores."""
    from ctxembed.evaluate.lexical import lexical_scores

    def check(trained_wv: Any) -> dict[str, float]:
        scores = lexical_scores(merge_vectors(pretrained, trained_wv), analogies=False)
        drops = {k: base[k] - v for k, v in scores.items() if k.endswith("_spearman")}
        return {**scores, "exceeded": float(max(drops.values()) > limit)}

    return check
