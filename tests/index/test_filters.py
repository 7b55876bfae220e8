"""Metadata kept from the corpus, and filters applied inside the search: k hits whenever k documents match."""

from __future__ import annotations

import json

import pytest
from cli_calls import run_cli

from ctxembed.config import CorpusConfig
from ctxembed.data import Document, load_corpus
from ctxembed.errors import CorpusError, CtxEmbedError
from ctxembed.index import VectorIndex
from ctxembed.index.metadata import parse_filter
from ctxembed.index.update import update_index
from ctxembed.index.vector_index import build_index


@pytest.fixture(scope="module")
def tagged(lee_path):
    docs = load_corpus(lee_path)[:120]
    return [
        Document(d.id, d.text, "", {"lang": ["en", "de", "fr"][i % 3], "year": 2000 + i % 25, "draft": i % 2 == 0,
                                     "tags": ["news"] + (["sport"] if i % 4 == 0 else [])})
        for i, d in enumerate(docs)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def index(tagged, tiny_contextual, tmp_path_factory):
    return build_index(tiny_contextual, lambda: tagged, tmp_path_factory.mktemp("f") / "i", sparse=True)


def _meta(index, hit_id):
    return next(d.metadata for d in index.docs if d.id == hit_id)


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
@pytest.mark.parametrize(
    ("conditions", "holds"),
    [
        (["lang=de"], lambda m: m["lang"] == "de"),
        (["lang in en,fr", "year>=2010"], lambda m: m["lang"] in ("en", "fr") and m["year"] >= 2010),
        (["tags=sport"], lambda m: "sport" in m["tags"]),
        (["draft=false", "year<2005"], lambda m: not m["draft"] and m["year"] < 2005),
        (["lang!=en"], lambda m: m["lang"] != "en"),
    ],
)
def test_filters_return_k_matching_documents_in_every_mode(index, tagged, mode, conditions, holds):
    matching = sum(holds(d.metadata) for d in tagged)
    query = tagged[0].text[:80] if mode != "dense" else "the government said on tuesday"
    hits = index.search(query, k=10, mode=mode, filter=conditions)[0]
    assert hits and all(holds(_meta(index, h.doc_id)) for h in hits)
    if mode == "dense":
        assert len(hits) == min(10, matching)  # inside the search: never fewer after a post-filter
    assert index.matching(conditions).sum() == matching


def test_a_filter_that_no_document_meets_gives_no_hits(index):
    assert index.search("the government", k=5, filter="year>2100") == [[]]
    assert index.search("the government", k=5, mode="sparse", filter="year>2100") == [[]]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("colour=red", "no document has a field 'colour'"),
        ("year=soon", "field 'year' holds numbers; 'soon' is not a number"),
        ("lang>=3", "field 'lang' does not hold numbers"),
        ("draft=maybe", "holds true/false"),
        ("tags>=2", "holds lists of strings"),
        ("year", "is not FIELD=VALUE"),
    ],
)
def test_a_bad_filter_is_an_error_that_names_the_field(index, condition, message):
    with pytest.raises(CtxEmbedError, match=message):
        index.search("the government", k=3, filter=condition)


def test_parse_filter():
    assert parse_filter("lang = en").value == "en" and parse_filter("tags in a, b").value == ("a", "b")
    assert parse_filter("year>=2020").op == ">=" and parse_filter("title!=x y").value == "x y"


def test_metadata_survives_saves_and_updates(index, tiny_contextual, tmp_path):
    folder = tmp_path / "copy"
    index.save(folder)
    update_index(folder, tiny_contextual, changes=[Document(index.docs[1].id, "new text about rain", "", {"lang": "xx", "year": 1990, "draft": True, "tags": []})])  # fmt: skip
    updated = VectorIndex.load(folder, tiny_contextual)
    assert [h.doc_id for h in updated.search("rain", k=5, filter="lang=xx")[0]] == [index.docs[1].id]
    assert updated.matching("lang=de").sum() == index.matching("lang=de").sum() - (
        index.docs[1].metadata["lang"] == "de"
    )


def test_jsonl_extra_fields_and_csv_columns_become_metadata(tmp_path):
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(
        json.dumps({"_id": "a", "text": "hello", "lang": "en", "n": 3, "metadata": {"team": "x"}}) + "\n"
        + json.dumps({"_id": "b", "text": "bye", "deep": {"no": 1}}) + "\n", encoding="utf-8"
    )  # fmt: skip
    with pytest.raises(CorpusError, match=r"line 2: field 'deep' .* metadata must be a string"):
        load_corpus(str(jsonl))
    jsonl.write_text(jsonl.read_text().splitlines()[0] + "\n", encoding="utf-8")
    assert load_corpus(str(jsonl))[0].metadata == {"lang": "en", "n": 3, "team": "x"}
    csv = tmp_path / "c.csv"
    csv.write_text("id,text,lang\n1,hello there,en\n2,good bye,de\n", encoding="utf-8")
    docs = load_corpus(CorpusConfig(path=str(csv), id_column="id", metadata_columns=("lang",)))
    assert [d.metadata for d in docs] == [{"lang": "en"}, {"lang": "de"}]
    with pytest.raises(CorpusError, match="no column 'colour'"):
        load_corpus(CorpusConfig(path=str(csv), metadata_columns=("colour",)))


def test_mixed_types_in_one_field_are_refused_at_build(tiny_static, tmp_path):
    docs = [Document("a", "river water", "", {"year": 2000}), Document("b", "bank money", "", {"year": "old"})]
    with pytest.raises(CorpusError, match="mixes types in one field"):
        build_index(tiny_static, lambda: docs, tmp_path / "i", sparse=True)
    assert not (tmp_path / "i").exists()


def test_the_cli_filters(tagged, tiny_vectors_file, tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.id, "text": d.text, **d.metadata}) + "\n" for d in tagged),
                      encoding="utf-8")  # fmt: skip
    args = ["index", "--backend", "static", "--corpus", str(corpus), "--vectors", str(tiny_vectors_file)]
    assert run_cli(capsys, *args, "--out", str(tmp_path / "i"))[0] == 0
    code, out, _ = run_cli(capsys, "search", str(tmp_path / "i"), tagged[3].text[:60], "--filter", "lang=en",
                           "--filter", "year>=2005", "--json", "-k", "4")  # fmt: skip
    hits = json.loads(out)["hits"]
    by_id = {d.id: d.metadata for d in tagged}
    assert (
        code == 0
        and hits
        and all(by_id[h["doc_id"]]["lang"] == "en" and by_id[h["doc_id"]]["year"] >= 2005 for h in hits)
    )
    code, _, err = run_cli(capsys, "search", str(tmp_path / "i"), "river", "--filter", "colour=red")
    assert code != 0 and "no document has a field 'colour'" in err
