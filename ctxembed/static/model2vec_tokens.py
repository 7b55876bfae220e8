"""The token ids a model2vec `StaticModel.encode` pools, computed faster for ASCII text under a BERT tokenizer.

model2vec 0.10 (`_encode_dispatch` + `tokenize`, private) cuts each text at max_length x the median
token length in characters, tokenizes it, keeps the first max_length ids and drops unknown ones.
`token_rows` repeats that rule (model2vec is pinned below 0.11 to keep it in step, and
`tests/distill/test_distill.py::test_encoding_matches_model2vec` compares the two on every run).
This module and `distilled.py` are the only code that touches model2vec internals.

Tokenizing was most of static encoding (88% on man pages). For a BERT tokenizer (`BertNormalizer`,
`BertPreTokenizer`, `WordPiece`) and text that is printable ASCII (plus curly quotes, dashes and
similar punctuation, and accented Latin letters that fold to ASCII ones) with no added token in it,
the normaliser only lowercases (and folds those letters) and the pre-tokenizer
splits into runs of letters and digits and single punctuation marks, which `byte_words` finds with
numpy over the batch's bytes. A word that is a vocabulary entry is that one token (WordPiece tries
the whole word first), found in a table; the other distinct words of a batch go through the
tokenizer in one pass, joined by spaces. Other texts and tokenizers take the tokenizer's own path.
Both give the same ids (checked on the three benchmark corpora and by the tests).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ctxembed.static.byte_words import KEY_BYTES, VocabularyTable, Words, mix

# Unicode punctuation that BERT's normaliser leaves alone (no decomposition, no case) and its pre-tokenizer
# isolates, like ASCII punctuation: curly quotes, dashes, guillemets, ellipsis, bullets.
_PUNCTUATION = (
    "\u2018\u2019\u201a\u201c\u201d\u201e\u00ab\u00bb\u2039\u203a\u2013\u2014\u2026\u2022\u2023\u00b7\u2032\u2033"
)
# A text takes the tokenizer's own path if it has any other character: a control character (BERT's clean_text
# removes them) or other non-ASCII (accents, scripts, symbols).
_OTHER_CHARACTERS = re.compile(f"[^\\t\\n\\r\\x20-\\x7e{_PUNCTUATION}]")
_BREAK = "\x00"  # joins a batch's texts: a control character, so no fast-path text holds one


def _accented_letters() -> dict[int, str]:
    """Latin letters with accents and their form after BERT's normaliser when it lowercases and strips accents
    (NFD, drop combining marks, then lowercase), kept where that form is plain ASCII: é -> e, Ü -> u, İ -> i."""
    import unicodedata

    folded = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        plain = "".join(c for c in unicodedata.normalize("NFD", char) if unicodedata.category(c) != "Mn").lower()
        if unicodedata.category(char).startswith("L") and plain.isascii() and plain.isalpha():
            folded[code] = plain
    return folded


_ACCENTED = _accented_letters()


@dataclass(frozen=True)
class AsciiWords:
    """BERT's normaliser, pre-tokenizer and WordPiece on ASCII text, for a whole batch at once."""

    lowercase: bool
    fold: dict[int, str] | None  # accented letters -> their normalised form, when the normaliser strips accents
    added: tuple[str, ...]  # added tokens ([UNK], [PAD], ...), lowercased: matched in raw text before splitting
    whole: VocabularyTable = field(compare=False, repr=False)  # vocabulary words: WordPiece keeps them whole
    words_tokenizer: Any = field(compare=False, repr=False)  # a copy without truncation, for the other words

    @classmethod
    def of(cls, tokenizer: Any) -> AsciiWords | None:
        """The fast path for `tokenizer`, or None when its pipeline is not BERT's."""
        from tokenizers import Tokenizer
        from tokenizers.pre_tokenizers import WhitespaceSplit

        text = tokenizer.to_str()
        spec = json.loads(text)
        normalizer, pre, model = (spec.get(key) or {} for key in ("normalizer", "pre_tokenizer", "model"))
        kinds = (normalizer.get("type"), pre.get("type"), model.get("type"))
        if kinds != ("BertNormalizer", "BertPreTokenizer", "WordPiece") or not normalizer.get("clean_text", True):
            return None
        added = tuple(sorted({t["content"].lower() for t in spec.get("added_tokens") or () if t["content"]}))
        if any(not token.isprintable() or " " in token for token in added):  # could match across joined words
            return None
        prefix, longest = model.get("continuing_subword_prefix", "##"), model.get("max_input_chars_per_word", 100)
        whole = VocabularyTable.of(
            {w: i for w, i in model["vocab"].items() if not w.startswith(prefix) and len(w) <= longest}
        )
        # The other words of a batch, joined by spaces, in one pass: already normalised and split, so the copy
        # only splits at the spaces; it neither truncates nor pads.
        copy = Tokenizer.from_str(text)
        copy.normalizer, copy.pre_tokenizer = None, WhitespaceSplit()
        copy.no_truncation()
        copy.no_padding()
        lowercase = bool(normalizer.get("lowercase", True))
        strips = normalizer.get("strip_accents")
        fold = _ACCENTED if lowercase and (strips is None or strips) else None
        return cls(lowercase=lowercase, fold=fold, added=added, whole=whole, words_tokenizer=copy)

    def prepare(self, text: str) -> str | None:
        """`text` as the fast path splits it (accented letters folded, where the normaliser would), or None
        when it has other characters or an added token (in any case): then it takes the tokenizer's path."""
        plain = text
        if _OTHER_CHARACTERS.search(text):
            if self.fold is None:
                return None
            plain = text.translate(self.fold)
            if _OTHER_CHARACTERS.search(plain):
                return None
        if self.added:  # in the raw text and, where accents were folded, in the folded one
            lowered = (text.lower(),) if plain is text else (text.lower(), plain.lower())
            if any(token in variant for token in self.added for variant in lowered):
                return None
        return plain

    def ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every token id of `texts` (each one `prepare`d) and the text each belongs to, in order."""
        words = Words.split(_BREAK.join(texts).encode("utf-8"), lowercase=self.lowercase)
        first, second = words.keys()
        lengths = words.ends - words.starts
        ids = self.whole.lookup(first, second, lengths)
        counts = np.ones(len(ids), np.int64)  # tokens per word: one for a vocabulary word
        split = np.flatnonzero(ids < 0)
        if split.size:
            split, which, spellings = _distinct_spellings(words, split, first, second, lengths)
            pieces, starts, piece_counts = self._pieces(spellings)
            counts[split] = piece_counts[which]
        tokens = np.repeat(ids, counts)
        if split.size:  # each split word's pieces into its tokens' places
            taken = counts[split]
            offset = np.arange(int(taken.sum())) - np.repeat(np.cumsum(taken) - taken, taken)
            at = (np.cumsum(counts) - counts)[split]
            tokens[np.repeat(at, taken) + offset] = pieces[np.repeat(starts[which], taken) + offset]
        return tokens, np.repeat(words.rows, counts)

    def _pieces(self, spellings: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The WordPiece ids of distinct words: all pieces, and each word's start and length in them. One
        tokenizer pass over the words joined by spaces: each is one pre-token, so word ids index them."""
        encoding = self.words_tokenizer.encode(" ".join(spellings), add_special_tokens=False)
        lengths = np.bincount(np.asarray(encoding.word_ids, dtype=np.int64), minlength=len(spellings))
        return np.asarray(encoding.ids, dtype=np.int64), np.cumsum(lengths) - lengths, lengths


