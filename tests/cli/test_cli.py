from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ctxembed.cli import main

CORPUS = "river bank water fish boat\nbank money loan deposit account\nweb server client network request\n"


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS)
    return path


@pytest.fixture
def static_config(tmp_path, tiny_vectors_file):
    path = tmp_path / "static.yaml"
    path.write_text(f"backend: static\nstatic:\n  vectors: {tiny_vectors_file}\n")
    return path


def test_index_then_search(tmp_path, corpus, static_config, capsys):
    out = tmp_path / "idx"
    assert main(["index", "--config", str(static_config), "--corpus", str(corpus), "--out", str(out)]) == 0
    assert (out / "manifest.json").is_file()
    capsys.readouterr()
    assert main(["search", str(out), "money loan", "-k", "2", "--json"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["query"] == "money loan" and line["hits"][0]["doc_id"] == "2"
    assert len(line["hits"]) == 2


def test_batch_queries_from_a_file(tmp_path, corpus, static_config, capsys):
    out = tmp_path / "idx"
    main(["index", "--config", str(static_config), "--corpus", str(corpus), "--out", str(out)])
    queries = tmp_path / "q.txt"
    queries.write_text("server network\n\nriver fish\n")
    capsys.readouterr()
    assert main(["search", str(out), "--queries", str(queries), "-k", "1"]) == 0
    printed = capsys.readouterr().out
    assert "query: server network" in printed and "[3]" in printed
    assert "query: river fish" in printed and "[1]" in printed


def test_contextual_index_from_flags(tmp_path, corpus, tiny_bert_dir, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"backend: contextual\ncontextual:\n  model: {tiny_bert_dir}\n  device: cpu\n")
    out = tmp_path / "idx"
    assert main(["index", "--config", str(config), "--corpus", str(corpus), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["embedder"]["backend"] == "contextual" and manifest["count"] == 3
    assert main(["search", str(out), "web server", "-k", "3"]) == 0


def test_demo_prints_static_contextual_and_hybrid_side_by_side(
    tmp_path, corpus, tiny_vectors_file, tiny_bert_dir, capsys
):
    config = tmp_path / "demo.yaml"
    config.write_text(
        f"corpus:\n  path: {corpus}\nstatic:\n  vectors: {tiny_vectors_file}\n"
        f"contextual:\n  model: {tiny_bert_dir}\nqueries: [money deposit]\nk: 2\n"
    )
    assert main(["demo", "--config", str(config), "--out", str(tmp_path / "runs")]) == 0
    printed = capsys.readouterr().out
    import re

    lines = printed[printed.index("query: money deposit") :].splitlines()
    assert str(tiny_vectors_file.name) in lines[1] and str(tiny_bert_dir.name) in lines[1]  # labels name the models
    assert "hybrid (contextual + BM25)" in lines[1]
    rows = [re.findall(r"(\d\.\d{3}) \[\s*(\S+)\]", line) for line in lines[2:4]]
    assert all(len(row) == 3 for row in rows), lines  # a static, a contextual and a hybrid hit per rank
    static_ids = [row[0][1] for row in rows]
    assert static_ids[0] == "2"  # "bank money loan deposit account" shares both query words
    assert rows[0][2][1] == "2"  # BM25 matches both words there: the fused ranking puts it first
    for column in (0, 1, 2):
        assert float(rows[0][column][0]) >= float(rows[1][column][0])  # best first
    assert (tmp_path / "runs" / "static" / "index.faiss").is_file()
    assert (tmp_path / "runs" / "contextual" / "index.faiss").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["index", "--corpus", "{tmp}/missing.txt", "--backend", "static", "--out", "{tmp}/o"],
            "missing.txt not found",
        ),
        (["index", "--config", "{tmp}/bad.yaml", "--out", "{tmp}/o"], "unknown key(s) 'backnd'"),
        (["search", "{tmp}", "q"], "not a ctxembed index"),
        (["search", "{tmp}/idx"], "no query given"),
    ],
)
def test_user_errors_are_one_line_with_exit_1(tmp_path, args, message, capsys, static_config, corpus):
    (tmp_path / "bad.yaml").write_text("backnd: static\n")
    main(["index", "--config", str(static_config), "--corpus", str(corpus), "--out", str(tmp_path / "idx")])
    capsys.readouterr()
    assert main([a.format(tmp=tmp_path) for a in args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ctxembed: error:") and message in err[0]


def test_existing_output_is_refused_without_overwrite(tmp_path, corpus, static_config, capsys):
    out = tmp_path / "idx"
    args = ["index", "--config", str(static_config), "--corpus", str(corpus), "--out", str(out)]
    assert main(args) == 0
    assert main(args) == 1 and "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_console_entry_point_runs_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ctxembed.cli", "search", str(tmp_path), "query"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "not a ctxembed index" in result.stderr
    usage = subprocess.run([sys.executable, "-m", "ctxembed.cli", "frobnicate"], capture_output=True, text=True)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def test_an_error_about_a_setting_names_the_commands_flag_for_it(tmp_path, corpus, tiny_vectors_file, capsys):
    """Errors carry the key that fixes them; the CLI adds the flag that sets that key, without rewriting text."""
    base = ["index", "--backend", "static", "--vectors", str(tiny_vectors_file)]
    assert main([*base, "--corpus", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "i")]) == 1
    assert capsys.readouterr().err.strip().endswith("(command line: --corpus)")
    assert main([*base, "--corpus", str(corpus), "--out", str(tmp_path / "i")]) == 0
    capsys.readouterr()
    assert main([*base, "--corpus", str(corpus), "--out", str(tmp_path / "i")]) == 1  # exists
    assert capsys.readouterr().err.strip().endswith("(command line: --overwrite)")
    assert main(["search", str(tmp_path / "i"), "bank", "--weight", "2"]) == 1
    err = capsys.readouterr().err
    assert "fusion.weight must be in [0, 1]" in err and err.strip().endswith("(command line: --weight)")
