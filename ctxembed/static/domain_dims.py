"""Domain dimensions: coordinates trained jointly with the pretrained ones, then all-but-the-top.

Fine-tuning moves the pretrained coordinates only as far as the lock factors allow, so general
English survives but the domain fits less well than vectors trained on it alone. The recipe
trains one gensim Word2Vec at pretrained + `domain_dims` dimensions: known words start at
[pretrained vector ; random], the locks hold back the pretrained coordinates only, and the
domain coordinates train freely through the same output layer, so they learn what the
pretrained ones miss. Then each part is post-processed with all-but-the-top (Mu & Viswanath,
ICLR 2018: subtract the mean and the top principal directions) and the domain part is scaled to
`domain_weight` x the pretrained part's median norm. Words the corpus lacks keep zeros there, so
their similarities are the pretrained ones (post-processed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ctxembed.errors import ConfigError
from ctxembed.static.finetune import TrainedVectors, train_vectors
from ctxembed.static.settings import StaticFinetuneConfig

PCA_SAMPLE = 50000  # rows the principal directions are estimated from


def output_dims(config: StaticFinetuneConfig, pretrained: Any) -> int:
    """The recipe's vector size: pretrained dimensions plus domain dimensions."""
    return int(pretrained.vector_size) + config.domain_size


def all_but_the_top(matrix: np.ndarray, components: int, *, seed: int = 0) -> np.ndarray:
    """`matrix` less its mean and its top `components` principal directions (0: unchanged)."""
    if components <= 0:
        return np.asarray(matrix, dtype=np.float32)
    if components >= min(matrix.shape):
        raise ConfigError(
            f"cannot remove {components} principal directions from {matrix.shape[1]}-dimensional vectors "
            f"({matrix.shape[0]} rows); lower top_components / domain_top_components"
        )
    centred = matrix - matrix.mean(axis=0)
    sample = centred
    if len(centred) > PCA_SAMPLE:
        sample = centred[np.random.default_rng(seed).choice(len(centred), PCA_SAMPLE, replace=False)]
    top = np.linalg.svd(sample, full_matrices=False)[2][:components]
    return (centred - (centred @ top.T) @ top).astype(np.float32)


def postprocess(config: StaticFinetuneConfig, vectors: Any, corpus_words: Sequence[str], pretrained_dims: int) -> Any:
    """KeyedVectors [all-but-the-top pretrained part ; domain_weight x scaled all-but-the-top domain part].

    The domain part is post-processed over the corpus words only; other words keep zeros there.
    """
    from gensim.models import KeyedVectors

    table = vectors.vectors
    general = all_but_the_top(table[:, :pretrained_dims], config.top_components)
    domain = np.zeros((len(table), table.shape[1] - pretrained_dims), dtype=np.float32)
    rows = np.array([vectors.key_to_index[w] for w in corpus_words], dtype=np.int64)
    if len(rows) and domain.shape[1]:
        part = all_but_the_top(table[rows, pretrained_dims:], config.domain_top_components)
        scale = np.median(np.linalg.norm(general, axis=1)) / max(float(np.median(np.linalg.norm(part, axis=1))), 1e-12)
        domain[rows] = config.domain_weight * scale * part
    out = KeyedVectors(vector_size=table.shape[1], count=0, dtype=np.float32)
    out.add_vectors(list(vectors.index_to_key), np.hstack([general, domain]))
    return out


def finisher(config: StaticFinetuneConfig, pretrained: Any) -> Any:
    """`postprocess` as a function of (merged vectors, corpus words), for the drift guard; None without domain dims."""
    if not config.domain_size:
        return None
    return lambda merged, words: postprocess(config, merged, words, int(pretrained.vector_size))


def train_recipe(
    config: StaticFinetuneConfig,
    sentences: list[list[str]],
    pretrained: Any,
    *,
    name: str,
    drift_check: Any = None,
) -> TrainedVectors:
    """Fine-tune `pretrained` on the corpus, with domain dimensions trained beside it and post-processed.

    The run's `vectors` are the final ones; `trained_vectors` holds them before post-processing.
    """
    tuned = train_vectors(
        config,
        sentences,
        pretrained,
        name=name,
        anchor=config.anchor,
        drift_check=drift_check,
        dim=output_dims(config, pretrained),
    )
    if config.domain_size:
        tuned.trained_vectors = tuned.vectors
        tuned.vectors = postprocess(config, tuned.vectors, tuned.model.wv.index_to_key, int(pretrained.vector_size))
    return tuned