def _distinct_spellings(
    words: Words, split: np.ndarray, first: np.ndarray, second: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The distinct spellings of words `split`: (those words, reordered; each one's spelling index; spellings).

    Words of up to 16 bytes are told apart by their exact keys (grouped by hash, then checked); longer ones,
    and any whose hash another spelling shares, are read one by one.
    """
    short = split[lengths[split] <= KEY_BYTES]
    one, two = first[short], second[short]
    _, firsts, inverse = np.unique(mix(one, two), return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    same = (one[firsts][inverse] == one) & (two[firsts][inverse] == two)
    spellings = [words.text(i) for i in short[firsts].tolist()]
    index: dict[str, int] = {}
    rest = np.concatenate([split[lengths[split] > KEY_BYTES], short[~same]])
    rest_which = [index.setdefault(words.text(i), len(spellings) + len(index)) for i in rest.tolist()]
    spellings += list(index)
    which = np.concatenate([inverse[same], np.asarray(rest_which, dtype=np.int64)])
    return np.concatenate([short[same], rest]), which, spellings


def token_rows(model: Any, texts: Sequence[str], *, words: AsciiWords | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ids `model.encode` pools (model2vec 0.10's rule) as CSR rows: (ids, indptr); `words`: the fast path."""
    limit, tokenizer = model.max_length, model.tokenizer
    if limit is not None:
        texts = [text[: limit * model.median_token_length] for text in texts]
    prepared = [words.prepare(text) for text in texts] if words is not None else [None] * len(texts)
    fast = [i for i, text in enumerate(prepared) if text is not None]
    tokens, rows = words.ids([prepared[i] for i in fast]) if fast else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    rows = np.asarray(fast, dtype=np.int64)[rows] if fast else rows
    slow = [i for i, text in enumerate(prepared) if text is None]
    if slow:  # the tokenizer's own path for the rest, then every token in text order
        encoded = [
            e.ids[:limit] for e in tokenizer.encode_batch_fast([texts[i] for i in slow], add_special_tokens=False)
        ]
        tokens = np.concatenate([tokens, np.fromiter(itertools.chain.from_iterable(encoded), np.int64)])
        rows = np.concatenate([rows, np.repeat(np.asarray(slow, dtype=np.int64), [len(ids) for ids in encoded])])
        order = np.argsort(rows, kind="stable")
        tokens, rows = tokens[order], rows[order]
    keep = tokens != model.unk_token_id
    if limit is not None:  # the first `limit` tokens of each text, before unknown ones are dropped
        lengths = np.bincount(rows, minlength=len(texts))
        keep &= np.arange(len(rows)) - (np.cumsum(lengths) - lengths)[rows] < limit
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=len(texts)), out=indptr[1:])
    return tokens[keep], indptr
