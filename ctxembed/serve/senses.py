"""The page's "senses" tab: a word's senses in the corpus (the `ctxembed senses` machinery) beside static neighbours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ctxembed.errors import ConfigError, CorpusError
from ctxembed.serve.limits import ApiError

MAX_DOCS = 5000  # documents read for a word's sentences (the first ones of the contextual index)


def word_senses_view(indexes: Mapping[str, Any], word: str) -> dict[str, Any]:
    """Senses of `word`: clusters of its occurrences under the first contextual index's model, a 2D map of
    them (PCA), example sentences per sense, and each static index's nearest neighbours of the word."""
    from ctxembed.evaluate.corpus_senses import SensesConfig, find_senses
    from ctxembed.scoring.plots import project_2d

    # an index with a word-vector table gives static neighbours; the first without one reads words in context
    tables = {name: served.index.embedder.word_vectors() for name, served in indexes.items()}
    static = {name: vectors for name, vectors in tables.items() if vectors is not None}
    contextual = next((indexes[name] for name, vectors in tables.items() if vectors is None), None)
    if contextual is None:
        raise ApiError(422, "the senses view needs a contextual index among the loaded ones", field="word")
    texts = [contextual.index.docs[i].full_text for i in contextual.index.live_positions()[:MAX_DOCS]]
    try:
        report = find_senses(contextual.index.embedder, static, texts, SensesConfig(words=(word.lower(),)))
    except (ConfigError, CorpusError) as exc:
        raise ApiError(422, f"{word!r}: {exc}", field="word") from exc
    (found,) = report["words"]
    xy, method = project_2d(found["points"], umap_ok=False)
    return {
        "word": found["word"],
        "model": contextual.name,
        "silhouette": found["silhouette"],
        "occurrences": found["occurrences"],
        "senses": found["senses"],
        "points": [[float(x), float(y)] for x, y in xy],
        "labels": [int(label) for label in found["labels"]],
        "projection": method,
        "neighbours": found["neighbours"],
    }
