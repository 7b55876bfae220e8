"""Evaluation: BEIR datasets, retrieval metrics, BM25 baseline, polysemy, reports."""

from __future__ import annotations

from ctxembed.scoring.beir import BeirDataset, load_beir
from ctxembed.scoring.metrics import evaluate_retrieval, retrieval_metrics

__all__ = ["BeirDataset", "evaluate_retrieval", "load_beir", "retrieval_metrics"]
