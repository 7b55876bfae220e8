from __future__ import annotations

import numpy as np
import pytest


def test_encode_is_float32_and_unit_length(tiny_contextual):
    out = tiny_contextual.encode(["the river bank", "open a file", "crane"], batch_size=2)
    assert out.shape == (3, 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_encode_in_context_averages_the_tokens_of_the_span(tiny_contextual):
    text = "we sat on the river bank"
    tokens, offsets = tiny_contextual.token_vectors(text)
    rows = [i for i, (s, e) in enumerate(offsets) if (s, e) == (20, 24)]
    assert len(rows) == 1  # "bank" is one token in the tiny vocabulary
    expected = tokens[rows[0]] / np.linalg.norm(tokens[rows[0]])
    np.testing.assert_allclose(tiny_contextual.encode_in_context(text, (20, 24)), expected, rtol=1e-5)


def test_word_pieces_of_a_span_are_pooled(tiny_contextual):
    text = "the banks"
    tokens, offsets = tiny_contextual.token_vectors(text)
    inside = [i for i, (s, e) in enumerate(offsets) if e > s and s >= 4]
    assert len(inside) >= 2  # "banks" splits into word pieces
    mean = tokens[inside].mean(axis=0)
    np.testing.assert_allclose(tiny_contextual.encode_in_context(text, (4, 9)), mean / np.linalg.norm(mean), rtol=1e-5)
    first_piece = tokens[inside[0]] / np.linalg.norm(tokens[inside[0]])
    assert not np.allclose(tiny_contextual.encode_in_context(text, (4, 9)), first_piece, atol=1e-3)


def test_same_word_differs_with_context(tiny_contextual):
    a = tiny_contextual.encode_in_context("we sat on the river bank", (20, 24))
    b = tiny_contextual.encode_in_context("money in the bank account", (13, 17))
    assert not np.allclose(a, b)


def test_bad_spans(tiny_contextual):
    with pytest.raises(ValueError, match="span"):
        tiny_contextual.encode_in_context("bank", (2, 9))
    long_text = "river " * 100 + "bank"
    assert not tiny_contextual.encode_in_context(long_text, (600, 604)).any()  # past max_seq_length: unknown


def test_spans_are_encoded_in_batches_like_one_at_a_time(tiny_contextual):
    items = [("we sat on the river bank", (20, 24)), ("money in the bank account", (13, 17)), ("the banks", (4, 9))]
    batched = tiny_contextual.encode_spans(items, batch_size=2)
    for row, (text, span) in zip(batched, items):
        tokens, offsets = tiny_contextual.token_vectors(text)
        rows = [i for i, (s, e) in enumerate(offsets) if e > s and s < span[1] and e > span[0]]
        mean = tokens[rows].mean(axis=0)
        np.testing.assert_allclose(row, mean / np.linalg.norm(mean), rtol=1e-4, atol=1e-5)


def test_identity_names_model_and_fingerprint(tiny_contextual, tiny_bert_dir):
    identity = tiny_contextual.identity()
    assert identity["backend"] == "contextual"
    assert identity["model"] == str(tiny_bert_dir.resolve())
    assert identity["dim"] == 32 and len(identity["fingerprint"]) == 16
    assert identity["adapter"] is None


def test_a_model_with_prompts_gets_them_for_queries_and_documents(tiny_bert_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    from ctxembed import VectorIndex
    from ctxembed.contextual import ContextualEmbedder
    from ctxembed.data import Document
    from ctxembed.errors import IndexMismatchError

    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    model.prompts = {"query": "query: ", "document": "passage: "}
    model.save(str(tmp_path / "prompted"))
    embedder = ContextualEmbedder.load(str(tmp_path / "prompted"), device="cpu")
    plain = embedder.encode(["river bank"])
    np.testing.assert_allclose(
        embedder.encode_queries(["river bank"]), embedder.encode(["query: river bank"]), atol=1e-6
    )
    np.testing.assert_allclose(
        embedder.encode_documents(["river bank"]), embedder.encode(["passage: river bank"]), atol=1e-6
    )
    assert not np.allclose(embedder.encode_queries(["river bank"]), plain)
    index = VectorIndex.build(embedder, [Document("1", "river bank"), Document("2", "web server")])
    assert index.manifest()["embedder"]["prompts"] == {"query": "query: ", "document": "passage: "}
    index.save(tmp_path / "idx")
    model.prompts = {"query": "search: ", "document": "passage: "}
    model.save(str(tmp_path / "prompted"))  # the same weights, another query prompt
    with pytest.raises(IndexMismatchError, match="prompts"):
        VectorIndex.load(tmp_path / "idx", ContextualEmbedder.load(str(tmp_path / "prompted"), device="cpu"))
