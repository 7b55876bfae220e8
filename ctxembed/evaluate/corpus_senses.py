"""Polysemy on the user's own corpus: which frequent words does the contextual model read in more
than one sense, and what do static vectors (one vector per word) make of them?

For each frequent corpus word, the contextual model embeds the word in up to `occurrences`
corpus sentences; k-means (k = 2..max_senses, best silhouette) splits those vectors into sense
clusters. A word counts as polysemous when its silhouette reaches `min_silhouette` and the
smallest cluster holds at least `min_share` of its occurrences. The report shows each sense's
example sentences beside the word's nearest neighbours under every static model, and a 2D map
(UMAP when installed, else PCA) of the occurrences.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed.config import ContextualConfig, CorpusConfig
from ctxembed.data import split_sentences
from ctxembed.errors import ConfigError, CorpusError

_WORD = re.compile(r"[A-Za-z][a-z]{2,}")


@dataclass(frozen=True)
class SensesConfig:
    """What `ctxembed senses` looks at and where it writes the report."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    contextual: ContextualConfig = field(default_factory=ContextualConfig)
    static: dict[str, str] = field(
        default_factory=lambda: {"GloVe 50d": "glove-wiki-gigaword-50"},
        metadata={"help": "Static models to compare, label -> vectors (a name, a file or a distilled folder)."},
    )
    words: tuple[str, ...] = field(default=(), metadata={"help": "Words to inspect; empty: found automatically."})
    candidates: int = field(default=200, metadata={"help": "Most frequent corpus words tested for several senses."})
    occurrences: int = field(default=40, metadata={"help": "Sentences read per word (a seeded sample)."})
    max_senses: int = field(default=3, metadata={"help": "Most sense clusters per word."})
    min_silhouette: float = field(
        default=0.25,
        metadata={"help": "Cluster separation needed to call a word polysemous (man-pages: median word 0.18)."},
    )
    min_share: float = field(default=0.15, metadata={"help": "Smallest sense's share of the word's occurrences."})
    show: int = field(default=6, metadata={"help": "Polysemous words shown in the report and plotted."})
    seed: int = field(default=42, metadata={"help": "Seeds the sentence sample and k-means."})
    out: str = field(default="runs/senses", metadata={"help": "Folder for report.md, report.json and PNGs."})

    def __post_init__(self) -> None:
        if self.occurrences < 6 or not 2 <= self.max_senses <= 8 or self.candidates < 1 or self.show < 1:
            raise ConfigError("senses needs occurrences >= 6, 2 <= max_senses <= 8, candidates >= 1 and show >= 1")
        if not 0 < self.min_share < 0.5 or not -1 <= self.min_silhouette <= 1:
            raise ConfigError("senses needs 0 < min_share < 0.5 and -1 <= min_silhouette <= 1")


