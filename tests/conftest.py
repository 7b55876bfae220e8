"""Shared fixtures: offline by construction, tiny models built once per session."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

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


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT saved as a sentence-transformers folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, Pooling, Transformer
    from sentence_transformers import SentenceTransformer

    root = tmp_path_factory.mktemp("tiny-bert")
    hf_dir = root / "hf"
    hf_dir.mkdir()
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
    out = root / "st"
    model.save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_contextual(tiny_bert_dir: Path):
    from ctxembed.contextual import ContextualEmbedder

    return ContextualEmbedder.load(str(tiny_bert_dir), device="cpu")


@pytest.fixture(scope="session")
def tiny_vectors():
    """Random 16-d KeyedVectors over WORDS, in frequency-like order."""
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(0)
    kv = KeyedVectors(vector_size=16)
    kv.add_vectors(WORDS, rng.standard_normal((len(WORDS), 16)).astype(np.float32))
    return kv


@pytest.fixture
def tiny_vectors_file(tmp_path: Path, tiny_vectors) -> Path:
    """The tiny vectors as a word2vec text file, as a user would pass them."""
    path = tmp_path / "tiny.vec"
    tiny_vectors.save_word2vec_format(str(path))
    return path


@pytest.fixture
def tiny_static(tiny_vectors):
    from ctxembed.static import StaticEmbedder

    return StaticEmbedder(tiny_vectors, name="tiny")


@pytest.fixture(scope="session")
def lee_path() -> str:
    from gensim.test.utils import datapath

    return datapath("lee_background.cor")


@pytest.fixture
def copy_dir(tmp_path: Path):
    """Copy a session fixture folder before a test mutates it."""

    def _copy(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        return dst

    return _copy


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
