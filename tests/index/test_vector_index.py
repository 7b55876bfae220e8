from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from ctxembed import VectorIndex
from ctxembed.data import Document, load_corpus
from ctxembed.errors import CtxEmbedError, EmptyTextError, IndexMismatchError, OutputExistsError
from ctxembed.passages import PassageSettings
from ctxembed.static import StaticEmbedder

TEXTS = [
    "river bank water fish boat",
    "bank money loan deposit account",
    "web server client network request",
    "crane bird water river",
    "crane construction lift site",
    "fire bush homes sydney",
    "cricket match test team",
    "peace talks israel",
    "airline workers strike union",
    "open file create read write",
]
DOCS = [Document(f"d{i}", t) for i, t in enumerate(TEXTS)]


def brute_force(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]


def test_flat_search_equals_numpy_brute_force(tiny_static):
    index = VectorIndex.build(tiny_static, DOCS)
    queries = ["river water", "server network", "crane", "union strike", "bank"]
    results = index.search(queries, k=4)
    doc_vecs = tiny_static.encode(TEXTS)
    expected = brute_force(doc_vecs, tiny_static.encode(queries), 4)
    for hits, exp, q in zip(results, expected, tiny_static.encode(queries)):
        assert [h.doc_id for h in hits] == [f"d{i}" for i in exp]
        np.testing.assert_allclose([h.score for h in hits], doc_vecs[exp] @ q, rtol=1e-5)


def test_real_lee_corpus_flat_equals_brute_force(tiny_contextual, lee_path):
    docs = load_corpus(lee_path)[:120]
    index = VectorIndex.build(tiny_contextual, docs, passages=PassageSettings(mode="none"))  # whole documents
    queries = ["fire near homes", "cricket team", "peace talks"]
    vecs = tiny_contextual.encode([d.text for d in docs])
    scores = tiny_contextual.encode(queries) @ vecs.T
    by_id = {d.id: i for i, d in enumerate(docs)}
    for row, hits in zip(scores, index.search(queries, k=5)):
        # A random tiny model makes near-ties, so compare scores rather than tie order.
        np.testing.assert_allclose([h.score for h in hits], np.sort(row)[::-1][:5], rtol=1e-5)
        np.testing.assert_allclose([row[by_id[h.doc_id]] for h in hits], [h.score for h in hits], rtol=1e-5)


def test_round_trip_gives_the_same_results(tmp_path, tiny_static):
    index = VectorIndex.build(tiny_static, DOCS)
    index.save(tmp_path / "idx")
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == [
        "docs.hashes",
        "docs.jsonl",
        "docs.offsets",
        "index.faiss",
        "manifest.json",
    ]
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["count"] == 10 and manifest["embedder"]["dim"] == 16 and manifest["metric"] == "inner_product"
    loaded = VectorIndex.load(tmp_path / "idx", tiny_static)
    assert loaded.search(["bank river", "crane lift"], k=3) == index.search(["bank river", "crane lift"], k=3)


def test_saved_index_opens_with_plain_faiss(tmp_path, tiny_static):
    import faiss

    VectorIndex.build(tiny_static, DOCS).save(tmp_path / "idx")
    raw = faiss.read_index(str(tmp_path / "idx" / "index.faiss"))
    assert raw.ntotal == 10 and raw.d == 16


def test_loading_with_another_model_is_refused(tmp_path, tiny_static, tiny_vectors, tiny_contextual):
    VectorIndex.build(tiny_static, DOCS).save(tmp_path / "idx")
    other_kv = tiny_vectors.__class__(vector_size=16)
    other_kv.add_vectors(tiny_vectors.index_to_key, tiny_vectors.vectors[::-1].copy())
    other = StaticEmbedder(other_kv, name="tiny")
    with pytest.raises(IndexMismatchError, match="differing: fingerprint"):
        VectorIndex.load(tmp_path / "idx", other)
    with pytest.raises(IndexMismatchError, match=r"built with static model 'tiny' but is queried with contextual"):
        VectorIndex.load(tmp_path / "idx", tiny_contextual)


def test_existing_output_is_kept_unless_overwrite(tmp_path, tiny_static):
    VectorIndex.build(tiny_static, DOCS[:3]).save(tmp_path / "idx")
    with pytest.raises(
        OutputExistsError, match=r"already exists; choose another output path or allow replacing it \(overwrite\)"
    ):
        VectorIndex.build(tiny_static, DOCS).save(tmp_path / "idx")
    assert len(VectorIndex.load(tmp_path / "idx", tiny_static)) == 3
    VectorIndex.build(tiny_static, DOCS).save(tmp_path / "idx", overwrite=True)
    assert len(VectorIndex.load(tmp_path / "idx", tiny_static)) == 10


