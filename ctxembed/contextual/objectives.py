"""Training examples and losses for each objective, and for a weighted mixture of them."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctxembed.contextual.genq import genq_pairs
from ctxembed.contextual.pseudo_labels import pseudo_label_rows
from ctxembed.contextual.settings import GenqSettings, Objective, PseudoSettings, TrainSettings
from ctxembed.contextual.st_compat import backbone
from ctxembed.data import Document
from ctxembed.errors import CorpusError
from ctxembed.mining import delete_words, mine_pairs, tsdae_sentences


def read_pairs(path: str | Path) -> list[dict[str, str]]:
    """Read JSONL pairs: {"query", "positive"} with an optional "negative"; errors name the line."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"pairs file {path} not found; pass a JSONL file of {{query, positive}} objects")
    pairs = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}, line {lineno}: invalid JSON ({exc.msg})") from exc
            missing = [
                k
                for k in ("query", "positive")
                if not isinstance(row, dict) or not isinstance(row.get(k), str) or not row[k].strip()
            ]
            if missing:
                raise CorpusError(
                    f"{path}, line {lineno}: missing, empty or non-string field(s) {', '.join(missing)}; each line "
                    f'needs {{"query": "...", "positive": "..."}} and may add "negative"'
                )
            pair = {"anchor": row["query"], "positive": row["positive"]}
            if row.get("negative"):
                pair["negative"] = str(row["negative"])
            pairs.append(pair)
    if pairs and len({len(p) for p in pairs}) > 1:
        raise CorpusError(f"{path}: either every line has a 'negative' or none does")
    return pairs


@dataclass
class TrainingData:
    """The training dataset (a DatasetDict for a mixture), its loss (a dict for a mixture) and statistics."""

    dataset: Any
    loss: Any
    stats: dict[str, Any]


@dataclass
class Sources:
    """What the objectives draw on: raw documents, user pairs, generation settings and cache."""

    docs: Sequence[Document]
    pairs: Sequence[dict[str, str]] = ()
    genq: GenqSettings = GenqSettings()
    genq_cache: Path = Path("genq-cache.jsonl")
    pseudo: PseudoSettings = PseudoSettings()


def _weighted(rows: list[Any], weight: float, seed: int) -> list[Any]:
    """`weight` times the rows: a seeded subsample below 1, whole repeats plus a subsample above."""
    whole, part = divmod(weight, 1.0)
    extra = random.Random(seed).sample(rows, round(part * len(rows)))
    return rows * int(whole) + extra


def objective_rows(
    objective: Objective, model: Any, sources: Sources, settings: TrainSettings
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The examples of one objective, before weighting, and its statistics."""
    if objective == Objective.TSDAE:
        sentences = tsdae_sentences(sources.docs)
        rng = random.Random(settings.seed)
        rows = [{"damaged": delete_words(s, rng), "original": s} for s in sentences]
        return rows, {"tsdae_sentences": len(rows)}
    if objective == Objective.ICT:
        rows = mine_pairs(sources.docs, per_doc=settings.pairs_per_doc, seed=settings.seed)
        return rows, {"ict_pairs": len(rows)}
    if objective == Objective.PSEUDO:
        return pseudo_label_rows(
            model, sources.docs, sources.pseudo, per_doc=settings.pairs_per_doc, seed=settings.seed
        )
    if objective == Objective.GENQ:
        return genq_pairs(model, sources.docs, sources.genq, sources.genq_cache, seed=settings.seed)
    return list(sources.pairs), {"user_pairs": len(sources.pairs)}


def build_training_data(
    objectives: Mapping[Objective, float], model: Any, sources: Sources, settings: TrainSettings
) -> TrainingData:
    """Examples and loss per objective, weighted; refuses too little data with a message that says why."""
    from datasets import Dataset, DatasetDict

    datasets: dict[str, Any] = {}
    loss_fns: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    for objective, weight in objectives.items():
        rows, found = objective_rows(objective, model, sources, settings)
        stats.update(found)
        _require(len(rows), settings.min_examples, objective)
        rows = _weighted(rows, weight, settings.seed)
        dataset = Dataset.from_list(rows)
        ranked_pairs = objective not in (Objective.TSDAE, Objective.PSEUDO)  # MNRL's (anchor, positive) pairs
        if ranked_pairs and settings.hard_negatives and "negative" not in rows[0]:
            dataset = add_hard_negatives(dataset, model, settings)
        datasets[objective.value] = dataset
        loss_fns[objective.value] = _loss(objective, model)
    stats["examples"] = {name: len(ds) for name, ds in datasets.items()}
    if len(datasets) == 1:
        (name,) = datasets
        return TrainingData(datasets[name], loss_fns[name], stats)
    return TrainingData(DatasetDict(datasets), loss_fns, stats)


def _loss(objective: Objective, model: Any) -> Any:
    """TSDAE's denoising loss, MarginMSE for teacher margins, else MultipleNegativesRankingLoss."""
    from sentence_transformers.sentence_transformer import losses

    if objective == Objective.TSDAE:
        return _tsdae_loss(model)
    if objective == Objective.PSEUDO:
        return losses.MarginMSELoss(model)
    return losses.MultipleNegativesRankingLoss(model)


def _tsdae_loss(model: Any) -> Any:
    from sentence_transformers.sentence_transformer import losses

    # Tying decoder to encoder weights cannot go through LoRA-wrapped layers; with an adapter the
    # decoder is a separate, training-only copy and only the encoder's adapter is saved.
    has_adapter = bool(getattr(backbone(model), "peft_config", None))
    return losses.DenoisingAutoEncoderLoss(
        model,
        decoder_name_or_path=backbone(model).config._name_or_path if has_adapter else None,
        tie_encoder_decoder=not has_adapter,
    )


def _require(count: int, minimum: int, objective: Objective) -> None:
    if count < minimum:
        what = {
            Objective.TSDAE: "sentences of >= 5 words",
            Objective.ICT: "mined (sentence, passage) pairs",
            Objective.GENQ: "generated queries that pass the round-trip check",
            Objective.PAIRS: "pairs",
            Objective.PSEUDO: "mined queries to pseudo-label",
        }[objective]
        raise CorpusError(
            f"objective {objective.value!r} found only {count} {what}; it needs at least {minimum}. "
            f"Add documents (longer ones, with several sentences) or pairs, or lower training.min_examples"
        )


def add_hard_negatives(dataset: Any, model: Any, settings: TrainSettings) -> Any:
    """One mined hard negative per pair (sentence-transformers' miner), skipping likely false negatives.

    Candidates come from ranks 2-30 of the model's own ranking; any candidate scoring within 5%
    of the positive (relative margin) or above 0.95 is treated as a possible duplicate and skipped.
    """
    from sentence_transformers.util import mine_hard_negatives

    mined = mine_hard_negatives(
        dataset,
        model,
        anchor_column_name="anchor",
        positive_column_name="positive",
        range_min=1,
        range_max=30,
        max_score=0.95,
        relative_margin=0.05,
        num_negatives=1,
        sampling_strategy="top",
        batch_size=64,
        verbose=False,
    )
    if len(mined) < len(dataset) // 2:
        return dataset  # too few safe negatives: in-batch negatives only
    return mined
