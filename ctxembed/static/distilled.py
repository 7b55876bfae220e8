"""`DistilledEmbedder`: a model2vec static model (distilled from a sentence-transformer) as an `Embedder`.

A model2vec folder (`config.json` with `model_type: model2vec`, `model.safetensors`,
`tokenizer.json`) is accepted wherever static vectors are: `static.vectors: DIR` or
`--vectors DIR`. It encodes with its own subword tokenizer, so unknown words are composed
from word pieces instead of being dropped.

Why this module reaches past model2vec's public API, and why model2vec stays below 0.11: `StaticModel.encode`
gathers a (texts x tokens x dim) array before pooling, which dominated encoding long documents; `pooled_sums`
gives the same vectors (up to scale) as one sparse product, 1.25x faster on the man-pages. For that it needs
the token ids `encode` pools, which model2vec exposes only inside its private `_encode_dispatch`; see
`model2vec_tokens.py`, which repeats that rule (and tokenizes ASCII text faster).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ctxembed.errors import AssetNotFoundError, CtxEmbedError
from ctxembed.static.model2vec_tokens import AsciiWords, token_rows
from ctxembed.static.words import TOKEN, window_text
from ctxembed.types import Backend, SymmetricEncoding

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from ctxembed.passages import TextWindow

POOLING = "model2vec"  # the manifest's pooling: model2vec's own (weights baked into the vectors, then the mean)


DISTILL_REPORT = "ctxembed_distill.json"  # what `ctxembed distill` writes beside the model it saves


def is_model2vec_folder(path: str | Path) -> bool:
    """Whether `path` is a folder saved by `model2vec.StaticModel.save_pretrained`."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "model2vec"
    except (OSError, ValueError, AttributeError):
        return False


def load_static_model(path: str | Path) -> Any:
    """The `model2vec.StaticModel` saved in `path`."""
    import importlib.util

    if importlib.util.find_spec("model2vec") is None:
        raise AssetNotFoundError(f"{path} is a model2vec model; install model2vec: pip install 'ctxembed[distill]'")
    from model2vec import StaticModel

    folder = Path(path)
    missing = [name for name in ("config.json", "tokenizer.json") if not (folder / name).is_file()]
    if missing or not any(folder.glob("*.safetensors")):
        what = ", ".join(missing) or "a .safetensors file"
        raise AssetNotFoundError(f"{folder} lacks {what}, so it is not a whole model2vec folder; distill it again")
    try:
        return StaticModel.from_pretrained(str(folder))
    except (ValueError, KeyError) as exc:  # a file is there but its content is not what model2vec wrote
        raise AssetNotFoundError(
            f"{folder}: model2vec cannot read the model ({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); "
            f"if the folder was edited or copied partly, distill it again"
        ) from exc


def word_vectors(model: Any) -> KeyedVectors:
    """Gensim KeyedVectors of the model's whole-word tokens (no `##` pieces), for lexical benchmarks."""
    from gensim.models import KeyedVectors

    vocab = model.tokenizer.get_vocab()
    words = sorted((i, w) for w, i in vocab.items() if TOKEN.fullmatch(w) and not w.startswith("##"))
    ids = [i for i, _ in words]
    kv = KeyedVectors(vector_size=model.dim, count=0, dtype=np.float32)
    rows = np.asarray(model.embedding, dtype=np.float32)
    if model.token_mapping is not None:
        rows = rows[np.asarray(model.token_mapping)[ids]]
    else:
        rows = rows[ids]
    kv.add_vectors([w for _, w in words], rows)
    return kv


def pooled_sums(model: Any, texts: Sequence[str], *, words: AsciiWords | None = None) -> np.ndarray:
    """Sum of each text's (weighted) token vectors, as one sparse (texts x vocabulary) product.

    The same vectors as model2vec's mean up to scale, without its (texts x tokens x dim) gather,
    which dominated encoding long documents.
    """
    from scipy.sparse import csr_matrix

    flat, indptr = token_rows(model, texts, words=words)
    rows = flat if model.token_mapping is None else np.asarray(model.token_mapping)[flat]
    weights = np.ones(len(flat), np.float32) if model.weights is None else np.asarray(model.weights)[flat]
    bag = csr_matrix((weights.astype(np.float32), rows, indptr), shape=(len(texts), len(model.embedding)))
    return np.asarray(bag @ model.embedding, dtype=np.float32)


