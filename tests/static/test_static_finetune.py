from __future__ import annotations

import json

import numpy as np
import pytest

from ctxembed.config import CorpusConfig, StaticConfig
from ctxembed.errors import ConfigError, CorpusError, OutputExistsError
from ctxembed.static.embedder import StaticEmbedder
from ctxembed.static.finetune import merge_vectors, train_vectors
from ctxembed.static.run import VECTORS_FILE, finetune_static
from ctxembed.static.settings import Algorithm, StaticFinetuneConfig
from ctxembed.static.vectors import load_vectors, load_word_counts
from ctxembed.static.words import coverage, domain_sentences, uses_lowercase

pytestmark = pytest.mark.slow  # each test trains gensim vectors


@pytest.fixture(scope="module")
def lee_sentences():
    from ctxembed.data import load_corpus

    return domain_sentences([d.text for d in load_corpus("gensim:lee_background.cor")], lowercase=True)


@pytest.fixture(scope="module")
def small_glove(lee_sentences):
    """The real GloVe rows of the Lee vocabulary (plus frequent words), to keep tests fast."""
    from gensim.models import KeyedVectors

    full, _ = load_vectors("glove-wiki-gigaword-50")
    words = list(dict.fromkeys(full.index_to_key[:20000] + [w for s in lee_sentences for w in s if w in full]))
    kv = KeyedVectors(vector_size=50)
    kv.add_vectors(words, full.vectors[[full.key_to_index[w] for w in words]])
    return kv


def config(**changes) -> StaticFinetuneConfig:
    return StaticFinetuneConfig(**{"epochs": 3, "min_count": 3, "baselines": False, **changes})


def test_coverage_counts_known_new_and_oov(small_glove):
    sentences = [["river", "bank", "zzqx", "zzqx", "zzqx", "qqwy"]]
    c = coverage(sentences, small_glove, min_count=3)
    assert c["known_types"] == 2 and c["new_types"] == 1 and c["oov_types"] == 1
    assert c["known_token_share"] == pytest.approx(2 / 6) and c["new_token_share"] == pytest.approx(3 / 6)


def test_known_words_start_from_pretrained_and_new_words_are_added(small_glove, lee_sentences):
    trained = train_vectors(config(epochs=1, lock_known=0.0), lee_sentences, small_glove, name="t")
    new = [w for w in trained.model.wv.index_to_key if w not in small_glove]
    assert new and all(w in trained.vectors for w in new)  # new domain words join the vocabulary
    assert len(trained.vectors) == len(small_glove) + len(new)
    np.testing.assert_array_equal(trained.vectors["king"], small_glove["king"])  # not in the corpus: untouched


def test_lock_factor_zero_freezes_known_vectors_bit_for_bit(small_glove, lee_sentences):
    trained = train_vectors(config(lock_known=0.0, lock_new=1.0), lee_sentences, small_glove, name="t")
    known = [w for w in trained.model.wv.index_to_key if w in small_glove]
    assert len(known) > 1000 and {"sydney", "government", "police"} <= set(known)
    for word in known:
        np.testing.assert_array_equal(trained.vectors[word], small_glove[word])
    new = [w for w in trained.model.wv.index_to_key if w not in small_glove]
    assert new and trained.model.wv.vectors_lockf[trained.model.wv.key_to_index[new[0]]] == 1.0


def test_lock_factor_one_trains_known_vectors(small_glove, lee_sentences):
    trained = train_vectors(config(), lee_sentences, small_glove, name="t")
    assert not np.array_equal(trained.vectors["sydney"], small_glove["sydney"])


def test_anchoring_reduces_drift_on_a_fixed_seed(small_glove, lee_sentences):
    plain = train_vectors(config(epochs=5), lee_sentences, small_glove, name="plain")
    anchored = train_vectors(config(epochs=5), lee_sentences, small_glove, name="anchored", anchor=0.5)
    words = [w for w in plain.model.wv.index_to_key if w in small_glove]

    def drift(kv):
        a = np.stack([kv[w] for w in words])
        b = np.stack([small_glove[w] for w in words])
        return float(np.linalg.norm(a - b, axis=1).mean())

    assert drift(anchored.vectors) < 0.7 * drift(plain.vectors)


