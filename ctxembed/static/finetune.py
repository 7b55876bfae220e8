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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gensim.models.callbacks import CallbackAny2Vec

from ctxembed.errors import ConfigError, CorpusError
from ctxembed.static.settings import Algorithm, StaticFinetuneConfig

logger = logging.getLogger(__name__)


class AnchorCallback(CallbackAny2Vec):
    """After each epoch, move known words `strength` of the way back to their pretrained vectors
    (on the pretrained coordinates; domain dimensions after them are left alone)."""

    def __init__(self, rows: np.ndarray, targets: np.ndarray, strength: float) -> None:
        self.rows, self.targets, self.strength = rows, targets, strength

    def on_epoch_end(self, model: Any) -> None:
        table, cols = _trained_table(model), self.targets.shape[1]
        current = table[self.rows, :cols]
        table[self.rows, :cols] = current + self.strength * (self.targets - current)
        if hasattr(model.wv, "adjust_vectors"):  # fastText: word vectors = word + subword rows
            model.wv.adjust_vectors()


class PretrainedColumnsLock(CallbackAny2Vec):
    """Per-word lock factors on the first `columns` coordinates only (gensim's locks take whole rows):
    after each epoch every row's move there is scaled by its factor; the other coordinates train freely."""

    def __init__(self, factors: np.ndarray, columns: int) -> None:
        self.factors, self.columns = factors[:, None], columns
        self.start: np.ndarray | None = None

    def on_epoch_begin(self, model: Any) -> None:
        self.start = _trained_table(model)[:, : self.columns].copy()

    def on_epoch_end(self, model: Any) -> None:
        table = _trained_table(model)
        table[:, : self.columns] = self.start + self.factors * (table[:, : self.columns] - self.start)


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
    trained_vectors: Any = None  # with domain dimensions: `vectors` before post-processing


def merge_vectors(pretrained: Any, trained: Any) -> Any:
    """Pretrained vocabulary with the trained rows replaced, plus the new domain words appended.

    Trained vectors with extra (domain) dimensions pad the pretrained rows with zeros there.
    """
    from gensim.models import KeyedVectors

    extra = trained.vector_size - pretrained.vector_size
    if extra < 0:
        raise ConfigError(
            f"mismatched dimensions: pretrained vectors have {pretrained.vector_size}, trained ones "
            f"{trained.vector_size}; train with at least the pretrained dimension"
        )
    merged = KeyedVectors(vector_size=trained.vector_size, count=0, dtype=np.float32)
    rows = np.hstack([pretrained.vectors, np.zeros((len(pretrained), extra), np.float32)])
    merged.add_vectors(list(pretrained.index_to_key), rows.astype(np.float32, copy=False))
    merged.add_vectors(list(trained.index_to_key), trained.vectors, replace=True)
    return merged


def _scaled(rows: np.ndarray, norm: float) -> np.ndarray:
    """`rows` rescaled to length `norm` each."""
    return rows * (norm / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)) if rows.size else rows


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
    """Continue training from `pretrained` (or from scratch with `init=False`) at `dim` dimensions.

    With `init` and `dim` above the pretrained size, the extra (domain) coordinates start at random
    and train freely beside the pretrained ones, sharing one output layer; the lock factors apply to
    the pretrained coordinates only.
    """
    fasttext = config.algorithm == Algorithm.FASTTEXT and init
    pre_dim = int(pretrained.vector_size)
    size = pre_dim if dim is None else dim
    if init and size < pre_dim or fasttext and size != pre_dim:
        raise ConfigError(
            f"vectors fine-tuned from {pre_dim}-dimensional ones need >= {pre_dim} dimensions (fastText: exactly)"
        )
    if fasttext:
        model = load_fasttext_model(config, sentences)  # pretrained rows are already in place
    else:
        model = build_model(config, sentences, size)
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
        table[rows, :pre_dim] = targets
        new = np.setdiff1d(np.arange(len(wv)), rows)
        median = float(np.median(np.linalg.norm(targets, axis=1)))
        if not fasttext:  # gensim starts rows ~1/dim long: new words and domain coordinates as long as pretrained
            table[new, :pre_dim] = _scaled(table[new, :pre_dim], median)
            table[:, pre_dim:] = _scaled(table[:, pre_dim:], median)
        lockf = known_word_locks(config, wv, rows)
        if size > pre_dim:  # locks on the pretrained coordinates only
            callbacks.append(PretrainedColumnsLock(lockf, pre_dim))
            lockf = np.ones(len(wv), dtype=np.float32)
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


def drift_guard(pretrained: Any, base: dict[str, float], limit: float, finish: Any = None) -> Any:
    """A per-epoch check that flags SimLex/WordSim drops beyond `limit` below the pretrained `base` scores
    (of the vectors as `finish(merged, corpus_words)` post-processes them, if given)."""
    from ctxembed.scoring.lexical import lexical_scores

    def check(trained_wv: Any) -> dict[str, float]:
        merged = merge_vectors(pretrained, trained_wv)
        if finish is not None:
            merged = finish(merged, list(trained_wv.index_to_key))
        scores = lexical_scores(merged, analogies=False)
        drops = {k: base[k] - v for k, v in scores.items() if k.endswith("_spearman")}
        return {**scores, "exceeded": float(max(drops.values()) > limit)}

    return check