def word_contexts(texts: Sequence[str], config: SensesConfig) -> dict[str, list[tuple[str, tuple[int, int]]]]:
    """Up to `occurrences` (sentence, span) pairs for each candidate word (or each of `words`)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    sentences = [s for t in texts for s in split_sentences(t) if 4 <= len(s.split()) <= 60]
    sentences = list(dict.fromkeys(sentences))  # boilerplate repeated across documents would form false "senses"
    found: dict[str, list[tuple[str, tuple[int, int]]]] = {}
    for sentence in sentences:
        seen = set()
        for match in _WORD.finditer(sentence):
            word = match.group().lower()
            if word not in seen:
                seen.add(word)
                found.setdefault(word, []).append((sentence, match.span()))
    if config.words:
        missing = [w for w in config.words if len(found.get(w.lower(), [])) < config.occurrences // 2]
        if missing:
            raise ConfigError(
                f"words: {', '.join(missing)} occur in fewer than {config.occurrences // 2} corpus sentences; "
                f"choose more frequent words or lower `occurrences`"
            )
        chosen = [w.lower() for w in config.words]
    else:
        counts = Counter({w: len(v) for w, v in found.items() if w not in ENGLISH_STOP_WORDS})
        chosen = [w for w, c in counts.most_common(config.candidates) if c >= config.occurrences // 2]
    rng = random.Random(config.seed)
    return {w: rng.sample(found[w], min(len(found[w]), config.occurrences)) for w in chosen}


def split_senses(vectors: np.ndarray, config: SensesConfig) -> tuple[np.ndarray, float]:
    """Cluster labels and silhouette of the best k-means split (k = 2..max_senses) of one word's vectors."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    best: tuple[np.ndarray, float] = (np.zeros(len(vectors), dtype=int), -1.0)
    for k in range(2, min(config.max_senses, len(vectors) - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=4, random_state=config.seed).fit_predict(vectors)
        if len(set(labels)) < 2 or np.bincount(labels).min() < config.min_share * len(labels):
            continue
        score = float(silhouette_score(vectors, labels, metric="cosine"))
        if score > best[1]:
            best = (labels, score)
    return best


def find_senses(contextual: Any, static: dict[str, Any], texts: Sequence[str], config: SensesConfig) -> dict[str, Any]:
    """The report: every candidate's silhouette, and the polysemous words with senses and neighbours."""
    from ctxembed.static.report import nearest

    contexts = word_contexts(texts, config)  # its keys, the frequent corpus words, are neighbour candidates too
    if not contexts:
        raise CorpusError(
            f"no corpus word occurs in {config.occurrences // 2} sentences; the corpus is too small for the "
            f"sense analysis (lower `occurrences`)"
        )
    items = [item for occ in contexts.values() for item in occ]
    vectors = contextual.encode_spans(items)
    start, scored, words = 0, {}, []
    for word, occ in contexts.items():
        vecs, start = vectors[start : start + len(occ)], start + len(occ)
        keep = np.linalg.norm(vecs, axis=1) > 0  # a word past the model's max length is unknown
        if keep.sum() < 6:
            continue
        labels, silhouette = split_senses(vecs[keep], config)
        scored[word] = silhouette
        words.append((word, [o for o, k in zip(occ, keep) if k], vecs[keep], labels, silhouette))
    polysemous = [w for w in words if w[4] >= config.min_silhouette or config.words]
    polysemous.sort(key=lambda w: -w[4])
    shown = []
    for word, occ, vecs, labels, silhouette in polysemous[: config.show]:
        senses = []
        for label in sorted(set(labels)):
            members = np.flatnonzero(labels == label)
            centre = vecs[members].mean(axis=0)
            closest = members[np.argsort(-(vecs[members] @ centre))][:3]
            senses.append({"size": int(len(members)), "examples": [_excerpt(*occ[i]) for i in closest]})
        neighbours = {name: nearest(kv, word, 6, also=contexts) for name, kv in static.items()}
        shown.append(
            {
                "word": word,
                "silhouette": silhouette,
                "occurrences": len(occ),
                "senses": senses,
                "neighbours": neighbours,
                "points": vecs,
                "labels": labels,
            }
        )
    return {
        "model": contextual.identity().get("model"),
        "candidates": len(contexts),
        "polysemous": len(polysemous),
        "silhouettes": dict(sorted(scored.items(), key=lambda kv: -kv[1])),
        "words": shown,
    }


def _excerpt(sentence: str, span: tuple[int, int], width: int = 70) -> str:
    """The sentence around the word, the word in **bold**."""
    start, end = span
    left = sentence[max(0, start - width) : start]
    right = sentence[end : end + width]
    return f"{'...' if start > width else ''}{left}**{sentence[start:end]}**{right}{'...' if end + width < len(sentence) else ''}"


def plot_senses(word: dict[str, Any], path: Path) -> str:
    """A 2D map of one word's occurrences, coloured by sense cluster."""
    from ctxembed.scoring.plots import colour, new_figure, project_2d, save_figure

    fig, ax = new_figure(figsize=(6, 5))
    xy, method = project_2d(word["points"])
    for label in sorted(set(word["labels"])):
        mask = word["labels"] == label
        ax.scatter(xy[mask, 0], xy[mask, 1], s=18, color=colour(2 * int(label)), label=f"sense {label + 1}")
    ax.set_title(f"'{word['word']}' in the corpus: contextual vectors, {method}")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="best", fontsize=8)
    save_figure(fig, path)
    return path.name


def render_senses(report: dict[str, Any], plots: dict[str, str]) -> str:
    """Markdown: per word, its senses' example sentences beside each static model's neighbours."""
    lines = [
        "# Word senses in the corpus: contextual vs static",
        "",
        f"Contextual model `{report['model']}`; {report['candidates']} frequent words tested, "
        f"{report['polysemous']} split into separate sense clusters.",
    ]
    for word in report["words"]:
        lines += ["", f"## {word['word']} (silhouette {word['silhouette']:.3f}, {word['occurrences']} sentences)", ""]
        for i, sense in enumerate(word["senses"], start=1):
            lines.append(f"- sense {i} ({sense['size']} sentences): " + " / ".join(sense["examples"]))
        lines += ["", "| static model | nearest neighbours (one vector for every sense) |", "| --- | --- |"]
        lines += [f"| {name} | {', '.join(hits) or '(unknown word)'} |" for name, hits in word["neighbours"].items()]
        if word["word"] in plots:
            lines += ["", f"![{word['word']}]({plots[word['word']]})"]
    return "\n".join(lines) + "\n"
