"""Honest model selection: a dev set that never overlaps training, scoring at one length, paired bootstrap."""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctxembed.contextual.settings import EvalSettings
from ctxembed.data import Document
from ctxembed.errors import ConfigError, CorpusError
from ctxembed.mining import mine_pairs_by_doc

PRIMARY_CUTOFF = 10


def ranking_evaluator_class() -> type:
    """sentence-transformers' IR evaluator that scores at one length and keeps each query's ranking.

    The trainer evaluates checkpoints while the model sits at its (shorter) training length; here
    base, checkpoints and the final model are all scored at `length` (the inference length), so
    their scores compare. `last_run` holds {qid: {doc_id: score}} of the latest call, for per-query scores.
    """
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    class RankingEvaluator(InformationRetrievalEvaluator):
        def __init__(self, *args: Any, length: int | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.length = length

        def __call__(self, model: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
            if self.length is None:  # as the model stands (a static model has no length to set)
                return super().__call__(model, *args, **kwargs)
            before = model.max_seq_length
            model.max_seq_length = self.length
            try:
                return super().__call__(model, *args, **kwargs)
            finally:
                model.max_seq_length = before

        def compute_metrics(self, queries_result_list: list[Any]) -> dict[str, Any]:
            self.last_run = {
                self.queries_ids[i]: {str(h["corpus_id"]): float(h["score"]) for h in hits}
                for i, hits in enumerate(queries_result_list)
            }
            return super().compute_metrics(queries_result_list)

    return RankingEvaluator


@dataclass
class DevSet:
    """Held-out queries, their corpus and relevance, and what was left for training."""

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    source: str
    train_docs: list[Document]
    train_pairs: list[dict[str, str]]

    def evaluator(self, length: int | None = None) -> Any:
        """An IR evaluator named `dev` that scores at `length` tokens (the inference length)."""
        cls = ranking_evaluator_class()
        return cls(
            self.queries,
            self.corpus,
            self.relevant,
            name="dev",
            ndcg_at_k=[PRIMARY_CUTOFF],
            mrr_at_k=[PRIMARY_CUTOFF],
            accuracy_at_k=[1, PRIMARY_CUTOFF],
            precision_recall_at_k=[PRIMARY_CUTOFF, 100],
            map_at_k=[100],
            batch_size=64,
            write_csv=False,
            length=length,
        )


def build_dev_set(
    evaluation: EvalSettings, docs: Sequence[Document], pairs: Sequence[dict[str, str]], *, seed: int
) -> DevSet:
    """The dev set: `eval.dataset` queries, else a seeded share of the user's pairs, else mined pairs.

    Held-out pairs or documents are removed from training, so dev never scores what was trained on.
    """
    if evaluation.dataset:
        from ctxembed.scoring.beir import load_beir

        if evaluation.split == "test":
            raise ConfigError("eval.split must not be 'test': tune and select on train/dev only")
        dataset = load_beir(evaluation.dataset)
        queries, relevant = dataset.split(evaluation.split)
        corpus = {d.id: d.full_text for d in dataset.corpus}
        return DevSet(queries, corpus, relevant, f"{evaluation.dataset} ({evaluation.split})", list(docs), list(pairs))
    if pairs:
        shuffled = list(pairs)
        random.Random(seed).shuffle(shuffled)
        n_dev = max(1, int(len(shuffled) * evaluation.holdout))
        dev, train = shuffled[:n_dev], shuffled[n_dev:]
        if len(dev) < 2 or not train:
            raise CorpusError(
                f"too few pairs ({len(pairs)}) to hold out a dev share of {evaluation.holdout:.0%}; add pairs "
                f"or set eval.dataset to a BEIR folder"
            )
        positives = list(dict.fromkeys([p["positive"] for p in shuffled] + [d.full_text for d in docs]))
        ids = {text: f"d{i}" for i, text in enumerate(positives)}
        queries = {f"q{i}": p["anchor"] for i, p in enumerate(dev)}
        relevant = {f"q{i}": {ids[p["positive"]]} for i, p in enumerate(dev)}
        corpus = {doc_id: text for text, doc_id in ids.items()}
        return DevSet(queries, corpus, relevant, f"{len(dev)} held-out pairs", list(docs), train)
    shuffled_docs = list(docs)
    random.Random(seed).shuffle(shuffled_docs)
    n_dev = max(1, int(len(shuffled_docs) * evaluation.holdout))
    dev_docs, train_docs = shuffled_docs[:n_dev], shuffled_docs[n_dev:]
    # One query per held-out document (its lead sentence, else its title) against that document
    # without the query: two near-identical passages of one document would be false negatives.
    mined = [pairs[-1] for pairs in mine_pairs_by_doc(dev_docs, per_doc=1, seed=seed) if pairs]
    if len(mined) < 2 or not train_docs:
        raise CorpusError(
            f"too few documents ({len(docs)}) to hold out a dev split of {evaluation.holdout:.0%}; add documents "
            f"or set eval.dataset to a BEIR folder"
        )
    queries = {f"q{i}": p["anchor"] for i, p in enumerate(mined)}
    corpus = {f"p{i}": p["positive"] for i, p in enumerate(mined)}
    relevant = {f"q{i}": {f"p{i}"} for i in range(len(mined))}
    return DevSet(queries, corpus, relevant, f"{len(mined)} mined pairs of {n_dev} held-out documents", train_docs, [])


def verify_best_checkpoint(trainer: Any, score: float, metric: str) -> bool:
    """Whether the model the trainer reloaded at the end scores what the trainer recorded for its best checkpoint
    (warns when not: the saved model may not be the best one)."""
    best = trainer.state.best_metric
    verified = best is None or abs(best - score) < 1e-4
    if not verified:
        warnings.warn(
            f"the reloaded best checkpoint scores {metric} = {score:.4f} on dev, but the trainer recorded "
            f"{best:.4f} for it; the saved model may not be the best checkpoint",
            stacklevel=3,
        )
    return verified
