"""`ctxembed senses`: words the corpus uses in several senses, against static neighbours."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ctxembed.errors import ConfigError
from ctxembed.evaluate.corpus_senses import SensesConfig, find_senses, split_senses, word_contexts

RIVER = "We sat on the bank of the river and watched the water and the fish near the boat."
MONEY = "She took a loan from the bank and put the money in her deposit account today."


def texts(n: int) -> list[str]:
    """`n` distinct sentences of each sense (repeated sentences count once)."""
    return [t.replace(" the bank", f" the bank {i}") for i in range(n) for t in (RIVER, MONEY)]


def test_word_contexts_sample_sentences_of_frequent_words():
    contexts = word_contexts(texts(20) + [RIVER] * 30, SensesConfig(occurrences=10, candidates=3))
    assert "bank" in contexts and len(contexts["bank"]) == 10
    sentence, (start, end) = contexts["bank"][0]
    assert sentence[start:end].lower() == "bank"
    assert "the" not in contexts  # stop words are never candidates
    with pytest.raises(ConfigError, match="river"):  # 30 copies of one sentence are one sentence
        word_contexts([RIVER] * 30, SensesConfig(words=("river",), occurrences=10))
    with pytest.raises(ConfigError, match="zebra"):
        word_contexts(texts(20), SensesConfig(words=("zebra",)))


def test_two_separated_groups_are_two_senses_and_one_blob_is_not():
    rng = np.random.default_rng(0)
    dim = 128  # contextual vectors have hundreds of dimensions; a Gaussian blob then splits poorly
    a = rng.normal(size=(20, dim)) + 12 * np.eye(dim)[0]
    b = rng.normal(size=(20, dim)) + 12 * np.eye(dim)[1]
    labels, silhouette = split_senses(np.vstack([a, b]), SensesConfig())
    assert silhouette > 0.3 and len(set(labels[:20])) == 1 and labels[0] != labels[-1]
    _, blob = split_senses(rng.normal(size=(40, dim)) + 12 * np.eye(dim)[1], SensesConfig())  # one sense
    assert blob < 0.1


def test_report_lists_senses_examples_and_static_neighbours(tiny_contextual, tiny_vectors):
    config = SensesConfig(words=("bank",), occurrences=20)
    report = find_senses(tiny_contextual, {"tiny": tiny_vectors}, texts(20), config)
    (word,) = report["words"]
    assert word["word"] == "bank" and word["occurrences"] == 20
    assert sum(s["size"] for s in word["senses"]) == 20 and all("**bank**" in s["examples"][0] for s in word["senses"])
    assert word["neighbours"]["tiny"] and "bank" not in word["neighbours"]["tiny"]


@pytest.mark.slow
def test_cli_writes_report_and_plot(tmp_path, tiny_bert_dir, tiny_vectors_file):
    from ctxembed.cli import main

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"_id": str(i), "text": t}) + "\n" for i, t in enumerate(texts(15))))
    config = tmp_path / "senses.yaml"
    config.write_text(
        f"corpus: {{path: {corpus}}}\ncontextual: {{model: {tiny_bert_dir}}}\nstatic: {{tiny: {tiny_vectors_file}}}\n"
        f"occurrences: 20\nmin_silhouette: -1\nout: {tmp_path / 'out'}\n"
    )
    assert main(["senses", "--config", str(config), "--words", "bank"]) == 0
    assert (tmp_path / "out" / "report.md").read_text().count("## bank") == 1
    assert (tmp_path / "out" / "senses-bank.png").stat().st_size > 1000
    assert json.loads((tmp_path / "out" / "report.json").read_text())["words"][0]["word"] == "bank"
    assert main(["senses", "--config", str(config)]) == 1  # the report exists: refused without --overwrite


@pytest.mark.slow
def test_minilm_splits_bank_into_its_river_and_money_senses():
    from ctxembed.contextual.embedder import ContextualEmbedder

    rivers = [
        RIVER,
        "The boat drifted toward the muddy bank where the river bends.",
        "Reeds grow along the bank of the stream.",
    ]
    money = [MONEY, "The bank raised its interest rates on savings accounts.", "He asked the bank for a mortgage."]
    corpus = [t.replace("bank", f"bank {i}") for i in range(5) for t in rivers + money]
    report = find_senses(
        ContextualEmbedder.load("sentence-transformers/all-MiniLM-L6-v2"),
        {},
        corpus,
        SensesConfig(words=("bank",), occurrences=30),
    )
    (word,) = report["words"]
    assert word["silhouette"] > 0.1 and sorted(s["size"] for s in word["senses"])[:2] != [0, 0]
    river_side = [("river" in e or "stream" in e or "boat" in e) for s in word["senses"] for e in s["examples"]]
    assert any(river_side) and not all(river_side)
