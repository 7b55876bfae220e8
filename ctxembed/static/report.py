"""Measuring, judging and presenting a static fine-tuning run: drift, neighbours, retrieval, plots, markdown."""

from __future__ import annotations

import resource
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed.scoring.plots import new_figure, project_2d, save_figure
from ctxembed.scoring.results import FinetuneResult
from ctxembed.scoring.significance import Comparison
from ctxembed.static.settings import StaticFinetuneConfig


def measure(
    report: dict[str, Any],
    config: StaticFinetuneConfig,
    variants: dict[str, Any],
    counts: dict[str, dict[str, int]],
    sentences: list[list[str]],
    pretrained: Any,
    run: Any,
    lowercase: bool,
) -> list[str]:
    """Add lexical drift, neighbours, most changed words, retrieval and the verdict to `report`.

    `run` is the fine-tuned `TrainedVectors`; its words' drift is measured before post-processing.
    `counts` holds each variant's corpus word counts, its SIF weights in the retrieval comparison.
    Returns the words of the neighbour table (for the plot).
    """
    from ctxembed.scoring.lexical import lexical_scores

    for name, kv in variants.items():
        if name != "pretrained":
            report["lexical"][name] = lexical_scores(kv)
    report["drift"] = {
        name: {k: scores[k] - report["lexical"]["pretrained"][k] for k in scores if k.endswith("_spearman")}
        for name, scores in report["lexical"].items()
        if name != "pretrained"
    }
    tokens = Counter(t for s in sentences for t in s)  # (not `counts`: those are the variants' SIF counts)
    tuned = run.vectors
    words = list(config.neighbour_words) or _frequent_content_words(tokens, tuned, pretrained, 5)
    new_words = [w for w in tokens if w not in pretrained.key_to_index]
    report["neighbours"] = neighbour_table(words, pretrained, tuned, also=new_words)
    trained = run.trained_vectors if run.trained_vectors is not None else tuned
    report["most_changed"] = most_changed(pretrained, trained, tokens, config.min_count * 5)
    if config.eval_dataset:
        retrieval = _retrieval(config, variants, counts, lowercase)
        report["retrieval"], report["comparison"] = retrieval["scores"], retrieval["comparison"]
    report["warnings"] = verdict(report)

    return words


def static_result(report: dict[str, Any], out: Path, tuned: Any) -> FinetuneResult:
    """The shared result type: pretrained vs fine-tuned, dev retrieval first, lexical scores otherwise."""
    base = {**report["lexical"]["pretrained"], **report.get("retrieval", {}).get("pretrained", {})}
    after = {**report["lexical"]["fine-tuned"], **report.get("retrieval", {}).get("fine-tuned", {})}
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 2**20 if out.is_dir() else 0.0
    trainable = int(tuned.model.wv.vectors.size)
    return FinetuneResult(
        out=str(out),
        base_metrics=base,
        tuned_metrics=after,
        primary_metric="ndcg@10" if "retrieval" in report else "wordsim353_spearman",
        trainable_params=trainable,
        total_params=trainable,
        train_seconds=sum(run["seconds"] for run in report["runs"].values()),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        size_mb=size,
        comparison=Comparison(**report["comparison"]) if "comparison" in report else None,
        warnings=list(report["warnings"]),
        data=report,
    )


MAX_LEXICAL_DROP = 0.02


def verdict(report: dict[str, Any]) -> list[str]:
    """Warnings when the fine-tuned vectors are worse than the pretrained ones on dev data."""
    warnings = []
    for key, drop in report["drift"]["fine-tuned"].items():
        if drop < -MAX_LEXICAL_DROP:
            warnings.append(
                f"{key} fell by {-drop:.3f} (more than {MAX_LEXICAL_DROP}): the vectors drifted from general "
                f"English; raise `lock_count` or `anchor`, or lower `lock_known`, `domain_weight` or `epochs`/`alpha`"
            )
    if "retrieval" in report:
        before, after = report["retrieval"]["pretrained"]["ndcg@10"], report["retrieval"]["fine-tuned"]["ndcg@10"]
        c = report["comparison"]
        if not c["low"] > 0:
            warnings.append(
                f"fine-tuned vectors do not beat the pretrained ones on dev retrieval by more than noise (nDCG@10 "
                f"{after:.4f} vs {before:.4f}, 95% interval of the difference {c['low']:+.4f} to {c['high']:+.4f}); "
                f"keep the pretrained vectors or train longer (epochs, alpha)"
            )
    return warnings


