"""`ctxembed finetune` for static vectors: train, compare with pretrained and from-scratch, report."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from ctxembed._io import atomic_dir, dumps_json, quiet_logger, refuse_existing
from ctxembed.config.loading import to_dict
from ctxembed.data import load_corpus
from ctxembed.scoring.results import FinetuneResult
from ctxembed.static.domain_dims import finisher, output_dims, train_recipe
from ctxembed.static.embedder import StaticEmbedder
from ctxembed.static.finetune import drift_guard, train_vectors
from ctxembed.static.report import measure, plot_neighbours, render_static_report, static_result
from ctxembed.static.settings import StaticFinetuneConfig
from ctxembed.static.vectors import load_vectors, save_word_counts
from ctxembed.static.words import coverage, domain_sentences, uses_lowercase

logger = logging.getLogger(__name__)
VECTORS_FILE = "vectors.bin"


def baseline_file(name: str) -> str:
    """File name of a baseline variant's vectors, e.g. vectors-from-scratch.bin."""
    return "vectors-" + "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-") + ".bin"


def regularised(config: StaticFinetuneConfig) -> bool:
    """Whether the recipe differs from plain fine-tuning: pretrained words held back (anchor, locks,
    a warm-up) or domain dimensions appended."""
    held = config.anchor > 0 or config.lock_count > 0 or config.warmup_epochs > 0 or config.lock_known < 1
    return held or config.domain_size > 0


def save_vectors(run: Any, path: Path) -> None:
    """word2vec binary; a fastText model as a full fastText .bin, so its subwords (unknown words) survive."""
    if hasattr(run.vectors, "vectors_ngrams"):
        from gensim.models.fasttext import save_facebook_model

        save_facebook_model(run.model, str(path))
        return
    with quiet_logger("gensim.models.keyedvectors"):  # "attribute count not present": none is needed
        run.vectors.save_word2vec_format(str(path), binary=True)


def finetune_static(config: StaticFinetuneConfig, *, overwrite: bool = False) -> FinetuneResult:
    """Fine-tune, measure against pretrained (and baselines), and write the output folder.

    Training happens here; measuring, judging and presenting happen in `static.report`.
    """
    from ctxembed.scoring.lexical import lexical_scores

    out = Path(config.out)
    refuse_existing(out, overwrite)
    docs = load_corpus(config.corpus)
    pretrained, pretrained_name = load_vectors(config.vectors)
    lowercase = uses_lowercase(pretrained)
    sentences = domain_sentences([d.full_text for d in docs], lowercase=lowercase)
    cover = coverage(sentences, pretrained, config.min_count)
    logger.info("coverage: %.1f%% of tokens known to %s", 100 * cover["known_token_share"], pretrained_name)

    pretrained_lexical = lexical_scores(pretrained)
    check = None
    if config.drift_limit is not None:
        check = drift_guard(pretrained, pretrained_lexical, config.drift_limit, finish=finisher(config, pretrained))
    tuned = train_recipe(config, sentences, pretrained, name="fine-tuned", drift_check=check)
    variants = {"pretrained": pretrained, tuned.name: tuned.vectors}
    runs = [tuned]
    if config.baselines:
        if regularised(config):  # plain fine-tuning at the pretrained size: what the recipe bought
            unregularised = replace(config, anchor=0.0, lock_count=0, warmup_epochs=0, lock_known=1.0, domain_dims=0)
            plain = train_vectors(unregularised, sentences, pretrained, name="fine-tuned (plain)")
            variants[plain.name] = plain.vectors
            runs.append(plain)
        # from scratch at the recipe's output size, so extra dimensions are not what tells them apart
        dim = output_dims(config, pretrained)
        scratch = train_vectors(config, sentences, pretrained, name="from scratch", init=False, dim=dim)
        variants[scratch.name] = scratch.vectors
        runs.append(scratch)

    report: dict[str, Any] = {
        "pretrained": pretrained_name,
        "corpus": config.corpus.path,
        "documents": len(docs),
        "lowercase": lowercase,
        "mode": "regularised" if regularised(config) else "plain",
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
                "dimensions": int(r.vectors.vector_size),
            }
            for r in runs
        },
    }
    texts = [d.full_text for d in docs]  # SIF weights from the domain's own word counts, for every variant
    counts = {
        name: StaticEmbedder(kv, name=name, lowercase=lowercase).count_words(texts) for name, kv in variants.items()
    }
    words = measure(report, config, variants, counts, sentences, pretrained, tuned, lowercase)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        save_vectors(tuned, tmp / VECTORS_FILE)
        save_word_counts(counts[tuned.name], tmp / VECTORS_FILE)
        for run in runs[1:]:  # the baselines, so they can be indexed and evaluated too
            save_vectors(run, tmp / baseline_file(run.name))
            save_word_counts(counts[run.name], tmp / baseline_file(run.name))
        (tmp / "report.json").write_text(dumps_json(report), encoding="utf-8")
        plots = plot_neighbours(words, pretrained, tuned.vectors, tmp / "neighbours.png")
        (tmp / "report.md").write_text(render_static_report(report, plots), encoding="utf-8")
    return static_result(report, out, tuned)
