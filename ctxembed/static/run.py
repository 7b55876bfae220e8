"""`ctxembed finetune` for static vectors: train, compare with pretrained and from-scratch, report."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import atomic_dir, dumps_json, refuse_existing
from ctxembed._logs import quiet_logger
from ctxembed.data import load_corpus
from ctxembed.plots import new_figure, project_2d, save_figure
from ctxembed.static.finetune import coverage, domain_sentences, drift_guard, train_vectors, uses_lowercase
from ctxembed.static.settings import StaticFinetuneConfig
from ctxembed.static.vectors import load_vectors
from ctxembed.yaml_config import to_dict

logger = logging.getLogger(__name__)
VECTORS_FILE = "vectors.bin"


def baseline_file(name: str) -> str:
    """File name of a baseline variant's vectors, e.g. vectors-from-scratch.bin."""
    return "vectors-" + "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-") + ".bin"


def finetune_static(config: StaticFinetuneConfig, *, overwrite: bool = False) -> dict[str, Any]:
    """Fine-tune, measure against pretrained (and baselines), and write the output folder."""
    from ctxembed.evaluate.lexical import lexical_scores

    out = Path(config.out)
    refuse_existing(out, overwrite)
    docs = load_corpus(config.corpus)
    pretrained, pretrained_name = load_vectors(config.vectors)
    lowercase = uses_lowercase(pretrained)
    sentences = domain_sentences([d.full_text for d in docs], lowercase=lowercase)
    cover = coverage(sentences, pretrained, config.min_count)
    logger.info("coverage: %.1f%% of tokens known to %s", 100 * cover["known_token_share"], pretrained_name)

    pretrained_lexical = lexical_scores(pretrained)
    check = None if config.drift_limit is None else drift_guard(pretrained, pretrained_lexical, config.drift_limit)
    tuned = train_vectors(config, sentences, pretrained, name="fine-tuned", anchor=config.anchor, drift_check=check)
    variants = {"pretrained": pretrained, tuned.name: tuned.vectors}
    runs = [tuned]
    if config.baselines:
        if config.anchor > 0:
            plain = train_vectors(config, sentences, pretrained, name="fine-tuned (plain)")
            variants[plain.name] = plain.vectors
            runs.append(plain)
        scratch = train_vectors(config, sentences, pretrained, name="from scratch", init=False)
        variants[scratch.name] = scratch.vectors
        runs.append(scratch)

    report: dict[str, Any] = {
        "pretrained": pretrained_name,
        "corpus": config.corpus.path,
        "documents": len(docs),
        "lowercase": lowercase,
        "mode": "anchored" if config.anchor > 0 else "plain",
        "settings": to_dict(config),
        "coverage": cover,
        "lexical": {"pretrained": pretrained_lexical},
        "runs": {
            r.name: {
                "seconds": r.seconds,
                "words_per_second": r.words_per_second,
                "stopped_early": r.stopped_early,
                "history": r.history,
                "vocabulary": len(r.model.wv),
            }
            for r in runs
        },
    }
    for name, kv in variants.items():
        if name != "pretrained":
            report["lexical"][name] = lexical_scores(kv)
    report["drift"] = {
        name: {k: scores[k] - report["lexical"]["pretrained"][k] for k in scores if k.endswith("_spearman")}
        for name, scores in report["lexical"].items()
        if name != "pretrained"
    }
    counts = Counter(t for s in sentences for t in s)
    words = list(config.neighbour_words) or _frequent_content_words(counts, tuned.vectors, pretrained, 5)
    report["neighbours"] = neighbour_table(words, pretrained, tuned.vectors)
    report["most_changed"] = most_changed(pretrained, tuned.vectors, counts, config.min_count * 5)
    if config.eval_dataset:
        report["retrieval"] = _retrieval(config, variants, lowercase)
    report["warnings"] = verdict(report)

    with atomic_dir(out, overwrite=overwrite) as tmp:
        with quiet_logger("gensim.models.keyedvectors"):  # "attribute count not present": none is needed
            tuned.vectors.save_word2vec_format(str(tmp / VECTORS_FILE), binary=True)
            for run in runs[1:]:  # the baselines, so they can be indexed and evaluated too
                run.vectors.save_word2vec_format(str(tmp / baseline_file(run.name)), binary=True)
        (tmp / "report.json").write_text(dumps_json(report), encoding="utf-8")
        plots = plot_neighbours(words, pretrained, tuned.vectors, tmp / "neighbours.png")
        (tmp / "report.md").write_text(render_static_report(report, plots), encoding="utf-8")
    return report


