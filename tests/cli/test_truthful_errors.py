"""Errors name what really failed: a failure that is not the input's is never blamed on the input, and a
refused or failed run leaves nothing behind."""

from __future__ import annotations

import errno
import json
import time
from pathlib import Path

import numpy as np
import pytest

from ctxembed.cli import main
from ctxembed.errors import AssetNotFoundError, ConfigError, CorpusError, CtxEmbedError, DependencyError
from tests.cli_calls import run_cli

BLAME = ("fix the file", "check corpus.encoding", "rebuild the index", "distill it again", "install gt-all", "match no")


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("ctxembed: error: "), err
    assert "Traceback" not in err
    return lines[-1]


def assert_not_blamed(line: str) -> None:
    for phrase in BLAME:
        assert phrase not in line, line


def static_args(corpus: Path, vectors: Path, out: Path) -> list[str]:
    return ["index", "--backend", "static", "--corpus", str(corpus), "--vectors", str(vectors), "--out", str(out)]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- the CLI's treatment of errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "fragments"),
    [
        (
            RuntimeError("faiss: Error in IndexFlat"),
            ["unexpected builtins.RuntimeError", "not a problem with your input"],
        ),
        (ValueError("setting an array element with a sequence"), ["unexpected builtins.ValueError", "-v"]),
        (MemoryError(), ["out of memory"]),
    ],
    ids=["library-bug", "library-valueerror", "memory"],
)
def test_unexpected_failures_are_reported_as_what_they_are(
    tiny_vectors_file, tmp_path, capsys, monkeypatch, error, fragments
):
    from ctxembed.static.embedder import StaticEmbedder

    def fail(self, texts, **kw):
        raise error

    monkeypatch.setattr(StaticEmbedder, "encode_documents", fail)
    corpus = tmp_path / "c.txt"
    corpus.write_text("river bank\n")
    code, _, err = run_cli(capsys, *static_args(corpus, tiny_vectors_file, tmp_path / "i"))
    line = error_line(err)
    assert code == 3
    for fragment in fragments:
        assert fragment in line
    assert_not_blamed(line)
    with pytest.raises(type(error)):  # -v shows the real exception, traceback and all
        main(["-v", *static_args(corpus, tiny_vectors_file, tmp_path / "i")])


def test_errors_keep_their_cause(tmp_path):
    from ctxembed.data import load_corpus

    path = tmp_path / "c.jsonl"
    path.write_text("{not json\n")
    with pytest.raises(CorpusError) as info:
        load_corpus(str(path))
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


# --- versions ----------------------------------------------------------------------------------------


def test_a_transformers_that_needs_a_newer_peft_is_named(monkeypatch):
    from importlib.metadata import version

    from ctxembed.contextual import versions

    monkeypatch.setattr(versions, "required_peft", lambda: "99.0.0")
    with pytest.raises(DependencyError) as info:
        versions.check_peft_versions()
    message = str(info.value)
    assert f"transformers {version('transformers')} needs peft >= 99.0.0" in message
    assert f"peft {version('peft')} is installed" in message
    assert "requirements.lock" in message


def test_the_installed_set_passes_the_version_check():
    from ctxembed.contextual.versions import check_peft_versions, required_peft

    assert required_peft()  # transformers names its minimum peft
    check_peft_versions()


def test_lora_with_a_version_conflict_blames_the_versions_not_the_config(tiny_bert_dir, tmp_path, capsys, monkeypatch):
    from ctxembed.contextual import versions

    monkeypatch.setattr(versions, "required_peft", lambda: "99.0.0")
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"River bank {i} is wide. Fish swim near the boat {i} today." for i in range(60)))
    args = ["finetune", "--model", str(tiny_bert_dir), "--corpus", str(corpus), "--out", str(tmp_path / "a")]
    code, _, err = run_cli(capsys, *args)
    line = error_line(err)
    assert code == 1 and "needs peft >= 99.0.0" in line
    assert_not_blamed(line)
    assert not (tmp_path / "a").exists()


def test_another_peft_failure_is_not_called_a_target_mismatch(tiny_bert_dir, monkeypatch):
    from sentence_transformers import SentenceTransformer

    from ctxembed.contextual.settings import LoraSettings
    from ctxembed.contextual.training import apply_lora

    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")

    def conflict(self, config, *a, **kw):
        raise ValueError("The version of PEFT you are using is not compatible, please use a version >= 0.22.0")

    monkeypatch.setattr(SentenceTransformer, "add_adapter", conflict)
    with pytest.raises(ValueError, match="version of PEFT") as info:
        apply_lora(model, LoraSettings())
    assert not isinstance(info.value, ConfigError)
    with pytest.raises(ConfigError, match=r"q_proj match no layer.*dense, key, query, value") as info:
        apply_lora(model, LoraSettings(target_modules=("query", "q_proj")))
    assert info.value.key == "lora.target_modules"


