"""How far ahead of the base model the `objective: pseudo` teacher (base model + BM25) ranks a split's queries.

python scripts/bench_hybrid_teacher.py --dataset data/manpages --split dev [--weights 0.1,0.2,0.3,0.5]

The teacher is `pseudo_labels.teacher_scores`: the base model's cosine plus BM25 (bm25s), BM25
rescaled per query to cosine units and weighted. Each line is exact search over the corpus, with
nDCG@10 and a paired-bootstrap 95% interval of its difference from the base model. A student that
only imitates the teacher cannot gain more than the teacher's lead.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> int:
    import numpy as np

    from ctxembed.contextual.embedder import ContextualEmbedder
    from ctxembed.contextual.pseudo_labels import teacher_scores
    from ctxembed.retrieval.bm25 import bm25_index, query_tokens
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.metrics import score_matrix_ndcg
    from ctxembed.scoring.significance import paired_bootstrap

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/manpages")
    parser.add_argument("--split", default="dev", help="qrels split (test once, after the choices)")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--weights", default="0.1,0.2,0.3,0.5", help="BM25 weights (pseudo.lexical_weight)")
    args = parser.parse_args()

    dataset = load_beir(args.dataset)
    queries, relevant = dataset.split(args.split)
    qids, ids = list(relevant), [d.id for d in dataset.corpus]
    texts = [d.full_text for d in dataset.corpus]
    model = ContextualEmbedder.load(args.model, device="cpu", precision="auto")
    dense = model.encode_queries([queries[q] for q in qids]) @ model.encode_documents(texts).T
    index = bm25_index(texts)
    lexical = np.stack([index.scores(t) for t in query_tokens([queries[q] for q in qids])])

    def ndcg(scores: np.ndarray) -> dict[str, float]:
        return score_matrix_ndcg(scores, qids, ids, relevant)

    base = ndcg(dense)
    lines = {"base model": base, "BM25": ndcg(lexical)}
    for weight in (float(w) for w in args.weights.split(",")):
        lines[f"teacher, weight {weight:g}"] = ndcg(teacher_scores(dense, lexical, weight, len(ids)))
    print(
        f"{args.dataset} {args.split} ({len(qids)} queries), {model.name} at {model.precision_used.value}: nDCG@10, vs base"
    )
    for name, per_query in lines.items():
        c = paired_bootstrap(base, per_query)
        mean = sum(per_query.values()) / len(per_query)
        print(f"  {name:>20}: {mean:.4f}  ({c.delta:+.4f}, {c.low:+.4f} to {c.high:+.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
