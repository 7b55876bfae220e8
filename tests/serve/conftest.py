"""The indexes the service tests serve: built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serve.server_calls import build_indexes


@pytest.fixture(scope="session")
def index_dirs(tmp_path_factory, tiny_bert_dir, tiny_vectors) -> Path:
    """A static and a contextual index (both with BM25) of 60 tiny documents."""
    return build_indexes(tmp_path_factory.mktemp("serve"), tiny_bert_dir, tiny_vectors)
