"""Plot helpers shared by reports: figures without pyplot's global state, and one 2D projection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def new_figure(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], squeeze: bool = True
) -> tuple[Any, Any]:
    """A matplotlib Figure and its axes, made without pyplot, so no backend is switched process-wide."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def save_figure(fig: Any, path: Path) -> None:
    """Lay out and write a figure as PNG."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def colour(i: int) -> Any:
    """The i-th of 20 distinct colours."""
    from matplotlib import colormaps

    return colormaps["tab20"](i % 20)


def project_2d(vectors: np.ndarray, *, umap_ok: bool = True) -> tuple[np.ndarray, str]:
    """2D coordinates (n, 2) and the method's name: UMAP when installed (and `umap_ok`) and there are enough
    points, else PCA (instant: what a service answering a request uses)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    from ctxembed.assets import installed

    if umap_ok and len(vectors) >= 10 and installed("umap"):
        import warnings

        with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": seeded on purpose
            warnings.filterwarnings("ignore", message="n_jobs value")
            warnings.filterwarnings("ignore", message="Tensorflow not installed")  # ParametricUMAP only
            import umap

            reducer = umap.UMAP(n_components=2, n_neighbors=min(8, len(vectors) - 1), random_state=0, n_jobs=1)
            xy = reducer.fit_transform(vectors)
        return np.asarray(xy), "UMAP"
    centered = vectors - vectors.mean(axis=0)
    if not np.any(centered):
        return np.zeros((len(vectors), 2)), "PCA"
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    xy = centered @ vt[:2].T
    return (xy if xy.shape[1] == 2 else np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))), "PCA"
