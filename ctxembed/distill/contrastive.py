"""Contrastive domain training of a distilled static model, on the corpus's own label-free pairs.

A static model is a bag of token vectors, so on CPU it affords thousands of steps in the time LoRA
takes a hundred. The pairs are the ones the contextual `ict` objective mines (titles, lead sentences,
headings, section leads and random sentences against the rest of their document), plus the user's
pairs; sentence-transformers trains the token vectors (`StaticEmbedding`, `MultipleNegativesRankingLoss`,
its trainer). A seeded share of documents is held out: its mined pairs score the distilled model, each
epoch and the final model (the same evaluator, checkpoint check and paired bootstrap as LoRA training),
and the trained vectors are kept only when they beat the distilled ones there.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed.contextual.selection import build_dev_set, verify_best_checkpoint
from ctxembed.contextual.settings import EvalSettings, TrainSettings
from ctxembed.data import Document
from ctxembed.distill.settings import ContrastiveSettings
from ctxembed.errors import CorpusError
from ctxembed.mining import mine_pairs
from ctxembed.scoring.metrics import per_query_ndcg
from ctxembed.scoring.significance import Comparison, paired_bootstrap


@dataclass
class ContrastiveOutcome:
    """What contrastive training measured on the held-out pairs, and whether its vectors were kept."""

    kept: bool
    dev_set: str
    pairs: int
    user_pairs: int
    steps: int
    seconds: float
    before: float
    after: float
    comparison: Comparison
    best_checkpoint_verified: bool
    warnings: list[str]
    held_out_documents: list[str]  # no training pair came from these (the label-free fusion choice mines there)


def training_pairs(
    docs: Sequence[Document], user_pairs: Sequence[dict[str, str]], settings: ContrastiveSettings, seed: int
) -> list[dict[str, str]]:
    """Mined (anchor, positive) pairs of `docs`, then the user's pairs (their negatives are dropped: in-batch
    negatives serve every row alike)."""
    mined = mine_pairs(docs, per_doc=settings.pairs_per_doc, seed=seed)
    return mined + [{"anchor": p["anchor"], "positive": p["positive"]} for p in user_pairs]


def to_sentence_transformer(folder: Path) -> Any:
    """A CPU `SentenceTransformer` around `StaticEmbedding.from_model2vec(folder)` (token vectors trainable)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    return SentenceTransformer(modules=[StaticEmbedding.from_model2vec(str(folder))], device="cpu")


def trained_static_model(model: Any, start: Any) -> Any:
    """`start` (a model2vec StaticModel) with the trained token vectors: still a plain model2vec model."""
    from model2vec import StaticModel

    vectors = model[0].embedding.weight.detach().cpu().numpy().astype(np.float32)
    return StaticModel(
        vectors=vectors,
        tokenizer=start.tokenizer,
        config=dict(start.config),
        normalize=start.normalize,
        max_length=start.max_length,
    )


def train_contrastive(
    start: Any,
    docs: Sequence[Document],
    settings: ContrastiveSettings,
    work: Path,
    *,
    user_pairs: Sequence[dict[str, str]] = (),
    seed: int = 42,
) -> tuple[Any, ContrastiveOutcome]:
    """Train `start`'s token vectors on mined (and user) pairs; return the better of trained and `start`.

    `work` is a scratch folder (the model handed to sentence-transformers and its checkpoints).
    """
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from ctxembed.contextual.training import quiet_trainer, training_arguments

    try:
        dev = build_dev_set(EvalSettings(holdout=settings.holdout), docs, list(user_pairs), seed=seed)
    except CorpusError as exc:
        raise CorpusError(
            f"contrastive training holds out {settings.holdout:.0%} of the documents or pairs to select on and "
            f"cannot here ({exc}); add documents or set contrastive: null"
        ) from exc
    pairs = training_pairs(dev.train_docs, dev.train_pairs, settings, seed)
    if len(pairs) < settings.min_pairs:
        raise CorpusError(
            f"the corpus gives {len(pairs)} training pairs for contrastive training, fewer than contrastive.min_pairs="
            f"{settings.min_pairs}; add documents or pairs, or set contrastive: null"
        )
    from datasets import Dataset

    start_folder = work / "start"
    start.save_pretrained(str(start_folder))
    model = to_sentence_transformer(start_folder)
    evaluator = dev.evaluator()
    metrics = evaluator(model)
    primary = evaluator.primary_metric  # known once the evaluator has run
    before = metrics[primary]
    before_scores = per_query_ndcg(evaluator.last_run, dev.relevant)
    steps_per_epoch = math.ceil(len(pairs) / settings.batch_size)
    train = TrainSettings(
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        eval_steps=steps_per_epoch,  # select among epochs
        precision="fp32",
        seed=seed,
    )
    args = training_arguments(train, str(work / "checkpoints"), primary, use_cuda=False)
    loss = MultipleNegativesRankingLoss(model)
    trainer = quiet_trainer(model, args=args, train_dataset=Dataset.from_list(pairs), loss=loss, evaluator=evaluator)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    after = evaluator(model)[primary]
    comparison = paired_bootstrap(before_scores, per_query_ndcg(evaluator.last_run, dev.relevant), seed=seed)
    verified = verify_best_checkpoint(trainer, after, primary)
    notes: list[str] = []
    kept = after > before
    if not kept:
        notes.append(
            f"contrastive training did not improve the distilled model on {dev.source} ({primary} {before:.4f} -> "
            f"{after:.4f}); the distilled model is kept. Try more documents, contrastive.epochs or a lower "
            f"contrastive.learning_rate"
        )
    elif not comparison.significant:
        notes.append(
            f"contrastive training is no better than noise on {dev.source} ({primary} {before:.4f} -> {after:.4f}, "
            f"95% interval {comparison.low:+.4f} to {comparison.high:+.4f}); it may not help on new queries"
        )
    for note in notes:
        warnings.warn(note, stacklevel=2)
    outcome = ContrastiveOutcome(
        kept=kept,
        dev_set=dev.source,
        pairs=len(pairs),
        user_pairs=len(dev.train_pairs),
        steps=trainer.state.global_step,
        seconds=seconds,
        before=float(before),
        after=float(after),
        comparison=comparison,
        best_checkpoint_verified=verified,
        warnings=notes,
        held_out_documents=sorted({d.id for d in docs} - {d.id for d in dev.train_docs}),
    )
    return (trained_static_model(model, start) if kept else start), outcome
