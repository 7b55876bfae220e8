"""Passages: documents longer than a model's window, split into overlapping pieces.

Lengths are counted with the model's own tokenizer (a `tokenizers.Tokenizer`; for word vectors, one that
counts whitespace-separated words), and pieces end on paragraph, sentence or word boundaries where they can:
the splitting is semantic-text-splitter's (`TextSplitter.from_huggingface_tokenizer`). A text that fits the
model's window is one passage, so short-document corpora are indexed exactly as before.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from ctxembed.errors import ConfigError, DependencyError

Span = tuple[int, int]  # character offsets [start, end) of a passage inside its document's full text
MIN_TOKENS = 8  # a shorter passage holds too little to retrieve by
DEFAULT_OVERLAP = 32  # with passages as long as the window (docs/long-documents.md: chosen on the dev splits)
DEFAULT_LEAD_MARGIN = 0.02  # chosen on the dev splits with scripts/bench_passage_scoring.py


class Document(Protocol):
    """What splitting reads of a document (`ctxembed.data.Document`)."""

    title: str

    @property
    def full_text(self) -> str: ...


@dataclass(frozen=True)
class PassageSettings:
    """How `ctxembed index` cuts long documents into passages (`index.passages`)."""

    mode: str = field(
        default="auto",
        metadata={
            "help": "auto: split documents longer than max_tokens into passages; none: one vector a "
            "document (the model reads its beginning)."
        },
    )
    max_tokens: int | None = field(
        default=None,
        metadata={"help": "Passage length in the model's tokens (words for word vectors); null: the model's "
                  "window (word vectors read any length: no split)."},
    )  # fmt: skip
    overlap: int = field(default=DEFAULT_OVERLAP, metadata={"help": "Tokens shared by neighbouring passages."})
    title: bool = field(
        default=True, metadata={"help": "Repeat the document's title before each of its later passages."}
    )
    lead_margin: float = field(
        default=DEFAULT_LEAD_MARGIN,
        metadata={"help": "A document scores as its best passage, but a passage after its first must beat the "
                  "first by this much (cosine); 0: the best passage alone."},
    )  # fmt: skip

    def __post_init__(self) -> None:
        if isinstance(self.lead_margin, bool) or not 0 <= self.lead_margin <= 1:
            raise ConfigError(
                f"index.passages.lead_margin must be a number in [0, 1], got {self.lead_margin!r}",
                key="index.passages.lead_margin",
            )
        if self.mode not in ("auto", "none"):
            raise ConfigError(f"index.passages.mode must be auto or none, got {self.mode!r}", key="index.passages.mode")
        if self.max_tokens is not None and (isinstance(self.max_tokens, bool) or self.max_tokens < MIN_TOKENS):
            raise ConfigError(
                f"index.passages.max_tokens must be >= {MIN_TOKENS} (or null for the default), got {self.max_tokens}",
                key="index.passages.max_tokens",
            )
        if (
            isinstance(self.overlap, bool)
            or self.overlap < 0
            or (self.max_tokens is not None and self.overlap >= self.max_tokens)
        ):
            raise ConfigError(
                f"index.passages.overlap must be >= 0 and smaller than max_tokens ({self.max_tokens}), "
                f"got {self.overlap}",
                key="index.passages.overlap",
            )


@dataclass(frozen=True)
class TextWindow:
    """How much of one text a model reads: `max_tokens` of `tokenizer`'s tokens (special tokens and prompts
    not counted), or any length when `max_tokens` is None (word vectors). `unit` names what is counted."""

    tokenizer: Any
    max_tokens: int | None
    unit: str = "tokens"

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Each text's length in the window's unit."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def too_long(self, texts: Sequence[str]) -> int:
        """How many of `texts` the model cannot read whole (0 for a window of any length)."""
        if self.max_tokens is None or not texts:
            return 0
        return sum(n > self.max_tokens for n in self.lengths(texts))


def plain_tokenizer(tokenizer: Any) -> Any:
    """A copy of a `tokenizers.Tokenizer` that neither truncates nor pads, for counting whole texts."""
    plain = copy.deepcopy(tokenizer)
    plain.no_truncation()
    plain.no_padding()
    return plain


def word_window(max_words: int | None = None) -> TextWindow:
    """A window counted in whitespace-separated words (static word vectors read any length: None)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return TextWindow(tokenizer, max_words, unit="words")