def test_failed_save_leaves_the_earlier_index_intact(tmp_path, tiny_static, monkeypatch):
    import faiss

    VectorIndex.build(tiny_static, DOCS[:3]).save(tmp_path / "idx")

    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", broken_write)
    with pytest.raises(OSError, match="disk full"):
        VectorIndex.build(tiny_static, DOCS).save(tmp_path / "idx", overwrite=True)
    monkeypatch.undo()
    assert len(VectorIndex.load(tmp_path / "idx", tiny_static)) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # no temporary folders left behind


def test_incremental_add_matches_one_build(tiny_static):
    whole = VectorIndex.build(tiny_static, DOCS)
    parts = VectorIndex.build(tiny_static, DOCS[:4])
    parts.add(DOCS[4:])
    assert parts.search("water crane", k=5) == whole.search("water crane", k=5)
    with pytest.raises(CtxEmbedError, match="occurs twice; ids must be unique"):
        parts.add(DOCS[:1])


def test_documents_without_known_words_are_skipped_with_a_warning(tiny_static):
    docs = DOCS[:3] + [Document("junk", "qqq zzz")]
    with pytest.warns(UserWarning, match=r"1 document\(s\) have no word the model knows.*junk"):
        index = VectorIndex.build(tiny_static, docs)
    assert len(index) == 3 and index.faiss_index.ntotal == 3
    assert index.manifest()["skipped"] == ["junk"]


def test_query_without_known_words_is_an_error(tiny_static):
    index = VectorIndex.build(tiny_static, DOCS)
    with pytest.raises(EmptyTextError, match="'qqq'"):
        index.search("qqq", k=3)


class RandomEmbedder:
    """A protocol-conforming embedder with well-spread random unit vectors per text."""

    dim = 32

    def encode(self, texts, *, batch_size=64, show_progress=False):
        import zlib

        rows = [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dim) for t in texts]
        out = np.asarray(rows, dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    encode_documents = encode

    def encode_queries(self, texts, *, batch_size=64):
        return self.encode(texts)

    def encode_spans(self, items, *, batch_size=32):
        return self.encode([text[span[0] : span[1]] for text, span in items])

    def identity(self):
        return {"backend": "random", "model": "random", "adapter": None, "dim": self.dim}

    def word_vectors(self):
        return None

    def context_window_variant(self, window):
        return None

    def text_window(self):
        return None

    def held_out_documents(self):
        return None


def test_any_embedder_that_follows_the_protocol_is_indexed_and_evaluated(tmp_path):
    from ctxembed.evaluate.polysemy import pair_similarities
    from ctxembed.scoring.metrics import evaluate_retrieval, index_retriever
    from ctxembed.types import Embedder

    embedder = RandomEmbedder()
    assert isinstance(embedder, Embedder)
    docs = [Document(str(i), f"document number {i}") for i in range(20)]
    index = VectorIndex.build(embedder, docs)
    scores = evaluate_retrieval(index_retriever(index), {"q": "document number 3"}, {"q": {"3"}})
    assert scores["ndcg@10"] == pytest.approx(1.0)

    class Pair:  # the two occurrences pair_similarities reads
        def __init__(self, a, b):
            self.a, self.b = a, b

    class Occ:
        def __init__(self, text, span):
            self.text, self.span = text, span

    same = pair_similarities(embedder, [Pair(Occ("a bank", (2, 6)), Occ("the bank", (4, 8)))])
    assert same[0] == pytest.approx(1.0)


@pytest.mark.parametrize("factory", ["HNSW16", "IVF4,Flat", "IVF4,PQ16x4"])
def test_approximate_factories_find_the_exact_top_hit(factory):
    docs = [Document(str(i), f"document number {i}") for i in range(400)]
    exact = VectorIndex.build(RandomEmbedder(), docs)
    approx = VectorIndex.build(RandomEmbedder(), docs, factory=factory, nprobe=4)
    queries = [d.text for d in docs[:50]]
    top = [h[0].doc_id for h in exact.search(queries, k=1)]
    assert top == [d.id for d in docs[:50]]
    hits = approx.search(queries, k=10)
    recall = np.mean([t in [h.doc_id for h in row] for t, row in zip(top, hits)])
    assert recall >= 0.9


def test_bad_factory_and_too_few_training_vectors(tiny_static):
    with pytest.raises(CtxEmbedError, match="invalid FAISS factory string 'Bogus12'"):
        VectorIndex(tiny_static, factory="Bogus12")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(CtxEmbedError, match="cannot train FAISS index 'IVF64,Flat' on 10 vectors"):
            VectorIndex.build(tiny_static, DOCS, factory="IVF64,Flat")


def test_loading_a_folder_that_is_not_an_index(tmp_path, tiny_static):
    with pytest.raises(CtxEmbedError, match="not a ctxembed index"):
        VectorIndex.load(tmp_path, tiny_static)
