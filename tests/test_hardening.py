"""Hostile and careless input: one clear error line (or correct output), never a traceback."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ctxembed import VectorIndex
from ctxembed.cli import main
from ctxembed.config import CorpusConfig, StaticConfig
from ctxembed.config.loading import from_dict
from ctxembed.contextual.settings import TrainSettings
from ctxembed.data import Document, load_corpus
from ctxembed.errors import ConfigError, CorpusError, CtxEmbedError, OutputExistsError
from ctxembed.evaluate.settings import EvaluateConfig
from ctxembed.static.settings import StaticFinetuneConfig
from tests.cli_calls import run_cli, static_index_args


def one_error_line(err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("ctxembed: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]


# --- corpora -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('{"_id": "a", "text": null}', "'text' must be a string, got null"),
        ('{"_id": "a", "text": ["fire", "house"]}', "'text' must be a string"),
        ('{"_id": "a", "text": NaN}', "'text' must be a string, got NaN"),
        ('{"_id": null, "text": "fire"}', "'_id' must be a string"),
        ('{"_id": "a", "text": "fire \\ud800 house"}', "lone surrogate"),
    ],
)
def test_jsonl_fields_must_be_real_strings(tmp_path, row, message):
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "ok", "text": "fine"}\n' + row + "\n")
    with pytest.raises(CorpusError, match=rf"c.jsonl, line 2: .*{message.replace('[', '.').replace('(', '.')}"):
        load_corpus(str(path))


def test_numeric_ids_are_accepted_as_text(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": 7, "text": "fire"}\n')
    assert load_corpus(str(path))[0].id == "7"


def test_bom_and_jsonl_encoding(tmp_path):
    txt = tmp_path / "c.txt"
    txt.write_bytes("\ufefffirst doc\nsecond doc\n".encode())
    assert load_corpus(str(txt))[0].text == "first doc"
    latin = tmp_path / "l.jsonl"
    latin.write_bytes('{"_id": "a", "text": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(CorpusError, match="set corpus.encoding"):
        load_corpus(str(latin))
    assert load_corpus(CorpusConfig(path=str(latin), encoding="latin-1"))[0].text == "café"


def test_unknown_encoding_is_a_config_error():
    with pytest.raises(ConfigError, match="corpus.encoding 'klingon' is not a known text encoding"):
        CorpusConfig(encoding="klingon")


# --- configs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_sif_a_must_be_finite_and_positive(value):
    with pytest.raises(ConfigError, match="sif_a must be a finite number > 0"):
        StaticConfig(sif_a=value)


def test_yaml_exponent_floats_are_numbers(tmp_path):
    from ctxembed.config.loading import load_config
    from ctxembed.contextual.settings import ContextualFinetuneConfig

    path = tmp_path / "c.yaml"
    path.write_text("training:\n  learning_rate: 1e-5\n")
    assert load_config(ContextualFinetuneConfig, path).training.learning_rate == 1e-5
    with pytest.raises(ConfigError, match="expected float"):
        from_dict(TrainSettings, {"learning_rate": "fast"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("workers", 0, "workers must all be >= 1"),
        ("negative", -3, "negative must be >= 1"),
        ("alpha", -0.5, "alpha .* must be > 0"),
        ("drift_limit", -1.0, "drift_limit must be > 0"),
    ],
)
def test_static_finetune_settings_are_validated(key, value, message):
    with pytest.raises(ConfigError, match=message):
        StaticFinetuneConfig(**{key: value})


# --- the index -----------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", ["HNSW0", "IDMap,Flat", "IVF0,Flat", "HNSW1", ""])
def test_unusable_factories_are_refused_before_faiss_sees_them(tiny_static, factory):
    with pytest.raises(CtxEmbedError, match="factory"):
        VectorIndex(tiny_static, factory=factory)


def test_k_is_capped_at_the_index_size(tiny_static):
    index = VectorIndex.build(tiny_static, [Document("1", "river bank"), Document("2", "web server")])
    scores, positions = index.search_vectors(tiny_static.encode(["bank"]), k=1_000_000_000)
    assert positions.shape == (1, 2)
    with pytest.raises(ValueError, match="k must be a whole number >= 1"):
        index.search("bank", k=0)


@pytest.fixture
def saved_index(tiny_vectors_file, tmp_path):
    out = tmp_path / "idx"
    corpus = tmp_path / "c.txt"
    corpus.write_text("river bank water\nweb server network\nfish boat river\n")
    assert main(static_index_args(corpus, tiny_vectors_file, out)) == 0
    return out


def _damage(folder, name, action):
    path = folder / name
    if action == "delete":
        path.unlink()
    elif action == "empty":
        path.write_bytes(b"")
    elif action == "truncate":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif action == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif action == "flip-tail":
        data = bytearray(path.read_bytes())
        data[-8:] = bytes(8)
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(action)


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("index.faiss", "delete"),
        ("index.faiss", "empty"),
        ("index.faiss", "truncate"),
        ("index.faiss", "random"),
        ("index.faiss", "flip-tail"),
        ("manifest.json", b"[1, 2]"),
        ("manifest.json", "\xff\xfe".encode("latin-1")),
        ("manifest.json", b'{"format_version": 1}'),
        ("docs.jsonl", "truncate"),
        ("docs.jsonl", b'{"text": "no id"}\n{"_id": "2", "text": "x"}\n{"_id": "3", "text": "y"}\n'),
        ("docs.jsonl", '{"_id": "1", "text": "caf\xe9"}\n'.encode("latin-1")),
    ],
)
def test_damaged_index_folders_give_one_line(saved_index, capsys, name, action):
    if action == "append-blank":
        with (saved_index / name).open("a") as fh:
            fh.write("\n")
    else:
        _damage(saved_index, name, action)
    code, _, err = run_cli(capsys, "search", str(saved_index), "bank")
    assert code == 1
    one_error_line(err, "rebuild")


def test_a_trailing_blank_line_in_docs_is_harmless(saved_index, capsys):
    with (saved_index / "docs.jsonl").open("a") as fh:
        fh.write("\n")
    code, out, _ = run_cli(capsys, "search", str(saved_index), "bank", "-k", "1")
    assert code == 0 and "1. " in out


def test_manifest_missing_keys_are_named(saved_index, capsys):
    manifest = json.loads((saved_index / "manifest.json").read_text())
    for key in ("embedder", "factory", "count"):
        broken = {k: v for k, v in manifest.items() if k != key}
        (saved_index / "manifest.json").write_text(json.dumps(broken))
        code, _, err = run_cli(capsys, "search", str(saved_index), "bank")
        one_error_line(err, key)
    del manifest["embedder"]["pooling"]
    (saved_index / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run_cli(capsys, "search", str(saved_index), "bank")
    one_error_line(err, "pooling")


def test_a_contextual_faiss_file_under_a_static_manifest(saved_index, tmp_path, capsys):
    import faiss

    faiss.write_index(faiss.IndexFlatIP(32), str(saved_index / "index.faiss"))
    manifest = json.loads((saved_index / "manifest.json").read_text())
    manifest.pop("index_sha256")
    (saved_index / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run_cli(capsys, "search", str(saved_index), "bank")
    one_error_line(err, "32-d vectors", "16-d")


def test_search_k_queries_file_and_escapes(saved_index, tmp_path, capsys):
    code, _, err = run_cli(capsys, "search", str(saved_index), "bank", "-k", "0")
    one_error_line(err, "-k must be >= 1")
    bad = tmp_path / "q.txt"
    bad.write_bytes(b"caf\xe9\n")
    code, _, err = run_cli(capsys, "search", str(saved_index), "--queries", str(bad))
    one_error_line(err, "not UTF-8")
    queries = tmp_path / "q2.txt"
    queries.write_text("zzzz qqqq\nriver \x1b[31mbank\n")
    code, out, _ = run_cli(capsys, "search", str(saved_index), "--queries", str(queries), "-k", "1")
    assert code == 0 and "no word the model knows" in out and "1. " in out  # the second query still answered
    assert "\x1b" not in out and "\\x1b[31mbank" in out


def test_pickled_vectors_need_an_explicit_opt_in(tiny_vectors, tmp_path, capsys):
    path = tmp_path / "v.kv"
    tiny_vectors.save(str(path))
    corpus = tmp_path / "c.txt"
    corpus.write_text("river bank\n")
    code, _, err = run_cli(capsys, *static_index_args(corpus, path, tmp_path / "i"))
    one_error_line(err, "pickle", "--trust-pickle")
    assert main([*static_index_args(corpus, path, tmp_path / "i"), "--trust-pickle"]) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, "search", str(tmp_path / "i"), "bank")  # an index someone sent you
    one_error_line(err, "pickle")  # refused before anything is unpickled


def test_random_bytes_as_vectors(tmp_path, capsys):
    path = tmp_path / "v.bin"
    path.write_bytes(b"7 3\n" + np.random.default_rng(1).bytes(2000))
    corpus = tmp_path / "c.txt"
    corpus.write_text("river bank\n")
    code, _, err = run_cli(capsys, *static_index_args(corpus, path, tmp_path / "i"))
    assert code == 1
    one_error_line(err, "cannot read as")


# --- outputs -------------------------------------------------------------------------------------


def test_outputs_that_cannot_be_written(saved_index, tiny_vectors_file, tmp_path, capsys, monkeypatch):
    corpus = tmp_path / "c.txt"
    corpus.write_text("river bank\n")
    base = ["index", "--backend", "static", "--corpus", str(corpus), "--vectors", str(tiny_vectors_file)]
    code, _, err = run_cli(capsys, *base, "--out", str(corpus / "sub"))
    one_error_line(err, "Not a directory")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *base, "--out", ".", "--overwrite")
    one_error_line(err, "holds the current folder")
    assert corpus.exists() and saved_index.exists()


def test_evaluate_and_demo_keep_existing_output(tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run_cli(capsys, "evaluate", "--dataset", str(tmp_path), "--out", str(out))
    one_error_line(err, "--overwrite")
    code, _, err = run_cli(capsys, "demo", "--out", str(out))
    one_error_line(err, "--overwrite")
    assert (out / "keep.txt").read_text() == "mine"


def test_report_json_never_holds_nan(tmp_path):
    from ctxembed.evaluate.report import write_report

    report = {"config": {}, "retrieval": {"x": {"ndcg@10": float("nan")}}, "polysemy": {}, "lexical": {}, "words": {}}
    write_report(report, tmp_path / "r")
    text = (tmp_path / "r" / "report.json").read_text()
    assert "NaN" not in text and json.loads(text)["retrieval"]["x"]["ndcg@10"] is None


def test_library_errors_do_not_change_the_umask(tmp_path):
    import os

    from ctxembed._io import atomic_dir

    before = os.umask(0o027)
    try:
        with atomic_dir(tmp_path / "x") as tmp:
            (tmp / "f").write_text("1")
        assert os.umask(0o027) == 0o027
        assert (tmp_path / "x").stat().st_mode & 0o777 == 0o750
    finally:
        os.umask(before)
    with pytest.raises(OutputExistsError):
        with atomic_dir(tmp_path / "x"):
            pass
    shutil.rmtree(tmp_path / "x")


def test_csv_respects_the_encoding_and_reads_in_batches(tmp_path):
    path = tmp_path / "docs.csv"
    path.write_bytes("id,text\n1,caf\xe9 cr\xe8me\n2,second\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="check corpus.encoding"):
        load_corpus(CorpusConfig(path=str(path), id_column="id"))
    docs = load_corpus(CorpusConfig(path=str(path), id_column="id", encoding="latin-1"))
    assert [d.text for d in docs] == ["café crème", "second"] and docs[0].id == "1"


def test_a_corpus_with_no_known_word_is_an_error(tiny_vectors_file, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("zzzz qqqq\nxxxx yyyy\n")
    args = ["index", "--backend", "static", "--corpus", str(corpus), "--vectors", str(tiny_vectors_file)]
    code, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "i"))
    one_error_line(err, "none of the 2 documents has a word the model knows")
    assert not (tmp_path / "i").exists()


def test_evaluate_without_a_config_compares_the_defaults():
    names = [m.name for m in EvaluateConfig().models]
    assert names == ["GloVe 50d (SIF)", "MiniLM-L6"] and EvaluateConfig().bm25


def test_library_warnings_reach_the_cli(tiny_vectors_file, tmp_path, capsys, monkeypatch):
    import warnings

    import ctxembed.data as data

    real = data.iter_corpus

    def noisy(*args, **kwargs):
        warnings.warn("peft says hello", UserWarning, stacklevel=1)  # as a third-party library would
        return real(*args, **kwargs)

    monkeypatch.setattr(data, "iter_corpus", noisy)
    corpus = tmp_path / "c.txt"
    corpus.write_text("river bank\n")
    args = ["index", "--backend", "static", "--corpus", str(corpus), "--vectors", str(tiny_vectors_file)]
    code, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "i"))
    assert code == 0 and "warning: peft says hello" in err


# --- crashes, races and readers ------------------------------------------------------------------


def test_two_runs_racing_for_a_new_output_do_not_both_succeed(tmp_path):
    from ctxembed._io import atomic_dir

    out = tmp_path / "new"
    with pytest.raises(OutputExistsError, match="created by another run meanwhile"):
        with atomic_dir(out) as first:  # both runs passed the early "already exists" check
            (first / "who").write_text("first")
            with atomic_dir(out) as second:
                (second / "who").write_text("second")
    assert (out / "who").read_text() == "second"  # the run that finished first keeps its output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]


@pytest.mark.slow
def test_a_killed_save_leaves_a_loadable_index_and_the_next_run_cleans_up(saved_index, tiny_vectors_file, tmp_path):
    import subprocess
    import sys

    script = f"""
