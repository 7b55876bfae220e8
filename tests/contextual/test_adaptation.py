"""Label-free training data (mined pairs, generated queries), objective mixtures and honest selection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ctxembed.config.loading import from_dict
from ctxembed.contextual.genq import generate_queries, genq_pairs
from ctxembed.contextual.settings import ContextualFinetuneConfig, GenqSettings, Objective, TrainSettings
from ctxembed.data import Document, split_sentences
from ctxembed.errors import ConfigError
from ctxembed.mining import mine_pairs
from ctxembed.scoring.metrics import per_query_ndcg
from ctxembed.scoring.significance import paired_bootstrap

pytestmark = pytest.mark.slow  # each test trains with the sentence-transformers trainer


def test_sentence_splitter_keeps_abbreviations():
    text = "Use a flag, e.g. O_RDONLY here. Dr. Smith wrote it. It works!\nNext line"
    assert split_sentences(text) == ["Use a flag, e.g. O_RDONLY here.", "Dr. Smith wrote it.", "It works!", "Next line"]


def test_mined_pairs_prefer_titles_leads_and_headings_and_drop_shared_anchors():
    docs = [
        Document(
            f"d{i}",
            f"Thing {i} opens the door number {i} quickly. It also closes windows of kind {i} well.\n"
            f"Return value {i}\nOn success zero is returned for door {i} always.\n"
            "See also the other pages here.",
            title=f"open{i}",
        )
        for i in range(3)
    ]
    pairs = mine_pairs(docs, per_doc=2, seed=0)
    anchors = [p["anchor"] for p in pairs]
    assert anchors[:3] == ["open0", "Thing 0 opens the door number 0 quickly.", "Return value 0"]
    assert len(pairs) == 9  # per document: the title plus per_doc=2 others
    assert "See also the other pages here." not in anchors  # shared by every document
    lead = next(p for p in pairs if p["anchor"].startswith("Thing 1"))
    assert lead["positive"].startswith("open1. ") and "Thing 1" not in lead["positive"]


def test_objective_accepts_a_name_a_list_or_weights():
    def parse(value):
        return from_dict(ContextualFinetuneConfig, {"objective": value}).objective

    assert parse("ict") == {Objective.ICT: 1.0}
    assert parse(["ict", "genq"]) == {Objective.ICT: 1.0, Objective.GENQ: 1.0}
    assert parse({"ict": 1, "tsdae": 0.5}) == {Objective.ICT: 1.0, Objective.TSDAE: 0.5}
    with pytest.raises(ConfigError, match="weights must be finite and > 0"):
        parse({"ict": 0})
    with pytest.raises(ConfigError, match="'foo' is not one of 'ict', 'genq', 'tsdae', 'pairs'"):
        parse(["ict", "foo"])
    with pytest.raises(ConfigError, match="genq.max_passages must be >= 1"):
        GenqSettings(max_passages=0)
    with pytest.raises(ConfigError, match="pseudo needs lexical_weight >= 0"):
        from_dict(ContextualFinetuneConfig, {"pseudo": {"lexical_weight": -1}})
    with pytest.raises(ConfigError, match="lexicalweight"):
        from_dict(ContextualFinetuneConfig, {"pseudo": {"lexicalweight": 0.3}})


def test_per_query_ndcg_matches_trec_eval_definitions():
    run = {"q1": {"a": 0.9, "b": 0.5}, "q2": {"a": 0.9, "b": 0.5}, "q3": {"c": 0.1}}
    scores = per_query_ndcg(run, {"q1": {"a"}, "q2": {"b"}, "q3": {"z"}})
    assert scores["q1"] == pytest.approx(1.0)
    assert scores["q2"] == pytest.approx(1 / np.log2(3))
    assert scores["q3"] == 0.0


def test_paired_bootstrap_separates_noise_from_a_real_gain():
    rng = np.random.default_rng(0)
    base = {f"q{i}": float(v) for i, v in enumerate(rng.random(200))}
    noise = {q: v + float(rng.normal(0, 0.05)) for q, v in base.items()}
    better = {q: v + 0.1 for q, v in base.items()}
    assert not paired_bootstrap(base, base).significant
    same = paired_bootstrap(base, noise)
    assert same.low < 0 < same.high and not same.significant
    gain = paired_bootstrap(base, better)
    assert gain.significant and gain.delta == pytest.approx(0.1) and gain.queries == 200


@pytest.fixture(scope="module")
def tiny_generator_dir(tmp_path_factory):
    """A random 1-layer Llama with the tiny BERT vocabulary and a chat template: fast, offline."""
    import torch
    from tiny_bert import _vocab
    from transformers import BertTokenizerFast, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-lm")
    tokenizer = BertTokenizerFast(vocab=_vocab(), do_lower_case=True)
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"
    tokenizer.save_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return out


def test_generated_queries_are_cached_and_resume(tiny_generator_dir, tmp_path, monkeypatch):
    import ctxembed.contextual.genq as genq

    settings = GenqSettings(model=str(tiny_generator_dir), max_new_tokens=6, batch_size=2, round_trip_k=0)
    passages = [f"the river bank {i} holds fish and water near the boat" for i in range(5)]
    cache = tmp_path / "cache.jsonl"
    first = generate_queries(passages[:3], settings, cache, show_progress=False)
    assert len(cache.read_text().splitlines()) == 3
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])  # the run died while writing line 3
    calls = []
    real = genq.load_generator
    monkeypatch.setattr(genq, "load_generator", lambda name: calls.append(name) or real(name))
    again = generate_queries(passages, settings, cache, show_progress=False)
    assert again[:3] == first and len(calls) == 1  # 3 passages regenerated (1 cut short + 2 new)
    assert generate_queries(passages, settings, cache, show_progress=False) == again and len(calls) == 1


def test_round_trip_keeps_only_queries_that_find_their_passage(tiny_generator_dir, tiny_bert_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    docs = [Document(str(i), f"river bank {i} water fish boat " * 3) for i in range(6)]
    settings = GenqSettings(model=str(tiny_generator_dir), max_new_tokens=6, batch_size=3, round_trip_k=1)
    pairs, stats = genq_pairs(model, docs, settings, tmp_path / "c.jsonl", seed=0)
    assert stats["genq_passages"] == 6 and stats["genq_kept"] == len(pairs) <= stats["genq_usable"]
    loose = GenqSettings(model=str(tiny_generator_dir), max_new_tokens=6, batch_size=3, round_trip_k=6)
    all_pairs, _ = genq_pairs(model, docs, loose, tmp_path / "c.jsonl", seed=0)
    assert len(all_pairs) == stats["genq_usable"] >= len(pairs)  # k = corpus size keeps every usable query


def test_mixture_trains_on_each_objective_and_verifies_the_best_checkpoint(tiny_bert_dir, tmp_path):
    from ctxembed.config import ContextualConfig, CorpusConfig
    from ctxembed.contextual.training import finetune_contextual

    config = ContextualFinetuneConfig(
        corpus=CorpusConfig(path="gensim:lee_background.cor"),
        contextual=ContextualConfig(model=str(tiny_bert_dir), device="cpu"),
        objective={"ict": 1.0, "tsdae": 0.25, "pseudo": 0.5},
        training=TrainSettings(max_steps=4, batch_size=8, eval_steps=2, max_seq_length=64),
        out=str(tmp_path / "mix"),
    )
    result = finetune_contextual(config)
    examples = result.data["examples"]
    assert set(examples) == {"ict", "tsdae", "pseudo"}
    assert examples["tsdae"] == round(0.25 * result.data["tsdae_sentences"])
    assert result.data["best_checkpoint_verified"] and result.data["best_checkpoint"].startswith("checkpoint-")
    info = json.loads((tmp_path / "mix" / "ctxembed_training.json").read_text())
    assert info["objective"] == {"ict": 1.0, "tsdae": 0.25, "pseudo": 0.5}
    assert info["comparison"]["queries"] > 0 and "paired-bootstrap" in (tmp_path / "mix" / "README.md").read_text()


def test_teacher_scores_rank_the_corpus_as_z_score_fusion_and_reduce_to_cosine_without_bm25():
    from ctxembed.contextual.pseudo_labels import teacher_scores

    rng = np.random.default_rng(0)
    dense, lexical = rng.normal(size=(4, 12)), rng.gamma(2.0, size=(4, 12))
    assert np.allclose(teacher_scores(dense, lexical, 0.0, 10), dense)

    def z(x):
        return (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)

    fused = teacher_scores(dense, lexical, 0.4, 10)[:, :10]
    expected = z(dense[:, :10]) + 0.4 * z(lexical[:, :10])
    assert (np.argsort(-fused, axis=1) == np.argsort(-expected, axis=1)).all()


def test_pseudo_labels_are_teacher_margins_against_a_hard_negative(tiny_bert_dir):
    from sentence_transformers import SentenceTransformer

    from ctxembed.contextual.pseudo_labels import pseudo_label_rows
    from ctxembed.contextual.settings import PseudoSettings

    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    topics = [
        ("river", "bank", "water"),
        ("server", "client", "network"),
        ("crane", "bird", "lift"),
        ("cricket", "match", "team"),
        ("file", "memory", "process"),
    ]
    docs = [  # each document's lead sentence shares its rare words with the rest of the document
        Document(f"d{i}", f"The {a} {b} sat near the {c} we read. A {c} and {a} {b} went on the page.", title=f"t{i}")
        for i, (a, b, c) in enumerate(topics)
    ]
    rows, stats = pseudo_label_rows(model, docs, PseudoSettings(lexical_weight=0.0, candidates=2), per_doc=1, seed=0)
    assert stats["pseudo_queries"] == len(rows) == 10  # title + one sentence per document
    for row in rows:
        owner = next(d for d in docs if row["anchor"] in (d.title, d.text.split(". ")[0] + "."))
        assert row["positive"] in (owner.text, f"{owner.title}. {owner.text.split('. ')[1]}")
        assert row["negative"] != owner.full_text and row["negative"] in {d.full_text for d in docs}
        q, p, n = model.encode([row["anchor"], row["positive"], row["negative"]], normalize_embeddings=True)
        assert row["label"] == pytest.approx(float(q @ p - q @ n), abs=1e-2)  # no BM25: the base model's margin
    lexical, _ = pseudo_label_rows(model, docs, PseudoSettings(lexical_weight=1.0, candidates=2), per_doc=1, seed=0)
    assert [r["negative"] for r in lexical] == [r["negative"] for r in rows]
    for plain, fused in zip(rows, lexical):
        if not plain["anchor"].startswith("t"):  # the positive shares the sentence's rare words, not the negative
            assert fused["label"] > plain["label"] + 0.01
