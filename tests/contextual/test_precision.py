"""`contextual.precision`: lower precisions are checked against fp32, fall back with a warning, and are recorded."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from ctxembed.contextual import precision as p
from ctxembed.contextual.embedder import ContextualEmbedder
from ctxembed.errors import ConfigError
from ctxembed.types import Precision

TEXTS = ["the river bank", "open a file and read it", "a crane lifts money", "bank", "the server sat by the river"]
needs_ort = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs onnxruntime")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CTXEMBED_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _load(folder, precision):
    return ContextualEmbedder.load(str(folder), device="cpu", precision=precision)


def test_bf16_is_used_only_after_it_matches_fp32(tiny_bert_dir):
    reference = _load(tiny_bert_dir, "fp32").encode_documents(TEXTS)
    embedder = _load(tiny_bert_dir, "bf16")
    vectors = embedder.encode_documents(TEXTS)
    assert embedder.precision_used is Precision.BF16 and embedder.precision_min_cosine >= p.MIN_COSINE
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert (vectors * reference).sum(axis=1).min() >= p.MIN_COSINE
    assert embedder.identity()["precision"] == "bf16"
    assert embedder.encode_spans([("the river bank", (10, 14))]).shape == (1, 32)


def test_a_precision_that_misses_fp32_falls_back_with_a_warning(tiny_bert_dir, monkeypatch):
    monkeypatch.setattr(p, "MIN_COSINE", 1.0001)  # nothing reaches it
    reference = _load(tiny_bert_dir, "fp32").encode(TEXTS)
    with pytest.warns(UserWarning, match=r"bf16 encoding .* minimum cosine .* fp32 instead"):
        embedder = _load(tiny_bert_dir, "bf16")  # checked once, when the embedder is built
    vectors = embedder.encode(TEXTS)
    assert embedder.precision_used is Precision.FP32
    np.testing.assert_array_equal(vectors, reference)
    assert embedder.identity()["precision"] == "fp32"


def test_auto_picks_a_native_precision_or_fp32(tiny_bert_dir, monkeypatch):
    monkeypatch.setattr(p, "native_bf16", lambda device: False)
    monkeypatch.setattr(p, "_has_onnxruntime", lambda: False)
    embedder = _load(tiny_bert_dir, "auto")
    embedder.encode(TEXTS)
    assert embedder.precision_used is Precision.FP32  # no fast path on this (pretend) machine: no check, no warning
    monkeypatch.setattr(p, "native_bf16", lambda device: True)
    assert p.candidates(Precision.AUTO, "cpu") == [Precision.BF16]
    assert p.candidates(Precision.AUTO, "cuda:0") == [Precision.BF16]


def test_int8_on_cuda_or_without_onnxruntime_is_a_clear_error(monkeypatch):
    with pytest.raises(ConfigError, match="int8 runs on CPU"):
        p.candidates(Precision.INT8, "cuda")
    monkeypatch.setattr(p, "_has_onnxruntime", lambda: False)
    with pytest.raises(ConfigError, match="pip install onnxruntime"):
        p.candidates(Precision.INT8, "cpu")


def test_an_unknown_precision_in_yaml_names_the_key(tmp_path):
    from ctxembed.config import IndexRunConfig
    from ctxembed.config.loading import load_config

    config = tmp_path / "c.yaml"
    config.write_text("contextual:\n  precision: fp8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"contextual.precision.*'fp8'.*'int8'"):
        load_config(IndexRunConfig, config)


@needs_ort
def test_int8_runs_through_onnx_runtime_and_is_cached_by_fingerprint(tiny_bert_dir, cache, monkeypatch):
    reference = _load(tiny_bert_dir, "fp32").encode(TEXTS)
    embedder = _load(tiny_bert_dir, "int8")
    vectors = embedder.encode(TEXTS)
    assert embedder.precision_used is Precision.INT8 and embedder.identity()["precision"] == "int8"
    assert (vectors * reference).sum(axis=1).min() >= p.MIN_COSINE
    cached = list(cache.glob("onnx/*.int8.onnx"))
    assert len(cached) == 1 and not list(cache.glob("onnx/.*"))  # no temporary files left

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although a cached model exists")

    monkeypatch.setattr(p, "_export_int8", no_export)
    again = _load(tiny_bert_dir, "int8")
    np.testing.assert_allclose(again.encode(TEXTS), vectors, atol=1e-6)


def test_the_manifest_records_precision_and_another_one_can_query(tiny_bert_dir, tmp_path):
    from ctxembed import VectorIndex
    from ctxembed.data import Document
    from ctxembed.registry import embedder_from_manifest

    docs = [Document(id=str(i), text=t) for i, t in enumerate(TEXTS)]
    index = VectorIndex.build(_load(tiny_bert_dir, "bf16"), docs)
    index.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedder"]["precision"] == index.embedder.precision_used.value
    embedder = embedder_from_manifest(manifest, tmp_path / "idx", device="cpu", precision="fp32")
    assert embedder.precision is Precision.FP32
    hits = VectorIndex.load(tmp_path / "idx", embedder).search(["river bank"], k=2)[0]
    assert len(hits) == 2


def test_cli_precision_flag_reaches_the_manifest(tiny_bert_dir, tmp_path):
    from ctxembed.cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(f"backend: contextual\ncontextual:\n  model: {tiny_bert_dir}\n", encoding="utf-8")
    out = tmp_path / "idx"
    args = ["index", "--config", str(config), "--corpus", str(corpus), "--out", str(out), "--precision", "fp32"]
    assert main(args) == 0
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["embedder"]["precision"] == "fp32"
    assert main(["search", str(out), "river", "-k", "1", "--precision", "bf16"]) == 0


def test_precision_is_resolved_when_built_on_fixed_texts_and_never_changes(tiny_bert_dir, monkeypatch):
    seen = []
    real = p.min_cosine
    monkeypatch.setattr(p, "min_cosine", lambda a, b: seen.append(len(a)) or real(a, b))
    embedder = _load(tiny_bert_dir, "bf16")
    assert seen == [len(p.CHECK_TEXTS)] and embedder.precision_used is Precision.BF16  # at load, on fixed texts
    identity, model = embedder.identity(), embedder.model
    first = embedder.encode(TEXTS)
    embedder.encode(["something else entirely"] * 40)
    assert seen == [len(p.CHECK_TEXTS)]  # no check on first use, whatever the texts
    assert embedder.identity() == identity and embedder.model is model  # nothing changed after loading
    np.testing.assert_array_equal(embedder.encode(TEXTS), first)


def test_one_cache_root_honours_ctxembed_cache_then_xdg(monkeypatch, tmp_path):
    from ctxembed._io import cache_root
    from ctxembed.evaluate.wordnet import WORDNET_DIR, nltk_data_dir

    monkeypatch.delenv("CTXEMBED_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "ctxembed" and p.cache_dir() == cache_root() / "onnx"
    if (WORDNET_DIR / "data.noun").is_file():
        assert nltk_data_dir().parent == cache_root()  # WordNet's copy goes to the same root
    monkeypatch.setenv("CTXEMBED_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
