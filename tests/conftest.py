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
from tiny_bert import WORDS, save_tiny_bert  # noqa: E402


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT saved as a sentence-transformers folder."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


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


@pytest.fixture(scope="session")
def wordnet(tmp_path_factory: pytest.TempPathFactory):
    """WordNet read once per test run (its copy into a private nltk_data folder included)."""
    from ctxembed.evaluate.wordnet import load_wordnet
    from tests.system_data import require_debian_data

    require_debian_data("wordnet")
    return load_wordnet(tmp_path_factory.mktemp("wordnet-cache"))
