from __future__ import annotations

import pytest

from ctxembed.config import DemoConfig, IndexRunConfig
from ctxembed.config.loading import from_dict, load_config, override
from ctxembed.errors import ConfigError
from ctxembed.types import Backend, Pooling


def test_defaults_and_nested_values_load(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("backend: static\nstatic:\n  pooling: sif\n  sif_a: 1\nindex:\n  factory: HNSW32\n")
    config = load_config(IndexRunConfig, path)
    assert config.backend is Backend.STATIC
    assert config.static.pooling is Pooling.SIF
    assert config.static.sif_a == 1.0
    assert config.index.factory == "HNSW32"
    assert config.corpus.path == "gensim:lee_background.cor"


def test_unknown_key_is_rejected_with_the_valid_keys(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("static:\n  poolng: sif\n")
    with pytest.raises(ConfigError) as err:
        load_config(IndexRunConfig, path)
    message = str(err.value)
    assert str(path) in message and "'poolng'" in message
    assert "pooling" in message and "vectors" in message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"backend": "dense"}, "'static', 'contextual'"),
        ({"index": {"nprobe": "many"}}, "index.nprobe: expected int"),
        ({"index": {"nprobe": 0}}, ">= 1"),
        ({"queries": "one"}, "queries: expected a list"),
        ({"corpus": ["x"]}, "corpus: expected a mapping"),
    ],
)
def test_bad_values_name_the_key(data, fragment):
    with pytest.raises(ConfigError) as err:
        from_dict(DemoConfig if "queries" in data else IndexRunConfig, data)
    assert fragment in str(err.value)


def test_configs_are_frozen():
    config = IndexRunConfig()
    with pytest.raises(AttributeError):
        config.backend = Backend.STATIC  # type: ignore[misc]


def test_override_replaces_dotted_keys_and_ignores_none():
    config = override(IndexRunConfig(), backend="static", **{"corpus.path": "x.txt", "index.factory": None})
    assert config.backend is Backend.STATIC
    assert config.corpus.path == "x.txt"
    assert config.index.factory == "Flat"


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(IndexRunConfig, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("backend: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(IndexRunConfig, bad)


def test_bundled_configs_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    assert load_config(DemoConfig, root / "demo.yaml").queries
    assert load_config(IndexRunConfig, root / "index-static.yaml").backend is Backend.STATIC
    assert load_config(IndexRunConfig, root / "index-contextual.yaml").backend is Backend.CONTEXTUAL
    from ctxembed.distill.settings import DistillConfig
    from ctxembed.evaluate.corpus_senses import SensesConfig
    from ctxembed.evaluate.settings import EvaluateConfig
    from ctxembed.static.settings import StaticFinetuneConfig

    assert load_config(DistillConfig, root / "distill.yaml") == DistillConfig(
        corpus=load_config(DistillConfig, root / "distill.yaml").corpus, out="runs/distilled-manpages"
    )  # the YAML states the defaults
    demo = load_config(DistillConfig, root / "distill-demo.yaml")
    assert not demo.domain_tune and demo.contrastive == DistillConfig().contrastive
    assert load_config(SensesConfig, root / "senses.yaml").static == {"GloVe 50d": "glove-wiki-gigaword-50"}
    static = load_config(StaticFinetuneConfig, root / "static-glove.yaml")
    assert (static.alpha, static.epochs, static.lock_count, static.anchor) == (0.05, 40, 20, 0.0)  # the defaults
    recipe = ("lock_known", "domain_size", "domain_weight", "top_components", "domain_top_components")
    defaults = StaticFinetuneConfig()
    assert [getattr(static, k) for k in recipe] == [getattr(defaults, k) for k in recipe]  # states the recipe
    assert any(
        m.name.startswith("distilled") for m in load_config(EvaluateConfig, root / "evaluate-static.yaml").models
    )


def test_saved_configs_record_their_type_and_round_trip():
    import json

    from ctxembed.config.loading import to_dict
    from ctxembed.contextual.settings import ContextualFinetuneConfig, LoraSettings
    from ctxembed.evaluate.settings import EvaluateConfig
    from ctxembed.static.settings import StaticFinetuneConfig

    configs = [
        ContextualFinetuneConfig(objective={"ict": 1.0, "genq": 0.5}, lora=LoraSettings(r=4)),
        ContextualFinetuneConfig(lora=None),
        StaticFinetuneConfig(anchor=0.2, drift_limit=0.05),
        EvaluateConfig(split="dev"),
        IndexRunConfig(backend="static"),
    ]
    for config in configs:
        saved = json.loads(json.dumps(to_dict(config)))
        assert saved["config_type"] == type(config).__name__
        assert from_dict(type(config), saved) == config
    with pytest.raises(ConfigError, match="this is a saved StaticFinetuneConfig, not a ContextualFinetuneConfig"):
        from_dict(ContextualFinetuneConfig, to_dict(StaticFinetuneConfig()))