def test_drift_limit_stops_training(small_glove, lee_sentences):
    from ctxembed.scoring.lexical import lexical_scores
    from ctxembed.static.finetune import drift_guard

    before = lexical_scores(small_glove, analogies=False)
    strict = drift_guard(small_glove, before, limit=0.001)  # a high learning rate drifts more than this at once
    trained = train_vectors(config(alpha=0.1, epochs=3), lee_sentences, small_glove, name="t", drift_check=strict)
    assert trained.stopped_early and len(trained.history) == 1
    loose = drift_guard(small_glove, before, limit=10.0)  # Spearman cannot fall by more than 2
    trained = train_vectors(config(alpha=0.1, epochs=3), lee_sentences, small_glove, name="t", drift_check=loose)
    assert not trained.stopped_early and len(trained.history) == 3


def test_training_is_reproducible_with_one_worker(small_glove, lee_sentences):
    a = train_vectors(config(epochs=1), lee_sentences, small_glove, name="a")
    b = train_vectors(config(epochs=1), lee_sentences, small_glove, name="b")
    np.testing.assert_array_equal(a.model.wv.vectors, b.model.wv.vectors)


def test_merge_keeps_pretrained_order_and_appends_new_words(small_glove):
    from gensim.models import KeyedVectors

    trained = KeyedVectors(vector_size=50)
    trained.add_vectors(["the", "zzqx"], np.ones((2, 50), dtype=np.float32))
    merged = merge_vectors(small_glove, trained)
    assert merged.index_to_key[: len(small_glove)] == small_glove.index_to_key
    assert merged.index_to_key[-1] == "zzqx" and (merged["the"] == 1).all()


def test_full_run_writes_vectors_and_reports(tmp_path, small_glove, monkeypatch):
    import ctxembed.static.run as run

    monkeypatch.setattr(run, "load_vectors", lambda name: (small_glove, "small-glove"))
    out = tmp_path / "out"
    result = finetune_static(
        config(
            corpus=CorpusConfig(path="gensim:lee_background.cor"),
            anchor=0.5,
            baselines=True,
            out=str(out),
            top_components=0,  # post-processing off: pretrained rows stay as they were (see test_postprocess_*)
            domain_top_components=0,
        )
    )
    report = result.data
    assert result.primary_metric == "wordsim353_spearman" and result.tuned_metrics == report["lexical"]["fine-tuned"]
    assert set(report["lexical"]) == {"pretrained", "fine-tuned", "fine-tuned (plain)", "from scratch"}
    files = {p.name for p in out.iterdir()}
    assert {"report.json", "report.md", "neighbours.png", VECTORS_FILE} <= files
    assert {"vectors-fine-tuned-plain.bin", "vectors-from-scratch.bin"} <= files
    assert {"vectors.vocab", "vectors-fine-tuned-plain.vocab", "vectors-from-scratch.vocab"} <= files
    counts = load_word_counts(str(out / VECTORS_FILE))  # the domain's counts: SIF weights of the saved vectors
    assert counts["the"] > counts["government"] > 0 and "zzzunknown" not in counts
    tuned = StaticEmbedder.from_config(StaticConfig(vectors=str(out / VECTORS_FILE), pooling="sif"))
    assert tuned.word_counts == counts
    assert len(report["neighbours"]) == 5 and all(len(r["after"]) == 5 for r in report["neighbours"].values())
    kv, _ = load_vectors(str(out / VECTORS_FILE))  # word2vec binary, readable by plain gensim
    assert len(kv) > len(small_glove) and kv.vector_size == 50 + 100  # pretrained + domain dimensions
    absent = next(w for w in small_glove.index_to_key if w not in counts)  # not in the corpus: pretrained, zeros
    assert not np.any(kv[absent][50:]) and np.array_equal(kv[absent][:50], small_glove[absent])
    assert np.any(kv["sydney"][50:])
    runs = report["runs"]
    assert set(runs) == {"fine-tuned", "fine-tuned (plain)", "from scratch"} and runs["fine-tuned"]["dimensions"] == 150
    assert runs["from scratch"]["dimensions"] == 150 and runs["fine-tuned (plain)"]["dimensions"] == 50
    saved = json.loads((out / "report.json").read_text())
    assert saved["coverage"]["known_token_share"] > 0.9 and saved["mode"] == "regularised"
    with pytest.raises(OutputExistsError):
        finetune_static(config(corpus=CorpusConfig(path="gensim:lee_background.cor"), out=str(out)))


