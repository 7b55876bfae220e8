"""`ctxembed distill`: model2vec static models from a contextual teacher, used as static vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("model2vec")

from ctxembed.config import CorpusConfig, StaticConfig  # noqa: E402
from ctxembed.distill.distillation import distill_static, domain_vocabulary, tuning_texts  # noqa: E402
from ctxembed.distill.settings import DistillConfig  # noqa: E402
from ctxembed.errors import ConfigError, CorpusError, OutputExistsError  # noqa: E402
from ctxembed.registry import load_embedder  # noqa: E402
from ctxembed.static.distilled import DistilledEmbedder, is_model2vec_folder  # noqa: E402

TOPICS = [
    "the kernel scheduler moves the process to another processor when the memory page is free",
    "open the file and read the page then close the file descriptor with the system call",
    "the river bank was full of water and fish near the boat",
    "a loan from the bank needs money in the deposit account",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("distill") / "corpus.jsonl"
    rows = [
        {"_id": f"d{i}", "text": f"{TOPICS[i % 4]}. Sentence number {i} about the kernel scheduler."} for i in range(40)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make(tiny_bert_dir, corpus, out, **changes) -> DistillConfig:
    settings = {"teacher": str(tiny_bert_dir), "corpus": CorpusConfig(path=str(corpus)), "out": str(out)}
    return DistillConfig(**{**settings, "max_epochs": 2, "vocabulary_size": 50, "contrastive": None, **changes})


@pytest.fixture(scope="module")
def distilled(tiny_bert_dir, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("d") / "model"
    return distill_static(make(tiny_bert_dir, corpus, out)), out


def test_output_loads_without_ctxembed_in_model2vec_and_sentence_transformers(distilled):
    from model2vec import StaticModel
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    result, out = distilled
    assert is_model2vec_folder(out) and (out / "ctxembed_distill.json").is_file()
    model = StaticModel.from_pretrained(str(out))
    assert model.dim == result.dim == 32
    st = SentenceTransformer(modules=[StaticEmbedding.from_model2vec(str(out))], device="cpu")
    a = st.encode(["the kernel scheduler"], normalize_embeddings=True)[0]
    b = model.encode(["the kernel scheduler"])[0]
    np.testing.assert_allclose(a, b / np.linalg.norm(b), atol=1e-5)


def test_domain_words_join_the_vocabulary(distilled, tiny_bert_dir):
    from transformers import AutoTokenizer

    result, out = distilled
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    assert "kernel" not in tokenizer.get_vocab()  # the teacher only has word pieces for it
    assert result.domain_words > 0
    embedder = load_embedder("static", StaticConfig(vectors=str(out)))
    assert "kernel" in embedder.word_vectors().key_to_index


def test_a_distilled_folder_is_static_vectors_for_index_and_search(distilled, corpus, tmp_path):
    from ctxembed import VectorIndex
    from ctxembed.data import load_corpus
    from ctxembed.index.files import read_manifest
    from ctxembed.registry import embedder_from_manifest

    _, out = distilled
    embedder = load_embedder("static", StaticConfig(vectors=str(out)))
    assert isinstance(embedder, DistilledEmbedder)
    vectors = embedder.encode(["kernel scheduler", ""])
    assert vectors.dtype == np.float32 and np.linalg.norm(vectors[0]) == pytest.approx(1, abs=1e-5)
    assert not np.any(vectors[1])  # no token: the protocol's "unknown" zero row
    index = VectorIndex.build(embedder, load_corpus(str(corpus)))
    index.save(tmp_path / "index")
    manifest = read_manifest(tmp_path / "index")
    reloaded = embedder_from_manifest(manifest, tmp_path / "index")  # as `ctxembed search` does
    assert isinstance(reloaded, DistilledEmbedder) and reloaded.identity() == embedder.identity()
    loaded = VectorIndex.load(tmp_path / "index", reloaded)
    (hits,) = loaded.search(["river bank water"], k=1)
    assert hits[0].doc_id == index.search(["river bank water"], k=1)[0][0].doc_id
    spans = embedder.encode_spans([("the river bank", (10, 14))])
    np.testing.assert_allclose(spans[0], embedder.encode(["bank"])[0])
    variant = embedder.context_window_variant(2)
    window = variant.encode_spans([("the river bank", (10, 14))])
    np.testing.assert_allclose(window[0], embedder.encode(["the river bank"])[0], atol=1e-6)  # two words each side
    assert embedder.context_window == 0 and variant._words is embedder._words  # the tokenizing path is shared


@pytest.mark.slow
def test_domain_tuning_brings_the_student_closer_to_its_teacher(tiny_bert_dir, corpus, tmp_path):
    from ctxembed.contextual.embedder import ContextualEmbedder
    from ctxembed.data import load_corpus

    texts = tuning_texts(load_corpus(str(corpus)), 100, 0)
    teacher = ContextualEmbedder.load(str(tiny_bert_dir)).encode(texts)
    agreement = {}
    for tune in (False, True):
        config = make(tiny_bert_dir, corpus, tmp_path / str(tune), domain_tune=tune, max_epochs=30, learning_rate=1e-2)
        distill_static(config)
        student = load_embedder("static", StaticConfig(vectors=str(tmp_path / str(tune)))).encode(texts)
        agreement[tune] = float(np.mean(np.sum(student * teacher, axis=1)))
    assert agreement[True] > agreement[False] + 0.05


@pytest.fixture(scope="module")
def adapter(tiny_bert_dir, tmp_path_factory) -> Path:
    """A LoRA adapter with random (non-zero) weights on the tiny BERT, saved in peft's format."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    torch.manual_seed(0)
    backbone = AutoModel.from_pretrained(str(tiny_bert_dir))
    config = LoraConfig(r=4, target_modules=["query", "value"], init_lora_weights=False)
    peft_model = get_peft_model(backbone, config)
    out = tmp_path_factory.mktemp("adapter") / "lora"
    peft_model.save_pretrained(str(out))
    settings = json.loads((out / "adapter_config.json").read_text())
    (out / "adapter_config.json").write_text(json.dumps({**settings, "base_model_name_or_path": str(tiny_bert_dir)}))
    return out