def _frequent_content_words(counts: Counter[str], tuned: Any, pretrained: Any, n: int) -> list[str]:
    """The most frequent corpus words that both vector sets know and that are not function words."""
    common = set(pretrained.index_to_key[:200])  # the top of a frequency-ordered vocabulary
    ranked = [w for w, _ in counts.most_common() if w not in common and len(w) > 2 and w.isalpha()]
    return [w for w in ranked if w in tuned.key_to_index and w in pretrained.key_to_index][:n]


TOP_WORDS = 100000  # neighbours come from the most frequent words, plus the words passed as `also`


def nearest(kv: Any, word: str, topn: int, *, also: Collection[str] = ()) -> list[str]:
    """`word`'s nearest neighbours among the first TOP_WORDS words of `kv` and the words `also`
    (such as new domain words, which fine-tuning appends past the pretrained vocabulary)."""
    if word not in kv.key_to_index:
        return []
    extra = [kv.key_to_index[w] for w in also if w in kv.key_to_index]
    rows = np.unique(np.concatenate([np.arange(min(TOP_WORDS, len(kv))), np.asarray(extra, dtype=np.int64)]))
    kv.fill_norms()  # cached by gensim; only the candidate rows are scored, not a normalised copy of all
    target = kv.vectors[kv.key_to_index[word]] / max(float(kv.norms[kv.key_to_index[word]]), 1e-12)
    order = rows[np.argsort(-((kv.vectors[rows] @ target) / np.maximum(kv.norms[rows], 1e-12)))]
    hits = []
    for i in order:
        candidate = kv.index_to_key[i]
        if candidate != word and any(ch.isalnum() for ch in candidate):
            hits.append(candidate)
            if len(hits) == topn:
                break
    return hits


def neighbour_table(
    words: list[str], before: Any, after: Any, topn: int = 5, *, also: Collection[str] = ()
) -> dict[str, dict[str, list[str]]]:
    """Each word's nearest neighbours in the pretrained and the fine-tuned vectors (`also`: new words)."""
    return {
        word: {"before": nearest(before, word, topn), "after": nearest(after, word, topn, also=also)} for word in words
    }


def most_changed(before: Any, after: Any, counts: Counter[str], min_freq: int, n: int = 10) -> list[dict[str, Any]]:
    """Frequent known words whose vector turned furthest from its pretrained direction (compared on the
    pretrained coordinates: domain dimensions appended after them are left out)."""
    words = [w for w, c in counts.items() if c >= min_freq and w in before.key_to_index and w in after.key_to_index]
    if not words:
        return []
    a = before.vectors[[before.key_to_index[w] for w in words]]
    b = after.vectors[[after.key_to_index[w] for w in words], : before.vector_size]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    order = np.argsort(cos)[:n]
    return [{"word": words[i], "cosine_to_pretrained": float(cos[i]), "count": counts[words[i]]} for i in order]


def _retrieval(
    config: StaticFinetuneConfig, variants: dict[str, Any], counts: dict[str, dict[str, int]], lowercase: bool
) -> dict[str, Any]:
    """Dev retrieval of each variant, and fine-tuned vs pretrained with a paired-bootstrap interval."""
    from dataclasses import asdict

    from ctxembed.index import VectorIndex
    from ctxembed.scoring.beir import load_beir
    from ctxembed.scoring.metrics import index_retriever, per_query_metrics, rank_queries, retrieval_metrics
    from ctxembed.scoring.significance import paired_bootstrap
    from ctxembed.static.embedder import StaticEmbedder

    dataset = load_beir(config.eval_dataset)  # type: ignore[arg-type]
    queries, relevant = dataset.graded(config.eval_split)
    scores, ndcg = {}, {}
    for name, kv in variants.items():
        embedder = StaticEmbedder(
            kv, name=name, pooling=config.pooling, lowercase=lowercase, word_counts=counts.get(name)
        )
        rankings = rank_queries(index_retriever(VectorIndex.build(embedder, dataset.corpus)), queries, relevant)
        scores[name] = retrieval_metrics(rankings, relevant)  # what `ctxembed evaluate` reports, on the same ranks
        ndcg[name] = {q: m["ndcg@10"] for q, m in per_query_metrics(rankings, relevant, {"ndcg": (10,)}).items()}
    comparison = paired_bootstrap(ndcg["pretrained"], ndcg["fine-tuned"])
    return {"scores": scores, "comparison": asdict(comparison)}


