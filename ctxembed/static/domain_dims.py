"""Domain dimensions: coordinates trained from scratch on the corpus, appended to fine-tuned vectors.

Fine-tuning moves the pretrained coordinates only as far as the lock factors allow, so general
English survives but the domain fits less well than vectors trained on it alone. The recipe keeps
both: each word's vector is [fine-tuned pretrained vector ; weight x its from-scratch vector],
the second part scaled to the first's median norm (over each whole table), zeros for words the corpus lacks (so their
similarities are the fine-tuned ones). Both parts are trained by gensim (`train_vectors`); the
idea is that of the "double embeddings" of Xu et al. (ACL 2018), general and domain vectors side by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ctxembed.static.finetune import TrainedVectors, train_vectors
from ctxembed.static.settings import StaticFinetuneConfig


def output_dims(config: StaticFinetuneConfig, pretrained: Any) -> int:
    """The recipe's vector size: pretrained dimensions plus domain dimensions."""
    return int(pretrained.vector_size) + config.domain_size


def append_domain_dims(vectors: Any, domain: Any, weight: float) -> Any:
    """KeyedVectors of `vectors`' words, each [its vector ; weight x scaled `domain` vector or zeros]."""
    from gensim.models import KeyedVectors

    rows = np.array([vectors.key_to_index[w] for w in domain.index_to_key if w in vectors.key_to_index], np.int64)
    extra = np.zeros((len(vectors), domain.vector_size), dtype=np.float32)
    if len(rows):
        source = domain.vectors[[domain.key_to_index[vectors.index_to_key[r]] for r in rows]]
        # median norms of the whole tables (the setting chosen on dev used these)
        scale = np.median(np.linalg.norm(vectors.vectors, axis=1)) / max(
            float(np.median(np.linalg.norm(domain.vectors, axis=1))), 1e-12
        )
        extra[rows] = weight * scale * source
    out = KeyedVectors(vector_size=vectors.vector_size + domain.vector_size, count=0, dtype=np.float32)
    out.add_vectors(list(vectors.index_to_key), np.hstack([vectors.vectors, extra]))
    return out


def train_recipe(
    config: StaticFinetuneConfig,
    sentences: list[list[str]],
    pretrained: Any,
    *,
    name: str,
    drift_check: Any = None,
) -> tuple[TrainedVectors, TrainedVectors | None]:
    """Fine-tune `pretrained` on the corpus and, with domain dimensions, append them.

    Returns the fine-tuned run (its `vectors` the final ones) and the domain run (None without).
    """
    tuned = train_vectors(config, sentences, pretrained, name=name, anchor=config.anchor, drift_check=drift_check)
    if not config.domain_size:
        return tuned, None
    domain = train_vectors(
        config, sentences, pretrained, name=f"{name}: domain dimensions", init=False, dim=config.domain_size
    )
    tuned.vectors = append_domain_dims(tuned.vectors, domain.vectors, config.domain_weight)
    return tuned, domain
