from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ctxembed import VectorIndex
from ctxembed.data import Document
from ctxembed.errors import CorpusError
from ctxembed.scoring.beir import BeirDataset, load_beir
from ctxembed.scoring.metrics import bm25_retriever, evaluate_retrieval, index_retriever, retrieval_metrics
from tests.system_data import require_debian_data


def test_metrics_on_a_hand_computed_case():
    rankings = {"q1": ["d3", "d1", "d2"], "q2": ["d9", "d8", "d7"], "q3": ["d4", "d5"]}
    relevant = {"q1": {"d1", "d2"}, "q2": {"d7"}, "q3": {"d4"}}
    m = retrieval_metrics(rankings, relevant, {"ndcg": (3,), "mrr": (3,), "recall": (1, 3), "map": (3,)})
    # q1: hits at ranks 2 and 3. DCG = 1/log2(3) + 1/log2(4); ideal = 1 + 1/log2(3).
    ndcg_q1 = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    ndcg_q2 = (1 / math.log2(4)) / 1.0
    assert m["ndcg@3"] == pytest.approx((ndcg_q1 + ndcg_q2 + 1.0) / 3)
    assert m["mrr@3"] == pytest.approx((1 / 2 + 1 / 3 + 1) / 3)
    assert m["recall@1"] == pytest.approx((0 + 0 + 1) / 3)
    assert m["recall@3"] == pytest.approx(1.0)
    ap_q1 = (1 / 2 + 2 / 3) / 2
    assert m["map@3"] == pytest.approx((ap_q1 + 1 / 3 + 1) / 3)


def test_graded_relevance_is_scored_as_trec_eval_and_beir_do():
    # BEIR-style graded qrels: grade 2 = highly relevant, 1 = partly. trec_eval's nDCG uses the grade as gain.
    rankings = {"q1": ["d3", "d1", "d2"], "q2": ["d5", "d4"]}
    qrels = {"q1": {"d1": 2, "d2": 1}, "q2": {"d4": 1}}
    m = retrieval_metrics(rankings, qrels, {"ndcg": (10,), "recall": (1,)})
    # q1: gains 0, 2, 1 at ranks 1-3 -> DCG = 2/log2(3) + 1/log2(4); ideal = 2/log2(2) + 1/log2(3).
    ndcg_q1 = (2 / math.log2(3) + 1 / 2) / (2 + 1 / math.log2(3))
    assert ndcg_q1 == pytest.approx(0.669672, abs=1e-6)  # trec_eval -m ndcg_cut.10 prints 0.6697 for q1
    ndcg_q2 = 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2) / 2)
    binary = retrieval_metrics(rankings, {"q1": {"d1", "d2"}, "q2": {"d4"}}, {"ndcg": (10,)})
    assert binary["ndcg@10"] != pytest.approx(m["ndcg@10"])  # grades count: they are not reduced to binary


def test_graded_split_of_a_beir_folder(tmp_path):
    docs = [Document("a", "x"), Document("b", "y")]
    BeirDataset(docs, {"q": "x"}, {"test": {"q": {"a": 2, "b": 0}}}).save(tmp_path / "d")
    queries, graded = load_beir(tmp_path / "d").graded("test")
    assert queries == {"q": "x"} and graded == {"q": {"a": 2}}


def test_missing_ranking_scores_zero():
    m = retrieval_metrics({}, {"q": {"d"}}, {"ndcg": (10,), "mrr": (10,)})
    assert m == {"ndcg@10": 0.0, "mrr@10": 0.0}


def test_agrees_with_sentence_transformers_evaluator(tiny_contextual, lee_path):
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from ctxembed.data import load_corpus
    from ctxembed.passages import PassageSettings

    docs = load_corpus(lee_path)[:80]
    queries = {f"q{i}": " ".join(d.text.split()[:8]) for i, d in enumerate(docs[:30])}
    relevant = {f"q{i}": {d.id} | ({docs[i + 1].id} if i % 3 == 0 else set()) for i, d in enumerate(docs[:30])}
    whole = PassageSettings(mode="none")  # sentence-transformers' evaluator reads each document's beginning
    ours = evaluate_retrieval(
        index_retriever(VectorIndex.build(tiny_contextual, docs, passages=whole)), queries, relevant
    )
    st = InformationRetrievalEvaluator(
        queries,
        {d.id: d.text for d in docs},
        relevant,
        ndcg_at_k=[10],
        mrr_at_k=[10],
        precision_recall_at_k=[10, 100],
        map_at_k=[100],
        accuracy_at_k=[1],
        write_csv=False,
    )(tiny_contextual.model)
    for name in ("ndcg@10", "mrr@10", "recall@10", "recall@100", "map@100"):
        assert ours[name] == pytest.approx(st[f"cosine_{name}"], abs=1e-6), name


def test_bm25_finds_the_lexical_match():
    docs = [
        Document("a", "open and possibly create a file"),
        Document("b", "allocate dynamic memory"),
        Document("c", "send a signal to a process"),
    ]
    ranked = bm25_retriever(docs)(["dynamic memory allocation", "signal a process"], 2)
    assert ranked[0][0] == "b" and ranked[1][0] == "c"


