"""Updating a saved index in place: what a fresh build of the final corpus gives, atomically, or a clear error."""

from __future__ import annotations

import errno
import json
from dataclasses import replace

import numpy as np
import pytest
from cli_calls import run_cli

from ctxembed.data import Document, load_corpus
from ctxembed.errors import CorpusError, CtxEmbedError
from ctxembed.index import VectorIndex
from ctxembed.index.update import update_index, update_lock
from ctxembed.index.vector_index import build_index
from ctxembed.index.vectors import DenseVectors
from ctxembed.retrieval.bm25 import query_tokens
from ctxembed.retrieval.fusion import FusionSettings

QUERIES = ["bushfires threaten homes", "peace talks in the middle east", "cricket match", "police arrested a man"]
FIXED = FusionSettings(weight=0.3)  # the same fusion on both sides of each comparison


@pytest.fixture(scope="module")
def lee(lee_path):
    return load_corpus(lee_path)[:90]


def _final(base, changes, deletes):
    docs = {d.id: d for d in base}
    docs.update({d.id: d for d in changes})
    return [d for doc_id, d in docs.items() if doc_id not in set(deletes)]


def _ids(hits):
    return [{h.doc_id for h in row} for row in hits]


def _live(index):
    """The documents an index holds (positions deleted by updates left out), and their passages' count."""
    positions = index.live_positions()
    return [index.docs[int(p)] for p in positions], int(np.diff(index.passages.first)[positions].sum())


@pytest.mark.parametrize("compact", [False, True])
def test_an_updated_index_answers_as_a_fresh_build_of_the_final_corpus(tiny_contextual, lee, tmp_path, compact):
    base, extra = lee[:70], lee[70:]
    changes = extra + [
        replace(lee[5], text=lee[5].text + " Bushfires threaten homes again."),
        replace(lee[9], text="x"),
    ]
    deletes = [lee[1].id, lee[2].id, lee[40].id]
    build_index(tiny_contextual, lambda: base, tmp_path / "i", sparse=True, fusion=FIXED).close()
    passages_before = len(VectorIndex.load(tmp_path / "i", tiny_contextual).passages)
    report = update_index(tmp_path / "i", tiny_contextual, changes=changes, deletes=deletes, compact=compact)
    assert (report.added, report.replaced, report.deleted, report.generation) == (20, 2, 3, 1)
    assert report.compacted is compact
    updated = VectorIndex.load(tmp_path / "i", tiny_contextual)
    final = _final(base, changes, deletes)
    fresh = build_index(tiny_contextual, lambda: final, tmp_path / "fresh", sparse=True, fusion=FIXED)
    live, passages = _live(updated)
    assert updated.passages.split and passages == len(fresh.passages) != passages_before
    assert len(updated) == len(final) and sorted(d.id for d in live) == sorted(d.id for d in final)
    assert _ids(updated.search(QUERIES, 10, mode="dense")) == _ids(fresh.search(QUERIES, 10, mode="dense"))
    assert _ids(updated.search(QUERIES, 10)) == _ids(fresh.search(QUERIES, 10))
    order = {d.id: i for i, d in enumerate(fresh.docs)}
    permutation = np.array([order[d.id] for d in live])
    for tokens in query_tokens(QUERIES):
        scores = updated.sparse.scores(tokens)
        np.testing.assert_allclose(
            scores[updated.live_positions()], fresh.sparse.scores(tokens)[permutation], atol=1e-6
        )
        assert not scores[np.setdiff1d(np.arange(len(scores)), updated.live_positions())].any()
    hits = [h.doc_id for row in updated.search(QUERIES, 20, mode="dense") for h in row]
    assert not set(hits) & set(deletes)
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text())
    assert manifest["generation"] == 1 and manifest["updated"] and manifest["count"] == len(final)
    assert ("segments" in manifest) is not compact
    update_index(tmp_path / "i", tiny_contextual, deletes=[lee[3].id])
    assert VectorIndex.load(tmp_path / "i", tiny_contextual).manifest()["count"] == len(final) - 1


def test_an_update_writes_only_the_changes(small, tiny_static, lee):
    before = {p.name: p.stat().st_ino for p in small.iterdir() if p.is_file()}
    update_index(small, tiny_static, changes=[replace(lee[0], text="bushfires near the river")], deletes=[lee[1].id])
    after = {p.name: p.stat().st_ino for p in small.iterdir() if p.is_file()}
    assert before["docs.jsonl"] == after["docs.jsonl"] and before["docs.offsets"] == after["docs.offsets"]
    assert before["index.faiss"] != after["index.faiss"]
    assert [p.name for p in small.iterdir() if p.name.startswith("part-")] == ["part-000001"]
    index = VectorIndex.load(small, tiny_static)
    assert len(index) == 29 and index.search("bushfires near the river", k=1)[0][0].doc_id == lee[0].id


