"""Contrastive static training with a teacher's help, against the shipped mined pairs: dev splits only.

python scripts/bench_contrastive_teachers.py --dataset data/manpages [--start DIR] [--variants base,filter,negatives,margin]

Each variant trains the same start model (a distilled, domain-tuned model2vec folder: `ctxembed distill
--corpus DATASET/corpus.jsonl` with `contrastive: null`, distilled here when --start is not given) with the
shipped settings and held-out selection (`ContrastiveSettings`, `build_dev_set`), changing only the data:
  base       the mined pairs with MNRL (what `ctxembed distill` ships)
  filter     only pairs whose document the teacher ranks in its top 10 for the anchor
  negatives  + a hard negative from the teacher's ranks 2-10 (MNRL triplets)
  margin     + MarginMSE on the teacher's (positive - negative) margins, trained jointly with MNRL
The teacher is the `pseudo` objective's hybrid scorer: MiniLM's cosine plus BM25 rescaled per query
(`pseudo_labels.teacher_scores`, weight 0.3). Prints dev nDCG@10 with a paired-bootstrap 95% interval
against `base`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
VARIANTS = ("base", "filter", "negatives", "margin")


def main() -> int:
    import numpy as np
    from datasets import Dataset
    from model2vec import StaticModel
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss, MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer

    from ctxembed.config import CorpusConfig
    from ctxembed.contextual.embedder import ContextualEmbedder
    from ctxembed.contextual.pseudo_labels import _encode, teacher_scores
    from ctxembed.contextual.selection import build_dev_set
    from ctxembed.contextual.settings import EvalSettings, TrainSettings
    from ctxembed.contextual.training import training_arguments
    from ctxembed.data import load_corpus
    from ctxembed.distill import DistillConfig, distill_static
    from ctxembed.distill.contrastive import to_sentence_transformer, trained_static_model
    from ctxembed.distill.settings import ContrastiveSettings
    from ctxembed.mining import mine_pairs_by_doc
    from ctxembed.retrieval.bm25 import bm25_index, query_tokens
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.metrics import exact_ndcg_per_query
    from ctxembed.scoring.significance import paired_bootstrap
    from ctxembed.static.distilled import DistilledEmbedder

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/manpages")
    parser.add_argument("--split", default="dev", help="qrels split (dev: this is for choosing)")
    parser.add_argument("--start", help="a distilled, domain-tuned model2vec folder (default: distil one)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--weight", type=float, default=0.3, help="BM25's weight in the teacher")
    args = parser.parse_args()

    corpus = str(Path(args.dataset) / "corpus.jsonl")
    dataset, docs = load_beir(args.dataset), load_corpus(CorpusConfig(path=corpus))
    queries, relevant = dataset.split(args.split)
    qids = list(relevant)
    scratch = tempfile.TemporaryDirectory(prefix="ctxembed-teachers-")  # the start model and checkpoints
    work = Path(scratch.name)
    start_folder = Path(args.start) if args.start else work / "start"
    if not args.start:
        distill_static(DistillConfig(corpus=CorpusConfig(path=corpus), contrastive=None, out=str(start_folder)))
    settings = ContrastiveSettings()
    dev = build_dev_set(EvalSettings(holdout=settings.holdout), docs, [], seed=42)  # as train_contrastive holds out
    train_docs = list(dev.train_docs)
    by_doc = mine_pairs_by_doc(train_docs, per_doc=settings.pairs_per_doc, seed=42)  # what mine_pairs joins
    pairs = [pair for doc_pairs in by_doc for pair in doc_pairs]
    owners = np.array([i for i, doc_pairs in enumerate(by_doc) for _ in doc_pairs])  # each pair's document

    teacher = ContextualEmbedder.load("sentence-transformers/all-MiniLM-L6-v2", precision="fp32").model
    texts = [d.full_text for d in train_docs] + [p["positive"] for p in pairs]
    n = len(train_docs)
    dense = _encode(teacher, [p["anchor"] for p in pairs]) @ _encode(teacher, texts).T
    index = bm25_index(texts)
    lexical = np.stack([index.scores(t) for t in query_tokens([p["anchor"] for p in pairs])])
    rows = np.arange(len(pairs))
    own_column = n + rows  # each anchor's own positive passage
    scores = teacher_scores(dense, lexical, args.weight, n)
    rank = (scores[:, :n] > scores[rows, owners][:, None]).sum(axis=1)
    top = np.argsort(-scores[:, :n], axis=1)[:, :12]
    rng = random.Random(42)
    negatives = [rng.choice([j for j in top[i] if j != owners[i]][1:10]) for i in rows]
    print(f"{args.dataset}: {len(pairs)} mined pairs; the teacher ranks the pair's document first for "
          f"{np.mean(rank == 0):.0%}, in its top 10 for {np.mean(rank < 10):.0%}", flush=True)  # fmt: skip

    def data(variant: str) -> dict[str, list[dict]]:
        base = [{"anchor": p["anchor"], "positive": p["positive"]} for p in pairs]
        if variant == "filter":
            return {"mnrl": [b for b, r in zip(base, rank) if r < 10]}
        with_negative = [{**b, "negative": train_docs[j].full_text} for b, j in zip(base, negatives)]
        if variant == "negatives":
            return {"mnrl": with_negative}
        if variant == "margin":
            margins = scores[rows, own_column] - scores[rows, negatives]
            return {"mnrl": base, "margin": [{**w, "label": float(m)} for w, m in zip(with_negative, margins)]}
        return {"mnrl": base}

    results: dict[str, dict[str, float]] = {}
    for variant in args.variants.split(","):
        model = to_sentence_transformer(start_folder)
        evaluator = dev.evaluator()
        before = evaluator(model)[evaluator.primary_metric]
        sets = {name: Dataset.from_list(rows_) for name, rows_ in data(variant).items()}
        steps = -(-len(sets["mnrl"]) // settings.batch_size)
        train = TrainSettings(epochs=settings.epochs, batch_size=settings.batch_size,
                              learning_rate=settings.learning_rate, eval_steps=steps, precision="fp32", seed=42)  # fmt: skip
        losses = {"mnrl": MultipleNegativesRankingLoss(model), "margin": MarginMSELoss(model)}
        trainer = SentenceTransformerTrainer(
            model=model,
            args=training_arguments(train, str(work / variant), evaluator.primary_metric, use_cuda=False),
            train_dataset=sets if len(sets) > 1 else sets["mnrl"],
            loss={k: losses[k] for k in sets} if len(sets) > 1 else losses["mnrl"],
            evaluator=evaluator,
        )
        trainer.train()
        after = evaluator(model)[evaluator.primary_metric]
        start = StaticModel.from_pretrained(str(start_folder))
        embedder = DistilledEmbedder(trained_static_model(model, start) if after > before else start, name=variant)
        results[variant] = exact_ndcg_per_query(
            embedder.encode_queries([queries[q] for q in qids]),
            embedder.encode_documents([d.full_text for d in dataset.corpus]),
            qids,
            [d.id for d in dataset.corpus],
            relevant,
        )
        mean = float(np.mean(list(results[variant].values())))
        line = f"{variant:<10} {args.split} nDCG@10 {mean:.4f}  held-out {before:.3f} -> {after:.3f}"
        if variant != "base" and "base" in results:
            c = paired_bootstrap(results["base"], results[variant])
            line += f"  vs base {c.delta:+.4f} ({c.low:+.4f} to {c.high:+.4f})"
        print(line, flush=True)
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