def test_fasttext_bin_continues_training_with_subwords(tmp_path):
    from ctxembed.static.embedder import StaticEmbedder

    result = finetune_static(
        config(
            vectors="gensim:lee_fasttext.bin",
            algorithm=Algorithm.FASTTEXT,
            epochs=1,
            corpus=CorpusConfig(path="gensim:lee_background.cor"),
            out=str(tmp_path / "ft"),
        )
    )
    assert result.data["coverage"]["known_types"] > 0
    kv, _ = load_vectors(str(tmp_path / "ft" / VECTORS_FILE))
    assert kv.vector_size == 10
    # the output is a full fastText model: its subwords still compose words it never saw
    assert hasattr(kv, "vectors_ngrams") and "zzgovernmentalish" not in kv.key_to_index
    embedder = StaticEmbedder(kv, name="ft")
    assert np.linalg.norm(embedder.encode(["zzgovernmentalish"])[0]) > 0


def test_bad_inputs(tmp_path, small_glove, monkeypatch):
    import ctxembed.static.run as run

    monkeypatch.setattr(run, "load_vectors", lambda name: (small_glove, "small-glove"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    from ctxembed.errors import CorpusError as Err

    with pytest.raises(Err, match="holds no documents"):
        finetune_static(config(corpus=CorpusConfig(path=str(empty)), out=str(tmp_path / "a")))
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("\n".join(["qzxv wqpz zzqx xqzw vvqz"] * 20))
    with pytest.raises(CorpusError, match="shares no word with the pretrained vectors.*from scratch"):
        finetune_static(config(corpus=CorpusConfig(path=str(foreign)), out=str(tmp_path / "b")))
    with pytest.raises(ConfigError, match="must be a .bin file"):
        finetune_static(
            config(
                algorithm=Algorithm.FASTTEXT,
                corpus=CorpusConfig(path="gensim:lee_background.cor"),
                out=str(tmp_path / "c"),
            )
        )
    with pytest.raises(ConfigError, match="lock_known must be between 0 and 1"):
        config(lock_known=2.0)
    with pytest.raises(ConfigError, match="domain_dims must be >= 0 or null and domain_weight > 0"):
        config(domain_weight=0.0)
    with pytest.raises(ConfigError, match="top_components and domain_top_components must be >= 0"):
        config(top_components=-1)
    with pytest.raises(ConfigError, match="domain_dims needs algorithm: word2vec.*set domain_dims: 0"):
        config(algorithm=Algorithm.FASTTEXT, domain_dims=50)
    assert config(algorithm=Algorithm.FASTTEXT).domain_size == 0 and config().domain_size == 100
    with pytest.raises(ConfigError, match="eval_split must not be 'test'"):
        config(eval_split="test")


def test_domain_dimensions_train_beside_locked_pretrained_ones(small_glove, lee_sentences):
    trained = train_vectors(config(epochs=2, lock_known=0.0), lee_sentences, small_glove, name="t", dim=54)
    kv = trained.vectors
    assert kv.vector_size == 54 and len(kv) > len(small_glove)
    np.testing.assert_array_equal(kv["police"][:50], small_glove["police"])  # lock 0: pretrained part held
    start = np.linalg.norm(small_glove["police"])
    assert np.any(kv["police"][50:]) and 0.05 * start < np.linalg.norm(kv["police"][50:]) < 5 * start
    absent = next(w for w in small_glove.index_to_key if w not in trained.model.wv.key_to_index)
    assert not np.any(kv[absent][50:]) and np.array_equal(kv[absent][:50], small_glove[absent])
    free = train_vectors(config(epochs=2, lock_known=1.0), lee_sentences, small_glove, name="t", dim=54)
    assert not np.allclose(free.vectors["police"][:50], small_glove["police"])
    with pytest.raises(ConfigError, match="need >= 50 dimensions"):
        train_vectors(config(), lee_sentences, small_glove, name="t", dim=40)


def test_all_but_the_top_removes_the_mean_and_top_directions():
    from ctxembed.static.domain_dims import all_but_the_top

    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(500, 8)) + 3.0
    matrix[:, 0] *= 10  # a dominant direction
    out = all_but_the_top(matrix, 1)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-4)
    assert np.abs(out[:, 0]).mean() < 0.2 * np.abs(matrix[:, 0] - matrix[:, 0].mean()).mean()
    np.testing.assert_array_equal(all_but_the_top(matrix, 0), matrix.astype(np.float32))  # 0: unchanged
    with pytest.raises(ConfigError, match="lower top_components"):
        all_but_the_top(matrix, 8)


