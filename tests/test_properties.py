"""Property-based tests: generated corpora, configs and queries raise only ctxembed's documented errors."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctxembed import VectorIndex
from ctxembed.config import IndexRunConfig
from ctxembed.config.loading import from_dict
from ctxembed.data import load_corpus
from ctxembed.errors import CtxEmbedError

WORDS = ["river", "bank", "money", "web", "server", "fire", "zzqx", "crane", "the"]
text = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join),
    st.text(max_size=20),  # any unicode, control characters and lone surrogates included
)
json_value = st.one_of(
    text, st.none(), st.integers(), st.floats(allow_nan=True), st.booleans(), st.lists(text, max_size=2)
)


def mostly(common: st.SearchStrategy, rare: st.SearchStrategy, every: int = 6) -> st.SearchStrategy:
    """`common`, except one draw in `every` from `rare` (one_of alone would draw them evenly)."""
    return st.integers(1, every).flatmap(lambda i: rare if i == 1 else common)


unique_id = st.uuids().map(str)
well_formed = st.fixed_dictionaries(
    {"_id": mostly(unique_id, json_value, 12), "text": mostly(text, json_value, 12)},
    optional={"title": mostly(text, json_value, 12)},
)
odd = st.one_of(st.dictionaries(st.sampled_from(["_id", "text", "title", "other"]), json_value, max_size=4), json_value)
junk = st.text(max_size=30).filter(lambda s: "\n" not in s)
# Mostly well-formed rows with hostile values, so generated corpora get past parsing into indexing.
line = mostly(well_formed.map(json.dumps), st.one_of(odd.map(json.dumps), junk), 10)
slow = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@slow
@given(lines=st.lists(line, max_size=8), query=text)
def test_generated_jsonl_corpora_index_and_search_or_fail_cleanly(tiny_static, lines, query):
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "c.jsonl"
        corpus.write_bytes("\n".join(lines).encode("utf-8", errors="surrogatepass"))
        try:
            docs = load_corpus(str(corpus))
            index = VectorIndex.build(tiny_static, docs)
            index.save(Path(tmp) / "idx")
            loaded = VectorIndex.load(Path(tmp) / "idx", tiny_static)
            hits = loaded.search([query], k=3)[0]
        except CtxEmbedError:
            return
        assert len(loaded) == len(index) <= len(docs)
        assert [h.doc_id for h in hits] == [h.doc_id for h in index.search([query], k=3)[0]]


@slow
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_as_a_text_corpus(raw):
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "c.txt"
        corpus.write_bytes(raw)
        try:
            docs = load_corpus(str(corpus))
        except CtxEmbedError:
            return
        assert all(d.text.strip() and "\ufeff" not in d.text[:1] for d in docs)


config_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)
config_tree = st.recursive(
    st.dictionaries(
        st.sampled_from(["backend", "factory", "nprobe", "vectors", "pooling", "sif_a", "x"]), config_value
    ),
    lambda inner: st.dictionaries(st.sampled_from(["corpus", "static", "contextual", "index", "backend"]), inner),
    max_leaves=8,
)


@slow
@given(data=config_tree)
def test_generated_index_configs_give_config_errors_only(data):
    try:
        config = from_dict(IndexRunConfig, data)
    except CtxEmbedError:
        return
    assert isinstance(config, IndexRunConfig)


@pytest.fixture(scope="module")
def tiny_static():
    import numpy as np
    from gensim.models import KeyedVectors

    from ctxembed.static import StaticEmbedder

    kv = KeyedVectors(vector_size=8)
    kv.add_vectors(WORDS, np.random.default_rng(0).standard_normal((len(WORDS), 8)).astype(np.float32))
    return StaticEmbedder(kv, name="tiny")