def test_parts_past_the_limit_merge_into_one(small, tiny_static, lee, monkeypatch):
    import ctxembed.index.update as update

    monkeypatch.setattr(update, "MAX_PARTS", 2)
    for i in range(3):
        update_index(small, tiny_static, changes=[Document(f"n{i}", f"river number {i} floods the town")])
    update_index(small, tiny_static, deletes=["n1"])
    assert [p.name for p in small.iterdir() if p.name.startswith("part-")] == ["part-000003"]
    index = VectorIndex.load(small, tiny_static)
    fresh = VectorIndex.build(tiny_static, lee[:30] + [Document(f"n{i}", f"river number {i} floods the town") for i in (0, 2)], sparse=True)  # fmt: skip
    assert len(index) == 32 and [d.id for d in _live(index)[0]] == [d.id for d in fresh.docs]
    for tokens in query_tokens(QUERIES + ["river floods town"]):
        np.testing.assert_allclose(
            index.sparse.scores(tokens)[index.live_positions()], fresh.sparse.scores(tokens), atol=1e-6
        )
    assert _ids(index.search(QUERIES, 5, mode="dense")) == _ids(fresh.search(QUERIES, 5, mode="dense"))


def test_an_index_from_before_parts_is_compacted_once(small, tiny_static, lee):
    (small / "docs.hashes").unlink()  # as an older ctxembed wrote it: no ids' hashes, no BM25 term counts
    (small / "sparse" / "counts.csc.index.npy").unlink()
    manifest = json.loads((small / "manifest.json").read_text())
    del manifest["sparse"]["files"]["counts.csc.index.npy"]
    (small / "manifest.json").write_text(json.dumps(manifest))
    assert update_index(small, tiny_static, deletes=[lee[0].id]).compacted
    assert (small / "docs.hashes").is_file() and (small / "sparse" / "counts.csc.index.npy").is_file()
    assert not update_index(small, tiny_static, deletes=[lee[1].id]).compacted
    assert len(VectorIndex.load(small, tiny_static)) == 28


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "part-000001" / "docs.offsets").write_bytes(b"x"), "part-000001/docs.offsets does not match"),
        (lambda f: (f / "deleted.npy").unlink(), "deleted.npy is missing or damaged"),
        (lambda f: (f / "bm25.doc_freq.npy").write_bytes(b"x"), "bm25.doc_freq.npy is missing or damaged"),
        (lambda f: __import__("shutil").rmtree(f / "part-000001"), "part-000001 is missing"),
    ],
)
def test_a_damaged_part_is_a_clear_error(small, tiny_static, lee, damage, message):
    update_index(small, tiny_static, changes=[replace(lee[0], text="bushfires near the river")])
    damage(small)
    with pytest.raises(CtxEmbedError, match=message + ".*rebuild"):
        VectorIndex.load(small, tiny_static)


def test_many_deletes_compact_the_index(small, tiny_static, lee):
    report = update_index(small, tiny_static, deletes=[d.id for d in lee[:7]])  # 7 of 30 > DEAD_SHARE
    assert report.compacted and report.documents == 23
    manifest = json.loads((small / "manifest.json").read_text())
    assert "segments" not in manifest and not (small / "deleted.npy").exists()
    assert len(VectorIndex.load(small, tiny_static).docs) == 23


@pytest.mark.parametrize("factory", ["Flat", "IVF8,Flat", "IVF8,PQ4", "IVF8,PQ4,Refine(SQ8)"])
def test_removed_vectors_leave_the_others_in_order(factory):
    import faiss

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    gone = np.array([0, 7, 1999, 1000])
    vectors = DenseVectors.create(16, factory, nprobe=8)
    if vectors.needs_training:
        vectors.train(x)
    vectors.add(x)
    vectors.remove(gone)
    kept = np.delete(np.arange(2000), gone)
    assert vectors.count == len(kept)
    fresh = DenseVectors(faiss.clone_index(vectors.index), factory=factory, nprobe=8)
    fresh.index.reset()
    fresh.add(x[kept])  # the same trained index holding only the kept vectors
    np.testing.assert_array_equal(vectors.search(x[:20], 10)[1], fresh.search(x[:20], 10)[1])
    np.testing.assert_allclose(vectors.stored(np.arange(5)), fresh.stored(np.arange(5)))