def test_a_lora_teacher_is_merged(tiny_bert_dir, adapter, corpus, tmp_path):
    from dataclasses import replace

    from ctxembed.contextual.export import export_merged

    export_merged(adapter, tmp_path / "merged")
    config = make(tiny_bert_dir, corpus, tmp_path / "lora", vocabulary_size=0, domain_tune=False)
    runs = [
        replace(config, adapter=str(adapter)),
        replace(config, teacher=str(tmp_path / "merged"), out=str(tmp_path / "merged-static")),
        replace(config, out=str(tmp_path / "base-static")),
    ]
    lora, merged, base = (
        load_embedder("static", StaticConfig(vectors=str(distill_static(c).out))).encode(["open the file"])
        for c in runs
    )
    np.testing.assert_allclose(lora, merged, atol=1e-4)  # the adapter really was merged into the teacher
    assert not np.allclose(lora, base, atol=1e-3)


def test_bad_settings_and_inputs(tiny_bert_dir, corpus, tmp_path, distilled):
    from ctxembed.config.loading import from_dict

    with pytest.raises(ConfigError, match="vocab_size"):
        from_dict(DistillConfig, {"vocab_size": 10}, where="distill.yaml")
    with pytest.raises(ConfigError):
        DistillConfig(pca_dims=1)
    with pytest.raises(ConfigError):
        DistillConfig(max_texts=2)
    with pytest.raises(OutputExistsError):
        distill_static(make(tiny_bert_dir, corpus, distilled[1]))
    tiny = tmp_path / "tiny.jsonl"
    tiny.write_text('{"_id": "a", "text": "kernel"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="domain_tune: false"):
        distill_static(make(tiny_bert_dir, tiny, tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_domain_vocabulary_takes_frequent_words_the_teacher_splits(tiny_bert_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    texts = ["kernel kernel kernel river river zap zap qux"] * 2
    assert domain_vocabulary(texts, tokenizer, size=10, min_count=3) == ["kernel", "zap"]  # river: a token already
    assert domain_vocabulary(texts, tokenizer, size=1, min_count=3) == ["kernel"]
    assert domain_vocabulary(texts, tokenizer, size=0, min_count=3) == []


def test_encoding_matches_model2vec(distilled):
    """ctxembed's sparse pooling gives model2vec's own vectors: truncation, unknown tokens, weights."""
    _, out = distilled
    embedder = DistilledEmbedder.load(out)
    model = embedder.model
    texts = ["the kernel scheduler " * 300, "river bank ☃ zzqx", "", "Process PAGE memory"]
    texts += [
        "ls -la /etc/fstab; echo $HOME && grep 'x' a.txt",
        "tab\there\r\nline \x0bvertical",
        "x" * 150,
        "café crème",
    ]
    model.tokenizer.no_truncation()
    assert embedder._words is not None  # a BERT tokenizer: ASCII texts take the fast path
    assert len(model.tokenizer.encode(texts[0], add_special_tokens=False).ids) > model.max_length  # cut
    assert model.unk_token_id in model.tokenizer.encode(texts[1], add_special_tokens=False).ids  # dropped
    np.testing.assert_allclose(embedder.encode(texts), model.encode(texts, use_multiprocessing=False), atol=1e-6)
    model.weights = np.linspace(0.5, 2.0, len(model.tokens)).astype(np.float32)  # weighted variant of the same path
    np.testing.assert_allclose(embedder.encode(texts), model.encode(texts, use_multiprocessing=False), atol=1e-6)


@pytest.mark.parametrize("limit", [None, 7, 512])
def test_fast_token_ids_equal_the_tokenizers(distilled, limit):
    """The ASCII fast path gives the tokenizer's own ids: punctuation, case, control characters, long words."""
    import unicodedata

    from ctxembed.static.model2vec_tokens import _PUNCTUATION, AsciiWords

    model = DistilledEmbedder.load(distilled[1]).model
    model.max_length = limit
    texts = ["Hello, World! x86_64 (v2.1) -- 'quoted' \"double\" [a]{b}<c>|d~e^f`g@h#i$j%k&l*m+n=o/p\\q"]
    texts += [
        "UPPER lower MiXeD 12ab34 " * 40,
        "a\x7fb",
        "a\x0cb\x1fc",
        "ünïcode mixed in",
        "\tindented\n\n  lines  ",
        "",
    ]
    texts += ["supercalifragilisticexpialidocious" * 4, "word " * 600, "it’s “quoted” — «so»… • ‣ x·y 2′3″ ‘a’ ‹b› „c‚"]
    texts += ["added tokens [UNK] and [PAD] and [unk] are matched before splitting: [CLS][SEP][MASK]", "a" * 101]
    texts += ["Café Müller, naïve ÉCOLE façade; İstanbul Žižek Ångström", "Øresund", "café © 2024", "Straße", "e\u0301"]
    for mark in _PUNCTUATION:  # what BERT isolates and leaves alone, as the fast path assumes
        assert unicodedata.category(mark).startswith("P") and unicodedata.normalize("NFD", mark) == mark.lower() == mark
    words = AsciiWords.of(model.tokenizer)
    assert words is not None and words.prepare(texts[0]) == texts[0]
    assert words.prepare("a [unk]") is None and words.prepare("[Pad]") is None and words.prepare("a\x7fb") is None
    assert words.prepare("Café ÉCOLE İş") == "Cafe eCOLE is"  # accents folded as the normaliser folds them
    assert words.prepare(texts[-5]) is not None and words.prepare(texts[-4]) is None  # Ø has no plain form
    assert _rows(model, texts, words=words) == _rows(model, texts)


def _rows(model, texts: list[str], **kwargs) -> list[list[int]]:
    """`token_rows` as one list of ids per text."""
    from ctxembed.static.model2vec_tokens import token_rows

    ids, indptr = token_rows(model, texts, **kwargs)
    return [ids[start:end].tolist() for start, end in zip(indptr[:-1], indptr[1:])]


def test_fast_token_ids_of_a_cased_tokenizer(distilled):
    """A cased BERT tokenizer (no lowercasing, accents kept): the fast path keeps case and still gives its ids."""
    from tokenizers import Tokenizer

    from ctxembed.static.model2vec_tokens import AsciiWords

    model = DistilledEmbedder.load(distilled[1]).model
    spec = json.loads(model.tokenizer.to_str())
    spec["normalizer"].update(lowercase=False, strip_accents=False)
    vocab = spec["model"]["vocab"]
    vocab.update({word: len(vocab) + i for i, word in enumerate(["Kernel", "UPPER", "MiXeD"])})
    model.tokenizer = Tokenizer.from_str(json.dumps(spec))
    words = AsciiWords.of(model.tokenizer)
    assert words is not None and not words.lowercase
    texts = [
        "Kernel KERNEL kernel UPPER upper MiXeD mixed",
        "café müller",  # accents kept: no vocabulary piece, so unknown
        "It’s “Quoted” — «So»… x86_64",
        "",
        "a [UNK] b",
        "Zq" * 30,
    ]
    fast = _rows(model, texts, words=words)
    assert fast == _rows(model, texts)
    assert fast[0][0] == vocab["Kernel"] and vocab["UPPER"] in fast[0]  # whole cased words, found as they are


def test_encoding_from_threads_equals_one_thread(distilled):
    """A served distilled index encodes queries from many threads: both tokenizing paths share no state."""
    from concurrent.futures import ThreadPoolExecutor

    embedder = DistilledEmbedder.load(distilled[1])
    texts = [f"kernel page {i} scheduler, memory" for i in range(24)] + [f"café {i} ünïcode page" for i in range(24)]
    batches = [texts[i : i + 5] for i in range(0, len(texts), 5)] * 4
    alone = [embedder.encode(batch) for batch in batches]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(embedder.encode, batches))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


def test_importing_distill_without_its_extras_names_the_install(monkeypatch):
    import ctxembed.assets as assets
    from ctxembed.distill.distillation import require_distill_extras
    from ctxembed.errors import DependencyError

    monkeypatch.setattr(assets, "installed", lambda module: not module.startswith("model2vec"))
    with pytest.raises(DependencyError, match=r"needs model2vec: pip install 'ctxembed\[distill\]'"):
        require_distill_extras()
