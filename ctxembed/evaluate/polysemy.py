"""Word-in-context evaluation: does an embedder tell word senses apart in context?

A WiC-style set is built from WordNet 3.0 example sentences: each pair holds two sentences
with the same target word, the word's character spans, and whether both use the same sense.
Labels are balanced per lemma and the lemmas (not the pairs) are split into dev and test.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed.types import Embedder


@dataclass(frozen=True)
class Occurrence:
    """A word in one example sentence, with its sense."""

    lemma: str
    pos: str
    sense: str  # WordNet synset name, e.g. bank.n.01
    text: str
    span: tuple[int, int]


@dataclass(frozen=True)
class WicPair:
    """Two occurrences of one lemma; `same` is True when they share a sense."""

    lemma: str
    a: Occurrence
    b: Occurrence
    same: bool
    split: str


def find_span(lemma: str, sentence: str) -> tuple[int, int] | None:
    """The first occurrence of the lemma (or an inflection that starts with it) as a whole word."""
    match = re.search(rf"\b{re.escape(lemma)}(?:s|es|ed|d|ing|er|ers)?\b", sentence, flags=re.IGNORECASE)
    return match.span() if match else None


def occurrences(wn: Any, lemma: str, pos: str) -> dict[str, list[Occurrence]]:
    """Example sentences of each sense of `lemma` that contain the word, by synset name."""
    found: dict[str, list[Occurrence]] = {}
    for synset in wn.synsets(lemma, pos=pos):
        if lemma not in {name.lower() for name in synset.lemma_names()}:
            continue
        for example in synset.examples():
            span = find_span(lemma, example)
            if span is not None:
                found.setdefault(synset.name(), []).append(Occurrence(lemma, pos, synset.name(), example, span))
    return found


def lemma_split(lemma: str) -> str:
    """dev or test, from a hash of the lemma, so no word appears in both."""
    return "dev" if int(hashlib.sha1(lemma.encode("utf-8")).hexdigest(), 16) % 2 == 0 else "test"


def build_wic(wn: Any, *, seed: int = 0, max_pairs_per_lemma: int = 4) -> list[WicPair]:
    """Balanced same/different-sense pairs for every polysemous single-word noun and verb."""
    rng = random.Random(seed)
    pairs: list[WicPair] = []
    for pos in ("n", "v"):
        lemmas = sorted({name.lower() for s in wn.all_synsets(pos) for name in s.lemma_names() if name.isalpha()})
        for lemma in lemmas:
            senses = occurrences(wn, lemma, pos)
            if len(senses) < 2:
                continue
            same = [(a, b) for occ in senses.values() for i, a in enumerate(occ) for b in occ[i + 1 :]]
            names = sorted(senses)
            different = [
                (a, b) for i, s in enumerate(names) for t in names[i + 1 :] for a in senses[s] for b in senses[t]
            ]
            n = min(len(same), len(different), max_pairs_per_lemma // 2)
            if n == 0:
                continue
            split = lemma_split(lemma)
            for a, b in rng.sample(same, n):
                pairs.append(WicPair(lemma, a, b, True, split))
            for a, b in rng.sample(different, n):
                pairs.append(WicPair(lemma, a, b, False, split))
    return pairs


def pair_similarities(embedder: Embedder, pairs: Sequence[WicPair]) -> np.ndarray:
    """Cosine similarity of the target word's two in-context vectors, per pair.

    A word the embedder cannot place (beyond its max_seq_length) scores 0 with anything.
    """
    keys = list(dict.fromkeys((occ.text, occ.span) for p in pairs for occ in (p.a, p.b)))
    vectors = dict(zip(keys, embedder.encode_spans(keys)))  # one batched pass; zeros for unknown words
    return np.array([float(vectors[(p.a.text, p.a.span)] @ vectors[(p.b.text, p.b.span)]) for p in pairs])


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn); NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The similarity threshold that maximises accuracy (tuned on dev only)."""
    candidates = np.unique(scores)
    accuracies = [((scores >= t) == labels).mean() for t in candidates]
    return float(candidates[int(np.argmax(accuracies))])


def evaluate_wic(embedder: Embedder, pairs: Sequence[WicPair]) -> dict[str, float]:
    """Threshold tuned on dev pairs; accuracy and ROC-AUC reported on test pairs."""
    dev = [p for p in pairs if p.split == "dev"]
    test = [p for p in pairs if p.split == "test"]
    dev_scores, test_scores = pair_similarities(embedder, dev), pair_similarities(embedder, test)
    dev_labels = np.array([p.same for p in dev])
    test_labels = np.array([p.same for p in test])
    threshold = best_threshold(dev_scores, dev_labels)
    return {
        "threshold": threshold,
        "dev_accuracy": float(((dev_scores >= threshold) == dev_labels).mean()),
        "test_accuracy": float(((test_scores >= threshold) == test_labels).mean()),
        "test_auc": roc_auc(test_scores, test_labels),
        "dev_pairs": len(dev),
        "test_pairs": len(test),
    }


def curated_occurrences(word: str) -> dict[str, list[Occurrence]]:
    """Hand-written uses of each sense of a curated word (WordNet has few examples for most words)."""
    table = json.loads((Path(__file__).parent / "data" / "curated_senses.json").read_text(encoding="utf-8"))
    found: dict[str, list[Occurrence]] = {}
    for sense, sentences in table.get(word, {}).items():
        for sentence in sentences:
            span = find_span(word, sentence)
            if span is not None:
                found.setdefault(sense, []).append(Occurrence(word, sense.split(".")[-2], sense, sentence, span))
    return found


def word_senses(embedder: Embedder, wn: Any, word: str) -> dict[str, Any]:
    """Within-sense vs across-sense similarity of one word's occurrences, and their vectors.

    Occurrences are the curated sentences plus WordNet's own examples that contain the word.
    """
    found = curated_occurrences(word)
    for sense, occs in {**occurrences(wn, word, "n"), **occurrences(wn, word, "v")}.items():
        found.setdefault(sense, []).extend(occs)
    occs = [o for group in found.values() for o in group]
    if len(found) < 2:
        return {"word": word, "senses": len(found), "occurrences": len(occs)}
    vectors = embedder.encode_spans([(o.text, o.span) for o in occs])
    known = np.linalg.norm(vectors, axis=1) > 0  # a word the model cannot place is left out
    occs, vectors = [o for o, k in zip(occs, known) if k], vectors[known]
    if len({o.sense for o in occs}) < 2:
        return {"word": word, "senses": len(found), "occurrences": len(occs)}
    sims = vectors @ vectors.T
    senses = [o.sense for o in occs]
    within = [sims[i, j] for i in range(len(occs)) for j in range(i + 1, len(occs)) if senses[i] == senses[j]]
    across = [sims[i, j] for i in range(len(occs)) for j in range(i + 1, len(occs)) if senses[i] != senses[j]]
    return {
        "word": word,
        "senses": len(found),
        "occurrences": len(occs),
        "within_sense": float(np.mean(within)) if within else float("nan"),
        "across_sense": float(np.mean(across)),
        "gap": (float(np.mean(within)) - float(np.mean(across))) if within else float("nan"),
        "points": [{**asdict(o), "vector": v} for o, v in zip(occs, vectors)],
    }