def test_an_hnsw_index_deletes_but_cannot_compact(tiny_static, lee, tmp_path):
    build_index(tiny_static, lambda: lee[:30], tmp_path / "i", factory="HNSW8", sparse=True).close()
    update_index(tmp_path / "i", tiny_static, deletes=[lee[0].id])
    index = VectorIndex.load(tmp_path / "i", tiny_static)
    assert len(index) == 29 and lee[0].id not in {h.doc_id for h in index.search(lee[0].text[:80], k=29)[0]}
    with pytest.raises(CtxEmbedError, match="HNSW8 index cannot delete vectors; rebuild"):
        update_index(tmp_path / "i", tiny_static, compact=True)
    assert len(VectorIndex.load(tmp_path / "i", tiny_static)) == 29


@pytest.fixture
def small(tiny_static, lee, tmp_path):
    folder = tmp_path / "i"
    build_index(tiny_static, lambda: lee[:30], folder, sparse=True).close()
    return folder


def _unchanged(folder, embedder, count=30):
    index = VectorIndex.load(folder, embedder)
    assert len(index) == count and "generation" not in json.loads((folder / "manifest.json").read_text())
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".i.") and p.name != ".i.lock"]


@pytest.mark.parametrize(
    ("changes", "deletes", "message"),
    [
        ([], [], "nothing to change"),
        ([Document("a", "one text"), Document("a", "another")], [], "id 'a' twice"),
        ([], ["no-such-id"], "not in .*nothing was changed"),
        ([Document("a", "text")], ["a"], "both changed and deleted"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(small, tiny_static, changes, deletes, message):
    with pytest.raises(CorpusError, match=message):
        update_index(small, tiny_static, changes=changes, deletes=deletes)
    _unchanged(small, tiny_static)


def test_another_model_is_refused(small, tiny_contextual):
    with pytest.raises(CtxEmbedError, match="built with"):
        update_index(small, tiny_contextual, deletes=["x"])


def test_a_second_update_waits_for_none(small, tiny_static, lee):
    with update_lock(small), pytest.raises(CtxEmbedError, match="another update .* is running"):
        update_index(small, tiny_static, deletes=[lee[0].id])
    update_index(small, tiny_static, deletes=[lee[0].id])  # the lock is free again


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("failure", [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")])
def test_a_crash_or_a_full_disk_mid_update_leaves_the_old_index(small, tiny_static, lee, monkeypatch, failure, compact):
    import ctxembed.index.append as append
    import ctxembed.index.update as update

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(update, "write_folder", fail)  # the compaction's last writes
    monkeypatch.setattr(append, "_bm25_part", fail)  # a part's last write, after its documents and vectors
    with pytest.raises(type(failure)):
        update_index(small, tiny_static, changes=[replace(lee[0], text="changed text")], compact=compact)
    _unchanged(small, tiny_static)
    assert VectorIndex.load(small, tiny_static).search(lee[0].text[:60], k=3)[0]


def test_the_cli_updates_and_deletes(small, lee, tiny_vectors_file, tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.id, "text": d.text}) + "\n" for d in lee[:30]), encoding="utf-8")
    args = ["index", "--backend", "static", "--corpus", str(corpus), "--vectors", str(tiny_vectors_file)]
    assert main_ok(capsys, *args, "--out", str(tmp_path / "cli"))
    changes = tmp_path / "changes.jsonl"
    changes.write_text(json.dumps({"_id": "new", "text": "bushfires and river water"}) + "\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "update", str(tmp_path / "cli"), "--corpus", str(changes))
    assert code == 0 and "1 added, 0 replaced, 0 deleted; 31 documents (generation 1)" in err
    (tmp_path / "ids.txt").write_text(f"new\n{lee[0].id}\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "delete", str(tmp_path / "cli"), lee[1].id, "--ids", str(tmp_path / "ids.txt"))
    assert code == 0 and "3 deleted; 28 documents (generation 2)" in err
    code, _, err = run_cli(capsys, "delete", str(tmp_path / "cli"))
    assert code != 0 and "no id given" in err
    code, _, err = run_cli(capsys, "update", str(tmp_path / "cli"), "--compact")
    assert code == 0 and "28 documents (generation 3, compacted)" in err
    code, _, err = run_cli(capsys, "update", str(tmp_path / "cli"))
    assert code != 0 and "nothing to do" in err


def main_ok(capsys, *argv):
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    return True
