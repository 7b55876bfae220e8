from __future__ import annotations

import numpy as np
import pytest
from gensim.test.utils import datapath

from ctxembed.config import StaticConfig
from ctxembed.errors import CorpusError
from ctxembed.static import StaticEmbedder, load_vectors
from ctxembed.static.embedder import tokenize
from ctxembed.static.vectors import save_word_counts


def test_tokenize_lowercases_and_keeps_inner_hyphens():
    assert tokenize("The E-mail, Bob's   file!") == ["the", "e-mail", "bob's", "file"]
    assert tokenize("The", lowercase=False) == ["The"]


def test_mean_pooling_is_normalised_mean_of_known_words(tiny_static, tiny_vectors):
    vec = tiny_static.encode(["River bank zzzunknown"])[0]
    expected = (tiny_vectors["river"] + tiny_vectors["bank"]) / 2
    np.testing.assert_allclose(vec, expected / np.linalg.norm(expected), rtol=1e-5)
    assert vec.dtype == np.float32
    stats = tiny_static.oov_stats(["River bank zzzunknown"])
    assert stats.oov_tokens == 1 and stats.tokens == 3 and stats.empty_texts == 0


def test_sif_weights_down_frequent_words(tiny_vectors):
    sif = StaticEmbedder(tiny_vectors, name="tiny", pooling="sif")
    mean = StaticEmbedder(tiny_vectors, name="tiny", pooling="mean")
    text = "the the the the river"
    river = tiny_vectors["river"] / np.linalg.norm(tiny_vectors["river"])
    assert sif.encode([text])[0] @ river > mean.encode([text])[0] @ river


def test_sif_weights_come_from_corpus_counts_when_given(tiny_vectors, tmp_path):
    rank_based = StaticEmbedder(tiny_vectors, name="tiny", pooling="sif")
    counts = rank_based.count_words(["river river river bank", "bank zzzunknown"])
    assert counts == {"river": 3, "bank": 2}
    by_counts = rank_based.with_word_counts({"river": 1000, "bank": 1})
    river, bank = (tiny_vectors[w] / np.linalg.norm(tiny_vectors[w]) for w in ("river", "bank"))
    vec = by_counts.encode(["river bank"])[0]
    assert vec @ bank > vec @ river  # the frequent word weighs less
    assert by_counts.fingerprint() != rank_based.fingerprint()  # an index built with other weights is told apart
    # saved beside the vectors (gensim's fvocab format), the counts come back with them
    path = tmp_path / "vectors.txt"
    tiny_vectors.save_word2vec_format(str(path))
    save_word_counts({"river": 1000, "bank": 1}, path)
    assert (tmp_path / "vectors.vocab").read_text() == "river 1000\nbank 1\n"
    loaded = StaticEmbedder.from_config(StaticConfig(vectors=str(path), pooling="sif"))
    np.testing.assert_allclose(loaded.encode(["river bank"])[0], vec, rtol=1e-5)
    assert loaded.fingerprint() == by_counts.fingerprint()


def test_damaged_counts_file_names_its_line(tiny_vectors, tmp_path):
    path = tmp_path / "vectors.txt"
    tiny_vectors.save_word2vec_format(str(path))
    (tmp_path / "vectors.vocab").write_text("river 3\nbank three\n")
    with pytest.raises(CorpusError, match=r"vectors.vocab, line 2: expected 'word count'.*delete the file"):
        StaticEmbedder.from_config(StaticConfig(vectors=str(path), pooling="sif"))


def test_text_without_known_words_is_a_counted_zero_row(tiny_static):
    out = tiny_static.encode(["qqq zzz", "river"])
    assert not out[0].any() and out[1].any()
    assert tiny_static.oov_stats(["qqq zzz", "river"]).empty_texts == 1


