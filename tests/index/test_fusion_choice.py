"""The label-free hybrid weight: pseudo-queries held out of their documents choose it at build time."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_calls import run_cli

from ctxembed.data import Document, load_corpus, split_sentences
from ctxembed.index import VectorIndex
from ctxembed.index.fusion_choice import GRID, MIN_GAIN, WEAK_SIDE, _with_held_out, decide
from ctxembed.mining import cloze_queries
from ctxembed.retrieval.bm25 import SparseIndex, query_tokens
from ctxembed.retrieval.fusion import QUESTION_SHARE, FusionSettings, describe, query_weight
from ctxembed.retrieval.hybrid import Candidates
from ctxembed.static import StaticEmbedder


@pytest.fixture(scope="module")
def lee_docs(lee_path):
    return load_corpus(lee_path)[:150]


@pytest.fixture(scope="module")
def bag_of_words(lee_docs):
    """Static vectors with a random vector for every word of the corpus: the dense side is a real retriever."""
    from gensim.models import KeyedVectors

    words = sorted({w for d in lee_docs for w in d.text.lower().split()})
    kv = KeyedVectors(vector_size=64)
    kv.add_vectors(words, np.random.default_rng(1).standard_normal((len(words), 64)).astype(np.float32))
    return StaticEmbedder(kv, name="bag-of-words")


def test_bm25_scores_a_text_as_if_it_were_indexed(lee_docs, tmp_path):
    texts = [d.full_text for d in lee_docs]
    sparse = SparseIndex.build(texts)
    for query in ("the bushfires threaten homes", "peace talks", "talks talks police"):
        tokens = query_tokens([query])[0]
        np.testing.assert_allclose(sparse.score_texts(tokens, texts), sparse.scores(tokens), rtol=1e-5, atol=1e-5)
    record = sparse.save(tmp_path)
    assert record["average_length"] == pytest.approx(sparse.average_length)


def test_pseudo_queries_are_neither_title_nor_lead_and_lie_in_the_text(lee_docs):
    mined = cloze_queries(lee_docs, seed=0)
    assert len(mined) > 100 and mined == cloze_queries(lee_docs, seed=0)  # seeded
    for i, sentence in mined:
        doc = lee_docs[i]
        assert sentence in doc.text and sentence != split_sentences(doc.text)[0] and sentence != doc.title


def test_the_rule_keeps_a_side_alone_where_the_other_is_weak_or_fusion_gains_nothing():
    flat = {str(w): 0.5 for w in GRID}
    assert decide({**flat, "dense": 0.5, "sparse": 0.5 * WEAK_SIDE - 0.01}) == (0.0, "dense")
    assert decide({**flat, "dense": 0.6, "sparse": 0.6 + MIN_GAIN / 2, "0.5": 0.6 + MIN_GAIN}) == (1.0, "sparse")
    assert decide({**flat, "dense": 0.6, "sparse": 0.55, "0.3": 0.7, "0.35": 0.7}) == (0.3, None)  # lowest of equals


def test_the_held_out_document_replaces_its_original_only_where_a_side_would_list_it():
    found = Candidates(
        union=np.array([3, 5, 7]),
        dense=np.array([0.9, 0.5, 0.4], np.float32),
        sparse=np.array([8.0, 2.0, 0.0], np.float32),
        dense_ranked=np.array([0, 1, 2]),
        sparse_ranked=np.array([0, 1, -1]),
        best=np.array([3, 5, 7]),
        tokens=["x"],
    )
    kept = _with_held_out(found, 3, 0.45, 1.0)
    assert kept.union.tolist() == [-1, 5, 7] and kept.dense[0] == pytest.approx(0.45) and kept.sparse[0] == 1.0
    dropped = _with_held_out(found, 3, 0.1, 0.5)  # below both sides' lists (dense 0.4, BM25 2.0)
    assert dropped.union.tolist() == [5, 7]


def test_a_build_records_the_weight_its_pseudo_queries_chose(lee_docs, bag_of_words):
    index = VectorIndex.build(bag_of_words, lee_docs, sparse=True)
    chosen = index.fusion_chosen
    assert chosen["source"] == "label-free" and chosen["queries"] >= 100
    ndcg = chosen["ndcg@10"]
    assert index.fusion.weight == chosen["weight"] and (chosen["weight"], chosen["alone"]) == decide(ndcg)
    assert 0 < ndcg["dense"] < 1 and 0 < ndcg["sparse"] < 1
    expected_share = QUESTION_SHARE if chosen["alone"] is None and ndcg["dense"] > ndcg["sparse"] else 1.0
    assert index.fusion.questions == expected_share
    again = VectorIndex.build(bag_of_words, lee_docs, sparse=True)
    assert again.fusion == index.fusion and again.fusion_chosen["ndcg@10"] == ndcg  # deterministic


def test_a_useless_model_leaves_hybrid_search_to_bm25_and_search_says_so(lee_docs, tiny_vectors_file, tmp_path, capsys):
    corpus = tmp_path / "lee.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.id, "text": d.text}) + "\n" for d in lee_docs), encoding="utf-8")
    args = ["index", "--backend", "static", "--corpus", str(corpus), "--vectors", str(tiny_vectors_file)]
    code, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "i"))
    assert code == 0 and "hybrid: BM25 alone (weight 1), chosen without labels on" in err
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text())
    assert manifest["fusion"]["weight"] == 1.0 and manifest["fusion_chosen"]["alone"] == "sparse"
    code, out, err = run_cli(capsys, "search", str(tmp_path / "i"), "bushfires threaten homes", "-k", "3")
    assert code == 0 and err.count("uses BM25 alone") == 1 and out.count("\n  ") == 3
    ids = {}
    for mode in ("hybrid", "sparse"):
        code, out, _ = run_cli(capsys, "search", str(tmp_path / "i"), "bushfires homes", "--mode", mode, "--json")
        ids[mode] = [hit["doc_id"] for hit in json.loads(out)["hits"]]
    assert ids["hybrid"] == ids["sparse"]
    code, _, err = run_cli(capsys, "search", str(tmp_path / "i"), "bushfires", "--weight", "0.5")
    assert code == 0 and "alone" not in err  # a weight given on the command line fuses


def test_a_fixed_weight_skips_the_choice_and_questions_share_the_chosen_one(lee_docs, tiny_static):
    index = VectorIndex.build(tiny_static, lee_docs[:40], sparse=True, fusion=FusionSettings(weight=0.4))
    assert index.fusion.weight == 0.4 and index.fusion_chosen is None
    chosen = FusionSettings(weight=0.3, questions=QUESTION_SHARE)
    assert query_weight("What is a socket?", chosen) == pytest.approx(0.3 * QUESTION_SHARE)
    assert query_weight("bind a name to a socket", chosen) == 0.3
    assert describe(chosen) == f"weight 0.3 (questions x{QUESTION_SHARE:g})" and describe(FusionSettings()) == (
        "query style (0.3 / 0.1)"
    )


def test_too_few_documents_keep_the_query_style_rule(tiny_static):
    docs = [Document(str(i), f"Document number {i} talks about rivers and banks today.") for i in range(5)]
    index = VectorIndex.build(tiny_static, docs, sparse=True)
    assert index.fusion.weight is None and index.fusion_chosen is None
