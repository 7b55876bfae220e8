"""`ctxembed distill`'s contrastive step: MNRL on the corpus's own mined pairs, kept only when it wins on held-out pairs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("model2vec")

from ctxembed.config import CorpusConfig  # noqa: E402
from ctxembed.config.loading import from_dict  # noqa: E402
from ctxembed.data import load_corpus  # noqa: E402
from ctxembed.distill.contrastive import training_pairs  # noqa: E402
from ctxembed.distill.distillation import REPORT_FILE, distill_static  # noqa: E402
from ctxembed.distill.settings import ContrastiveSettings, DistillConfig  # noqa: E402
from ctxembed.errors import ConfigError, CorpusError  # noqa: E402
from ctxembed.mining import mine_pairs  # noqa: E402

FILLERS = [
    "The {a} sat near the {b} in the system.",
    "We went to read the {a} with the {b} library.",
    "They write the {b} file and close the {a} process.",
    "She is on the {a} network at the {b} server.",
    "He went from the {b} bank to the {a} site with workers.",
]


def made_up_words(n: int, seed: int = 0) -> list[str]:
    """Distinct pronounceable words the tiny BERT only knows as letters."""
    rng = random.Random(seed)
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    words: list[str] = []
    while len(words) < n:
        word = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(3))
        if word not in words:
            words.append(word)
    return words


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """160 documents on 20 topics. A document's lead sentence uses its topic's two query words, the rest its
    topic's two passage words, and each sentence one word of its own: the lead and the rest of a document share
    no word, so only what training learns from other documents of the topic (query words go with passage
    words) ranks a held-out document's rest first for its lead."""
    words = made_up_words(80 + 160 * 5)
    path = tmp_path_factory.mktemp("contrastive") / "corpus.jsonl"
    rows = []
    for i in range(160):
        t, own = i % 20, iter(words[80 + 5 * i : 85 + 5 * i])
        q1, q2, d1, d2 = words[4 * t : 4 * t + 4]
        lead = FILLERS[0].format(a=q1, b=f"{q2} {next(own)}")
        rest = [f.format(a=d1, b=f"{d2} {next(own)}") for f in FILLERS[1:]]
        rows.append({"_id": f"d{i}", "text": " ".join([lead, *rest])})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make(tiny_bert_dir, corpus, out, **changes) -> DistillConfig:
    settings = {
        "teacher": str(tiny_bert_dir),
        "corpus": CorpusConfig(path=str(corpus)),
        "out": str(out),
        "vocabulary_size": 400,  # the topic words become tokens of their own
        "domain_tune": False,
        "max_length": 48,
        "contrastive": ContrastiveSettings(epochs=4, batch_size=32, learning_rate=0.05),
    }
    return DistillConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def trained(tiny_bert_dir, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("c") / "model"
    return distill_static(make(tiny_bert_dir, corpus, out)), out


def test_contrastive_training_beats_the_distilled_model_on_held_out_pairs(trained):
    result, out = trained
    c = result.contrastive
    assert c["kept"] and c["after"] > c["before"] + 0.05
    assert c["comparison"]["delta"] > 0 and c["steps"] > 0 and c["best_checkpoint_verified"]
    assert "held-out documents" in c["dev_set"] and result.seconds["contrastive"] > 0
    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["contrastive"]["pairs"] == c["pairs"] and report["settings"]["contrastive"]["epochs"] == 4
    assert not list(out.parent.glob(".model.contrastive-*"))  # the scratch folder is gone
    from ctxembed.static.distilled import DistilledEmbedder

    held_out = DistilledEmbedder.load(out).held_out_documents()
    assert held_out == set(report["contrastive"]["held_out_documents"]) and len(held_out) == 16  # holdout 10%


def test_the_output_stays_a_plain_model2vec_folder(trained):
    from model2vec import StaticModel
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    _, out = trained
    model = StaticModel.from_pretrained(str(out))
    assert model.max_length == 48  # the configured max_length survives contrastive training
    st = SentenceTransformer(modules=[StaticEmbedding.from_model2vec(str(out))], device="cpu")
    text = "the river bank near the system"
    a = st.encode([text], normalize_embeddings=True)[0]
    b = model.encode([text])[0]
    np.testing.assert_allclose(a, b / np.linalg.norm(b), atol=1e-5)


def test_the_pairs_are_the_ict_miners_plus_the_users(corpus):
    docs = load_corpus(str(corpus))
    settings = ContrastiveSettings(pairs_per_doc=3)
    user = [{"anchor": "a question", "positive": "its answer", "negative": "another"}]
    pairs = training_pairs(docs, user, settings, seed=7)
    assert pairs[:-1] == mine_pairs(docs, per_doc=3, seed=7)  # the same code as the contextual ict objective
    assert pairs[-1] == {"anchor": "a question", "positive": "its answer"}


def test_a_step_that_does_not_help_is_not_kept_and_says_so(tiny_bert_dir, corpus, tmp_path):
    from model2vec import StaticModel

    plain = distill_static(make(tiny_bert_dir, corpus, tmp_path / "plain", contrastive=None)).out
    with pytest.warns(UserWarning, match="did not improve the distilled model"):
        result = distill_static(
            make(
                tiny_bert_dir,
                corpus,
                tmp_path / "frozen",
                contrastive=ContrastiveSettings(epochs=1, batch_size=32, learning_rate=1e-12),
            )
        )
    assert not result.contrastive["kept"] and result.contrastive["warnings"]
    np.testing.assert_array_equal(
        StaticModel.from_pretrained(str(plain)).embedding, StaticModel.from_pretrained(str(result.out)).embedding
    )


def test_user_pairs_join_training_and_selection(tiny_bert_dir, corpus, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    words = made_up_words(320)
    rows = [
        {"query": f"what is {words[2 * i]}", "positive": FILLERS[0].format(a=words[2 * i], b="x")} for i in range(60)
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = make(tiny_bert_dir, corpus, tmp_path / "out", pairs=str(pairs))
    result = distill_static(config)
    assert result.contrastive["dev_set"] == "6 held-out pairs" and result.contrastive["user_pairs"] == 54


def test_bad_contrastive_settings_and_inputs(tiny_bert_dir, corpus, tmp_path):
    with pytest.raises(ConfigError, match="epoch"):
        from_dict(DistillConfig, {"contrastive": {"epoch": 3}}, where="distill.yaml")
    with pytest.raises(ConfigError, match="batch_size"):
        ContrastiveSettings(batch_size=1)
    with pytest.raises(ConfigError, match="holdout"):
        ContrastiveSettings(holdout=0.9)
    with pytest.raises(ConfigError, match="contrastive: null"):
        DistillConfig(contrastive=None, pairs="pairs.jsonl")
    assert from_dict(DistillConfig, {"contrastive": None}, where="distill.yaml").contrastive is None
    few = tmp_path / "few.jsonl"
    few.write_text("".join(json.dumps({"_id": f"d{i}", "text": FILLERS[1]}) + "\n" for i in range(3)), encoding="utf-8")
    with pytest.raises(CorpusError, match="contrastive: null"):
        distill_static(make(tiny_bert_dir, few, tmp_path / "x"))
    assert not (tmp_path / "x").exists()
    with pytest.raises(CorpusError, match="line 1"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text("{not json\n", encoding="utf-8")
        distill_static(make(tiny_bert_dir, corpus, tmp_path / "y", pairs=str(bad)))