# --- loaders -----------------------------------------------------------------------------------------


def test_a_model_that_fails_to_load_from_a_manifest_is_not_a_damaged_manifest(saved_static_index, capsys, monkeypatch):
    from ctxembed.static.embedder import StaticEmbedder

    def fail(cls, identity, *, device=None):
        raise KeyError("vectors_vocab")  # e.g. a library's own bug while loading

    monkeypatch.setattr(StaticEmbedder, "from_identity", classmethod(fail))
    code, _, err = run_cli(capsys, "search", str(saved_static_index), "bank")
    line = error_line(err)
    assert code == 3 and "KeyError" in line and "manifest is damaged" not in line


@pytest.mark.parametrize(
    "error",
    [MemoryError(), PermissionError(13, "Permission denied", "v.bin")],
    ids=["memory", "permission"],
)
def test_vector_files_are_blamed_only_for_their_content(tiny_vectors_file, monkeypatch, error):
    from gensim.models import KeyedVectors

    from ctxembed.static.vectors import load_vectors

    def fail(*a, **kw):
        raise error

    monkeypatch.setattr(KeyedVectors, "load_word2vec_format", fail)
    with pytest.raises(type(error)):
        load_vectors(str(tiny_vectors_file))


@pytest.mark.parametrize(
    "head",
    [b"", b"7 3\n", (793712314).to_bytes(4, "little") + (12).to_bytes(4, "little")],
    ids=["random", "word2vec-header", "fasttext-magic"],
)
def test_random_bytes_as_vectors_never_hang(tmp_path, head):
    from ctxembed.static.vectors import load_vectors

    for seed in range(20):
        path = tmp_path / "v.bin"
        path.write_bytes(head + np.random.default_rng(seed).bytes(2048))
        started = time.perf_counter()
        with pytest.raises(CorpusError, match="v.bin"):
            load_vectors(str(path))
        assert time.perf_counter() - started < 5


def test_a_word2vec_header_larger_than_the_file_is_refused_before_allocating(tmp_path):
    from ctxembed.static.vectors import load_vectors

    path = tmp_path / "v.bin"
    path.write_bytes(b"999999999 300\n" + bytes(100))
    with pytest.raises(CorpusError, match="promises 999999999 vectors of 300 values"):
        load_vectors(str(path))