MAX_LEXICAL_DROP = 0.02


def verdict(report: dict[str, Any]) -> list[str]:
    """Warnings when the fine-tuned vectors are worse than the pretrained ones on dev data."""
    warnings = []
    for key, drop in report["drift"]["fine-tuned"].items():
        if drop < -MAX_LEXICAL_DROP:
            warnings.append(
                f"{key} fell by {-drop:.3f} (more than {MAX_LEXICAL_DROP}): the vectors drifted from general "
                f"English; raise `anchor` or lower `epochs`/`alpha`"
            )
    if "retrieval" in report:
        before, after = report["retrieval"]["pretrained"]["ndcg@10"], report["retrieval"]["fine-tuned"]["ndcg@10"]
        if after <= before:
            warnings.append(
                f"fine-tuned vectors do not beat the pretrained ones on dev retrieval (nDCG@10 {after:.4f} vs "
                f"{before:.4f}); keep the pretrained vectors or train longer (epochs, alpha)"
            )
    return warnings


def _frequent_content_words(counts: Counter[str], tuned: Any, pretrained: Any, n: int) -> list[str]:
    """The most frequent corpus words that both vector sets know and that are not function words."""
    common = set(pretrained.index_to_key[:200])  # the top of a frequency-ordered vocabulary
    ranked = [w for w, _ in counts.most_common() if w not in common and len(w) > 2 and w.isalpha()]
    return [w for w in ranked if w in tuned.key_to_index and w in pretrained.key_to_index][:n]


def neighbour_table(words: list[str], before: Any, after: Any, topn: int = 5) -> dict[str, dict[str, list[str]]]:
    """Each word's nearest neighbours in the pretrained and the fine-tuned vectors."""
    table = {}
    for word in words:
        row = {}
        for name, kv in (("before", before), ("after", after)):
            similar = kv.most_similar(word, topn=topn * 4, restrict_vocab=100000) if word in kv else []
            row[name] = [w for w, _ in similar if any(ch.isalnum() for ch in w)][:topn]
        table[word] = row
    return table


def most_changed(before: Any, after: Any, counts: Counter[str], min_freq: int, n: int = 10) -> list[dict[str, Any]]:
    """Frequent known words whose vector turned furthest from its pretrained direction."""
    words = [w for w, c in counts.items() if c >= min_freq and w in before.key_to_index and w in after.key_to_index]
    if not words:
        return []
    a = before.vectors[[before.key_to_index[w] for w in words]]
    b = after.vectors[[after.key_to_index[w] for w in words]]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    order = np.argsort(cos)[:n]
    return [{"word": words[i], "cosine_to_pretrained": float(cos[i]), "count": counts[words[i]]} for i in order]


def _retrieval(config: StaticFinetuneConfig, variants: dict[str, Any], lowercase: bool) -> dict[str, dict[str, float]]:
    from ctxembed import VectorIndex
    from ctxembed.evaluate.beir import load_beir
    from ctxembed.evaluate.metrics import evaluate_retrieval, index_retriever
    from ctxembed.static.embedder import StaticEmbedder

    dataset = load_beir(config.eval_dataset)  # type: ignore[arg-type]
    queries, relevant = dataset.split(config.eval_split)
    scores = {}
    for name, kv in variants.items():
        embedder = StaticEmbedder(kv, name=name, pooling=config.pooling, lowercase=lowercase)
        index = VectorIndex.build(embedder, dataset.corpus)
        scores[name] = evaluate_retrieval(index_retriever(index), queries, relevant)
    return scores


def plot_neighbours(words: list[str], before: Any, after: Any, path: Path) -> list[str]:
    """Two 2D maps (UMAP if installed, else PCA) of the words and their neighbours, before and after."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return []
    fig, axes = new_figure(1, 2, figsize=(11, 5))
    method = "PCA"
    for ax, (title, kv) in zip(axes, (("pretrained", before), ("fine-tuned", after))):
        labels, centers = [], []
        for word in words:
            if word not in kv:
                continue
            group = [word] + [w for w, _ in kv.most_similar(word, topn=6, restrict_vocab=100000)]
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
