"""`ContextualEmbedder`: a sentence-transformers model, with an optional peft adapter."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ctxembed.assets import resolve_contextual_model
from ctxembed.contextual.adapters import TRAINING_INFO
from ctxembed.contextual.fingerprint import folder_fingerprint
from ctxembed.errors import AssetNotFoundError, CtxEmbedError
from ctxembed.types import Backend, Precision

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ctxembed.passages import TextWindow

logger = logging.getLogger(__name__)


def load_sentence_transformer(name: str, device: str | None = None) -> tuple[SentenceTransformer, str, str | None]:
    """Load a model by well-known name, local folder or hub name; also return its name and fingerprint."""
    from sentence_transformers import SentenceTransformer

    resolved = resolve_contextual_model(name)
    if resolved.is_local:
        folder = Path(resolved.location)
        if not (folder.is_dir() and ((folder / "modules.json").is_file() or (folder / "config.json").is_file())):
            raise AssetNotFoundError(
                f"{folder} is not a model folder (no modules.json or config.json); pass a sentence-transformers "
                f"or transformers model folder (contextual.model)"
            )
        model = SentenceTransformer(resolved.location, device=device)  # a failure here keeps its own message
    else:
        try:
            model = SentenceTransformer(resolved.location, device=device)
        except OSError as exc:  # the hub has no such model, or it cannot be reached
            raise AssetNotFoundError(
                f"cannot fetch contextual model {name!r} from the hub ({' '.join(str(exc).split())[:160]}); "
                f"check the name and the network, or pass a local model folder"
            ) from exc
    fingerprint = folder_fingerprint(resolved.location) if resolved.is_local else None
    return model, resolved.name, fingerprint


class ContextualEmbedder:
    """Sentence embeddings from a sentence-transformers model, L2-normalised.

    `encode_in_context` averages the token vectors that overlap a character span,
    found through the tokenizer's offset mapping.
    """

    IDENTITY_KEYS = ("model",)  # what `from_identity` needs from a manifest

    def __init__(
        self,
        model: SentenceTransformer,
        *,
        name: str,
        fingerprint: str | None = None,
        adapter: str | None = None,
        adapter_fingerprint: str | None = None,
        precision: Precision | str = Precision.FP32,
    ) -> None:
        self.model = model
        self.name = name
        self.model_fingerprint = fingerprint
        self.adapter = adapter
        self.adapter_fingerprint = adapter_fingerprint
        self.precision = Precision(precision)  # as asked for; `precision_used` is what it runs at
        from ctxembed.contextual import precision as p

        self.model, self.precision_used, self.precision_min_cosine = p.resolve(
            model,
            self.precision,
            self.device,
            name=name,
            cache_key=f"{fingerprint or name}\0{adapter_fingerprint}",
            encode=lambda m, texts, renormalize: self._run(m, "encode", texts, 32, False, renormalize=renormalize),
        )

    @classmethod
    def load(
        cls,
        model: str,
        *,
        adapter: str | None = None,
        device: str | None = None,
        max_seq_length: int | None = None,
        precision: Precision | str = Precision.FP32,
    ) -> ContextualEmbedder:
        """Load a base model (well-known name, folder or hub name) and optionally an adapter."""
        st, name, fingerprint = load_sentence_transformer(model, device)
        if max_seq_length is not None:
            st.max_seq_length = max_seq_length
        adapter_path = adapter_fp = None
        if adapter is not None:
            from ctxembed.contextual.adapters import attach_adapter

            adapter_path, adapter_fp = attach_adapter(st, adapter, base_name=name)
        return cls(
            st,
            name=name,
            fingerprint=fingerprint,
            adapter=adapter_path,
            adapter_fingerprint=adapter_fp,
            precision=precision,
        )

    @classmethod
    def from_config(cls, config: Any) -> ContextualEmbedder:
        """Build from a `ContextualConfig`."""
        return cls.load(
            config.model,
            adapter=config.adapter,
            device=config.device,
            max_seq_length=config.max_seq_length,
            precision=config.precision,
        )

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def device(self) -> str:
        return str(self.model.device)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """One L2-normalised float32 row per text, with no prompt."""
        return self._encode("encode", texts, batch_size, show_progress)

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """Documents through the model's document prompt (sentence-transformers' `encode_document`)."""
        return self._encode("encode_document", texts, batch_size, show_progress)

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Queries through the model's query prompt (sentence-transformers' `encode_query`)."""
        return self._encode("encode_query", texts, batch_size, False)

    def _encode(self, method: str, texts: Sequence[str], batch_size: int, show_progress: bool) -> np.ndarray:
        half = self.precision_used is not Precision.FP32
        return self._run(self.model, method, texts, batch_size, show_progress, renormalize=half)

    def _run(
        self, model: Any, method: str, texts: Sequence[str], batch_size: int, show_progress: bool, *, renormalize: bool
    ) -> np.ndarray:
        vectors = getattr(model, method)(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
        if renormalize:  # rows normalised in bf16 or int8 are unit length only to about 1e-3
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        return vectors

    def token_vectors(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The last layer's token vectors of `text` and each token's character offsets."""
        tokens, offsets = self._token_batch([text])
        return tokens[0], offsets[0]

    def _token_batch(self, texts: list[str]) -> tuple[list[np.ndarray], list[list[tuple[int, int]]]]:
        """Token vectors and character offsets of several texts, in one forward pass."""
        import torch

        features = self.model.preprocess(texts)
        encoded = self.model.tokenizer(
            texts,
            return_offsets_mapping=True,
            truncation=True,
            max_length=self.model.max_seq_length,
            padding=True,
            return_tensors="pt",
        )
        if not torch.equal(features["input_ids"].cpu(), encoded["input_ids"]):  # offsets must describe these tokens
            raise RuntimeError("tokenizer offsets do not match the model's own tokenization")
        features = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in features.items()}
        with torch.inference_mode():
            tokens = self.model.forward(features)["token_embeddings"].float().cpu().numpy()
        lengths = encoded["attention_mask"].sum(dim=1).tolist()
        offsets = [[tuple(o) for o in row[:n]] for row, n in zip(encoded["offset_mapping"].tolist(), lengths)]
        return [t[:n] for t, n in zip(tokens, lengths)], offsets

    def encode_spans(self, items: Sequence[tuple[str, tuple[int, int]]], *, batch_size: int = 32) -> np.ndarray:
        """Mean of the token vectors that overlap each span, L2-normalised; zeros past max_seq_length."""
        for text, (start, end) in items:
            if not 0 <= start < end <= len(text):
                raise ValueError(
                    f"span {(start, end)} is not a non-empty range inside a text of {len(text)} characters"
                )
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        order = sorted(range(len(items)), key=lambda i: len(items[i][0]))  # similar lengths pad less
        for begin in range(0, len(order), batch_size):
            chunk = order[begin : begin + batch_size]
            tokens, offsets = self._token_batch([items[i][0] for i in chunk])
            for i, vecs, offs in zip(chunk, tokens, offsets):
                start, end = items[i][1]
                rows = [r for r, (s, e) in enumerate(offs) if e > s and s < end and e > start]
                if rows:
                    vec = vecs[rows].mean(axis=0)
                    out[i] = vec / np.linalg.norm(vec)
        return out

    def encode_in_context(self, text: str, span: tuple[int, int]) -> np.ndarray:
        """The vector of the word at `span` of `text`; zeros when it lies past max_seq_length."""
        return self.encode_spans([(text, span)])[0]

    def word_vectors(self) -> None:
        """No word-vector table: lexical benchmarks do not apply."""
        return None

    def context_window_variant(self, window: int) -> None:
        """A contextual model always reads the whole sentence."""
        return None

    def held_out_documents(self) -> frozenset[str] | None:
        """The documents the adapter's training held out, as `finetune` recorded them beside the adapter (None for
        a model without a ctxembed adapter)."""
        record = Path(self.adapter) / TRAINING_INFO if self.adapter else None
        if record is None or not record.is_file():
            return None
        try:
            held_out = json.loads(record.read_text(encoding="utf-8")).get("held_out_documents")
        except (OSError, ValueError) as exc:
            raise CtxEmbedError(f"{record} is not readable JSON ({exc}); restore it from the adapter's folder") from exc
        return None if held_out is None else frozenset(map(str, held_out))

    def text_window(self) -> TextWindow | None:
        """`max_seq_length` less the special tokens and the document prompt, counted with the model's fast
        tokenizer; None where the model has no fast tokenizer to count with."""
        from ctxembed.passages import TextWindow, plain_tokenizer

        backend = getattr(self.model.tokenizer, "backend_tokenizer", None)
        if backend is None:
            return None
        tokenizer = plain_tokenizer(backend)
        prompt = (self.model.prompts or {}).get("document") or ""
        used = tokenizer.num_special_tokens_to_add(False) + (
            len(tokenizer.encode(prompt, add_special_tokens=False).ids) if prompt else 0
        )
        return TextWindow(tokenizer, max(1, int(self.model.max_seq_length) - used))

    @classmethod
    def from_identity(cls, identity: dict[str, Any], *, device: str | None = None) -> ContextualEmbedder:
        """The embedder an index manifest records (the index then checks its fingerprint)."""
        return cls.load(
            identity["model"],
            adapter=identity.get("adapter"),
            device=device,
            max_seq_length=identity.get("max_seq_length"),
            precision=identity.get("precision", Precision.FP32),
        )

    def identity(self) -> dict[str, Any]:
        return {
            "backend": Backend.CONTEXTUAL.value,
            "model": self.name,
            "adapter": self.adapter,
            "dim": self.dim,
            "fingerprint": self.model_fingerprint,
            "adapter_fingerprint": self.adapter_fingerprint,
            "max_seq_length": self.model.max_seq_length,
            "precision": self.precision_used.value,
            **({"prompts": prompts} if (prompts := {k: v for k, v in (self.model.prompts or {}).items() if v}) else {}),
        }
