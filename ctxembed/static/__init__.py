"""Static backend: pretrained word vectors (GloVe, word2vec, fastText) through gensim."""

from __future__ import annotations

from ctxembed.static.embedder import StaticEmbedder
from ctxembed.static.vectors import load_vectors

__all__ = ["StaticEmbedder", "load_vectors"]
