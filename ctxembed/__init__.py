"""ctxembed: adapt embedding models to your domain text and search with them."""

from __future__ import annotations

from ctxembed._version import __version__
from ctxembed.config import ContextualConfig, CorpusConfig, IndexConfig, IndexRunConfig, StaticConfig
from ctxembed.errors import CtxEmbedError
from ctxembed.index import VectorIndex
from ctxembed.passages import PassageSettings
from ctxembed.registry import embedder_from_identity, embedder_from_manifest, load_embedder
from ctxembed.types import Backend, Embedder, SearchResult

__all__ = [
    "Backend",
    "ContextualConfig",
    "CorpusConfig",
    "CtxEmbedError",
    "Embedder",
    "IndexConfig",
    "IndexRunConfig",
    "PassageSettings",
    "SearchResult",
    "StaticConfig",
    "VectorIndex",
    "__version__",
    "embedder_from_identity",
    "embedder_from_manifest",
    "load_embedder",
]
