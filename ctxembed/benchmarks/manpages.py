"""A known-item retrieval benchmark built offline from the Linux man-pages (sections 2 and 3).

Query: a page's one-line NAME description ("open and possibly create a file").
Document: the page rendered by groff, without its NAME section. The function names stay in
the document (fair), but any verbatim copy of the query sentence is removed (leakage).
Queries split deterministically into train/dev/test by a hash of their id.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ctxembed.benchmarks.splits import SPLITS, split_of
from ctxembed.data import Document
from ctxembed.errors import AssetNotFoundError
from ctxembed.scoring.beir import BeirDataset

MAN_ROOT = Path("/usr/share/man")
PACKAGES = ("manpages", "manpages-dev")
MAX_RELEVANT = 3  # a description shared by more pages is too generic to be a known-item query


@dataclass(frozen=True)
class ManPage:
    """One rendered page: its id (open.2), names, description and body text."""

    id: str
    names: str
    description: str
    body: str


def page_files(root: Path = MAN_ROOT, sections: Sequence[str] = ("2", "3")) -> list[Path]:
    """Real pages of the sections, without symlinks or `.so` redirects to other pages."""
    if shutil.which("groff") is None or not (root / f"man{sections[0]}").is_dir():
        raise AssetNotFoundError(
            f"no man pages under {root} or no groff; install them: apt-get install manpages manpages-dev groff-base"
        )
    owned = _packaged_files()
    files = []
    for section in sections:
        for path in sorted((root / f"man{section}").glob("*.gz")):
            if path.is_symlink() or (owned is not None and str(path) not in owned):
                continue
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
                head = fh.read(200).lstrip()
            if not head.startswith(".so "):
                files.append(path)
    return files


def _packaged_files(packages: Sequence[str] = PACKAGES) -> set[str] | None:
    """Files of the Debian man-pages packages, so other packages' pages do not vary the set."""
    if shutil.which("dpkg") is None:
        return None
    result = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True, check=False)
    return set(result.stdout.split()) if result.returncode == 0 else None


def render(path: Path) -> str:
    """Plain text of a page through groff (ASCII, no overstrikes, 100 columns)."""
    with gzip.open(path, "rb") as fh:
        source = fh.read()
    result = subprocess.run(
        ["groff", "-man", "-Tascii", "-P", "-cbou", "-rLL=100n", "-rLT=100n"],
        input=source,
        capture_output=True,
        check=False,
    )
    return result.stdout.decode("ascii", errors="replace")


def parse(page_id: str, text: str) -> ManPage | None:
    """Split rendered text into NAME (names - description) and the rest; None if it has no NAME."""
    lines = text.splitlines()
    if len(lines) > 2:
        lines = lines[1:-1]  # running header and footer
    sections: list[tuple[str, list[str]]] = []
    for line in lines:
        if line and not line[0].isspace():
            sections.append((line.strip(), []))
        elif sections:
            sections[-1][1].append(line.strip())
    name_parts = [" ".join(body) for title, body in sections if title == "NAME"]
    if not name_parts:
        return None
    names, sep, description = " ".join(name_parts[0].split()).partition(" - ")
    if not sep or not description:
        return None
    body_parts = [f"{title}\n" + " ".join(" ".join(body).split()) for title, body in sections if title != "NAME"]
    body = "\n".join(body_parts)
    # The exact query sentence must not sit in the document it should find.
    body = re.sub(re.escape(description), " ", body, flags=re.IGNORECASE)
    return ManPage(page_id, names.strip(), description.strip().rstrip("."), body)


def build_manpages(
    root: Path = MAN_ROOT,
    sections: Sequence[str] = ("2", "3"),
    *,
    names: Sequence[str] | None = None,
    max_words: int = 1000,
    workers: int = 4,
) -> BeirDataset:
    """Render and parse the pages (all, or only `names` like 'open.2') into a BEIR dataset."""
    files = page_files(root, sections)
    if names is not None:
        wanted = set(names)
        files = [f for f in files if f.name.removesuffix(".gz") in wanted]
    ids = [f.name.removesuffix(".gz") for f in files]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        texts = list(pool.map(render, files))
    pages = [p for p in (parse(i, t) for i, t in zip(ids, texts)) if p is not None]
    corpus = [Document(p.id, " ".join(p.body.split(" ")[:max_words]), title=p.names) for p in pages]
    # Pages that share a description answer the same query.
    queries: dict[str, str] = {}
    relevant: dict[str, dict[str, int]] = {}
    by_text: dict[str, str] = {}
    for page in pages:
        key = page.description.lower()
        qid = by_text.setdefault(key, f"q-{page.id}")
        queries[qid] = page.description
        relevant.setdefault(qid, {})[page.id] = 1
    qrels: dict[str, dict[str, dict[str, int]]] = {name: {} for name, _ in SPLITS}
    for qid, docs in relevant.items():
        if len(docs) > MAX_RELEVANT:
            del queries[qid]
            continue
        qrels[split_of(qid)][qid] = docs
    return BeirDataset(corpus, queries, qrels)