import os, shutil, sys
import ctxembed._io as io
from ctxembed.cli import main
real = io._swap_in
def swap_then_die(tmp, path, overwrite):
    real(tmp, path, overwrite)
    os._exit(9)  # killed after the swap, before the old copy is removed
io._swap_in = swap_then_die
corpus = {str(tmp_path / "c2.txt")!r}
open(corpus, "w").write("fish boat\\n")
main(["index", "--backend", "static", "--corpus", corpus, "--vectors", {str(tiny_vectors_file)!r},
      "--out", {str(saved_index)!r}, "--overwrite"])
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    leftovers = [p for p in saved_index.parent.iterdir() if p.name.startswith(f".{saved_index.name}.")]
    partial = [p for p in leftovers if p.name.endswith(".partial")]  # the build's checkpoints, no longer resumable
    assert len(partial) == 1 and not (partial[0] / "progress.json").exists()
    leftovers = [p for p in leftovers if p not in partial]
    assert len(leftovers) == 1  # the old generation, parked
    manifest = json.loads((saved_index / "manifest.json").read_text())
    assert manifest["count"] == 1  # the new, complete generation
    from ctxembed._io import remove_leftovers

    assert remove_leftovers(saved_index) == leftovers and not leftovers[0].exists()


def test_a_reader_sees_one_generation_while_a_rebuild_swaps_the_folder(saved_index, tiny_static, monkeypatch):
    import ctxembed.index.persist as index_module  # the loader looks sha256_of up there

    other = VectorIndex.build(tiny_static, [Document(str(i), "web server network") for i in range(5)])
    real_sha = index_module.sha256_of
    swapped = []

    def swap_during_load(path):
        if not swapped:
            swapped.append(True)
            other.save(saved_index, overwrite=True)  # a rebuild lands between reading two files
        return real_sha(path)

    monkeypatch.setattr(index_module, "sha256_of", swap_during_load)
    manifest = json.loads((saved_index / "manifest.json").read_text())
    from ctxembed import embedder_from_identity

    loaded = VectorIndex.load(saved_index, embedder_from_identity(manifest["embedder"]))
    assert swapped and len(loaded) == 3 and loaded.faiss_index.ntotal == 3  # the old build, whole
    assert json.loads((saved_index / "manifest.json").read_text())["count"] == 5


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (OSError(28, "No space left on device"), "No space left on device; free disk space"),
        (PermissionError(13, "Permission denied"), "Permission denied; check its permissions"),
        (OSError(30, "Read-only file system"), "Read-only file system; choose a writable location"),
    ],
    ids=["full-disk", "read-only", "read-only-fs"],
)
def test_unwritable_outputs_keep_the_old_index(
    saved_index, tiny_vectors_file, tmp_path, capsys, monkeypatch, error, message
):
    import faiss

    def fail(index, path):
        error.filename = path
        raise error

    monkeypatch.setattr(faiss, "write_index", fail)
    corpus = tmp_path / "c.txt"
    corpus.write_text("fish boat\n")
    before = (saved_index / "manifest.json").read_text()
    args = ["index", "--backend", "static", "--corpus", str(corpus), "--vectors", str(tiny_vectors_file)]
    code, _, err = run_cli(capsys, *args, "--out", str(saved_index), "--overwrite")
    one_error_line(err, message)
    assert (saved_index / "manifest.json").read_text() == before  # the earlier index is intact
    # a failed run leaves nothing behind (no checkpoint was written that `--resume` could continue)
    assert [p.name for p in saved_index.parent.iterdir() if p.name.startswith(".")] == []


def test_roc_auc_is_nan_when_one_class_is_missing():
    """scikit-learn computes the area; ctxembed's part is refusing a single-class split instead of raising."""
    from ctxembed.evaluate.polysemy import roc_auc

    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    assert np.isnan(roc_auc(scores, np.ones(6, dtype=bool))) and np.isnan(roc_auc(scores, np.zeros(6, dtype=bool)))
