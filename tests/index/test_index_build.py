"""Streaming, resumable index builds and the on-demand document store."""

from __future__ import annotations

import numpy as np
import pytest

from ctxembed import VectorIndex
from ctxembed.data import Document
from ctxembed.errors import CorpusError, CtxEmbedError
from ctxembed.index import build_index
from ctxembed.index.build import BuildProgress, partial_folder, reservoir_sample
from ctxembed.index.files import auto_factory
from tests.cli_calls import crash_build_pass, raising_after

WORDS = ["river bank water", "web server network", "fish boat river", "money loan bank", "crane lift money"]
DOCS = [Document(f"d{i}", f"{WORDS[i % 5]} {WORDS[(i * 3 + 1) % 5]} {i}") for i in range(300)]
QUERIES = ["bank river", "server", "money crane", "boat"]


def _hits(index: VectorIndex) -> list[list[tuple[str, float]]]:
    return [[(h.doc_id, round(h.score, 5)) for h in row] for row in index.search(QUERIES, k=5)]


class Crash(Exception):
    pass


def _crash_in_build_pass(after, docs=DOCS):
    """A corpus whose first pass (the count) reads through and whose second (the build) dies at `after`."""
    passes = iter([iter(docs), raising_after(docs, after, Crash())])
    return lambda: next(passes)


def test_a_streamed_build_equals_an_in_memory_build(tiny_static, tmp_path):
    seen: list[BuildProgress] = []
    streamed = build_index(tiny_static, lambda: iter(DOCS), tmp_path / "s", chunk_size=64, on_progress=seen.append)
    whole = VectorIndex.build(tiny_static, DOCS)
    assert len(streamed) == len(whole) == 300 and _hits(streamed) == _hits(whole)
    assert [p.read for p in seen] == [64, 128, 192, 256, 300] and seen[-1].total == 300
    assert not partial_folder(tmp_path / "s").exists()


def test_a_killed_build_resumes_and_answers_as_a_clean_build(tiny_static, tmp_path):
    out = tmp_path / "idx"
    with pytest.raises(Crash):
        build_index(tiny_static, _crash_in_build_pass(200), out, chunk_size=64, checkpoint_seconds=0)
    assert not out.exists() and (partial_folder(out) / "progress.json").is_file()
    seen: list[BuildProgress] = []
    resumed = build_index(tiny_static, lambda: iter(DOCS), out, chunk_size=64, resume=True, on_progress=seen.append)
    assert seen[0].resumed_from == 192 and seen[0].read == 256  # three whole chunks were checkpointed
    clean = build_index(tiny_static, lambda: iter(DOCS), tmp_path / "clean", chunk_size=64)
    assert len(resumed) == 300 and _hits(resumed) == _hits(clean)
    assert [d.id for d in resumed.docs] == [d.id for d in DOCS]


def test_without_resume_a_stale_checkpoint_is_replaced(tiny_static, tmp_path):
    out = tmp_path / "idx"
    with pytest.raises(Crash):
        build_index(tiny_static, _crash_in_build_pass(100), out, chunk_size=32, checkpoint_seconds=0)
    seen: list[BuildProgress] = []
    build_index(tiny_static, lambda: iter(DOCS[:50]), out, chunk_size=32, on_progress=seen.append)
    assert seen[0].resumed_from == 0 and len(VectorIndex.load(out, tiny_static)) == 50


def test_resume_refuses_a_changed_corpus(tiny_static, tmp_path):
    out = tmp_path / "idx"
    with pytest.raises(Crash):
        build_index(tiny_static, _crash_in_build_pass(100), out, chunk_size=32, checkpoint_seconds=0, source="a:1")
    with pytest.raises(CtxEmbedError, match="corpus changed since the interrupted build.*without --resume"):
        build_index(tiny_static, lambda: iter(DOCS), out, chunk_size=32, resume=True, source="a:2")


def test_repeated_ids_in_a_stream_are_refused(tiny_static, tmp_path):
    docs = [*DOCS[:100], Document("d7", "again")]
    with pytest.raises(CorpusError, match="'d7' occurs twice"):
        build_index(tiny_static, lambda: iter(docs), tmp_path / "idx", chunk_size=64)
    with pytest.raises(CorpusError, match="'x' occurs twice"):
        build_index(tiny_static, lambda: iter([Document("x", "bank"), Document("x", "river")]), tmp_path / "i2")