class DistilledEmbedder(SymmetricEncoding):
    """Documents as the (normalised) mean of a model2vec model's token vectors."""

    def __init__(self, model: Any, *, name: str, context_window: int = 0) -> None:
        self.model = model
        self.name = name
        self.context_window = context_window
        self._fingerprint: str | None = None
        self._kv: KeyedVectors | None = None
        self._words = AsciiWords.of(model.tokenizer)  # the fast tokenizing path, where the tokenizer allows it

    IDENTITY_KEYS = ("model",)  # what `from_identity` reads from a manifest

    @classmethod
    def from_config(cls, config: Any) -> DistilledEmbedder:
        """Build from a `StaticConfig` whose `vectors` is a model2vec folder."""
        from ctxembed.assets import resolve_data_path

        return cls.load(resolve_data_path(config.vectors))

    @classmethod
    def from_identity(cls, identity: dict[str, Any], *, device: str | None = None) -> DistilledEmbedder:
        """The embedder an index manifest records (the index then checks its fingerprint)."""
        return cls.load(identity["model"])

    @classmethod
    def load(cls, path: str | Path) -> DistilledEmbedder:
        """The model2vec folder at `path`."""
        return cls(load_static_model(path), name=str(path))

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """One L2-normalised row per text; zeros where a text has no token."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        if np.asarray(self.model.embedding).dtype == np.float32:  # a sparse product (quantised: model2vec's path)
            from tqdm.auto import tqdm

            step = max(batch_size, 4096)  # static lookups: big batches cost nothing
            starts = tqdm(range(0, len(texts), step), desc="encode (model2vec)", disable=not show_progress)
            out = np.concatenate([pooled_sums(self.model, texts[i : i + step], words=self._words) for i in starts])
        else:
            out = self.model.encode(
                list(texts),
                batch_size=max(batch_size, 1024),
                show_progress_bar=show_progress,
                normalize=True,
                use_multiprocessing=False,  # library code starts no processes
            )
        out = np.nan_to_num(np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.where(norms > 0, out / np.maximum(norms, 1e-12), 0.0).astype(np.float32)

    def encode_spans(self, items: Sequence[tuple[str, tuple[int, int]]], *, batch_size: int = 32) -> np.ndarray:
        """The word at each span (with `context_window`, the words around it too); context is otherwise ignored."""
        window = self.context_window
        return self.encode(
            [text[s:e] if window <= 0 else window_text(text, (s, e), window, lowercase=False) for text, (s, e) in items]
        )

    def encode_in_context(self, text: str, span: tuple[int, int]) -> np.ndarray:
        """The vector of the word at `span` (see `encode_spans`)."""
        return self.encode_spans([(text, span)])[0]

    def word_vectors(self) -> KeyedVectors:
        """Whole-word tokens as KeyedVectors: lexical benchmarks and neighbour tables apply."""
        if self._kv is None:
            self._kv = word_vectors(self.model)
        return self._kv

    def context_window_variant(self, window: int) -> DistilledEmbedder | None:
        """The same model reading `window` words each side of a target word (a polysemy baseline)."""
        if window <= 0:
            return None
        clone = copy.copy(self)  # shares the model, its fast tokenizing path and what is cached
        clone.context_window = window
        return clone

    def held_out_documents(self) -> frozenset[str] | None:
        """The documents `ctxembed distill`'s contrastive step held out, as its report beside the model records
        them (None for a model without that step, or distilled elsewhere)."""
        report = Path(self.name) / DISTILL_REPORT
        if not report.is_file():
            return None
        try:
            contrastive = json.loads(report.read_text(encoding="utf-8")).get("contrastive") or {}
        except (OSError, ValueError) as exc:
            raise CtxEmbedError(f"{report} is not readable JSON ({exc}); distill the model again") from exc
        held_out = contrastive.get("held_out_documents")
        return None if held_out is None else frozenset(map(str, held_out))

    def text_window(self) -> TextWindow:
        """The model's `max_length` tokens of its own tokenizer (model2vec keeps the first ones of a text)."""
        from ctxembed.passages import TextWindow, plain_tokenizer

        limit = getattr(self.model, "max_length", None)
        return TextWindow(plain_tokenizer(self.model.tokenizer), int(limit) if limit else None)

    def fingerprint(self) -> str:
        """A short hash of the vectors and the tokenizer, to tell models apart."""
        if self._fingerprint is None:
            digest = hashlib.sha256(np.ascontiguousarray(self.model.embedding).tobytes())
            digest.update(self.model.tokenizer.to_str().encode("utf-8"))
            if self.model.weights is not None:
                digest.update(np.ascontiguousarray(self.model.weights).tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def identity(self) -> dict[str, Any]:
        return {
            "backend": Backend.STATIC.value,
            "model": self.name,
            "adapter": None,
            "dim": self.dim,
            "pooling": POOLING,
            "lowercase": False,  # the model's tokenizer normalises text itself
            "fingerprint": self.fingerprint(),
        }
