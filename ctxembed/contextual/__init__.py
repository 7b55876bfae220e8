"""Contextual backend: sentence-transformers models, optionally with a LoRA adapter."""

from __future__ import annotations

from ctxembed.contextual.embedder import ContextualEmbedder

__all__ = ["ContextualEmbedder"]
