"""The token ids a model2vec `StaticModel.encode` pools, computed faster for ASCII text under a BERT tokenizer.

model2vec 0.10 (`_encode_dispatch` + `tokenize`, private) cuts each text at max_length x the median
token length in characters, tokenizes it, keeps the first max_length ids and drops unknown ones.
`token_ids` repeats that rule (model2vec is pinned below 0.11 to keep it in step, and
`tests/distill/test_distill.py::test_encoding_matches_model2vec` compares the two on every run).
This module and `distilled.py` are the only code that touches model2vec internals.

Tokenizing was most of static encoding (88% on man pages). For a BERT tokenizer (`BertNormalizer`,
`BertPreTokenizer`, `WordPiece`) and text that is printable ASCII (plus curly quotes, dashes and
similar punctuation), the normaliser only lowercases and the pre-tokenizer splits into runs of
letters and digits and single punctuation marks, so a regular expression gives the same words; the
distinct words of a batch then go through the tokenizer in one pass, joined by spaces. Other texts
and tokenizers take the tokenizer's own path. Both give the same ids (checked on the three
benchmark corpora and by the tests).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Unicode punctuation that BERT's normaliser leaves alone (no decomposition, no case) and its pre-tokenizer
# isolates, like ASCII punctuation: curly quotes, dashes, guillemets, ellipsis, bullets.
_PUNCTUATION = (
    "\u2018\u2019\u201a\u201c\u201d\u201e\u00ab\u00bb\u2039\u203a\u2013\u2014\u2026\u2022\u2023\u00b7\u2032\u2033"
)
# A text takes the tokenizer's own path if it has any other character: a control character (BERT's clean_text
# removes them) or other non-ASCII (accents, scripts, symbols).
_SLOW = re.compile(f"[^\\t\\n\\r\\x20-\\x7e{_PUNCTUATION}]")
_WORDS = {True: re.compile(r"[a-z0-9]+|[^\sa-z0-9]"), False: re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")}


@dataclass(frozen=True)
class AsciiWords:
    """BERT's normaliser and pre-tokenizer on ASCII text: (lowercase), then letter-digit runs and punctuation."""

    lowercase: bool
    words_tokenizer: Any = field(compare=False, repr=False)  # a copy without truncation, for `pieces`

    @classmethod
    def of(cls, tokenizer: Any) -> AsciiWords | None:
        """The fast path for `tokenizer`, or None when its pipeline is not BERT's."""
        from tokenizers import Tokenizer

        text = tokenizer.to_str()
        spec = json.loads(text)
        normalizer, pre = spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}
        kinds = (normalizer.get("type"), pre.get("type"), (spec.get("model") or {}).get("type"))
        if kinds != ("BertNormalizer", "BertPreTokenizer", "WordPiece") or not normalizer.get("clean_text", True):
            return None
        copy = Tokenizer.from_str(text)  # the words of a batch in one text: no truncation, no padding
        copy.no_truncation()
        copy.no_padding()
        return cls(lowercase=bool(normalizer.get("lowercase", True)), words_tokenizer=copy)

    def split(self, text: str) -> list[str] | None:
        """The pre-tokenized words of `text`, or None when it has characters outside the fast path."""
        if _SLOW.search(text):
            return None
        return _WORDS[self.lowercase].findall(text.lower() if self.lowercase else text)

    def pieces(self, words: list[str]) -> dict[str, list[int]]:
        """Each word's WordPiece ids, from one pass of the tokenizer over the words joined by spaces (each
        word is one pre-token, so the encoding's word ids index `words`)."""
        encoding = self.words_tokenizer.encode(" ".join(words), add_special_tokens=False)
        grouped: list[list[int]] = [[] for _ in words]
        for piece, word in zip(encoding.ids, encoding.word_ids):
            grouped[word].append(piece)
        return dict(zip(words, grouped))


def token_ids(model: Any, texts: Sequence[str], *, words: AsciiWords | None = None) -> list[list[int]]:
    """The ids `model.encode` pools for each text (model2vec 0.10's rule); `words`: the ASCII fast path."""
    limit, tokenizer = model.max_length, model.tokenizer
    if limit is not None:
        texts = [text[: limit * model.median_token_length] for text in texts]
    split = [words.split(text) for text in texts] if words is not None else [None] * len(texts)
    distinct = list(set(itertools.chain.from_iterable(row for row in split if row is not None)))
    pieces = words.pieces(distinct) if words is not None and distinct else {}
    slow = [i for i, row in enumerate(split) if row is None]  # the tokenizer's own path
    encoded = iter(tokenizer.encode_batch_fast([texts[i] for i in slow], add_special_tokens=False))
    ids: list[list[int]] = []
    for row in split:
        if row is None:
            ids.append(next(encoded).ids[:limit])
            continue
        out: list[int] = []
        for word in row:
            out += pieces[word]
            if limit is not None and len(out) >= limit:
                break
        ids.append(out[:limit])
    unknown = model.unk_token_id
    return [[i for i in row if i != unknown] if unknown in row else row for row in ids]
