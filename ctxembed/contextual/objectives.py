"""Training examples and losses for each objective: mined from raw documents, or read from pairs."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctxembed.config import Objective, TrainSettings
from ctxembed.data import Document
from ctxembed.errors import CorpusError

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])|\n+")
MIN_SENTENCE_WORDS = 5


def split_sentences(text: str) -> list[str]:
    """Sentences (or lines) of a text, as whitespace-normalised strings."""
    return [" ".join(s.split()) for s in _SENTENCE_END.split(text) if s.strip()]


def mine_ict_pairs(docs: Sequence[Document], *, per_doc: int, seed: int) -> list[dict[str, str]]:
    """Inverse-cloze pairs: a sentence as the anchor, the rest of its document as the positive.

    A document with a title also gives (title, text). Documents with fewer than two usable
    sentences give only the title pair, if any.
    """
    rng = random.Random(seed)
    pairs = []
    for doc in docs:
        if doc.title.strip():
            pairs.append({"anchor": doc.title.strip(), "positive": doc.text})
        sentences = split_sentences(doc.text)
        usable = [i for i, s in enumerate(sentences) if len(s.split()) >= MIN_SENTENCE_WORDS]
        if len(sentences) < 2 or not usable:
            continue
        for i in rng.sample(usable, min(per_doc, len(usable))):
            rest = " ".join(sentences[:i] + sentences[i + 1 :])
            pairs.append({"anchor": sentences[i], "positive": rest})
    return pairs


def tsdae_sentences(docs: Sequence[Document]) -> list[str]:
    """Sentences for the denoising auto-encoder objective."""
    return [s for d in docs for s in split_sentences(d.text) if len(s.split()) >= MIN_SENTENCE_WORDS]


def delete_words(text: str, rng: random.Random, ratio: float = 0.6) -> str:
    """TSDAE noise: drop each word with probability `ratio`, keeping at least one."""
    words = text.split()
    kept = [w for w in words if rng.random() >= ratio]
    return " ".join(kept) if kept else rng.choice(words)


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
                raise CorpusError(f"{path}, line {lineno}: invalid JSON ({exc.msg})") from None
            missing = [
                k for k in ("query", "positive") if not isinstance(row, dict) or not str(row.get(k) or "").strip()
            ]
            if missing:
                raise CorpusError(
                    f"{path}, line {lineno}: missing or empty field(s) {', '.join(missing)}; each line needs "
                    f'{{"query": "...", "positive": "..."}} and may add "negative"'
                )
            pair = {"anchor": str(row["query"]), "positive": str(row["positive"])}
            if row.get("negative"):
                pair["negative"] = str(row["negative"])
            pairs.append(pair)
    if pairs and len({len(p) for p in pairs}) > 1:
        raise CorpusError(f"{path}: either every line has a 'negative' or none does")
    return pairs


@dataclass
class TrainingData:
    """The training dataset, its loss and statistics for the model card."""

    dataset: Any  # datasets.Dataset
    loss: Any  # torch.nn.Module
    stats: dict[str, Any]


def build_training_data(
    objective: Objective,
    model: Any,
    docs: Sequence[Document],
    settings: TrainSettings,
    pairs_file: str | None = None,
) -> TrainingData:
    """Examples and loss for `objective`; refuses too little data with a message that says why."""
    from datasets import Dataset
    from sentence_transformers.sentence_transformer import losses

    if objective == Objective.TSDAE:
        sentences = tsdae_sentences(docs)
        _require(len(sentences), settings.min_examples, "sentences of >= 5 words", objective)
        rng = random.Random(settings.seed)
        dataset = Dataset.from_dict({"damaged": [delete_words(s, rng) for s in sentences], "original": sentences})
        # Tying decoder to encoder weights cannot go through LoRA-wrapped layers; with an adapter the
        # decoder is a separate, training-only copy and only the encoder's adapter is saved.
        has_adapter = bool(getattr(model[0].auto_model, "peft_config", None))
        loss = losses.DenoisingAutoEncoderLoss(
            model,
            decoder_name_or_path=model[0].auto_model.config._name_or_path if has_adapter else None,
            tie_encoder_decoder=not has_adapter,
        )
        return TrainingData(dataset, loss, {"sentences": len(sentences)})
    if objective == Objective.ICT:
        rows = mine_ict_pairs(docs, per_doc=settings.pairs_per_doc, seed=settings.seed)
        _require(len(rows), settings.min_examples, "mined (sentence, passage) pairs", objective)
    else:
        rows = read_pairs(pairs_file or "")
        _require(len(rows), settings.min_examples, "pairs", objective)
        if settings.hard_negatives and "negative" not in rows[0]:
            rows = add_hard_negatives(rows, model, seed=settings.seed)
    dataset = Dataset.from_list(rows)
    loss = losses.MultipleNegativesRankingLoss(model)
    return TrainingData(dataset, loss, {"pairs": len(rows), "with_negatives": "negative" in rows[0]})


def _require(count: int, minimum: int, what: str, objective: Objective) -> None:
    if count < minimum:
        raise CorpusError(
            f"objective {objective.value!r} found only {count} {what}; it needs at least {minimum}. "
            f"Add documents (longer ones, with several sentences), or lower training.min_examples"
        )


def add_hard_negatives(rows: list[dict[str, str]], model: Any, *, seed: int) -> list[dict[str, str]]:
    """Add, per pair, the most similar other positive found through ctxembed's FAISS index."""
    from ctxembed.contextual.embedder import ContextualEmbedder
    from ctxembed.index import VectorIndex

    positives = list(dict.fromkeys(r["positive"] for r in rows))
    docs = [Document(str(i), text) for i, text in enumerate(positives)]
    embedder = ContextualEmbedder(model, name="training-model")
    index = VectorIndex.build(embedder, docs)
    hits = index.search([r["anchor"] for r in rows], k=min(10, len(docs)))
    out = []
    for row, row_hits in zip(rows, hits):
        # Skip the positive itself and near-duplicates of it (likely false negatives).
        negative = next((h.text for h in row_hits if h.text != row["positive"] and h.score < 0.95), None)
        if negative is None:
            negative = positives[random.Random(seed + len(out)).randrange(len(positives))]
        out.append({**row, "negative": negative})
    return out
