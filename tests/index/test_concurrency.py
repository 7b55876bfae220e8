"""Embedders and loaded indexes are shared by threads (a search service answers requests concurrently):
encoding and searching from many threads gives what one thread gives, and nothing changes after loading."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ctxembed import VectorIndex
from ctxembed.contextual.embedder import ContextualEmbedder
from ctxembed.data import Document
from tests.tiny_bert import WORDS

TEXTS = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(3 + i % 9)) for i in range(48)]
DOCS = [Document(f"d{i}", text, f"title {i}") for i, text in enumerate(TEXTS)]


def _threaded(function, items, threads=8):
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(function, items))


def test_encoding_from_threads_equals_one_thread(tiny_static, tiny_bert_dir):
    contextual = ContextualEmbedder.load(str(tiny_bert_dir), device="cpu", precision="bf16")
    for embedder in (tiny_static, contextual):
        identity = embedder.identity()
        alone = [embedder.encode_documents([text])[0] for text in TEXTS]
        together = _threaded(lambda text, e=embedder: e.encode_documents([text])[0], TEXTS * 3)
        np.testing.assert_allclose(np.stack(together), np.stack(alone * 3), rtol=1e-6, atol=1e-6)
        assert embedder.identity() == identity  # encoding changed nothing about the embedder


def test_searching_a_loaded_index_from_threads_equals_one_thread(tiny_static, tmp_path):
    VectorIndex.build(tiny_static, DOCS, sparse=True).save(tmp_path / "idx")
    index = VectorIndex.load(tmp_path / "idx", tiny_static)
    queries = [(text.split()[0] + " " + text.split()[-1], mode) for text in TEXTS for mode in ("dense", "hybrid")]

    def search(item):
        query, mode = item
        return [(h.doc_id, round(h.score, 6), h.text) for h in index.search(query, k=5, mode=mode)[0]]

    alone = [search(item) for item in queries]
    assert _threaded(search, queries * 4, threads=16) == alone * 4
    documents = _threaded(lambda _: [d.id for d in index.docs], range(8))  # whole-store reads, concurrently
    assert all(ids == [d.id for d in DOCS] for ids in documents)
    index.close()