def test_postprocess_scales_the_domain_part_and_keeps_zeros(small_glove):
    from gensim.models import KeyedVectors

    from ctxembed.static.domain_dims import all_but_the_top, postprocess

    rng = np.random.default_rng(0)
    vectors = KeyedVectors(vector_size=54)
    words = small_glove.index_to_key[:300]
    domain = np.zeros((300, 4), np.float32)
    domain[:100] = rng.normal(size=(100, 4))  # the first 100 words are "in the corpus"
    vectors.add_vectors(words, np.hstack([small_glove.vectors[:300], domain]))
    out = postprocess(config(domain_weight=0.5), vectors, words[:100], 50)
    np.testing.assert_allclose(out.vectors[:, :50], all_but_the_top(small_glove.vectors[:300], 3), rtol=1e-5)
    assert not np.any(out.vectors[100:, 50:])  # not in the corpus: zeros
    ratio = np.median(np.linalg.norm(out.vectors[:100, 50:], axis=1)) / np.median(
        np.linalg.norm(out.vectors[:, :50], axis=1)
    )
    assert ratio == pytest.approx(0.5, rel=1e-4)
    raw = postprocess(config(top_components=0, domain_top_components=0), vectors, words[:100], 50)
    np.testing.assert_array_equal(raw.vectors[:, :50], small_glove.vectors[:300])


def test_report_retrieval_weights_each_variant_by_its_corpus_counts(tmp_path, small_glove, lee_sentences, monkeypatch):
    import ctxembed.static.embedder as embedder_module
    from ctxembed.data import Document
    from ctxembed.scoring.beir import BeirDataset
    from ctxembed.static.finetune import TrainedVectors
    from ctxembed.static.report import measure

    docs = [Document(f"d{i}", " ".join(s[:40])) for i, s in enumerate(lee_sentences[:30])]
    BeirDataset(docs, {"q": docs[0].text[:60]}, {"dev": {"q": {"d0": 1}}}).save(tmp_path / "beir")
    seen: dict[str, object] = {}

    class Spy(embedder_module.StaticEmbedder):
        def __init__(self, vectors, **kwargs):
            seen[kwargs["name"]] = kwargs.get("word_counts")
            super().__init__(vectors, **kwargs)

    monkeypatch.setattr(embedder_module, "StaticEmbedder", Spy)
    counts = {"pretrained": {"the": 5, "police": 2}, "fine-tuned": {"the": 7}}
    from ctxembed.scoring.lexical import lexical_scores

    report = {"lexical": {"pretrained": lexical_scores(small_glove)}}
    run = TrainedVectors("fine-tuned", None, small_glove)
    variants = {"pretrained": small_glove, "fine-tuned": small_glove}
    cfg = config(eval_dataset=str(tmp_path / "beir"), pooling="sif")
    measure(report, cfg, variants, counts, lee_sentences[:30], small_glove, run, True)
    assert seen == counts and set(report["retrieval"]) == set(variants)


def test_mismatched_dimensions_are_refused(tmp_path, small_glove):
    from gensim.models import KeyedVectors

    from ctxembed.static.finetune import merge_vectors as merge

    other = KeyedVectors(vector_size=10)
    other.add_vectors(["river"], np.ones((1, 10), dtype=np.float32))
    with pytest.raises(ConfigError, match="dimensions"):
        merge(small_glove, other)


def test_lowercase_detection(small_glove):
    from gensim.models import KeyedVectors

    cased = KeyedVectors(vector_size=2)
    cased.add_vectors(["Paris", "the"], np.ones((2, 2), dtype=np.float32))
    assert uses_lowercase(small_glove) and not uses_lowercase(cased)


def test_long_documents_are_cut_so_gensim_keeps_every_token():
    from ctxembed.static.words import MAX_SENTENCE

    text = " ".join(f"w{i % 97}" for i in range(2 * MAX_SENTENCE + 5))
    pieces = domain_sentences([text], lowercase=True)
    assert [len(p) for p in pieces] == [MAX_SENTENCE, MAX_SENTENCE, 5]


