"""The byte-level word splitter and vocabulary table behind static encoding's fast path."""

from __future__ import annotations

import random
import re
import string

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ctxembed.static.byte_words import KEY_BYTES, VocabularyTable, Words
from ctxembed.static.model2vec_tokens import _PUNCTUATION

# BERT's pre-tokenizer on the fast path's texts, as a regular expression (lowercased first when asked)
BERT_WORDS = {True: re.compile(r"[a-z0-9]+|[^\sa-z0-9]"), False: re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")}
fast_text = st.text(alphabet=string.printable.replace("\x0b", "").replace("\x0c", "") + _PUNCTUATION, max_size=60)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(fast_text, min_size=1, max_size=5), lowercase=st.booleans())
def test_split_finds_berts_words_and_their_texts(texts, lowercase):
    words = Words.split("\x00".join(texts).encode("utf-8"), lowercase=lowercase)
    expected = [
        (row, w) for row, t in enumerate(texts) for w in BERT_WORDS[lowercase].findall(t.lower() if lowercase else t)
    ]
    assert [(int(r), words.text(i)) for i, r in enumerate(words.rows)] == expected


def test_table_lookup_is_exact_and_leaves_long_words_out():
    rng = random.Random(0)
    spellings = {"".join(rng.choices(string.ascii_lowercase + "0123", k=rng.randint(1, 20))) for _ in range(6000)}
    spellings |= {"’", "—", "a", "ab", "x" * KEY_BYTES, "x" * (KEY_BYTES + 1)}
    vocab = {w: i for i, w in enumerate(sorted(spellings))}
    table = VocabularyTable.of(vocab)
    assert table.probes >= 1  # some words share a home slot, so probing is exercised
    queries = sorted(spellings) + ["zzzzzzzzzzzzzzzzzzzzzz", "b" * 9, "’’", ""]
    words = Words(" ".join(queries).encode("utf-8"), *_spans(queries))
    first, second = words.keys()
    got = table.lookup(first, second, words.ends - words.starts)
    expected = [vocab[q] if q in vocab and len(q.encode("utf-8")) <= KEY_BYTES else -1 for q in queries]
    assert got.tolist() == expected


def _spans(queries: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte spans of space-joined `queries`, one row each (the table test looks words up as given)."""
    starts, at = [], 0
    for q in queries:
        starts.append(at)
        at += len(q.encode("utf-8")) + 1
    lengths = np.array([len(q.encode("utf-8")) for q in queries])
    return np.array(starts), np.array(starts) + lengths, np.arange(len(queries))
