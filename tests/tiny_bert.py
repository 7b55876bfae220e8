"""The tiny random BERT of the tests (and of `scripts/gpu_check.py --tiny`), saved as a sentence-transformers folder."""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "the a of to and in is was on for with as by at from that it river bank money loan deposit "
    "account water fish boat server client network request web crane bird construction lift site "
    "fire bush homes sydney cricket match test team peace talks israel strike airline workers "
    "union open file create read write close process memory page system call function library "
    "sat near we he she they went"
).split()


def _vocab() -> dict[str, int]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces = ["##" + ch for ch in letters] + ["##s", "##ing", "##ed"]
    punct = list(".,;:!?'\"-()")
    tokens = dict.fromkeys(specials + punct + letters + pieces + sorted(WORDS))  # unique, ordered
    return {token: i for i, token in enumerate(tokens)}


def save_tiny_bert(root: Path) -> Path:
    """A randomly initialised 2-layer BERT (32 dims, seeded) under `root`; returns its sentence-transformers folder."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    hf_dir = Path(root) / "hf"
    hf_dir.mkdir(parents=True)
    tokenizer = BertTokenizerFast(vocab=_vocab(), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, Pooling(32, pooling_mode="mean"), Normalize()], device="cpu")
    out = Path(root) / "st"
    model.save(str(out))
    return out
