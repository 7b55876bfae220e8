"""How static models cut text into words: one tokenizer, the words around a span, and a corpus as gensim sentences."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

TOKEN = re.compile(r"\w+(?:[-'.]\w+)*")


def tokenize(text: str, *, lowercase: bool = True) -> list[str]:
    """Split text into word tokens the way GloVe-style vocabularies expect."""
    return TOKEN.findall(text.lower() if lowercase else text)


def window_text(text: str, span: tuple[int, int], window: int, *, lowercase: bool) -> str:
    """The words of `text` from `window` words before the span to `window` words after it ("" if no word
    overlaps the span)."""
    start, end = span
    tokens = list(TOKEN.finditer(text.lower() if lowercase else text))
    inside = [i for i, m in enumerate(tokens) if m.start() < end and m.end() > start]
    if not inside:
        return ""
    lo, hi = max(0, inside[0] - window), inside[-1] + window + 1
    return " ".join(m.group() for m in tokens[lo:hi])


def uses_lowercase(kv: Any, sample: int = 5000) -> bool:
    """Whether a vocabulary is lowercased (GloVe 6B is), so tokens are normalised to match."""
    return not any(any(ch.isupper() for ch in word) for word in kv.index_to_key[:sample])


MAX_SENTENCE = 10000  # gensim's MAX_WORDS_IN_BATCH: it silently drops the tokens of a longer "sentence"


def domain_sentences(texts: Sequence[str], *, lowercase: bool) -> list[list[str]]:
    """Token lists for gensim, tokenised like `StaticEmbedder` does; long documents are cut into pieces."""
    out = []
    for tokens in (tokenize(t, lowercase=lowercase) for t in texts):
        out.extend(tokens[i : i + MAX_SENTENCE] for i in range(0, len(tokens), MAX_SENTENCE))
    return out


def coverage(sentences: Sequence[Sequence[str]], pretrained: Any, min_count: int) -> dict[str, float]:
    """Shares of corpus tokens and word types that the pretrained set knows, that are new, or OOV."""
    counts = Counter(token for sentence in sentences for token in sentence)
    known = {w for w in counts if w in pretrained.key_to_index}
    new = {w for w, c in counts.items() if w not in known and c >= min_count}
    total = sum(counts.values())

    def share(words: set[str]) -> float:
        return sum(counts[w] for w in words) / total if total else 0.0

    oov = set(counts) - known - new
    return {
        "tokens": total,
        "types": len(counts),
        "known_types": len(known),
        "new_types": len(new),
        "oov_types": len(oov),
        "known_token_share": share(known),
        "new_token_share": share(new),
        "oov_token_share": share(oov),
    }