def test_beir_round_trip_and_errors(tmp_path):
    data = BeirDataset(
        [Document("d1", "one", "T"), Document("d2", "two")],
        {"q1": "first", "q2": "second"},
        {"train": {"q1": {"d1": 1}}, "test": {"q2": {"d2": 1, "d1": 0}}},
    )
    data.save(tmp_path / "b")
    loaded = load_beir(tmp_path / "b")
    assert loaded.queries == data.queries and loaded.qrels == data.qrels and loaded.corpus == data.corpus
    assert loaded.split("test") == ({"q2": "second"}, {"q2": {"d2"}})
    with pytest.raises(CorpusError, match="no qrels split 'dev'"):
        loaded.split("dev")
    (tmp_path / "b" / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq2\tnope\t1\n")
    with pytest.raises(CorpusError, match=r"test.tsv, line 2: corpus-id 'nope' is not in corpus.jsonl"):
        load_beir(tmp_path / "b")
    with pytest.raises(CorpusError, match="is not a BEIR dataset: corpus.jsonl is missing"):
        load_beir(tmp_path)


@pytest.fixture(scope="module")
def manpages_sample():
    from ctxembed.benchmarks.manpages import build_manpages

    require_debian_data("manpages")
    names = ["open.2", "read.2", "write.2", "close.2", "malloc.3", "printf.3", "fork.2", "kill.2", "pipe.2"]
    return build_manpages(names=names)


def test_manpages_builder_queries_and_leakage(manpages_sample):
    docs = {d.id: d for d in manpages_sample.corpus}
    assert "open.2" in docs and "open" in docs["open.2"].title
    qid = next(q for q, t in manpages_sample.queries.items() if t == "open and possibly create a file")
    assert any(qid in split for split in manpages_sample.qrels.values())
    for qid, text in manpages_sample.queries.items():
        for split in manpages_sample.qrels.values():
            for doc in split.get(qid, {}):
                assert text.lower() not in docs[doc].text.lower()  # the query sentence is not in its page
    assert "O_CREAT" in docs["open.2"].text  # the rest of the page is kept


def test_manpages_split_is_deterministic():
    from ctxembed.benchmarks.manpages import split_of

    splits = [split_of(f"q-page{i}.3") for i in range(2000)]
    assert splits == [split_of(f"q-page{i}.3") for i in range(2000)]
    shares = {s: splits.count(s) / len(splits) for s in ("train", "dev", "test")}
    assert shares["train"] == pytest.approx(0.6, abs=0.05) and shares["test"] == pytest.approx(0.2, abs=0.05)


@pytest.mark.slow
def test_wordnet_reads_debian_copy_with_written_lexnames(wordnet):
    assert len(wordnet.synsets("bank", pos="n")) == 10 and len(wordnet.synsets("bank")) == 18
    assert len(wordnet.synsets("server")) == 4 and len(wordnet.synsets("crane")) == 6
    assert wordnet.synsets("bank", pos="n")[0].lexname() == "noun.object"


@pytest.mark.slow
def test_wic_pairs_are_balanced_and_split_by_lemma(wordnet):
    from ctxembed.evaluate.polysemy import build_wic

    pairs = build_wic(wordnet)
    assert len(pairs) > 1000
    assert np.mean([p.same for p in pairs]) == pytest.approx(0.5)
    for split in ("dev", "test"):
        assert np.mean([p.same for p in pairs if p.split == split]) == pytest.approx(0.5)
    dev = {p.lemma for p in pairs if p.split == "dev"}
    test = {p.lemma for p in pairs if p.split == "test"}
    assert dev and test and not dev & test
    for p in pairs[:200]:
        assert p.a.text[p.a.span[0] : p.a.span[1]].lower().startswith(p.lemma)
        assert p.same == (p.a.sense == p.b.sense)


@pytest.mark.slow
def test_static_target_vectors_cannot_separate_senses(wordnet, tiny_static):
    from ctxembed.evaluate.polysemy import build_wic, pair_similarities

    pairs = [p for p in build_wic(wordnet) if p.lemma in tiny_static.kv.key_to_index][:50]
    assert pairs
    sims = pair_similarities(tiny_static, pairs)
    placed = sims[sims != 0]
    assert placed.size >= 10  # enough pairs where the static model knows both forms
    np.testing.assert_allclose(placed, 1.0, rtol=1e-5)  # same word -> same vector


@pytest.mark.slow
def test_report_from_a_tiny_config(tmp_path, tiny_bert_dir, tiny_vectors_file, manpages_sample):
    from ctxembed.config.loading import from_dict
    from ctxembed.evaluate.report import run_evaluation, write_report
    from ctxembed.evaluate.settings import EvaluateConfig

    manpages_sample.qrels["test"] = {q: d for split in manpages_sample.qrels.values() for q, d in split.items()}
    manpages_sample.save(tmp_path / "mp")
    config = from_dict(
        EvaluateConfig,
        {
            "dataset": str(tmp_path / "mp"),
            "models": [
                {"name": "tiny static", "backend": "static", "static": {"vectors": str(tiny_vectors_file)}},
                {"name": "tiny bert", "backend": "contextual", "contextual": {"model": str(tiny_bert_dir)}},
            ],
            "polysemy": {"words": ["bank"], "max_pairs_per_lemma": 2},
            "out": str(tmp_path / "report"),
        },
    )
    report = run_evaluation(config)
    write_report(report, config.out)
    files = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert {"report.md", "report.json", "retrieval.png", "polysemy.png"} <= set(files)
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    hybrids = {"BM25 + tiny static", "BM25 + tiny bert"}
    assert set(saved["retrieval"]) == {"BM25", "tiny static", "tiny bert"} | hybrids
    assert set(saved["hybrid"]) == hybrids
    for row in saved["hybrid"].values():  # each against the better of its parts, with a paired interval
        assert row["against"] in {"BM25", "tiny static", "tiny bert"} and row["low"] <= row["delta"] <= row["high"]
    assert set(saved["polysemy"]) == {"tiny static", "tiny static (+-5 words)", "tiny bert"}
    assert 0 <= saved["polysemy"]["tiny bert"]["test_auc"] <= 1
    assert "simlex999_spearman" in saved["lexical"]["tiny static"]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| BM25 |" in md and "word-in-context" in md and "| BM25 + tiny bert |" in md
