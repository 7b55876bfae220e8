"""`ctxembed evaluate`: one report comparing BM25, static and contextual models side by side."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import atomic_dir, dumps_json
from ctxembed.config.loading import to_dict
from ctxembed.evaluate.settings import EvaluateConfig, ModelEntry
from ctxembed.retrieval.fusion import describe
from ctxembed.scoring.metrics import retrieval_metrics
from ctxembed.scoring.plots import colour, new_figure, project_2d, save_figure

logger = logging.getLogger(__name__)


def run_evaluation(config: EvaluateConfig) -> dict[str, Any]:
    """Score every model of `config`: retrieval, polysemy and lexical drift, as a JSON-able dict."""
    from ctxembed.index import VectorIndex
    from ctxembed.registry import load_embedder
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.metrics import bm25_retriever, index_retriever, rank_queries

    report: dict[str, Any] = {
        "config": to_dict(config),
        "retrieval": {},
        "hybrid": {},
        "polysemy": {},
        "lexical": {},
        "words": {},
    }
    dataset = load_beir(config.dataset) if config.dataset else None
    if dataset is not None:
        queries, relevant = dataset.graded(config.split)
        report["dataset"] = {
            "path": config.dataset,
            "split": config.split,
            "documents": len(dataset.corpus),
            "queries": len(queries),
        }
        runs: dict[str, Any] = {}
        if config.bm25 or config.hybrid:
            runs["BM25"] = rank_queries(bm25_retriever(dataset.corpus), queries, relevant)
        if config.bm25:
            report["retrieval"]["BM25"] = retrieval_metrics(runs["BM25"], relevant)
    wn = pairs = None
    if config.polysemy.enabled:
        from ctxembed.evaluate.polysemy import build_wic
        from ctxembed.evaluate.wordnet import load_wordnet

        wn = load_wordnet()
        pairs = build_wic(wn, max_pairs_per_lemma=config.polysemy.max_pairs_per_lemma)
        report["wic"] = {
            "pairs": len(pairs),
            "dev_pairs": sum(p.split == "dev" for p in pairs),
            "test_pairs": sum(p.split == "test" for p in pairs),
            "same_sense_share": float(np.mean([p.same for p in pairs])),
            "lemmas": len({p.lemma for p in pairs}),
        }
    for entry in config.models:
        started = time.perf_counter()
        embedder = load_embedder(entry.backend, entry.settings)
        if dataset is not None:
            index = VectorIndex.build(embedder, dataset.corpus, sparse=config.hybrid)
            runs[entry.name] = rank_queries(index_retriever(index), queries, relevant)
            report["retrieval"][entry.name] = retrieval_metrics(runs[entry.name], relevant)
            if config.hybrid:
                hybrid = f"BM25 + {entry.name}"
                runs[hybrid] = rank_queries(index_retriever(index, "hybrid"), queries, relevant)
                report["retrieval"][hybrid] = retrieval_metrics(runs[hybrid], relevant)
                report["hybrid"][hybrid] = {
                    **against_better_part(runs, hybrid, ("BM25", entry.name), relevant),
                    "fusion": describe(index.fusion),
                }
        if pairs is not None:
            _score_polysemy(report, entry, embedder, wn, pairs, config)
        if config.lexical and (vectors := embedder.word_vectors()) is not None:
            from ctxembed.scoring.lexical import lexical_scores

            report["lexical"][entry.name] = lexical_scores(vectors)
        logger.info("%s evaluated in %.0fs", entry.name, time.perf_counter() - started)
    return report


def against_better_part(runs: dict[str, Any], hybrid: str, parts: tuple[str, str], relevant: Any) -> dict[str, Any]:
    """The hybrid row minus the better of its two parts (by nDCG@10), with a paired-bootstrap 95% interval."""
    from ctxembed.scoring.metrics import per_query_metrics
    from ctxembed.scoring.significance import paired_bootstrap

    ndcg = {name: {q: m["ndcg@10"] for q, m in per_query_metrics(runs[name], relevant, {"ndcg": (10,)}).items()}
            for name in (hybrid, *parts)}  # fmt: skip
    better = max(parts, key=lambda name: float(np.mean(list(ndcg[name].values()))))
    c = paired_bootstrap(ndcg[better], ndcg[hybrid])
    if c.high < 0:  # the default weights can hurt: say so where the user sees the report
        warnings.warn(
            f"{hybrid} ranks below {better} alone (nDCG@10 {c.delta:+.4f}, 95% interval {c.low:+.4f} to "
            f"{c.high:+.4f}): the weight chosen on the corpus's pseudo-queries does not suit these queries; search "
            f"such an index with --mode {'sparse' if better == 'BM25' else 'dense'}, or tune it on labelled queries "
            f"with ctxembed tune-fusion",
            stacklevel=2,
        )
    return {"against": better, "delta": c.delta, "low": c.low, "high": c.high, "queries": c.queries}


def _score_polysemy(report: dict[str, Any], entry: ModelEntry, embedder: Any, wn: Any, pairs: Any, config: Any) -> None:
    from ctxembed.evaluate.polysemy import evaluate_wic, word_senses

    variants = [(entry.name, embedder)]
    window = config.polysemy.static_context_window
    if (baseline := embedder.context_window_variant(window)) is not None:
        variants.append((f"{entry.name} (+-{window} words)", baseline))
    for name, variant in variants:
        report["polysemy"][name] = evaluate_wic(variant, pairs)
    report["words"][entry.name] = [word_senses(embedder, wn, word) for word in config.polysemy.words]


def write_report(report: dict[str, Any], out: str | Path, *, overwrite: bool = False) -> Path:
    """Write report.json, report.md and PNG plots into `out`, atomically."""
    with atomic_dir(out, overwrite=overwrite) as tmp:
        plots = _plots(report, tmp)
        slim = {**report, "words": {m: [_without_points(w) for w in ws] for m, ws in report["words"].items()}}
        (tmp / "report.json").write_text(dumps_json(slim), encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(slim, plots), encoding="utf-8")
    return Path(out)


def _without_points(word: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in word.items() if k != "points"}


def render_markdown(report: dict[str, Any], plots: list[str]) -> str:
    """The human-readable report."""
    lines = ["# ctxembed evaluation report", ""]
    if "dataset" in report:
        d = report["dataset"]
        lines += [
            f"## Retrieval: {d['path']} ({d['split']} split, {d['queries']} queries, {d['documents']} documents)",
            "",
        ]
        lines += _table(report["retrieval"], ["ndcg@10", "mrr@10", "recall@10", "recall@100", "map@100"])
        if report.get("hybrid"):
            lines += [
                "Hybrid rows (BM25 + model, with BM25's weight chosen on each corpus's pseudo-queries, without "
                "labels) against the better of their two parts, nDCG@10 with a paired-bootstrap 95% interval:",
                "",
                "| hybrid | BM25 weight (label-free) | against | difference | 95% interval |",
                "| --- | --- | --- | --- | --- |",
            ]
            lines += [
                f"| {name} | {h.get('fusion', '')} | {h['against']} | {h['delta']:+.4f} | {h['low']:+.4f} to "
                f"{h['high']:+.4f} |"
                for name, h in report["hybrid"].items()
            ]
            lines.append("")
    if report["polysemy"]:
        w = report.get("wic", {})
        lines += [
            f"## Polysemy: WordNet word-in-context ({w.get('lemmas')} lemmas, {w.get('dev_pairs')} dev / "
            f"{w.get('test_pairs')} test pairs, lemmas split)",
            "",
            "Threshold on cosine similarity tuned on dev; chance is 50%. For reference, on the original WiC "
            "benchmark BERT-large scores 65.5% and context-insensitive models about 50%.",
            "",
        ]
        lines += _table(report["polysemy"], ["test_accuracy", "test_auc", "dev_accuracy", "threshold"])
    if report["words"]:
        lines += ["## Curated words: mean similarity within vs across senses", ""]
        lines += [
            "| model | word | senses | occurrences | within | across | gap |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for model, words in report["words"].items():
            for w in words:
                if "within_sense" in w:
                    lines.append(
                        f"| {model} | {w['word']} | {w['senses']} | {w['occurrences']} | {w['within_sense']:.3f} | "
                        f"{w['across_sense']:.3f} | {w['gap']:+.3f} |"
                    )
        lines.append("")
    if report["lexical"]:
        lines += ["## Lexical benchmarks (static models)", ""]
        lines += _table(report["lexical"], ["simlex999_spearman", "wordsim353_spearman", "analogy_accuracy"])
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _table(rows: dict[str, dict[str, float]], columns: list[str]) -> list[str]:
    out = ["| model | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for name, values in rows.items():
        out.append(f"| {name} | " + " | ".join(_fmt(values.get(c)) for c in columns) + " |")
    return out + [""]


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value if value is not None else "")


def _plots(report: dict[str, Any], folder: Path) -> list[str]:
    """Bar charts of the headline metrics and a 2D view of word senses per model."""
    from ctxembed.assets import installed

    if not installed("matplotlib"):
        logger.warning("matplotlib is not installed: the report has no plots (pip install 'ctxembed[eval]')")
        return []
    names = []
    for key, metric, file in (("retrieval", "ndcg@10", "retrieval.png"), ("polysemy", "test_auc", "polysemy.png")):
        rows = report[key]
        if not rows:
            continue
        fig, ax = new_figure(figsize=(7, 0.5 + 0.45 * len(rows)))
        ax.barh(list(rows), [r[metric] for r in rows.values()], color="tab:blue")
        ax.invert_yaxis()
        ax.set_xlabel(metric)
        ax.set_title(f"{key}: {metric}")
        save_figure(fig, folder / file)
        names.append(file)
    for model, words in report["words"].items():
        shown = [w for w in words if w.get("points")]
        if not shown:
            continue
        fig, axes = new_figure(1, len(shown), figsize=(max(6.0, 3.4 * len(shown)), 3.6), squeeze=False)
        for ax, word in zip(axes[0], shown):
            vectors = np.stack([p["vector"] for p in word["points"]])
            xy, _ = project_2d(vectors)
            senses = [p["sense"] for p in word["points"]]
            for i, sense in enumerate(sorted(set(senses))):
                mask = np.array([s == sense for s in senses])
                ax.scatter(xy[mask, 0], xy[mask, 1], label=sense, s=22, color=colour(i))
            ax.set_title(f"{word['word']} (gap {word['gap']:+.2f})", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.legend(fontsize=5, loc="best")
        fig.suptitle(f"{model}: occurrences coloured by WordNet sense", fontsize=10)
        file = f"senses-{_slug(model)}.png"
        save_figure(fig, folder / file)
        names.append(file)
    return names


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
