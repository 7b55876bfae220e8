"""Is a difference more than noise? Paired bootstrap over per-query scores."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Comparison:
    """Tuned minus base on the same queries, with a paired-bootstrap 95% interval."""

    delta: float
    low: float
    high: float
    queries: int

    @property
    def significant(self) -> bool:
        """True when the whole interval lies above zero: better than the base by more than noise."""
        return self.low > 0


def paired_bootstrap(
    base: Mapping[str, float], tuned: Mapping[str, float], *, resamples: int = 2000, seed: int = 0
) -> Comparison:
    """Mean difference over shared queries and its 2.5%/97.5% bootstrap percentiles."""
    shared = sorted(set(base) & set(tuned))
    diff = np.array([tuned[q] - base[q] for q in shared], dtype=np.float64)
    if diff.size == 0:
        return Comparison(0.0, 0.0, 0.0, 0)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Comparison(float(diff.mean()), float(low), float(high), int(diff.size))
