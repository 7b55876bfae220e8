"""A catalogue-search benchmark built offline from Debian's package descriptions.

Query: a package's one-line synopsis ("Molecular dynamics simulator, with building and analysis tools").
Document: its long description, titled with the package name. It is a product catalogue
(games, science, fonts, servers, libraries...), a different kind of domain from the man-pages'
API reference. Boilerplate packages (-dev, -doc, -dbg, -data, lib*) are left out, every
synopsis and every long description is kept only once, and a verbatim copy of the synopsis is
removed from its document. A seeded hash of the package name picks the sample and the splits.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from ctxembed.benchmarks.splits import SPLITS, hash_bucket, split_of
from ctxembed.data import Document
from ctxembed.errors import AssetNotFoundError
from ctxembed.scoring.beir import BeirDataset

LISTS = "/var/lib/apt/lists"
TRANSLATION_GLOB = "*_dists_*_main_i18n_Translation-en*"
SKIP_SUFFIXES = ("-dev", "-doc", "-dbg", "-dbgsym", "-data", "-common", "-examples", "-l10n")
MIN_WORDS = 40


def translation_files(lists: str = LISTS) -> list[Path]:
    """Debian's English long descriptions (Translation-en) of the configured suites."""
    files = [Path(p) for p in sorted(glob.glob(f"{lists}/{TRANSLATION_GLOB}")) if not p.endswith(".diff")]
    if not files:
        raise AssetNotFoundError(
            f"no Translation-en lists under {lists}; fetch them (as root) with: apt-get update -o Acquire::Languages=en"
        )
    return files


def read_translations(path: Path) -> Iterator[tuple[str, str, str]]:
    """(package, synopsis, long description) of one Translation-en file, compressed or not."""
    helper = shutil.which("apt-helper") or "/usr/lib/apt/apt-helper"
    text = subprocess.run([helper, "cat-file", str(path)], capture_output=True, check=True).stdout
    for stanza in text.decode("utf-8", errors="replace").split("\n\n"):
        package = re.search(r"^Package: (.+)$", stanza, flags=re.M)
        body = re.search(r"^Description-en: (.*)\n((?: .*\n?)*)", stanza, flags=re.M)
        if package and body:
            paragraphs = [" ".join(p.split()) for p in re.split(r"^ \.$", body.group(2), flags=re.M)]
            yield package.group(1).strip(), body.group(1).strip(), "\n".join(p for p in paragraphs if p)


def build_debian(
    entries: Iterable[tuple[str, str, str]] | None = None, *, size: int = 2000, seed: int = 0
) -> BeirDataset:
    """Sample `size` packages (hash of the name with `seed`) into a BEIR dataset with train/dev/test queries."""
    if entries is None:
        entries = (e for path in translation_files() for e in read_translations(path))
    by_name: dict[str, tuple[str, str]] = {}
    for name, synopsis, long in entries:
        if name.startswith("lib") or name.endswith(SKIP_SUFFIXES) or len(long.split()) < MIN_WORDS:
            continue
        by_name.setdefault(name, (synopsis, long))
    seen_synopses: set[str] = set()
    seen_bodies: set[str] = set()
    corpus: list[Document] = []
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, dict[str, int]]] = {name: {} for name, _ in SPLITS}
    for name in sorted(by_name, key=lambda n: (hash_bucket(f"{seed}:{n}", 2**32), n)):
        synopsis, long = by_name[name]
        first = long.split("\n")[0].lower()
        if synopsis.lower() in seen_synopses or first in seen_bodies:
            continue  # one package per source (binary packages share descriptions)
        seen_synopses.add(synopsis.lower())
        seen_bodies.add(first)
        text = re.sub(re.escape(synopsis), " ", long, flags=re.IGNORECASE)
        corpus.append(Document(name, text, title=name))
        qid = f"q-{name}"
        queries[qid] = synopsis
        qrels[split_of(f"{seed}:{qid}")][qid] = {name: 1}
        if len(corpus) == size:
            break
    return BeirDataset(corpus, queries, qrels)
