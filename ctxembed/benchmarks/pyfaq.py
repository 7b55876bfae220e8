"""A question-answering benchmark built offline from Python's own documentation (Debian's python3-doc).

Query: a FAQ question ("How do I share global variables across modules?").
Document: the prose of a documentation section: each FAQ answer (without its question), plus every
section of the HOWTO guides as distractors. Natural-language questions against prose answers, where
BM25 is much weaker than a dense model: the third domain of the hybrid-search defaults.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from ctxembed.benchmarks.splits import hash_bucket
from ctxembed.data import Document
from ctxembed.errors import AssetNotFoundError
from ctxembed.scoring.beir import BeirDataset

DOC_ROOT = next(
    iter(sorted(Path("/usr/share/doc").glob("python3.*/html/faq"), reverse=True)), Path("/nonexistent")
).parent
_SECTION = re.compile(r'<section id="([^"]+)">')
_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.S)
_CODE = re.compile(r"<pre>.*?</pre>", re.S)
_TAG = re.compile(r"<[^>]+>")


def _text(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).replace("¶", " ").split())


def sections(path: Path) -> list[tuple[str, str, str]]:
    """(id, heading, body text) of each section of a Sphinx HTML page, code blocks left out."""
    page = path.read_text(encoding="utf-8")
    parts = _SECTION.split(page)
    found = []
    for section_id, chunk in zip(parts[1::2], parts[2::2]):
        heading = _HEADING.search(chunk)
        if heading is None or heading.group(1) == "1":  # a page's own section: its table of contents
            continue
        body = _text(_CODE.sub(" ", chunk[heading.end() :]))
        found.append((f"{path.stem}#{section_id}", _text(heading.group(2)), body))
    return found


def build_pyfaq(root: Path = DOC_ROOT, *, min_words: int = 12, max_words: int = 400) -> BeirDataset:
    """FAQ questions against their answers, with the HOWTO sections as distractors."""
    faq = sorted((root / "faq").glob("*.html"))
    if not faq:
        raise AssetNotFoundError(f"{root}/faq has no pages; install them: apt-get install python3-doc")
    corpus: list[Document] = []
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, dict[str, int]]] = {"dev": {}, "test": {}}
    for path in faq + sorted((root / "howto").glob("*.html")):
        for doc_id, heading, body in sections(path):
            words = body.split(" ")
            if len(words) < min_words:
                continue
            question = path.parent.name == "faq" and heading.endswith("?")
            # an answer carries no title (it would hold the question); a guide's section keeps its heading
            corpus.append(Document(doc_id, " ".join(words[:max_words]), title="" if question else heading))
            if question:
                qid = f"q-{doc_id}"
                queries[qid] = heading
                qrels[split_of(qid)][qid] = {doc_id: 1}
    return BeirDataset(corpus, queries, qrels)


def split_of(query_id: str) -> str:
    """Half the questions for dev, half for test, by a hash of the id (no train split: nothing trains here)."""
    return "dev" if hash_bucket(query_id, 2) == 0 else "test"
