"""Hybrid search: BM25 beside the vectors in every index, three search modes, fusion, the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ctxembed import VectorIndex
from ctxembed.cli import main
from ctxembed.data import Document
from ctxembed.errors import ConfigError, CtxEmbedError
from ctxembed.retrieval.fusion import FusionSettings, fuse, is_question, query_weight
from tests.cli_calls import crash_build_pass, run_cli, static_index_args

DOCS = [
    Document("1", "river bank water flows"),
    Document("2", "web server network request"),
    Document("3", "open a file for reading and writing"),
    Document("4", "bind a socket to a network port"),
    Document("5", "fish swim near the boat on the river"),
]


def test_question_queries_get_the_lower_weight():
    assert is_question("How do I share global variables across modules?")
    assert is_question("why is my server slow")
    assert not is_question("open and possibly create a file") and not is_question("how")
    assert query_weight("bind a name to a socket", FusionSettings()) == 0.3
    assert query_weight("What is a socket?", FusionSettings()) == 0.1
    assert query_weight("What is a socket?", FusionSettings(weight=0.7)) == 0.7


def test_convex_fusion_normalises_each_side_and_rrf_uses_ranks():
    dense, sparse = np.array([0.9, 0.5, 0.1]), np.array([0.0, 10.0, 5.0])
    fused = fuse(dense, sparse, np.array([0, 1, 2]), np.array([-1, 0, 1]), method="convex", weight=0.5)
    np.testing.assert_allclose(fused, [0.5, 0.5 * 0.5 + 0.5, 0.25 + 0.0])
    rrf = fuse(dense, sparse, np.array([0, 1, -1]), np.array([-1, 0, 1]), method="rrf", weight=0.5)
    np.testing.assert_allclose(rrf, [1 / 61, 1 / 62 + 1 / 61, 1 / 62])


@pytest.mark.parametrize(("key", "value"), [("method", "max"), ("weight", 1.5), ("candidates", 0)])
def test_fusion_settings_are_checked(key, value):
    with pytest.raises(ConfigError, match=f"fusion.{key}"):
        FusionSettings(**{key: value})


def test_three_modes_and_a_round_trip(tiny_static, tmp_path):
    index = VectorIndex.build(tiny_static, DOCS, sparse=True)
    assert index.default_mode.value == "hybrid"
    sparse = index.search("server request", k=5, mode="sparse")[0]
    assert [h.doc_id for h in sparse] == ["2"]  # only documents that share a term
    hybrid = index.search("server request", k=3)[0]
    assert hybrid[0].doc_id == "2" and len(hybrid) == 3
    assert set(hybrid[0].scores) == {"dense", "sparse", "fused"} and hybrid[0].score == hybrid[0].scores["fused"]
    assert [h.score for h in hybrid] == sorted((h.score for h in hybrid), reverse=True)
    dense_only = index.search("server request", k=3, mode="dense", fusion=None)[0]
    assert dense_only[0].scores is None
    index.save(tmp_path / "i")
    loaded = VectorIndex.load(tmp_path / "i", tiny_static)
    for mode in ("dense", "sparse", "hybrid"):
        assert loaded.search("server request", k=3, mode=mode) == index.search("server request", k=3, mode=mode)
    weight_one = FusionSettings(weight=1.0)
    top = loaded.search("river water", k=2, fusion=weight_one)[0]
    assert top[0].doc_id == "1"


def test_an_index_without_a_sparse_side_stays_dense(tiny_static):
    index = VectorIndex.build(tiny_static, DOCS)
    assert index.default_mode.value == "dense" and index.search("river", k=1)[0][0].doc_id in {"1", "5"}
    with pytest.raises(CtxEmbedError, match="no sparse side.*--mode dense"):
        index.search("river", k=1, mode="hybrid")


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"_id": d.id, "text": d.text}) + "\n" for d in DOCS), encoding="utf-8")
    return path


def test_cli_modes_json_and_a_dense_only_folder(corpus, tiny_vectors_file, tmp_path, capsys):
    assert main(static_index_args(corpus, tiny_vectors_file, tmp_path / "i")) == 0
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text())
    assert manifest["sparse"]["kind"] == "bm25" and manifest["sparse"]["tokenizer"]["stopwords"] == "en"
    assert manifest["fusion"]["weight"] is None  # too few documents for pseudo-queries: the query-style rule
    assert "fusion_chosen" not in manifest
    capsys.readouterr()
    code, out, _ = run_cli(capsys, "search", str(tmp_path / "i"), "server request", "--json", "-k", "2")
    hit = json.loads(out)["hits"][0]
    assert code == 0 and hit["doc_id"] == "2" and set(hit["scores"]) == {"dense", "sparse", "fused"}
    for mode in ("dense", "sparse"):
        code, out, _ = run_cli(capsys, "search", str(tmp_path / "i"), "server request", "--mode", mode, "-k", "1")
        assert code == 0 and "[2]" in out
    code, out, _ = run_cli(capsys, "search", str(tmp_path / "i"), "server request", "--fusion", "rrf", "-k", "1")
    assert code == 0 and "[2]" in out
    assert main(static_index_args(corpus, tiny_vectors_file, tmp_path / "d", "--sparse", "none")) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, "search", str(tmp_path / "d"), "server", "--mode", "hybrid")
    assert code == 1 and "no sparse side" in err
    code, out, _ = run_cli(capsys, "search", str(tmp_path / "d"), "server", "-k", "1")
    assert code == 0 and "1. " in out  # dense by default


def test_a_damaged_sparse_file_is_named(corpus, tiny_vectors_file, tmp_path, capsys):
    assert main(static_index_args(corpus, tiny_vectors_file, tmp_path / "i")) == 0
    (tmp_path / "i" / "sparse" / "data.csc.index.npy").write_bytes(b"junk")
    capsys.readouterr()
    code, _, err = run_cli(capsys, "search", str(tmp_path / "i"), "socket")
    assert code == 1 and "sparse/data.csc.index.npy does not match its checksum" in err.strip().splitlines()[-1]


def test_resume_and_overwrite_cover_the_sparse_side(corpus, tiny_vectors_file, tmp_path, capsys, monkeypatch):
    config = tmp_path / "c.yaml"
    config.write_text("backend: static\nindex:\n  chunk_size: 2\n  checkpoint_seconds: 0\n", encoding="utf-8")
    args = ["index", "--config", str(config), "--corpus", str(corpus), "--vectors", str(tiny_vectors_file)]
    crash_build_pass(monkeypatch, 3, MemoryError())
    assert main([*args, "--out", str(tmp_path / "i")]) == 3
    monkeypatch.undo()
    assert main([*args, "--out", str(tmp_path / "i"), "--resume"]) == 0
    capsys.readouterr()
    code, out, _ = run_cli(capsys, "search", str(tmp_path / "i"), "fish boat", "--mode", "sparse", "-k", "1")
    assert code == 0 and "[5]" in out
    corpus.write_text(json.dumps({"_id": "9", "text": "crane construction site lift"}) + "\n")
    assert main([*args, "--out", str(tmp_path / "i"), "--overwrite"]) == 0
    capsys.readouterr()
    code, out, _ = run_cli(capsys, "search", str(tmp_path / "i"), "crane", "--mode", "sparse")
    assert code == 0 and "[9]" in out
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_hybrid_row_below_its_better_part_is_flagged():
    from ctxembed.evaluate.report import against_better_part

    relevant = {f"q{i}": {"d1"} for i in range(30)}
    runs = {
        "BM25": {q: ["d1", "d2"] for q in relevant},
        "weak": {q: ["d2", "d3"] for q in relevant},
        "BM25 + weak": {q: ["d2", "d1"] for q in relevant},
    }
    with pytest.warns(UserWarning, match="BM25 \\+ weak ranks below BM25 alone.*--mode sparse"):
        row = against_better_part(runs, "BM25 + weak", ("BM25", "weak"), relevant)
    assert row["against"] == "BM25" and row["high"] < 0


def test_the_streamed_bm25_matrix_is_the_one_bm25s_builds(tmp_path):
    """SparseIndex.build fills bm25s's CSC matrix from small per-chunk arrays; it must equal bm25s's own index."""
    import bm25s
    from bm25s.tokenization import Tokenizer

    from ctxembed.retrieval.bm25 import TOKENIZER, SparseIndex

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)] + ["the", "of", "Grep", "grep"]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 40)))) for _ in range(500)]
    texts += ["", "the of and", "zebra zebra zebra"]  # empty, all stopwords, one repeated term
    spilled = tmp_path / "work"
    spilled.mkdir()
    built = SparseIndex.build(texts, chunk_size=37, workdir=spilled)
    ours = built.model
    assert len(list(spilled.iterdir())) == -(-len(texts) // 37)  # the chunks wait on disk until they are saved
    record = built.save(tmp_path / "saved")
    assert set(record["postings"]) == {"terms", "counts", "per_doc", "lengths"}
    lengths = np.load(tmp_path / "saved" / "postings.lengths.npy")
    assert len(lengths) == len(texts) and lengths.mean() == pytest.approx(built.average_length)
    tokenizer = Tokenizer(lower=True, splitter=TOKENIZER["splitter"], stopwords="en")
    rows = tokenizer.tokenize(texts, update_vocab=True, return_as="ids", show_progress=False)
    reference = bm25s.BM25()
    reference.index((rows, tokenizer.get_vocab_dict()), show_progress=False)
    for key in ("indices", "indptr"):
        np.testing.assert_array_equal(ours.scores[key], reference.scores[key])
    np.testing.assert_allclose(ours.scores["data"], reference.scores["data"], rtol=1e-6)
    assert ours.scores["data"].dtype == reference.scores["data"].dtype
    assert ours.scores["num_docs"] == reference.scores["num_docs"]
    assert ours.vocab_dict == reference.vocab_dict
    for query in (["grep", "w3"], ["zebra"], ["unknown"]):
        np.testing.assert_allclose(ours.get_scores(query), reference.get_scores(query), rtol=1e-6)


def test_tune_fusion_records_the_best_weight_and_refuses_what_it_cannot_tune(
    corpus, tiny_vectors_file, tmp_path, capsys
):
    from ctxembed.scoring.beir import BeirDataset

    # One document word per query among words no document has: BM25 finds it, the random vectors mostly do not.
    queries = {
        f"q{i}": f"{word} cricket match israel strike airline"
        for i, word in enumerate("river server file socket fish".split())
    }
    relevant = {"q0": {"1": 1}, "q1": {"2": 1}, "q2": {"3": 1}, "q3": {"4": 1}, "q4": {"5": 1}}
    BeirDataset(DOCS, queries, {"dev": relevant}).save(tmp_path / "beir")
    assert main(static_index_args(corpus, tiny_vectors_file, tmp_path / "i")) == 0
    manifest = tmp_path / "i" / "manifest.json"
    dense_only = json.loads(manifest.read_text())
    dense_only["fusion"]["weight"] = 0.0  # start from a setting that ignores BM25
    manifest.write_text(json.dumps(dense_only))
    before = manifest.read_bytes()
    tune = ["tune-fusion", str(tmp_path / "i"), "--dataset", str(tmp_path / "beir")]
    capsys.readouterr()
    code, _, err = run_cli(capsys, *tune, "--dry-run")
    assert code == 0 and "model alone (weight 0): " in err and "(current)" in err and "rrf" in err
    assert "--dry-run: manifest unchanged" in err and manifest.read_bytes() == before
    code, _, err = run_cli(capsys, *tune)
    recorded = json.loads(manifest.read_text())
    assert code == 0 and recorded["fusion"]["weight"] != 0.0 and "recorded" in err
    assert recorded["fusion_tuned"] == {
        "dataset": str(tmp_path / "beir"),
        "split": "dev",
        "queries": 5,
        "ndcg@10": recorded["fusion_tuned"]["ndcg@10"],
        "replaced": "model alone (weight 0)",
        "against_replaced": recorded["fusion_tuned"]["against_replaced"],
    }
    assert f"{recorded['fusion_tuned']['ndcg@10']:.4f} <- best" in err
    code, out, _ = run_cli(capsys, "search", str(tmp_path / "i"), "web server", "-k", "1")
    assert code == 0 and "[2]" in out  # the rewritten manifest still loads
    code, _, err = run_cli(capsys, *tune)
    assert code == 0 and "already the best" in err
    code, _, err = run_cli(capsys, *tune, "--split", "test")
    assert code == 1 and "no qrels split 'test'" in err
    BeirDataset([Document("x", "other")], {"q": "other"}, {"dev": {"q": {"x": 1}}}).save(tmp_path / "other")
    code, _, err = run_cli(capsys, "tune-fusion", str(tmp_path / "i"), "--dataset", str(tmp_path / "other"))
    assert code == 1 and "none of the dataset's relevant documents is in the index" in err
    assert main(static_index_args(corpus, tiny_vectors_file, tmp_path / "d", "--sparse", "none")) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, "tune-fusion", str(tmp_path / "d"), "--dataset", str(tmp_path / "beir"))
    assert code == 1 and "no sparse side" in err


def test_a_query_of_stopwords_only_is_answered_by_the_dense_side_or_refused(tiny_static):
    index = VectorIndex.build(tiny_static, DOCS, sparse=True)
    (hits,) = index.search(["the a of"], k=2, mode="hybrid")  # BM25 has no token; the vectors know the words
    assert len(hits) == 2 and hits[0].scores["sparse"] == 0.0
    with pytest.raises(CtxEmbedError, match="has no word the BM25 index knows"):
        index.search(["the a of"], k=2, mode="sparse")
    assert index.search(["the a of"], k=2, mode="sparse", unknown="skip") == [[]]
