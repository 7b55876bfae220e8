"""A long-document benchmark built offline from Python's own documentation (Debian's python3-doc).

Document: a whole page of the library reference, the tutorial, the HOWTOs, the language reference or the
setup guide, as prose (code blocks and headings left out), titled by its top heading.
Query: the heading of one section of a page ("Reading and Writing Files"), answered by that page. Headings
shared by two pages, or too generic to name one ("Examples", "Functions"), are not queries. The section a
query names may start anywhere in the page, so a model that reads only a page's beginning misses most.

Besides `dev` and `test`, the qrels hold `dev-head`, `dev-tail`, `test-head` and `test-tail`: the queries whose
section starts before word `HEAD_WORDS` of the page, and those after it.
"""

from __future__ import annotations

import re
from pathlib import Path

from ctxembed.benchmarks.pyfaq import _CODE, _HEADING, _SECTION, DOC_ROOT, _text
from ctxembed.benchmarks.splits import hash_bucket
from ctxembed.data import Document
from ctxembed.errors import AssetNotFoundError
from ctxembed.scoring.beir import BeirDataset

PARTS = ("library", "tutorial", "howto", "reference", "using")
HEAD_WORDS = 200  # about what a 256-token model reads of a page
GENERIC = frozenset(
    "examples example functions function classes constants exceptions notes introduction overview usage "
    "module contents reference api methods attributes objects summary details other functions see also "
    "availability basic usage command line interface command-line interface".split(" ")
)
_WORD = re.compile(r"[A-Za-z]{2,}")
_NUMBER = re.compile(r"^(\d+\.)+\d*\s+")  # "4.1.2. " before a heading


def page_sections(path: Path) -> tuple[str, list[tuple[str, int, str]]]:
    """A page's top heading and its sections in page order: (heading, level, prose), the page's own text first
    (level 1)."""
    page = path.read_text(encoding="utf-8")
    title, found = "", []
    parts = _SECTION.split(page)
    for chunk in parts[2::2]:
        heading = _HEADING.search(chunk)
        if heading is None:
            continue
        level, name = int(heading.group(1)), _NUMBER.sub("", _text(heading.group(2)))
        title = title or name
        body = _CODE.sub(" ", chunk[heading.end() :])
        body = _SECTION.split(body)[0]  # the text up to a nested section (its own chunk follows)
        found.append((name, level, _text(body)))
    return title, found


def _is_query(heading: str) -> bool:
    words = _WORD.findall(heading.lower())
    return len(words) >= 2 and heading.lower().strip(" .") not in GENERIC and not all(w in GENERIC for w in words)


def build_pydocs(
    root: Path = DOC_ROOT, *, min_words: int = 300, max_words: int = 3000, min_section_words: int = 25
) -> BeirDataset:
    """Whole documentation pages against their sections' headings."""
    pages = [p for part in PARTS for p in sorted((root / part).glob("*.html")) if p.stem != "index"]
    if not pages:
        raise AssetNotFoundError(f"{root}/library has no pages; install them: apt-get install python3-doc")
    corpus: list[Document] = []
    candidates: dict[str, list[tuple[str, str, int]]] = {}  # heading (lowercase) -> (text, page id, position)
    for path in pages:
        title, sections = page_sections(path)
        doc_id = f"{path.parent.name}/{path.stem}"
        words: list[str] = []
        for heading, level, body in sections:
            position = len(words)
            section_words = body.split()
            if level > 1 and len(section_words) >= min_section_words and _is_query(heading):
                candidates.setdefault(heading.lower(), []).append((heading, doc_id, position))
            words.extend(section_words)
        if len(words) < min_words:
            continue
        corpus.append(Document(doc_id, " ".join(words[:max_words]), title=title))
    kept = {d.id for d in corpus}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, dict[str, int]]] = {name: {} for name in ("dev", "test")}
    qrels.update({f"{s}-{p}": {} for s in ("dev", "test") for p in ("head", "tail")})
    for key, found in sorted(candidates.items()):
        if len(found) != 1:  # a heading two pages share names neither
            continue
        heading, doc_id, position = found[0]
        if doc_id not in kept or position >= max_words:
            continue
        qid = f"q-{doc_id}#{key}"
        queries[qid] = heading
        split = "dev" if hash_bucket(qid, 2) == 0 else "test"
        qrels[split][qid] = {doc_id: 1}
        qrels[f"{split}-{'head' if position < HEAD_WORDS else 'tail'}"][qid] = {doc_id: 1}
    return BeirDataset(corpus, queries, qrels)