class PassageSplitter:
    """Splits documents longer than `max_tokens` (default: the model's window) into passages of at most that
    many tokens, `overlap` tokens shared between neighbours. A document that fits is one passage; a model that
    reads any length (word vectors) splits only when `max_tokens` is set."""

    def __init__(self, window: TextWindow, settings: PassageSettings) -> None:
        self.window, self.settings = window, settings
        limit = window.max_tokens
        if settings.max_tokens is not None and limit is not None and settings.max_tokens > limit:
            raise ConfigError(
                f"index.passages.max_tokens is {settings.max_tokens} but the model reads at most {limit} {window.unit} "
                f"of a text; set it to {limit} or less (or null for the default)",
                key="index.passages.max_tokens",
            )
        self.max_tokens = settings.max_tokens or limit
        if self.max_tokens is not None and settings.overlap >= self.max_tokens:
            raise ConfigError(
                f"index.passages.overlap ({settings.overlap}) must be smaller than the passage length "
                f"({self.max_tokens} {window.unit}); lower it, or raise index.passages.max_tokens",
                key="index.passages.overlap",
            )
        try:
            from semantic_text_splitter import TextSplitter
        except ImportError as exc:
            raise DependencyError(
                "splitting long documents needs semantic-text-splitter: pip install semantic-text-splitter "
                "(or set index.passages.mode: none)"
            ) from exc
        self._splitter = (
            TextSplitter.from_huggingface_tokenizer(window.tokenizer, self.max_tokens, overlap=settings.overlap)
            if self.max_tokens is not None
            else None
        )

    @property
    def active(self) -> bool:
        return self.settings.mode == "auto" and self.max_tokens is not None

    def spans(self, texts: Sequence[str]) -> list[list[Span]]:
        """Each text's passages as character spans, in order; a text that fits is one span (the whole text).

        A longer text's first passage is its beginning as far as the model reads it (for word vectors, all of
        it), so its vector is the one a one-vector-a-document index had; the splitter's passages that start
        later follow it.
        """
        whole = [[(0, len(t))] for t in texts]
        if not self.active or not texts:
            return whole
        encodings = self.window.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        long = [i for i, e in enumerate(encodings) if len(e.ids) > self.max_tokens]
        if long:
            limit = self.window.max_tokens
            for i, chunks in zip(long, self._splitter.chunk_all_indices([texts[i] for i in long])):
                offsets = encodings[i].offsets
                lead = len(texts[i]) if limit is None or limit >= len(offsets) else int(offsets[limit - 1][1])
                later = [(start, start + len(chunk)) for start, chunk in chunks if start > 0 and chunk.strip()]
                whole[i] = [(0, lead), *later]
        return whole

    def split(self, docs: Sequence[Document]) -> Passages:
        """The passages of `docs`, in order: what to encode, whose they are, where they lie."""
        texts = [d.full_text for d in docs]
        out = Passages([], [], [], 0)
        for i, (doc, text, spans) in enumerate(zip(docs, texts, self.spans(texts))):
            for span in spans:
                out.texts.append(passage_text(text, doc.title, span, repeat_title=self.settings.title))
                out.owners.append(i)
                out.spans.append(span)
        if self.active:  # only a passage with its title repeated can outgrow the passage length
            out.cut = self.window.too_long([t for t, (start, _) in zip(out.texts, out.spans) if start > 0])
        else:
            out.cut = self.window.too_long(out.texts)
        return out

    def record(self) -> dict[str, Any]:
        """What the manifest records about the splitting."""
        try:
            splitter = f"semantic-text-splitter {version('semantic-text-splitter')}"
        except PackageNotFoundError:
            splitter = "semantic-text-splitter"
        return {
            "mode": self.settings.mode,
            "splitter": splitter,
            "unit": self.window.unit,
            "max_tokens": self.max_tokens,
            "overlap": self.settings.overlap,
            "title": self.settings.title,
            "lead_margin": self.settings.lead_margin,
        }


def passage_text(full_text: str, title: str, span: Span, *, repeat_title: bool) -> str:
    """What is encoded for one passage: the first is the document itself, which the model reads as far as its
    window, exactly as a one-vector-a-document index did; a later one is its text, after the document's title
    when `repeat_title` is set."""
    start, end = span
    if start == 0:
        return full_text
    return f"{title}. {full_text[start:end]}" if repeat_title and title else full_text[start:end]


@dataclass
class Passages:
    """The passages of a batch of documents: the texts to encode, each one's document (its place in the batch)
    and span, and how many the model will cut at its window."""

    texts: list[str]
    owners: list[int]
    spans: list[Span]
    cut: int


def whole_documents(docs: Sequence[Document]) -> Passages:
    """One passage a document: its whole text (a model whose length cannot be counted)."""
    texts = [d.full_text for d in docs]
    return Passages(texts, list(range(len(docs))), [(0, len(t)) for t in texts], 0)
