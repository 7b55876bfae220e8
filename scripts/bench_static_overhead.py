"""Benchmark: ctxembed's static fine-tuning overhead against plain gensim on the same corpus and settings.

    python scripts/bench_static_overhead.py [--corpus data/manpages/corpus.jsonl] [--repeats 3]

Both train a Word2Vec model with the same vocabulary, settings and epochs; ctxembed adds the
pretrained initialisation, per-word lock factors, one gensim call per epoch (for the drift
guard) and the anchoring callback. Printed: training words per second of each, and the overhead.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ctxembed.config import CorpusConfig
from ctxembed.data import load_corpus
from ctxembed.static.finetune import build_model, train_vectors
from ctxembed.static.settings import StaticFinetuneConfig
from ctxembed.static.vectors import load_vectors
from ctxembed.static.words import domain_sentences


def plain_gensim(config: StaticFinetuneConfig, sentences: list[list[str]], dim: int) -> float:
    """Words per second of one plain `Word2Vec.train` call over all epochs."""
    model = build_model(config, sentences, dim)
    started = time.perf_counter()
    _, raw = model.train(sentences, total_examples=model.corpus_count, epochs=config.epochs)
    return raw / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="gensim:lee_background.cor")
    parser.add_argument("--vectors", default="glove-wiki-gigaword-50")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--anchor", type=float, default=0.1)
    args = parser.parse_args()
    config = StaticFinetuneConfig(corpus=CorpusConfig(path=args.corpus), vectors=args.vectors, anchor=args.anchor)
    pretrained, _ = load_vectors(config.vectors)
    sentences = domain_sentences([d.full_text for d in load_corpus(config.corpus)], lowercase=True)
    words = sum(map(len, sentences))
    print(
        f"corpus {args.corpus}: {len(sentences)} documents, {words:,} tokens; {config.epochs} epochs, "
        f"workers={config.workers}, anchor={config.anchor}"
    )
    gensim_rates, ours_rates, ours_total = [], [], []
    for _ in range(args.repeats):
        gensim_rates.append(plain_gensim(config, sentences, pretrained.vector_size))
        started = time.perf_counter()
        trained = train_vectors(config, sentences, pretrained, name="bench", anchor=config.anchor)
        ours_total.append(time.perf_counter() - started)
        ours_rates.append(trained.words_per_second)
    g, o = float(np.median(gensim_rates)), float(np.median(ours_rates))
    print(f"plain gensim:     {g:,.0f} words/s (median of {args.repeats})")
    print(f"ctxembed train:   {o:,.0f} words/s; overhead {100 * (g - o) / g:+.1f}% (target: within 10%)")
    print(f"ctxembed total incl. vocabulary, initialisation and merge: {np.median(ours_total):.2f}s")


if __name__ == "__main__":
    main()
