"""Lexical benchmarks bundled with gensim: SimLex-999, WordSim-353 and the Google analogies."""

from __future__ import annotations

from typing import Any

from ctxembed._io import quiet_logger
from ctxembed.assets import gensim_datapath


def lexical_scores(kv: Any, *, analogies: bool = True, restrict_vocab: int = 30000) -> dict[str, float]:
    """Spearman on SimLex-999 and WordSim-353, analogy accuracy, and the share of pairs out of vocabulary."""
    scores: dict[str, float] = {}
    with quiet_logger("gensim.models.keyedvectors"):  # gensim logs every evaluation at INFO
        for name, file in (("simlex999", "simlex999.txt"), ("wordsim353", "wordsim353.tsv")):
            try:
                _, spearman, oov = kv.evaluate_word_pairs(gensim_datapath(file), restrict_vocab=restrict_vocab * 10)
            except ValueError:  # gensim raises when every pair is out of vocabulary
                spearman, oov = (float("nan"),), 100.0
            scores[f"{name}_spearman"] = float(spearman[0])
            scores[f"{name}_oov_pct"] = float(oov)
        if analogies:
            try:
                accuracy, _ = kv.evaluate_word_analogies(
                    gensim_datapath("questions-words.txt"), restrict_vocab=restrict_vocab
                )
            except (ValueError, ZeroDivisionError):
                accuracy = float("nan")
            scores["analogy_accuracy"] = float(accuracy)
    return scores