def test_a_csv_the_system_cannot_read_is_not_an_encoding_problem(tmp_path, monkeypatch):
    from pyarrow import csv

    from ctxembed.data import load_corpus

    path = tmp_path / "c.csv"
    path.write_text("text\nriver bank\n")

    def refuse(source, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", str(source))

    monkeypatch.setattr(csv, "open_csv", refuse)
    with pytest.raises(PermissionError):
        load_corpus(str(path))


def test_a_damaged_parquet_file_is_the_files_fault(tmp_path):
    from ctxembed.data import load_corpus

    path = tmp_path / "c.parquet"
    path.write_bytes(b"PAR1" + bytes(50) + b"PAR1")
    with pytest.raises(CorpusError, match="cannot read as a table"):
        load_corpus(str(path))


def test_a_model_folder_the_system_cannot_read_is_not_a_missing_install(tiny_bert_dir, monkeypatch):
    import sentence_transformers

    from ctxembed.contextual.embedder import load_sentence_transformer

    def refuse(*a, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", str(tiny_bert_dir / "model.safetensors"))

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", refuse)
    with pytest.raises(PermissionError):
        load_sentence_transformer(str(tiny_bert_dir))


def test_a_folder_that_is_no_model_says_so(tmp_path):
    from ctxembed.contextual.embedder import load_sentence_transformer

    with pytest.raises(AssetNotFoundError, match="not a model folder"):
        load_sentence_transformer(str(tmp_path))


def test_model2vec_load_failures_that_are_not_the_folders_keep_their_type(tmp_path, monkeypatch):
    import model2vec

    from ctxembed.static.distilled import load_static_model

    with pytest.raises(AssetNotFoundError, match="lacks config.json, tokenizer.json"):
        load_static_model(tmp_path)
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (tmp_path / name).write_text("{}")

    def fail(*a, **kw):
        raise MemoryError

    monkeypatch.setattr(model2vec.StaticModel, "from_pretrained", fail)
    with pytest.raises(MemoryError):
        load_static_model(tmp_path)


def test_a_missing_optional_package_is_a_dependency_error():
    from ctxembed.assets import installed, require

    assert installed("numpy") and not installed("no_such_package_xyz") and not installed("no_such_pkg.sub")
    with pytest.raises(DependencyError, match="BM25 needs no_such_package_xyz: pip install 'ctxembed\\[eval\\]'"):
        require("no_such_package_xyz", "BM25: pip install 'ctxembed[eval]'")


# --- the seven probe cases -----------------------------------------------------------------------------


@pytest.fixture
def saved_static_index(tiny_vectors_file, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("river bank water\nweb server network\nfish boat river\n")
    assert main(static_args(corpus, tiny_vectors_file, tmp_path / "idx")) == 0
    return tmp_path / "idx"


def test_a_dangling_link_in_a_corpus_folder_is_skipped_with_a_warning(tiny_vectors_file, tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("river bank water")
    (docs / "b.txt").write_text("web server network")
    (docs / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    code, out, err = run_cli(capsys, *static_args(docs, tiny_vectors_file, tmp_path / "i"))
    assert code == 0, err
    assert "warning:" in err and "gone.txt: skipped, a symbolic link whose target does not exist" in err
    assert "saved 2 documents" in err and err.count("gone.txt") == 1


def test_one_query_with_no_known_word_is_an_error_on_stderr(saved_static_index, tmp_path, capsys):
    code, out, err = run_cli(capsys, "search", str(saved_static_index), "😀 日本語")
    assert code == 1 and out == ""
    assert "has no word the model knows" in error_line(err)
    queries = tmp_path / "q.txt"
    queries.write_text("😀 日本語\nriver bank\n")
    code, out, err = run_cli(capsys, "search", str(saved_static_index), "--queries", str(queries))
    assert code == 0 and "error:" in out and "1. " in out  # a batch reports the bad query and answers the rest


def test_overwrite_onto_a_file_leaves_no_temporary_file(tiny_vectors_file, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("river bank\n")
    target = tmp_path / "out"
    target.write_text("an old file")
    code, _, err = run_cli(capsys, *static_args(corpus, tiny_vectors_file, target), "--overwrite")
    assert code == 0, err
    assert (target / "manifest.json").is_file()
    assert leftovers(tmp_path) == []


def test_the_current_folder_is_refused_before_any_work(tiny_vectors_file, tmp_path, capsys, monkeypatch):
    corpus = tmp_path / "c.txt"
    corpus.write_text("river bank\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code, _, err = run_cli(capsys, *static_args(corpus, tiny_vectors_file, Path(".")), "--overwrite")
    assert code == 1 and "holds the current folder" in error_line(err)
    assert leftovers(work) == [] and leftovers(tmp_path) == []


@pytest.mark.parametrize("overwrite", [False, True], ids=["new", "overwrite"])
def test_a_full_disk_leaves_nothing_behind(
    saved_static_index, tiny_vectors_file, tmp_path, capsys, monkeypatch, overwrite
):
    from ctxembed.index import store as doc_store

    real_add = doc_store.DocStoreWriter.add

    def full(self, docs):
        real_add(self, docs)
        raise OSError(errno.ENOSPC, "No space left on device", "docs.jsonl")

    monkeypatch.setattr(doc_store.DocStoreWriter, "add", full)
    corpus = tmp_path / "c2.txt"
    corpus.write_text("fish boat\n")
    out = saved_static_index if overwrite else tmp_path / "new"
    args = static_args(corpus, tiny_vectors_file, out) + (["--overwrite"] if overwrite else [])
    before = (saved_static_index / "manifest.json").read_text()
    code, _, err = run_cli(capsys, *args)
    assert code == 1 and "No space left on device; free disk space" in error_line(err)
    assert leftovers(tmp_path) == []
    assert (saved_static_index / "manifest.json").read_text() == before
    assert not (tmp_path / "new").exists()


def test_an_input_error_mid_build_leaves_no_partial_folder(tiny_vectors_file, tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "a", "text": "river bank"}\n{"_id": "a", "text": "fish boat"}\n')
    code, _, err = run_cli(capsys, *static_args(corpus, tiny_vectors_file, tmp_path / "i"))
    assert code == 1 and "occurs twice" in error_line(err)
    assert leftovers(tmp_path) == []


def test_ctxembed_errors_are_one_family():
    assert issubclass(DependencyError, CtxEmbedError) and issubclass(DependencyError, ImportError)