def plot_neighbours(words: list[str], before: Any, after: Any, path: Path) -> list[str]:
    """Two 2D maps (UMAP if installed, else PCA) of the words and their neighbours, before and after."""
    from ctxembed.assets import installed

    if not installed("matplotlib"):
        return []
    fig, axes = new_figure(1, 2, figsize=(11, 5))
    method = "PCA"
    for ax, (title, kv) in zip(axes, (("pretrained", before), ("fine-tuned", after))):
        labels, centers = [], []
        for word in words:
            if word not in kv:
                continue
            group = [word] + nearest(kv, word, 6, also=after.index_to_key[len(before) :] if kv is after else ())
            labels.extend(group)
            centers.extend([w == word for w in group])
        if len(labels) < 3:
            continue
        vectors = np.stack([kv[w] for w in labels])
        xy, method = project_2d(vectors)
        for (x, y), label, center in zip(xy, labels, centers):
            ax.scatter([x], [y], s=40 if center else 12, color="tab:red" if center else "tab:blue")
            ax.annotate(label, (x, y), fontsize=9 if center else 7, weight="bold" if center else "normal")
        ax.set_title(f"{title} vectors")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Domain words (red) and their nearest neighbours, {method}")
    save_figure(fig, path)
    return [path.name]


def render_static_report(report: dict[str, Any], plots: list[str]) -> str:
    """Markdown: coverage, lexical drift, neighbours, most changed words, retrieval."""
    c = report["coverage"]
    lines = [
        f"# Static fine-tuning report ({report['mode']})",
        "",
        f"Pretrained `{report['pretrained']}`, corpus `{report['corpus']}` ({report['documents']} documents).",
        "",
        "## Coverage",
        f"- tokens: {c['tokens']:,}; known {100 * c['known_token_share']:.1f}%, new {100 * c['new_token_share']:.1f}%, "
        f"OOV {100 * c['oov_token_share']:.1f}%",
        f"- word types: {c['types']:,}; known {c['known_types']:,}, new {c['new_types']:,}, OOV {c['oov_types']:,}",
        "",
        "## Lexical benchmarks (drift guard)",
        "| vectors | SimLex-999 | WordSim-353 | analogies |",
        "| --- | --- | --- | --- |",
    ]
    for name, s in report["lexical"].items():
        lines.append(
            f"| {name} | {s['simlex999_spearman']:.4f} | {s['wordsim353_spearman']:.4f} | {s['analogy_accuracy']:.4f} |"
        )
    if "retrieval" in report:
        lines += ["", "## Retrieval (nDCG@10 / Recall@10)", "| vectors | nDCG@10 | Recall@10 |", "| --- | --- | --- |"]
        for name, m in report["retrieval"].items():
            lines.append(f"| {name} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} |")
    lines += ["", "## Nearest neighbours before and after", "| word | pretrained | fine-tuned |", "| --- | --- | --- |"]
    for word, row in report["neighbours"].items():
        lines.append(f"| {word} | {', '.join(row['before'])} | {', '.join(row['after'])} |")
    lines += ["", "## Most changed frequent words", "| word | cosine to pretrained | count |", "| --- | --- | --- |"]
    for row in report["most_changed"]:
        lines.append(f"| {row['word']} | {row['cosine_to_pretrained']:.3f} | {row['count']} |")
    lines += ["", "## Training"]
    for name, run in report["runs"].items():
        lines.append(
            f"- {name}: {run['vocabulary']:,} words, {run['seconds']:.1f}s, {run['words_per_second']:,.0f} words/s"
            + (", stopped early by the drift limit" if run["stopped_early"] else "")
        )
    if report.get("warnings"):
        lines += ["", "## Warnings"] + [f"- {w}" for w in report["warnings"]]
    lines += [""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"
