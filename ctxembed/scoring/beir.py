"""BEIR-format datasets: corpus.jsonl, queries.jsonl and qrels/{split}.tsv."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from ctxembed._io import atomic_dir
from ctxembed.data import Document, load_corpus
from ctxembed.errors import CorpusError


@dataclass
class BeirDataset:
    """A retrieval set: documents, queries and graded relevance per split."""

    corpus: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # split -> qid -> doc -> grade

    def split(self, name: str) -> tuple[dict[str, str], dict[str, set[str]]]:
        """The queries of one split and their relevant documents (grade > 0)."""
        if name not in self.qrels:
            raise CorpusError(f"dataset has no qrels split {name!r}; it has: {', '.join(sorted(self.qrels))}")
        relevant = {qid: {doc for doc, grade in docs.items() if grade > 0} for qid, docs in self.qrels[name].items()}
        relevant = {qid: docs for qid, docs in relevant.items() if docs and qid in self.queries}
        return {qid: self.queries[qid] for qid in relevant}, relevant

    def summary(self) -> str:
        """'N documents, M queries (train a, dev b, test c)', for build scripts."""
        counts = ", ".join(f"{split} {len(q)}" for split, q in self.qrels.items())
        return f"{len(self.corpus)} documents, {len(self.queries)} queries ({counts})"

    def graded(self, name: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
        """The queries of one split and their graded judgements (grade > 0), as BEIR scores them."""
        queries, relevant = self.split(name)
        grades = self.qrels[name]
        return queries, {q: {d: grades[q][d] for d in docs} for q, docs in relevant.items()}

    def pairs(self, name: str) -> list[str]:
        """One split's judgements as JSONL lines {"query", "positive"} (one per relevant document)."""
        queries, relevant = self.split(name)
        texts = {d.id: d.full_text for d in self.corpus}
        return [
            json.dumps({"query": queries[q], "positive": texts[d]}, ensure_ascii=False)
            for q, docs in relevant.items()
            for d in sorted(docs)
        ]

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the standard BEIR layout, atomically."""
        with atomic_dir(folder, overwrite=overwrite) as tmp:
            with (tmp / "corpus.jsonl").open("w", encoding="utf-8") as fh:
                for doc in self.corpus:
                    row = {"_id": doc.id, "title": doc.title, "text": doc.text}
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            with (tmp / "queries.jsonl").open("w", encoding="utf-8") as fh:
                for qid, text in self.queries.items():
                    fh.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
            (tmp / "qrels").mkdir()
            for split, qrels in self.qrels.items():
                with (tmp / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as fh:
                    fh.write("query-id\tcorpus-id\tscore\n")
                    for qid, docs in qrels.items():
                        for doc, grade in docs.items():
                            fh.write(f"{qid}\t{doc}\t{grade}\n")
        return Path(folder)


def load_beir(folder: str | Path) -> BeirDataset:
    """Load a BEIR folder; errors name the file and line."""
    folder = Path(folder)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels"):
        if not (folder / name).exists():
            raise CorpusError(
                f"{folder} is not a BEIR dataset: {name} is missing (expected corpus.jsonl, queries.jsonl "
                f"and qrels/<split>.tsv); build one with scripts/build_manpages.py"
            )
    corpus = load_corpus(str(folder / "corpus.jsonl"))
    queries = {doc.id: doc.text for doc in load_corpus(str(folder / "queries.jsonl"))}
    doc_ids = {doc.id for doc in corpus}
    qrels: dict[str, dict[str, dict[str, int]]] = {}
    for path in sorted((folder / "qrels").glob("*.tsv")):
        split: dict[str, dict[str, int]] = {}
        with path.open(encoding="utf-8", newline="") as fh:
            for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
                if lineno == 1 and row and row[0] == "query-id":
                    continue
                if len(row) != 3 or not row[2].lstrip("-").isdigit():
                    raise CorpusError(f"{path}, line {lineno}: expected 'query-id<TAB>corpus-id<TAB>score'")
                qid, doc, grade = row
                if doc not in doc_ids:
                    raise CorpusError(f"{path}, line {lineno}: corpus-id {doc!r} is not in corpus.jsonl")
                if qid not in queries:
                    raise CorpusError(f"{path}, line {lineno}: query-id {qid!r} is not in queries.jsonl")
                split.setdefault(qid, {})[doc] = int(grade)
        qrels[path.stem] = split
    if not qrels:
        raise CorpusError(f"{folder / 'qrels'} has no <split>.tsv files (e.g. test.tsv)")
    return BeirDataset(corpus, queries, qrels)