def test_ivf_is_trained_on_a_seeded_sample_of_the_whole_corpus(tiny_static, tmp_path):
    a = build_index(tiny_static, lambda: iter(DOCS), tmp_path / "a", factory="IVF4,Flat", chunk_size=50)
    b = build_index(tiny_static, lambda: iter(DOCS), tmp_path / "b", factory="IVF4,Flat", chunk_size=50)
    assert a.faiss_index.is_trained and len(a) == 300 and _hits(a) == _hits(b)
    sample, count = reservoir_sample(iter(DOCS), 40, seed=0)
    assert count == 300 and len(sample) == 40 and max(int(d.id[1:]) for d in sample) > 100  # not just the head


def test_auto_factory_grows_with_the_corpus(tiny_static, tmp_path):
    assert auto_factory(5_000, 384) == "Flat"
    assert auto_factory(999_999, 384) == "Flat"
    assert auto_factory(1_000_000, 384) == "IVF4096,PQ96,Refine(SQ8)"
    assert auto_factory(20_000_000, 384) == "IVF16384,PQ96,Refine(SQ8)"
    assert auto_factory(20_000_000, 50) == "IVF16384,PQ25,Refine(SQ8)"
    index = build_index(tiny_static, lambda: iter(DOCS), tmp_path / "a", factory="auto")
    assert index.factory == "Flat" and VectorIndex.build(tiny_static, DOCS, factory="auto").factory == "Flat"


def test_an_index_without_an_offsets_file_still_loads(tiny_static, tmp_path):
    built = build_index(tiny_static, lambda: iter(DOCS), tmp_path / "idx")
    (tmp_path / "idx" / "docs.offsets").unlink()  # as indexes written before it existed
    loaded = VectorIndex.load(tmp_path / "idx", tiny_static)
    assert len(loaded) == 300 and _hits(loaded) == _hits(built)


def test_damaged_offsets_name_the_file(tiny_static, tmp_path):
    build_index(tiny_static, lambda: iter(DOCS), tmp_path / "idx")
    (tmp_path / "idx" / "docs.offsets").write_bytes(b"\x00" * 12)
    with pytest.raises(CtxEmbedError, match=r"docs.offsets does not describe docs.jsonl.*rebuild"):
        VectorIndex.load(tmp_path / "idx", tiny_static)


def test_cli_index_resume_says_it_resumed(tiny_vectors_file, tmp_path, capsys, monkeypatch):
    from ctxembed.cli import main

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(f'{{"_id": "{d.id}", "text": "{d.text}"}}\n' for d in DOCS), encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text("backend: static\nindex:\n  chunk_size: 64\n  checkpoint_seconds: 0\n", encoding="utf-8")
    args = ["index", "--config", str(config), "--corpus", str(corpus), "--vectors", str(tiny_vectors_file)]
    crash_build_pass(monkeypatch, 150, Crash())
    assert main([*args, "--out", str(tmp_path / "idx")]) == 3  # not the input's fault: reported as unexpected
    assert "unexpected" in capsys.readouterr().err
    assert (tmp_path / ".idx.partial").is_dir()  # the checkpoint is kept for --resume
    monkeypatch.undo()
    assert main([*args, "--out", str(tmp_path / "idx"), "--resume"]) == 0
    err = capsys.readouterr().err
    assert "resumed an interrupted build after 128 documents" in err and "saved 300 documents" in err


