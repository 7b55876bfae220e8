"""Checks that need the real packaged weights (MiniLM, GloVe 6B), not a random tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from ctxembed import ContextualConfig, StaticConfig, VectorIndex, load_embedder
from ctxembed.data import load_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minilm():
    return load_embedder("contextual", ContextualConfig(device="cpu"))


@pytest.fixture(scope="module")
def lee_docs():
    return load_corpus("gensim:lee_background.cor")


def test_minilm_ranks_a_matching_lee_document_above_unrelated_ones(minilm, lee_docs):
    index = VectorIndex.build(minilm, lee_docs)
    hits = index.search("firefighters battle bushfires in New South Wales", k=5)[0]
    assert all("fire" in h.text.lower() for h in hits)
    scores = {h.doc_id: h.score for h in index.search("firefighters battle bushfires", k=300)[0]}
    cricket = next(d.id for d in lee_docs if "cricket" in d.text.lower())
    assert scores[hits[0].doc_id] > scores[cricket] + 0.2


def test_minilm_identity_records_the_packaged_name(minilm):
    identity = minilm.identity()
    assert identity["model"] == "sentence-transformers/all-MiniLM-L6-v2" and identity["dim"] == 384


def test_minilm_separates_word_senses_in_context(minilm):
    river = minilm.encode_in_context("They walked along the bank of the river.", (22, 26))
    money = minilm.encode_in_context("She deposited the cheque at the bank.", (32, 36))
    river2 = minilm.encode_in_context("Fish gathered near the muddy bank of the stream.", (29, 33))
    assert float(river @ river2) > float(river @ money)


def test_glove_sif_index_finds_the_topic(lee_docs):
    glove = load_embedder("static", StaticConfig(pooling="sif"))
    index = VectorIndex.build(glove, lee_docs)
    hits = index.search("cricket test match", k=3)[0]
    assert all("cricket" in h.text.lower() or "wicket" in h.text.lower() for h in hits)
    assert np.isclose(np.linalg.norm(glove.encode(["cricket"])[0]), 1.0)


def test_curated_words_separate_senses_in_minilm_not_in_static_vectors(minilm, wordnet):
    from ctxembed.evaluate.polysemy import word_senses

    wn = wordnet
    glove = load_embedder("static", StaticConfig())
    for word in ("server", "crane", "cell"):
        contextual = word_senses(minilm, wn, word)
        static = word_senses(glove, wn, word)
        assert contextual["senses"] >= 2 and contextual["gap"] > 0.03, word
        forms = {p["text"][p["span"][0] : p["span"][1]].lower() for p in static["points"]}
        if len(forms) == 1:  # one word form has one static vector, whatever the sense
            assert abs(static["gap"]) < 1e-5, word