def test_new_words_start_as_long_as_pretrained_ones(small_glove, lee_sentences):
    # one epoch at a tiny learning rate: the vectors are (almost) their initial values
    trained = train_vectors(config(epochs=1, alpha=1e-6), lee_sentences, small_glove, name="t")
    new = [w for w in trained.model.wv.index_to_key if w not in small_glove]
    known = [w for w in trained.model.wv.index_to_key if w in small_glove]
    new_norm = np.median([np.linalg.norm(trained.vectors[w]) for w in new])
    known_norm = np.median([np.linalg.norm(small_glove[w]) for w in known])
    assert new_norm == pytest.approx(known_norm, rel=0.05)


def test_lock_count_keeps_rare_known_words_closer(small_glove, lee_sentences):
    from ctxembed.static.finetune import known_word_locks

    trained = train_vectors(config(epochs=1, lock_count=50), lee_sentences, small_glove, name="t")
    wv = trained.model.wv
    rows = np.array([i for i, w in enumerate(wv.index_to_key) if w in small_glove])
    locks = known_word_locks(config(lock_count=50), wv, rows)
    counts = np.array([wv.get_vecattr(wv.index_to_key[i], "count") for i in rows])
    known = config().lock_known  # the default: pretrained words train at a quarter of the rate
    assert known == 0.25 and np.all(locks[rows][counts >= 50] == known)
    np.testing.assert_allclose(locks[rows][counts < 50], known * counts[counts < 50] / 50)


def test_warmup_epochs_hold_pretrained_words_then_release_them(small_glove, lee_sentences):
    held = train_vectors(config(epochs=2, warmup_epochs=1), lee_sentences, small_glove, name="t")
    once = train_vectors(config(epochs=1, lock_known=0.0), lee_sentences, small_glove, name="t")
    # after the warm-up epoch the known words moved (they were released for epoch 2) ...
    assert not np.allclose(held.vectors["police"], small_glove["police"])
    # ... but during it they were held, as with lock_known 0
    np.testing.assert_array_equal(once.vectors["police"], small_glove["police"])


@pytest.mark.parametrize("changes", [{"lock_count": -1}, {"warmup_epochs": 3, "epochs": 3}, {"warmup_epochs": -1}])
def test_recipe_settings_are_validated(changes):
    with pytest.raises(ConfigError):
        config(**changes)


def test_fasttext_settings_apply_and_lock_zero_freezes_subwords_too(lee_sentences):
    from ctxembed.static.finetune import load_fasttext_model

    cfg = config(vectors="gensim:lee_fasttext.bin", algorithm=Algorithm.FASTTEXT, sg=False, window=3, negative=7)
    model = load_fasttext_model(cfg, lee_sentences)
    assert (model.sg, model.window, model.negative, model.seed) == (0, 3, 7, 42)
    pretrained, _ = load_vectors("gensim:lee_fasttext.bin")
    frozen = train_vectors(
        config(vectors="gensim:lee_fasttext.bin", algorithm=Algorithm.FASTTEXT, lock_known=0.0, epochs=1),
        lee_sentences,
        pretrained,
        name="t",
    )
    np.testing.assert_array_equal(frozen.model.wv.vectors_ngrams, pretrained.vectors_ngrams)


def test_neighbour_tables_can_show_new_domain_words(small_glove):
    from gensim.models import KeyedVectors

    from ctxembed.static.report import TOP_WORDS, neighbour_table

    after = KeyedVectors(vector_size=50)
    after.add_vectors(small_glove.index_to_key, small_glove.vectors.copy())
    filler = [f"filler{i}" for i in range(TOP_WORDS + 10 - len(after))]
    after.add_vectors(filler, np.random.default_rng(0).normal(size=(len(filler), 50)).astype(np.float32) * 1e-3)
    after.add_vectors(["syscallx"], small_glove["river"][None, :] * 1.01)  # a new word, past TOP_WORDS
    table = neighbour_table(["river"], small_glove, after, also=["syscallx"])
    assert table["river"]["after"][0] == "syscallx"
    assert "syscallx" not in neighbour_table(["river"], small_glove, after)["river"]["after"]
