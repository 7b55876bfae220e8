"""Training pairs mined from raw documents: text that looks like a query, against the passage it comes from."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence

from ctxembed.data import Document, split_sentences

MIN_SENTENCE_WORDS = 5
MAX_HEADING_WORDS = 8
MIN_WORD_SHARE = 0.6  # anchors with fewer plain words than this (code, tables, paths) read like no query
POSITIVE_WORDS = 180  # a sentence's positive: the text around it, about what a 256-token model reads
_WORD = re.compile(r"^[A-Za-z][A-Za-z'-]*[.,;:!?)]?$")


def reads_like_text(sentence: str) -> bool:
    """True when most tokens are plain words: prose, not a code line, table row or path list."""
    tokens = sentence.split()
    return bool(tokens) and sum(bool(_WORD.match(t)) for t in tokens) / len(tokens) >= MIN_WORD_SHARE


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) pairs: a short line without end punctuation followed by text."""
    lines = [line.strip() for line in text.split("\n")]
    out = []
    for i, line in enumerate(lines[:-1]):
        words = line.split()
        if 0 < len(words) <= MAX_HEADING_WORDS and not line.endswith((".", ":", ",", ";")):
            body = []
            for nxt in lines[i + 1 :]:
                if 0 < len(nxt.split()) <= MAX_HEADING_WORDS and not nxt.endswith((".", ":", ",", ";")):
                    break
                body.append(nxt)
            if len(" ".join(body).split()) >= MIN_SENTENCE_WORDS:
                out.append((line, " ".join(" ".join(body).split())))
    return out


def around(sentences: list[str], i: int, words: int = POSITIVE_WORDS) -> str:
    """The sentences around sentence `i` (not it), nearest first on each side, until `words` words: a long
    document's anchor is paired with its own passage, not with the document's beginning."""
    lo, hi, count = i, i + 1, 0
    while count < words and (lo > 0 or hi < len(sentences)):
        if hi < len(sentences) and (hi - i <= i - lo or lo == 0):
            count += len(sentences[hi].split())
            hi += 1
        else:
            lo -= 1
            count += len(sentences[lo].split())
    return " ".join(sentences[lo:i] + sentences[i + 1 : hi])


def mine_pairs(docs: Sequence[Document], *, per_doc: int, seed: int) -> list[dict[str, str]]:
    """Query-like (anchor, passage) pairs of all documents; see `mine_pairs_by_doc`."""
    return [pair for pairs in mine_pairs_by_doc(docs, per_doc=per_doc, seed=seed) for pair in pairs]


def mine_pairs_by_doc(docs: Sequence[Document], *, per_doc: int, seed: int) -> list[list[dict[str, str]]]:
    """Query-like (anchor, passage) pairs from raw documents, several per document, deduplicated.

    Per document, in this order of preference: its title against its text; its lead sentence
    against the rest; each section heading against its section; the lead sentence of each
    section against the rest of the document; then random sentences against the rest (inverse
    cloze), up to `per_doc` pairs besides the title. "The rest" is the text around the sentence,
    up to `POSITIVE_WORDS` words, so that every part of a long document is trained on. Anchors that occur in more than one
    document ("DESCRIPTION", boilerplate) are dropped: they would be false negatives.
    """
    rng = random.Random(seed)
    candidates: list[tuple[list[tuple[str, str]], list[tuple[str, str]]]] = []  # (title pair, others)
    for doc in docs:
        title = doc.title.strip()
        titled = [(title, doc.text)] if title else []
        sentences = split_sentences(doc.text)
        usable = [i for i, s in enumerate(sentences) if len(s.split()) >= MIN_SENTENCE_WORDS and reads_like_text(s)]
        prefix = f"{title}. " if title else ""
        headings: list[tuple[str, str]] = []
        section_leads: list[int] = []
        for heading, body in _sections(doc.text):
            headings.append((heading, body))
            lead = split_sentences(body)[0]
            if lead in sentences and sentences.index(lead) in usable:
                section_leads.append(sentences.index(lead))
        others = [i for i in usable if i not in section_leads and i not in usable[:1]]
        rng.shuffle(others)

        def cloze(i: int, sentences: list[str] = sentences, prefix: str = prefix) -> tuple[str, str]:
            return sentences[i], prefix + around(sentences, i)

        if len(sentences) < 2:
            found = headings
        else:  # lead sentence, headings, section leads, then random sentences
            found = [cloze(i) for i in usable[:1]] + headings
            found += [cloze(i) for i in dict.fromkeys(section_leads + others) if i not in usable[:1]]
        candidates.append((titled, found))
    counts = Counter(a.lower() for titled, found in candidates for a in {a for a, _ in titled + found})
    by_doc = []
    for titled, found in candidates:
        pairs: list[dict[str, str]] = []
        seen: set[str] = set()
        for budget, group in ((len(titled), titled), (per_doc, found)):
            kept = 0
            for anchor, positive in group:
                key = anchor.lower()
                if kept >= budget:
                    break
                if counts[key] > 1 or key in seen or not positive.strip():
                    continue
                seen.add(key)
                pairs.append({"anchor": anchor, "positive": positive})
                kept += 1
        by_doc.append(pairs)
    return by_doc


def tsdae_sentences(docs: Sequence[Document]) -> list[str]:
    """Sentences for the denoising auto-encoder objective."""
    return [s for d in docs for s in split_sentences(d.text) if len(s.split()) >= MIN_SENTENCE_WORDS]


def delete_words(text: str, rng: random.Random, ratio: float = 0.6) -> str:
    """TSDAE noise: drop each word with probability `ratio`, keeping at least one."""
    words = text.split()
    kept = [w for w in words if rng.random() >= ratio]
    return " ".join(kept) if kept else rng.choice(words)


def cloze_queries(docs: Sequence[Document], *, seed: int) -> list[tuple[int, str]]:
    """One inverse-cloze pseudo-query per document where it has one: (the document's index in `docs`, a sentence
    or heading of its text that is neither its title nor its lead sentence), in `mine_pairs_by_doc`'s order of
    preference, seeded. The sentence occurs verbatim in the text, so it can be held out of it."""
    out = []
    for i, (doc, pairs) in enumerate(zip(docs, mine_pairs_by_doc(docs, per_doc=8, seed=seed))):
        sentences = split_sentences(doc.text)
        skip = {doc.title.strip(), sentences[0] if sentences else ""}
        found = next((p["anchor"] for p in pairs if p["anchor"] not in skip and p["anchor"] in doc.text), None)
        if found is not None:
            out.append((i, found))
    return out
