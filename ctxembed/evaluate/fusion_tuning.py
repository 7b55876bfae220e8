"""Choosing an index's hybrid fusion on labelled queries (`ctxembed tune-fusion`), and recording the choice.

Every candidate (the query-style default, fixed BM25 weights, RRF) searches the same queries through the
index itself; the best mean nDCG@10 wins, and a paired bootstrap says whether it beats the index's current
setting by more than noise. The choice goes into the index's manifest, which is rewritten atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import atomic_file
from ctxembed.errors import CorpusError, CtxEmbedError
from ctxembed.index.files import MANIFEST_FILE, read_manifest
from ctxembed.retrieval.fusion import FusionSettings, describe
from ctxembed.scoring.metrics import index_retriever, per_query_metrics, rank_queries
from ctxembed.scoring.significance import Comparison, paired_bootstrap

NDCG10 = {"ndcg": (10,)}
WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0)


@dataclass(frozen=True)
class FusionChoice:
    """The best fusion on the queries, each candidate's mean nDCG@10, and the best against the current one."""

    chosen: FusionSettings
    ndcg: dict[str, float]
    current: str
    against_current: Comparison
    queries: int


def candidates(current: FusionSettings, weights: Sequence[float] = WEIGHTS) -> list[FusionSettings]:
    """The index's current setting first (it wins ties), then the query-style default, fixed weights and RRF."""
    options = [current, FusionSettings(candidates=current.candidates)]
    options += [FusionSettings(weight=float(w), candidates=current.candidates) for w in weights]
    options.append(FusionSettings(method="rrf", candidates=current.candidates))
    return list(dict.fromkeys(options))


def tune_fusion(
    index: Any,
    queries: Mapping[str, str],
    relevant: Mapping[str, set[str]],
    weights: Sequence[float] = WEIGHTS,
) -> FusionChoice:
    """Search `queries` through `index` with each candidate fusion; the one of best mean nDCG@10 wins."""
    if index.sparse is None:
        raise CtxEmbedError(
            "this index has no sparse side, so there is no fusion to tune; rebuild it with --sparse bm25"
        )
    in_index = {index.docs[i].id for i in index.live_positions()}
    known = {q: docs for q, docs in relevant.items() if q in queries and docs & in_index}
    if not known:
        raise CorpusError(
            "none of the dataset's relevant documents is in the index; tune on the dataset whose corpus built it"
        )
    per_query = {}
    for settings in candidates(index.fusion, weights):
        rankings = rank_queries(index_retriever(index, "hybrid", settings), queries, known, NDCG10)
        per_query[settings] = {q: m["ndcg@10"] for q, m in per_query_metrics(rankings, known, NDCG10).items()}
    mean = {settings: float(np.mean(list(scores.values()))) for settings, scores in per_query.items()}
    best = max(mean, key=mean.get)  # the first of equals: the current setting keeps a tie
    return FusionChoice(
        chosen=best,
        ndcg={describe(s): m for s, m in mean.items()},
        current=describe(index.fusion),
        against_current=paired_bootstrap(per_query[index.fusion], per_query[best]),
        queries=len(known),
    )


def record_fusion(folder: str | Path, choice: FusionChoice, source: dict[str, Any]) -> None:
    """Write the chosen fusion into the index's manifest (atomically), with where it was tuned."""
    path = Path(folder) / MANIFEST_FILE
    manifest = read_manifest(folder)
    if manifest.get("sparse") is None:
        raise CtxEmbedError(f"{folder} has no sparse side; rebuild it with --sparse bm25 before tuning its fusion")
    manifest["fusion"] = asdict(choice.chosen)
    label_free = manifest.pop("fusion_chosen", None)  # the labels' choice replaces the label-free one
    manifest["fusion_tuned"] = {
        **source,
        "queries": choice.queries,
        "ndcg@10": round(choice.ndcg[describe(choice.chosen)], 4),
        "replaced": choice.current,
        "against_replaced": round(choice.against_current.delta, 4),
        **({"label_free": label_free} if label_free else {}),
    }
    with atomic_file(path) as fh:
        os.fchmod(fh.fileno(), path.stat().st_mode & 0o777)  # the new file keeps the old one's permissions
        fh.write(json.dumps(manifest, indent=2, allow_nan=False) + "\n")