def test_unknown_hyphenated_word_falls_back_to_parts(tiny_static, tiny_vectors):
    vec = tiny_static.encode(["river-bank"])[0]
    expected = tiny_vectors["river"] + tiny_vectors["bank"]
    np.testing.assert_allclose(vec, expected / np.linalg.norm(expected), rtol=1e-5)


def test_encode_in_context_ignores_the_context(tiny_static):
    a = tiny_static.encode_in_context("we sat on the river bank", (20, 24))
    b = tiny_static.encode_in_context("bank money loan deposit", (0, 4))
    np.testing.assert_array_equal(a, b)


def test_identity_fingerprint_tells_vector_sets_apart(tiny_vectors):
    a = StaticEmbedder(tiny_vectors, name="tiny").identity()
    changed = tiny_vectors.__class__(vector_size=16)
    changed.add_vectors(tiny_vectors.index_to_key, tiny_vectors.vectors + 1)
    b = StaticEmbedder(changed, name="tiny").identity()
    assert a["fingerprint"] != b["fingerprint"] and a["dim"] == 16 and a["backend"] == "static"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("lee_fasttext.vec", "auto"),  # word2vec text with a header
        ("test_glove.txt", "auto"),  # GloVe text, no header
        ("euclidean_vectors.bin", "word2vec-binary"),
        ("lee_fasttext.bin", "auto"),  # full fastText model, subwords
    ],
)
def test_loaders_read_gensim_test_files(name, fmt):
    kv, recorded = load_vectors(datapath(name), fmt)
    assert len(kv.index_to_key) > 0 and kv.vector_size > 0
    assert recorded == datapath(name)
    assert np.isfinite(kv.vectors).all()


def test_fasttext_bin_embeds_unseen_words_from_subwords():
    from ctxembed.static import StaticEmbedder

    kv, _ = load_vectors(datapath("lee_fasttext.bin"))
    assert "bushfirez" not in kv.key_to_index
    embedder = StaticEmbedder(kv, name="ft")
    unseen = embedder.encode(["bushfirez"])[0]
    assert unseen.any() and embedder.oov_stats(["bushfirez"]).oov_tokens == 0  # composed from its character n-grams
    expected = kv.get_vector("bushfirez") / np.linalg.norm(kv.get_vector("bushfirez"))
    np.testing.assert_allclose(unseen, expected, rtol=1e-5)
    mixed = embedder.encode(["bushfires bushfirez"])[0]
    both = kv["bushfires"] / 1 + kv.get_vector("bushfirez")
    np.testing.assert_allclose(mixed, both / np.linalg.norm(both), rtol=1e-5)


def test_malformed_vector_file_is_reported(tmp_path):
    path = tmp_path / "bad.vec"
    path.write_text("3 4\nhello 1 2 3 4\nworld 1 2\nthere 1 2 3 4\n")
    with pytest.raises(CorpusError, match=r"bad.vec, line 3 \(2 values, expected 4\)"):
        load_vectors(str(path))


@pytest.mark.slow
def test_packaged_glove_loads_with_real_neighbours():
    kv, name = load_vectors("glove-wiki-gigaword-50")
    assert name == "glove-wiki-gigaword-50"
    assert kv.vectors.shape == (400000, 50)
    assert "queen" in [w for w, _ in kv.most_similar("king", topn=10)]


def test_malformed_glove_value_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("hello 1 2 3 4\nworld 1 x 3 4\n")
    with pytest.raises(CorpusError, match=r"bad.txt, line 2 \(a value is not a number\)"):
        load_vectors(str(path))


def test_context_window_averages_neighbouring_words(tiny_static, tiny_vectors):
    windowed = tiny_static.with_context_window(1)
    vec = windowed.encode_in_context("we sat on the river bank", (20, 24))
    expected = tiny_vectors["river"] + tiny_vectors["bank"]
    np.testing.assert_allclose(vec, expected / np.linalg.norm(expected), rtol=1e-5)
    assert tiny_static.context_window == 0  # the original is unchanged