@pytest.mark.slow
def test_engine_ray_equals_the_single_process_build(tiny_vectors_file, tmp_path, capsys):
    ray = pytest.importorskip("ray")
    from ctxembed.cli import main

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(f'{{"_id": "{d.id}", "text": "{d.text}"}}\n' for d in DOCS), encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text("backend: static\nindex:\n  chunk_size: 100\n", encoding="utf-8")
    args = ["index", "--config", str(config), "--corpus", str(corpus), "--vectors", str(tiny_vectors_file)]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        assert main([*args, "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"]) == 0
    finally:
        ray.shutdown()
    assert "ray: encoding on 2 workers" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    from ctxembed.index.files import read_manifest
    from ctxembed.registry import embedder_from_manifest

    loaded = {}
    for name in ("ray", "local"):
        manifest = read_manifest(tmp_path / name)
        loaded[name] = VectorIndex.load(tmp_path / name, embedder_from_manifest(manifest, tmp_path / name))
    assert len(loaded["ray"]) == len(loaded["local"]) == 300
    assert _hits(loaded["ray"]) == _hits(loaded["local"])
    np.testing.assert_array_equal(
        loaded["ray"].faiss_index.reconstruct_n(0, 300), loaded["local"].faiss_index.reconstruct_n(0, 300)
    )
    # the sparse side is built in the same run whatever the engine: the same BM25 files, the same hybrid hits
    sparse = {name: read_manifest(tmp_path / name)["sparse"]["files"] for name in ("ray", "local")}
    assert sparse["ray"] == sparse["local"] and sparse["ray"]
    for mode in ("sparse", "hybrid"):
        hits = {name: index.search(["river bank", "web server"], k=5, mode=mode) for name, index in loaded.items()}
        assert [[h.doc_id for h in row] for row in hits["ray"]] == [[h.doc_id for h in row] for row in hits["local"]]


@pytest.mark.slow
def test_engine_ray_encodes_a_contextual_model_at_the_drivers_resolved_precision(tiny_bert_dir, tmp_path, capsys):
    ray = pytest.importorskip("ray")
    from ctxembed.cli import main
    from ctxembed.index import read_manifest
    from ctxembed.registry import embedder_from_manifest

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(f'{{"_id": "{d.id}", "text": "{d.text}"}}\n' for d in DOCS[:120]), encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"backend: contextual\ncontextual:\n  model: {tiny_bert_dir}\n  device: cpu\nindex:\n  chunk_size: 40\n"
    )
    args = ["index", "--config", str(config), "--corpus", str(corpus), "--precision", "bf16"]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        assert main([*args, "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"]) == 0
    finally:
        ray.shutdown()
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    manifests = {name: read_manifest(tmp_path / name) for name in ("ray", "local")}
    assert manifests["ray"]["embedder"]["precision"] == manifests["local"]["embedder"]["precision"] == "bf16"
    vectors = {}
    for name, manifest in manifests.items():
        index = VectorIndex.load(tmp_path / name, embedder_from_manifest(manifest, tmp_path / name))
        vectors[name] = index.faiss_index.reconstruct_n(0, 120)
    np.testing.assert_allclose(vectors["ray"], vectors["local"], atol=1e-6)  # every shard encoded alike


@pytest.mark.slow
def test_a_build_killed_by_sigkill_resumes_to_the_clean_index(tiny_vectors_file, tmp_path):
    import subprocess
    import sys

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(f'{{"_id": "{d.id}", "text": "{d.text}"}}\n' for d in DOCS), encoding="utf-8")
    script = f"""
import os, signal
from ctxembed.data import iter_corpus
from ctxembed.index import build_index
from ctxembed.static.embedder import StaticEmbedder
from ctxembed.config import StaticConfig
embedder = StaticEmbedder.from_config(StaticConfig(vectors={str(tiny_vectors_file)!r}))
passes = []
def corpus():
    passes.append(1)
    for i, doc in enumerate(iter_corpus({str(corpus)!r})):
        if len(passes) == 2 and i == 230:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: as a killed process
        yield doc
build_index(embedder, corpus, {str(tmp_path / "idx")!r}, chunk_size=50, checkpoint_seconds=0)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == -9, result.stderr
    from ctxembed.config import StaticConfig
    from ctxembed.data import iter_corpus
    from ctxembed.static.embedder import StaticEmbedder

    embedder = StaticEmbedder.from_config(StaticConfig(vectors=str(tiny_vectors_file)))
    seen: list[BuildProgress] = []
    resumed = build_index(
        embedder,
        lambda: iter_corpus(str(corpus)),
        tmp_path / "idx",
        chunk_size=50,
        resume=True,
        on_progress=seen.append,
    )
    clean = build_index(embedder, lambda: iter_corpus(str(corpus)), tmp_path / "clean", chunk_size=50)
    assert seen[0].resumed_from == 200 and len(resumed) == 300 and _hits(resumed) == _hits(clean)
