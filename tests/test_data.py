from __future__ import annotations

import json

import pytest

from ctxembed.config import CorpusConfig
from ctxembed.data import Document, load_corpus
from ctxembed.errors import CorpusError


def test_txt_one_document_per_line_skips_blank_lines(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_text("first doc\n\n  second doc  \n")
    assert load_corpus(str(path)) == [Document("1", "first doc"), Document("3", "second doc")]


def test_default_corpus_is_gensim_lee():
    docs = load_corpus(CorpusConfig())
    assert len(docs) == 300
    assert docs[0].text.startswith("Hundreds of people have been forced")


def test_folder_of_txt_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("alpha\nstill alpha")
    (tmp_path / "sub" / "b.txt").write_text("beta")
    docs = load_corpus(str(tmp_path))
    assert [(d.id, d.text) for d in docs] == [("a", "alpha\nstill alpha"), ("sub/b", "beta")]


def test_beir_jsonl(tmp_path):
    path = tmp_path / "corpus.jsonl"
    rows = [{"_id": "d1", "title": "Open", "text": "open a file"}, {"_id": "d2", "text": "close it"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    docs = load_corpus(str(path))
    assert docs == [Document("d1", "open a file", "Open"), Document("d2", "close it", "")]
    assert docs[0].full_text == "Open. open a file"


def test_csv_and_parquet_with_chosen_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv = tmp_path / "docs.csv"
    csv.write_text("key,body\nx,hello there\ny,general kenobi\n")
    docs = load_corpus(CorpusConfig(path=str(csv), text_column="body", id_column="key"))
    assert [(d.id, d.text) for d in docs] == [("x", "hello there"), ("y", "general kenobi")]
    parquet = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"content": ["one", "two"]}), parquet)
    docs = load_corpus(CorpusConfig(path=str(parquet), text_column="content"))
    assert [(d.id, d.text) for d in docs] == [("1", "one"), ("2", "two")]


def test_missing_file_names_it(tmp_path):
    with pytest.raises(CorpusError, match="nope.txt not found"):
        load_corpus(str(tmp_path / "nope.txt"))


def test_empty_corpus(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n   \n")
    with pytest.raises(CorpusError, match="holds no documents"):
        load_corpus(str(path))


def test_undecodable_bytes_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nalso fine\ncaf\xe9\n")
    with pytest.raises(CorpusError, match=r"bad.txt, line 3: cannot decode byte 0xe9.*corpus.encoding"):
        load_corpus(str(path))
    assert load_corpus(CorpusConfig(path=str(path), encoding="latin-1"))[2].text == "café"


def test_missing_column_lists_the_columns(tmp_path):
    csv = tmp_path / "docs.csv"
    csv.write_text("key,body\nx,hello\n")
    with pytest.raises(CorpusError, match=r"no column 'text'.*columns are: key, body"):
        load_corpus(str(csv))


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "1", "text": "ok"}\n{"_id": "2", "body": "x"}\n')
    with pytest.raises(CorpusError, match=r"c.jsonl, line 2: missing key 'text'"):
        load_corpus(str(path))
    path.write_text('{"_id": "1", "text": "ok"}\n{not json\n')
    with pytest.raises(CorpusError, match=r"c.jsonl, line 2: invalid JSON"):
        load_corpus(str(path))


def test_duplicate_ids_are_refused(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "1", "text": "a"}\n{"_id": "1", "text": "b"}\n')
    with pytest.raises(CorpusError, match="'1' occurs twice"):
        load_corpus(str(path))
