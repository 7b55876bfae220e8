"""The one result type of both fine-tuning paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ctxembed.scoring.significance import Comparison


@dataclass
class FinetuneResult:
    """What a fine-tuning run (contextual or static) produced and measured against its starting point."""

    out: str
    base_metrics: dict[str, float]
    tuned_metrics: dict[str, float]
    primary_metric: str
    trainable_params: int
    total_params: int
    train_seconds: float
    peak_rss_mb: float
    size_mb: float
    comparison: Comparison | None = None
    warnings: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def improved(self) -> bool:
        """Better than the base: by more than noise (paired bootstrap) where per-query scores exist."""
        if self.comparison is not None and self.comparison.queries:
            return self.comparison.significant
        return self.tuned_metrics[self.primary_metric] > self.base_metrics[self.primary_metric]
