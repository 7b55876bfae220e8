from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from safetensors.numpy import load_file

from ctxembed import VectorIndex
from ctxembed.config import ContextualConfig, CorpusConfig
from ctxembed.config.loading import load_config
from ctxembed.contextual import ContextualEmbedder
from ctxembed.contextual.export import export_merged
from ctxembed.contextual.settings import ContextualFinetuneConfig, LoraSettings, Objective, TrainSettings
from ctxembed.contextual.training import finetune_contextual
from ctxembed.data import Document
from ctxembed.errors import ConfigError, CorpusError, IndexMismatchError, OutputExistsError

pytestmark = pytest.mark.slow  # each test trains with the sentence-transformers trainer


def make_config(model_dir, out, **changes) -> ContextualFinetuneConfig:
    settings = {"max_steps": 4, "batch_size": 8, "eval_steps": 2, "max_seq_length": 64, **changes.pop("training", {})}
    return ContextualFinetuneConfig(
        corpus=changes.pop("corpus", CorpusConfig(path="gensim:lee_background.cor")),
        contextual=ContextualConfig(model=str(model_dir), device="cpu"),
        training=TrainSettings(**settings),
        out=str(out),
        **changes,
    )


@pytest.fixture(scope="module")
def trained(tiny_bert_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("lora") / "adapter"
    return finetune_contextual(make_config(tiny_bert_dir, out))


def test_training_changes_the_adapter_weights(trained):
    weights = load_file(f"{trained.out}/adapter_model.safetensors")
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and any(np.abs(v).max() > 0 for v in lora_b)  # peft initialises B to zero
    assert 0 < trained.trainable_params < trained.total_params
    assert trained.data["steps"] == 4 and trained.data["ict_pairs"] > 100


def test_artifacts_card_and_metrics(trained):
    info = json.loads(open(f"{trained.out}/ctxembed_training.json").read())
    assert info["objective"] == {"ict": 1.0} and info["config"]["lora"]["r"] == 16
    assert trained.primary_metric in info["base_metrics"] and trained.primary_metric in info["tuned_metrics"]
    card = open(f"{trained.out}/README.md").read()
    assert "| dev metric (primary: " in card and "trainable parameters" in card
    assert "## Training Details" in card and "### Training Hyperparameters" in card  # sentence-transformers wrote it


def test_the_adapter_names_the_documents_its_training_held_out(trained, tiny_bert_dir, lee_path):
    from ctxembed.data import load_corpus
    from ctxembed.index import VectorIndex

    model = ContextualEmbedder.load(str(tiny_bert_dir), adapter=trained.out, device="cpu")
    held_out = model.held_out_documents()
    docs = load_corpus(lee_path)
    assert held_out and len(held_out) == int(len(docs) * 0.1)  # eval.holdout: no pair was mined from them
    index = VectorIndex.build(model, docs, sparse=True)
    assert index.fusion_chosen["held_out"] == f"the {len(held_out)} documents the model's training held out"
    assert ContextualEmbedder.load(str(tiny_bert_dir), device="cpu").held_out_documents() is None


def test_adapter_round_trip_gives_identical_embeddings(trained, tiny_bert_dir):
    from sentence_transformers import SentenceTransformer

    texts = ["we sat on the river bank", "open a file for writing"]
    plain = SentenceTransformer(trained.out, device="cpu").encode(texts)
    ours = ContextualEmbedder.load(str(tiny_bert_dir), adapter=trained.out, device="cpu")
    np.testing.assert_allclose(ours.encode(texts), plain, atol=1e-6)
    base = ContextualEmbedder.load(str(tiny_bert_dir), device="cpu").encode(texts)
    assert np.abs(base - plain).max() > 1e-5  # the adapter changed the embeddings


def test_adapter_folder_loads_in_plain_peft(trained, tiny_bert_dir):
    from peft import PeftModel
    from transformers import AutoModel

    model = PeftModel.from_pretrained(AutoModel.from_pretrained(f"{tiny_bert_dir}"), trained.out)
    assert model.peft_config["default"].r == 16


def test_merged_export_matches_base_plus_adapter(trained, tmp_path):
    from sentence_transformers import SentenceTransformer

    export_merged(trained.out, tmp_path / "merged")
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    texts = ["crane construction site", "bank money loan"]
    merged = SentenceTransformer(str(tmp_path / "merged"), device="cpu").encode(texts)
    adapted = SentenceTransformer(trained.out, device="cpu").encode(texts)
    np.testing.assert_allclose(merged, adapted, atol=1e-5)


def test_merged_copy_is_a_plain_model_and_leaves_the_adapter(trained, tiny_bert_dir):
    """One merge for export, precision copies and distillation: peft's layers folded away, the original kept."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    from ctxembed.contextual.adapters import merged_copy
    from ctxembed.contextual.st_compat import backbone

    adapted = ContextualEmbedder.load(str(tiny_bert_dir), adapter=trained.out, device="cpu")
    texts = ["crane construction site", "bank money loan"]
    before = adapted.model.encode(texts)
    plain = merged_copy(adapted.model)
    assert not any(isinstance(m, BaseTunerLayer) for m in plain.modules())
    assert not getattr(backbone(plain), "peft_config", None)
    assert any(isinstance(m, BaseTunerLayer) for m in adapted.model.modules())  # the original keeps its adapter
    np.testing.assert_allclose(plain.encode(texts), before, atol=1e-5)
    np.testing.assert_allclose(adapted.model.encode(texts), before, atol=1e-7)


def test_index_manifest_records_the_adapter(trained, tiny_bert_dir, tmp_path):
    embedder = ContextualEmbedder.load(str(tiny_bert_dir), adapter=trained.out, device="cpu")
    VectorIndex.build(embedder, [Document("1", "river bank"), Document("2", "web server")]).save(tmp_path / "i")
    identity = json.loads((tmp_path / "i" / "manifest.json").read_text())["embedder"]
    assert identity["adapter"] == trained.out and len(identity["adapter_fingerprint"]) == 16
    base = ContextualEmbedder.load(str(tiny_bert_dir), device="cpu")
    with pytest.raises(IndexMismatchError, match="adapter"):
        VectorIndex.load(tmp_path / "i", base)


def test_adapter_on_the_wrong_base_is_refused(trained, tiny_bert_dir, copy_dir):
    other = copy_dir(tiny_bert_dir)
    with pytest.raises(IndexMismatchError, match=r"was trained on base model .* not .*; load it on"):
        ContextualEmbedder.load(str(other), adapter=trained.out, device="cpu")


def test_resume_continues_from_the_last_checkpoint(tiny_bert_dir, tmp_path, monkeypatch, caplog):
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer

    out = tmp_path / "adapter"
    real_step = SentenceTransformerTrainer.training_step
    steps: list[int] = []

    def crash_at_step_4(self, *args, **kwargs):
        steps.append(self.state.global_step)
        if self.state.global_step == 3:  # steps 1-3 done, checkpoint-2 saved: the run dies mid-training
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformerTrainer, "training_step", crash_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        finetune_contextual(make_config(tiny_bert_dir, out, training={"max_steps": 6}))
    assert (tmp_path / "adapter.checkpoints" / "checkpoint-2").is_dir() and not out.exists()
    steps.clear()
    monkeypatch.setattr(SentenceTransformerTrainer, "training_step", real_step)
    counted = []
    monkeypatch.setattr(
        SentenceTransformerTrainer,
        "training_step",
        lambda self, *a, **k: counted.append(self.state.global_step) or real_step(self, *a, **k),
    )
    with caplog.at_level(logging.WARNING):
        result = finetune_contextual(make_config(tiny_bert_dir, out, training={"max_steps": 6}), resume=True)
    assert result.data["steps"] == 6
    assert counted == [2, 3, 4, 5]  # it continued after checkpoint-2 instead of starting over
    logged = " ".join(r.getMessage().lower() for r in caplog.records)
    assert "missing" not in logged and "unexpected" not in logged
    assert not (tmp_path / "adapter.checkpoints").exists()


def test_full_finetuning_with_lora_null(tiny_bert_dir, tmp_path, capfd, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="ctxembed.contextual.training")
    config = make_config(tiny_bert_dir, tmp_path / "full", lora=None, training={"max_steps": 2, "eval_steps": 1})
    result = finetune_contextual(config)
    assert result.trainable_params == result.total_params
    assert (tmp_path / "full" / "model.safetensors").is_file()
    printed = capfd.readouterr()
    # one progress bar, no dict per logging step, no widget-example pass; the logs go to the debug logger
    assert "{'loss'" not in printed.out + printed.err and "Computing widget examples" not in printed.err
    assert any("'loss'" in r.getMessage() or "'eval_" in r.getMessage() for r in caplog.records)


def test_existing_output_is_refused(trained, tiny_bert_dir):
    with pytest.raises(
        OutputExistsError, match=r"already exists; choose another output path or allow replacing it \(overwrite\)"
    ):
        finetune_contextual(make_config(tiny_bert_dir, trained.out))


def test_unknown_target_module_lists_real_names(tiny_bert_dir, tmp_path):
    config = make_config(tiny_bert_dir, tmp_path / "a", lora=LoraSettings(target_modules=("q_proj",)))
    with pytest.raises(ConfigError, match=r"q_proj.* match no layer of this model.*dense, key, query, value"):
        finetune_contextual(config)


def test_too_few_documents_or_pairs(tiny_bert_dir, tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("\n".join(f"River bank number {i} is wide. Fish swim near the boat today." for i in range(5)))
    with pytest.raises(CorpusError, match=r"too few documents \(5\) to hold out a dev split"):
        finetune_contextual(make_config(tiny_bert_dir, tmp_path / "a", corpus=CorpusConfig(path=str(corpus))))
    corpus.write_text("\n".join(f"River bank number {i} is wide. Fish swim near the boat today." for i in range(40)))
    config = make_config(
        tiny_bert_dir, tmp_path / "a", corpus=CorpusConfig(path=str(corpus)), training={"min_examples": 100}
    )
    # "Fish swim near the boat today." occurs in every document, so it is never an anchor.
    with pytest.raises(CorpusError, match=r"only 36 mined \(sentence, passage\) pairs; it needs at least 100"):
        finetune_contextual(config)


def test_pairs_objective_and_bad_pairs_files(tiny_bert_dir, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"query": f"bank {i}", "positive": f"river bank water fish {i}"} for i in range(20)]
    pairs.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    config = make_config(
        tiny_bert_dir,
        tmp_path / "a",
        objective=Objective.PAIRS,
        pairs=str(pairs),
        training={"max_steps": 2, "hard_negatives": True},
    )
    result = finetune_contextual(config)
    assert result.data["user_pairs"] == 18 and result.data["dev_set"] == "2 held-out pairs"  # 10% held out
    assert result.data["examples"]["pairs"] == 18
    pairs.write_text('{"query": "a", "positive": "b"}\n{"query": "c"}\n')
    with pytest.raises(CorpusError, match=r"pairs.jsonl, line 2: missing, empty or non-string field\(s\) positive"):
        finetune_contextual(make_config(tiny_bert_dir, tmp_path / "b", objective=Objective.PAIRS, pairs=str(pairs)))


def test_pairs_objective_needs_a_pairs_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("objective: pairs\n")
    with pytest.raises(ConfigError, match="needs a pairs file"):
        load_config(ContextualFinetuneConfig, path)


def test_test_split_cannot_select_models(tiny_bert_dir, tmp_path):
    from ctxembed.contextual.settings import EvalSettings

    config = make_config(tiny_bert_dir, tmp_path / "a", eval=EvalSettings(dataset=str(tmp_path), split="test"))
    with pytest.raises(ConfigError, match="must not be 'test'"):
        finetune_contextual(config)


@pytest.mark.parametrize("lora", [LoraSettings(), None], ids=["lora", "full"])
def test_tsdae_objective_trains(tiny_bert_dir, tmp_path, lora):
    config = make_config(tiny_bert_dir, tmp_path / "t", objective="tsdae", lora=lora, training={"max_steps": 2})
    result = finetune_contextual(config)
    assert result.data["tsdae_sentences"] > 100 and result.data["steps"] == 2
    assert (tmp_path / "t" / ("adapter_config.json" if lora else "model.safetensors")).is_file()


def test_a_copied_adapter_and_a_moved_runs_folder_still_work(trained, tiny_bert_dir, tmp_path, capsys):
    import shutil

    from ctxembed.cli import main

    runs = tmp_path / "runs"
    shutil.copytree(trained.out, runs / "adapter")
    original = ContextualEmbedder.load(str(tiny_bert_dir), adapter=trained.out, device="cpu")
    copied = ContextualEmbedder.load(str(tiny_bert_dir), adapter=str(runs / "adapter"), device="cpu")
    assert copied.identity()["adapter_fingerprint"] == original.identity()["adapter_fingerprint"]
    docs = [Document("1", "river bank water"), Document("2", "web server network")]
    VectorIndex.build(copied, docs).save(runs / "index")
    VectorIndex.load(runs / "index", original)  # same content, other path: accepted
    moved = tmp_path / "elsewhere"
    shutil.move(str(runs), str(moved))
    capsys.readouterr()
    assert main(["search", str(moved / "index"), "river bank", "-k", "1"]) == 0
    assert "[1]" in capsys.readouterr().out


def test_lora_alpha_is_part_of_the_adapter_fingerprint(trained, tmp_path):
    import shutil

    from ctxembed.contextual.embedder import folder_fingerprint

    copy = tmp_path / "a"
    shutil.copytree(trained.out, copy)
    config = json.loads((copy / "adapter_config.json").read_text())
    config["lora_alpha"] *= 2
    (copy / "adapter_config.json").write_text(json.dumps(config))
    assert folder_fingerprint(copy) != folder_fingerprint(trained.out)


def test_saved_adapters_name_their_base_portably(tmp_path):
    from ctxembed.contextual.training import portable_adapter_config

    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/venv/site-packages/x"}))
    portable_adapter_config(tmp_path, "sentence-transformers/all-MiniLM-L6-v2")
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.gpu
def test_cuda_training_uses_half_precision_and_saves_an_adapter(tiny_bert_dir, tmp_path):
    config = make_config(tiny_bert_dir, tmp_path / "a", training={"max_steps": 2})
    config = type(config)(
        **{**config.__dict__, "contextual": ContextualConfig(model=str(tiny_bert_dir), device="cuda")}
    )
    result = finetune_contextual(config)
    assert result.data["steps"] == 2 and (tmp_path / "a" / "adapter_model.safetensors").is_file()


@pytest.mark.gpu
def test_cuda_encoding_matches_cpu(tiny_bert_dir):
    texts = ["river bank", "web server"]
    cpu = ContextualEmbedder.load(str(tiny_bert_dir), device="cpu").encode(texts)
    gpu = ContextualEmbedder.load(str(tiny_bert_dir), device="cuda").encode(texts)
    np.testing.assert_allclose(cpu, gpu, atol=1e-3)


def test_cpu_precision_is_bf16_only_where_the_cpu_has_it(monkeypatch):
    import torch

    from ctxembed.contextual import training

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert training._cpu_precision() == "fp32"
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert training._cpu_precision() == "bf16"


@pytest.mark.parametrize(
    "targets", [("all-linear",), (r".*attention\.self\.(query|value)",)], ids=["all-linear", "regex"]
)
def test_lora_targets_take_what_peft_takes(tiny_bert_dir, tmp_path, targets):
    config = make_config(
        tiny_bert_dir, tmp_path / "a", lora=LoraSettings(target_modules=targets), training={"max_steps": 1}
    )
    result = finetune_contextual(config)
    assert 0 < result.trainable_params < result.total_params


def test_default_learning_rate_depends_on_lora_and_a_lora_rate_warns_for_full_finetuning(tiny_bert_dir, tmp_path):
    from ctxembed.contextual.training import training_arguments

    settings = TrainSettings()
    assert training_arguments(settings, str(tmp_path), "m", use_cuda=False, lora=True).learning_rate == 5e-4
    assert training_arguments(settings, str(tmp_path), "m", use_cuda=False, lora=False).learning_rate == 2e-5
    config = make_config(tiny_bert_dir, tmp_path / "f", lora=None, training={"max_steps": 1, "learning_rate": 5e-4})
    with pytest.warns(UserWarning, match="is a LoRA rate; full fine-tuning at it usually wrecks the model"):
        finetune_contextual(config)


@pytest.mark.parametrize("setting, expected", [(0.0, 0.0), (None, 0.1)])
def test_lora_turns_off_the_frozen_bases_attention_dropout_unless_asked(tiny_bert_dir, setting, expected):
    import torch

    from ctxembed.contextual.embedder import load_sentence_transformer
    from ctxembed.contextual.training import apply_lora

    model, _, _ = load_sentence_transformer(str(tiny_bert_dir), "cpu")
    apply_lora(model, LoraSettings(base_attention_dropout=setting))
    attention = {n: m.p for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout) and "attention.self" in n}
    hidden = {n: m.p for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout) and "output" in n}
    assert len(attention) == 2 and set(attention.values()) == {expected}
    assert set(hidden.values()) == {0.1}  # hidden-state dropout stays as the model has it


def test_base_attention_dropout_is_validated():
    with pytest.raises(ConfigError, match=r"lora.base_attention_dropout must be in \[0, 1\)"):
        LoraSettings(base_attention_dropout=1.5)
