"""Static fine-tuning recipes side by side on a BEIR split: nDCG@10 (SIF pooling), SimLex, WordSim.

python scripts/bench_static_recipe.py data/manpages dev '{"scratch": {"init": false}, "default": {}}' [--pre]

Each variant is a JSON object of `StaticFinetuneConfig` overrides (plus "init": false for vectors
trained from scratch at the recipe's output size: pretrained + `domain_dims` dimensions), trained
with `train_recipe` / `train_vectors`, the functions `ctxembed finetune` calls (one worker, seed
42), and scored with SIF weights from the corpus
counts (as `ctxembed finetune` saves them). --pre adds the pretrained vectors' row.
Choose on dev; score test once.
"""

import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    import numpy as np
    from gensim.models import KeyedVectors

    from ctxembed.config import CorpusConfig
    from ctxembed.config.loading import override
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.lexical import lexical_scores
    from ctxembed.scoring.metrics import exact_ndcg_per_query
    from ctxembed.scoring.significance import paired_bootstrap
    from ctxembed.static.domain_dims import all_but_the_top, output_dims, train_recipe
    from ctxembed.static.embedder import StaticEmbedder
    from ctxembed.static.finetune import train_vectors
    from ctxembed.static.settings import StaticFinetuneConfig
    from ctxembed.static.vectors import load_vectors
    from ctxembed.static.words import domain_sentences, uses_lowercase

    data, split, variants = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    dataset = load_beir(data)
    queries, relevant = dataset.split(split)
    qids = list(relevant)
    ids, texts = [d.id for d in dataset.corpus], [d.full_text for d in dataset.corpus]
    pretrained, _ = load_vectors("glove-wiki-gigaword-50")
    lowercase = uses_lowercase(pretrained)
    sentences = domain_sentences(texts, lowercase=lowercase)

    per_query: dict[str, dict[str, float]] = {}

    def show(name: str, kv, seconds: float = 0.0) -> None:
        embedder = StaticEmbedder(kv, name=name, pooling="sif", lowercase=lowercase)
        embedder = embedder.with_word_counts(embedder.count_words(texts))  # SIF from the corpus, as finetune saves
        queries_vectors = embedder.encode([queries[q] for q in qids])
        per_query[name] = exact_ndcg_per_query(queries_vectors, embedder.encode(texts), qids, ids, relevant)
        ndcg = float(np.mean(list(per_query[name].values())))
        lexical = lexical_scores(kv, analogies=False)
        print(
            f"{name:40s} nDCG@10 {ndcg:.4f}  SimLex {lexical['simlex999_spearman']:.4f}  "
            f"WordSim {lexical['wordsim353_spearman']:.4f}  {seconds:.0f}s",
            flush=True,
        )

    if "--pre" in sys.argv:  # and post-processed alone, to tell what all-but-the-top buys by itself
        show("pretrained", pretrained)
        top = StaticFinetuneConfig().top_components
        post = KeyedVectors(vector_size=pretrained.vector_size, count=0, dtype=np.float32)
        post.add_vectors(list(pretrained.index_to_key), all_but_the_top(pretrained.vectors, top))
        show(f"pretrained, all-but-the-top {top}", post)
    for name, changes in variants.items():
        init = changes.pop("init", True)
        config = override(StaticFinetuneConfig(corpus=CorpusConfig(path=f"{data}/corpus.jsonl")), **changes)
        started = time.perf_counter()
        if init:
            vectors = train_recipe(config, sentences, pretrained, name=name).vectors
        else:
            dim = output_dims(config, pretrained)
            vectors = train_vectors(config, sentences, pretrained, name=name, init=False, dim=dim).vectors
        show(f"{name} ({vectors.vector_size}d)", vectors, time.perf_counter() - started)
    trained = [name for name in per_query if not name.startswith("pretrained")]
    for name in trained[1:]:
        c = paired_bootstrap(per_query[trained[0]], per_query[name])
        print(f"{name} minus {trained[0]}: {c.delta:+.4f} (95% interval {c.low:+.4f} to {c.high:+.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
