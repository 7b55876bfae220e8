"""Long documents: split into passages, scored by their best passage, answered as documents."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pytest

from ctxembed import VectorIndex
from ctxembed.data import Document
from ctxembed.errors import ConfigError, CtxEmbedError
from ctxembed.index import build_index
from ctxembed.index.build import partial_folder
from ctxembed.passages import PassageSettings, PassageSplitter, word_window
from tests.cli_calls import raising_after

TOPICS = ["river bank water boat fish", "web server network", "money loan bank", "crane lift money", "union strike"]


def _long(i: int, words: int = 60) -> Document:
    """A document whose topic changes halfway: the second half is about topic i+2."""
    first = (TOPICS[i % 5] + " ") * (words // 10)
    second = (TOPICS[(i + 2) % 5] + " ") * (words // 10)
    return Document(f"d{i}", f"{first.strip()}. {second.strip()}.", title=f"doc {i}")


DOCS = [_long(i) for i in range(12)]
SHORT = PassageSettings(max_tokens=20, overlap=4)


def test_a_long_text_splits_into_spans_that_fit_and_cover_it():
    splitter = PassageSplitter(word_window(12), PassageSettings(max_tokens=10, overlap=2))
    text = " ".join(f"w{i}" for i in range(55)) + ". Next sentence here."
    (spans,) = splitter.spans([text])
    assert len(spans) > 5 and spans[0] == (0, len(" ".join(f"w{i}" for i in range(12)))) and spans[-1][1] == len(text)
    assert all(len(text[s:e].split()) <= 10 for s, e in spans[1:])  # the first is what the model reads: 12 words
    assert all(b[0] < a[1] for a, b in zip(spans, spans[1:]))  # neighbours overlap
    assert splitter.spans(["a short one"]) == [[(0, 11)]]  # a text that fits is one passage, unchanged


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        (dict(max_tokens=4), r"max_tokens must be >= 8"),
        (dict(max_tokens=16, overlap=16), r"overlap must be >= 0 and smaller than max_tokens \(16\)"),
        (dict(overlap=-1), r"overlap must be >= 0"),
        (dict(mode="chunks"), r"mode must be auto or none"),
        (dict(lead_margin=-0.1), r"lead_margin must be a number in \[0, 1\]"),
    ],
)
def test_bad_passage_settings_name_the_key(settings, match):
    with pytest.raises(ConfigError, match=match) as info:
        PassageSettings(**settings)
    assert info.value.key.startswith("index.passages.")


def test_a_passage_longer_than_the_window_is_refused(tiny_contextual):
    window = tiny_contextual.text_window()
    assert window.max_tokens == 64 - 2  # max_seq_length less [CLS] and [SEP]
    with pytest.raises(ConfigError, match=r"max_tokens is 100 but the model reads at most 62 tokens.*62 or less"):
        PassageSplitter(window, PassageSettings(max_tokens=100))
    with pytest.raises(ConfigError, match=r"overlap \(200\) must be smaller than the passage length \(62 tokens\)"):
        PassageSplitter(window, PassageSettings(overlap=200))


@pytest.mark.parametrize("margin", [0.0, 0.02, 0.3])
def test_documents_are_scored_by_their_best_passage(tiny_static, margin):
    docs = [_long(i, words=40 + 10 * (i % 7)) for i in range(60)]  # k=3 fetches 48 of the passages first
    index = VectorIndex.build(tiny_static, docs, passages=replace(SHORT, lead_margin=margin))
    assert len(index) == 60 and len(index.passages) > 120 and index.faiss_index.ntotal == len(index.passages)
    queries = ["union strike", "web server"]
    passages = index.passages
    texts = [  # the first passage is the document as the model reads it; later ones repeat the title
        f"{d.title}. {d.full_text[s:e]}" if s > 0 else d.full_text
        for d, (_, s, e) in zip((docs[int(r[0])] for r in passages.rows), passages.rows)
    ]
    passage_vectors = tiny_static.encode(texts)
    for query, hits in zip(queries, index.search(queries, k=3)):
        scores = passage_vectors @ tiny_static.encode([query])[0]
        lead = np.zeros(len(scores), dtype=bool)
        lead[passages.first[:-1]] = True
        best = np.full(60, -np.inf)  # the first passage as it is, the later ones less the margin
        np.maximum.at(best, passages.rows[:, 0], np.where(lead, scores, scores - margin))
        assert [h.score for h in hits] == pytest.approx(np.sort(best)[::-1][:3], rel=1e-5)
        assert len({h.doc_id for h in hits}) == 3  # k counts documents, not passages
        top = hits[0]
        assert query.split()[0] in top.passage_text  # the snippet is the passage that gave the score


def test_word_vectors_keep_the_whole_document_as_the_first_passage(tiny_static):
    index = VectorIndex.build(tiny_static, DOCS, passages=SHORT)
    first = index.passages.rows[index.passages.first[:-1]]
    assert all(e - s == len(d.full_text) for d, (_, s, e) in zip(DOCS, first))  # they read any length


def test_a_document_is_found_by_text_far_from_its_start(tiny_static):
    # the second half of d0 is about topic 2 ("money loan bank"); a model reading 20 words sees only the first
    windowed = copy.copy(tiny_static)
    windowed.text_window = lambda: word_window(20)
    index = VectorIndex.build(windowed, DOCS, passages=SHORT, sparse=True)
    for mode in ("dense", "hybrid", "sparse"):
        (hits,) = index.search(["money loan"], k=12, mode=mode)
        hit = next(h for h in hits if h.doc_id == "d0")
        assert hit.passage is not None and "money loan" in hit.passage_text, mode
        assert hit.passage[0] > len(DOCS[0].full_text) // 3, mode  # the matching passage, not the beginning


def test_short_documents_give_the_same_hits_and_folder_as_before(tiny_static, tmp_path):
    short = [Document(f"s{i}", TOPICS[i % 5] + f" {i}") for i in range(20)]
    split = VectorIndex.build(tiny_static, short, sparse=True, passages=SHORT)  # every document fits 20 words
    whole = VectorIndex.build(tiny_static, short, sparse=True, passages=PassageSettings(mode="none"))
    for mode in ("dense", "hybrid"):
        assert split.search(["bank water", "strike"], k=5, mode=mode) == whole.search(
            ["bank water", "strike"], k=5, mode=mode
        )
    split.save(tmp_path / "idx")
    assert not (tmp_path / "idx" / "passages.npy").exists()  # one passage a document: no map to keep
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["passages"]["count"] == 20


def test_a_saved_index_keeps_its_passages_and_checks_them(tiny_static, tmp_path):
    index = VectorIndex.build(tiny_static, DOCS, passages=SHORT, sparse=True)
    index.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["count"] == 12 and manifest["passages"]["count"] == len(index.passages)
    assert manifest["passages"]["max_tokens"] == 20 and manifest["passages"]["splitter"].startswith("semantic")
    loaded = VectorIndex.load(tmp_path / "idx", tiny_static)
    assert loaded.search(["crane lift"], k=4) == index.search(["crane lift"], k=4)
    rows = np.load(tmp_path / "idx" / "passages.npy")
    rows[0, 1] += 1
    np.save(tmp_path / "idx" / "passages.npy", rows)
    with pytest.raises(CtxEmbedError, match=r"passages\.npy does not match the checksum.*rebuild the index"):
        VectorIndex.load(tmp_path / "idx", tiny_static)
    (tmp_path / "idx" / "passages.npy").unlink()
    with pytest.raises(CtxEmbedError, match=r"passages\.npy is missing; rebuild the index"):
        VectorIndex.load(tmp_path / "idx", tiny_static)


def test_an_index_written_before_passages_loads_as_one_passage_a_document(tiny_static, tmp_path):
    short = [Document(f"s{i}", TOPICS[i % 5]) for i in range(10)]
    VectorIndex.build(tiny_static, short).save(tmp_path / "idx")
    path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["passages"]
    path.write_text(json.dumps(manifest))
    loaded = VectorIndex.load(tmp_path / "idx", tiny_static)
    assert len(loaded.passages) == 10 and loaded.search("crane", k=1)[0][0].passage is None


def test_incremental_add_splits_as_the_build_did(tiny_static):
    whole = VectorIndex.build(tiny_static, DOCS, passages=SHORT)
    parts = VectorIndex.build(tiny_static, DOCS[:5], passages=SHORT)
    parts.add(DOCS[5:])
    assert len(parts.passages) == len(whole.passages)
    assert parts.search("union strike", k=6) == whole.search("union strike", k=6)


def test_a_killed_build_of_long_documents_resumes_to_the_same_index(tiny_static, tmp_path):
    docs = [_long(i) for i in range(120)]
    passes = iter([iter(docs), raising_after(docs, 70, KeyboardInterrupt())])
    with pytest.raises(KeyboardInterrupt):
        build_index(tiny_static, lambda: next(passes), tmp_path / "idx", chunk_size=16, checkpoint_seconds=0,
                    passages=SHORT)  # fmt: skip
    assert (partial_folder(tmp_path / "idx") / "progress.json").is_file()
    resumed = build_index(tiny_static, lambda: iter(docs), tmp_path / "idx", chunk_size=16, resume=True, passages=SHORT)
    clean = build_index(tiny_static, lambda: iter(docs), tmp_path / "clean", chunk_size=16, passages=SHORT)
    np.testing.assert_array_equal(resumed.passages.rows, clean.passages.rows)
    assert resumed.search(["money loan", "web"], k=5) == clean.search(["money loan", "web"], k=5)
    with pytest.raises(CtxEmbedError, match="passage settings changed since the interrupted build"):
        passes = iter([iter(docs), raising_after(docs, 70, KeyboardInterrupt())])
        with pytest.raises(KeyboardInterrupt):
            build_index(tiny_static, lambda: next(passes), tmp_path / "again", chunk_size=16, checkpoint_seconds=0,
                        passages=SHORT)  # fmt: skip
        build_index(tiny_static, lambda: iter(docs), tmp_path / "again", resume=True, passages=PassageSettings())


def test_texts_the_model_cannot_read_whole_are_counted(tiny_contextual):
    long = [Document("a", "word " * 300), Document("b", "short text")]
    with pytest.warns(UserWarning, match=r"1 document\(s\) are longer than the model's window.*passages\.mode: auto"):
        VectorIndex.build(tiny_contextual, long, passages=PassageSettings(mode="none"))
    index = VectorIndex.build(tiny_contextual, long)
    assert len(index.passages) > 5  # split at the model's own window, nothing cut


def test_a_document_beyond_the_first_fetch_is_found_when_it_outscores_the_fetched_ones():
    from ctxembed.index.passage_map import PassageMap, top_documents
    from ctxembed.index.vectors import DenseVectors

    def unit(score: float) -> list[float]:
        return [score, float(np.sqrt(1 - score**2))]

    # 50 documents whose later passage scores 0.51 but whose first scores 0; one whose only passage scores 0.5
    vectors = [unit(0.0), unit(0.51)] * 50 + [unit(0.5)]
    rows = [[d, 0, 1] for d in range(50) for _ in range(2)] + [[50, 0, 1]]
    dense = DenseVectors.create(2, "Flat")
    dense.add(np.asarray(vectors, dtype=np.float32))
    passages = PassageMap(np.asarray(rows), 51)
    query = np.asarray([[1.0, 0.0]], dtype=np.float32)
    scores, docs, _ = top_documents(dense, passages, query, 1, margin=0.3)  # 0.51 - 0.3 < 0.5
    assert docs[0, 0] == 50 and scores[0, 0] == pytest.approx(0.5)
    scores, docs, _ = top_documents(dense, passages, query, 1, margin=0.0)
    assert docs[0, 0] < 50 and scores[0, 0] == pytest.approx(0.51)
