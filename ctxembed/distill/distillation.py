"""`ctxembed distill`: a static model distilled from a contextual teacher with model2vec.

1. The teacher is the base model, the base with a LoRA adapter (merged by peft), or a fully
   fine-tuned sentence-transformers folder.
2. model2vec distils one vector per vocabulary token; the corpus's frequent words are added
   whole, so domain terms get their own vector instead of a mean of word pieces.
3. Domain tuning (on by default) fits the static model to the teacher's embeddings of the
   corpus's own sentences and passages with model2vec's trainer (cosine loss, early stopping on
   held-out texts), the tokenlearn recipe at domain scale.
4. Contrastive training (on by default, `ctxembed.distill.contrastive`) trains the token vectors on
   the corpus's own mined pairs with sentence-transformers (MNRL), kept only if it wins on held-out pairs.

The output is a plain model2vec folder: `model2vec.StaticModel.from_pretrained(out)` and
sentence-transformers' `StaticEmbedding.from_model2vec(out)` load it without ctxembed.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import atomic_dir, dumps_json, refuse_existing
from ctxembed.config.loading import to_dict
from ctxembed.contextual.st_compat import backbone
from ctxembed.data import Document, load_corpus, split_sentences
from ctxembed.distill.settings import ContrastiveSettings, DistillConfig
from ctxembed.errors import CorpusError
from ctxembed.static.distilled import DISTILL_REPORT

logger = logging.getLogger(__name__)
REPORT_FILE = DISTILL_REPORT
_WORD = re.compile(r"[^\W\d_][\w-]*[^\W_]|[^\W\d_]")  # words of letters (digits, dashes inside)


@dataclass
class DistillResult:
    """What `distill_static` made: the folder, the teacher, sizes and timings."""

    out: Path
    teacher: dict[str, Any]
    vocabulary: int
    domain_words: int
    dim: int
    tuned_texts: int
    seconds: dict[str, float] = field(default_factory=dict)
    contrastive: dict[str, Any] | None = None  # ContrastiveOutcome as a dict, its warnings included


def require_distill_extras() -> None:
    from ctxembed.assets import require

    install = (
        "ctxembed distill: pip install 'ctxembed[distill]' (model2vec with skeletoken; model2vec[distill] pins "
        "transformers < 5.4 and cannot install beside transformers 5)"
    )
    require("model2vec.distill", install)
    require("skeletoken", install)


def load_teacher(config: DistillConfig) -> Any:
    """The teacher as a `ContextualEmbedder` (adapter attached; encodes at the fastest precision that matches fp32)."""
    from ctxembed.contextual.embedder import ContextualEmbedder

    return ContextualEmbedder.load(config.teacher, adapter=config.adapter, device=config.device, precision="auto")


def merged_backbone(teacher: Any) -> tuple[Any, Any]:
    """(transformers model, tokenizer) of the teacher, with any LoRA adapter merged into a copy."""
    from ctxembed.contextual.adapters import merged_copy

    twin = merged_copy(teacher.model)
    return backbone(twin), twin.tokenizer


def domain_vocabulary(texts: Sequence[str], tokenizer: Any, *, size: int, min_count: int) -> list[str]:
    """The `size` most frequent corpus words (seen `min_count` times) that the teacher splits into pieces."""
    if size == 0:
        return []
    lower = bool(getattr(tokenizer, "do_lower_case", False)) or tokenizer.tokenize("A") == tokenizer.tokenize("a")
    counts = Counter(w for t in texts for w in _WORD.findall(t.lower() if lower else t))
    vocab = tokenizer.get_vocab()
    words = [w for w, c in counts.most_common() if c >= min_count and w not in vocab]
    return words[:size]


def tuning_texts(docs: Sequence[Document], limit: int, seed: int) -> list[str]:
    """What the static model learns to embed like its teacher: titles, sentences and passages."""
    texts: list[str] = []
    for doc in docs:
        if doc.title.strip():
            texts.append(doc.title.strip())
        words = doc.text.split()
        # passages of 128 words, about as much as the teacher reads, from every part of a long document
        texts.extend(" ".join(words[i : i + 128]) for i in range(0, len(words), 128))
        texts.extend(s for s in split_sentences(doc.text, wrapped=True) if 3 <= len(s.split()) <= 64)
    texts = list(dict.fromkeys(" ".join(t.split()) for t in texts if t.strip()))
    random.Random(seed).shuffle(texts)
    return texts[:limit]


def distill_model(config: DistillConfig, teacher: Any, vocabulary: Sequence[str]) -> Any:
    """model2vec's distillation of the (merged) teacher, with `vocabulary` added."""
    from model2vec.distill import distill_from_model

    backbone, tokenizer = merged_backbone(teacher)
    return distill_from_model(
        model=backbone,
        tokenizer=tokenizer,
        vocabulary=list(vocabulary) or None,
        device=teacher.device,
        pca_dims=config.pca_dims,
        sif_coefficient=config.sif_coefficient,
        quantize_to="float32",
    )


def domain_tune(config: DistillConfig, static: Any, teacher: Any, texts: Sequence[str]) -> Any:
    """Fit `static` to the teacher's embeddings of `texts` (model2vec's trainer, cosine loss)."""
    from model2vec.train import StaticModelForSimilarity

    targets = teacher.encode_documents(list(texts), batch_size=64)
    if config.pca_dims is not None and config.pca_dims != targets.shape[1]:
        from sklearn.decomposition import PCA  # the targets in the student's (PCA) dimensions

        targets = PCA(n_components=config.pca_dims, random_state=config.seed).fit_transform(targets)
    trainer = StaticModelForSimilarity.from_static_model(model=static, n_layers=0, out_dim=targets.shape[1])
    trainer.fit(
        list(texts),
        np.asarray(targets, dtype=np.float32),
        learning_rate=config.learning_rate,
        max_epochs=config.max_epochs,
        random_seed=config.seed,
        device="cuda" if str(teacher.device).startswith("cuda") else "cpu",
    )
    tuned = trainer.to_static_model()
    tuned.config.update({k: v for k, v in static.config.items() if k not in tuned.config})
    return tuned


def set_max_length(static: Any, tokens: int | None) -> None:
    """The tokens of a text `static` reads (model2vec's `max_length`, saved in its config)."""
    static.config["max_length"] = tokens  # first: model2vec warns when the two disagree
    static.max_length = tokens


def contrastive_step(
    config: DistillConfig, settings: ContrastiveSettings, static: Any, docs: Sequence[Document], out: Path
) -> tuple[Any, Any]:
    """Contrastive training of `static` on the corpus's mined pairs (and `config.pairs`), in a scratch folder."""
    import shutil
    import tempfile

    from ctxembed.contextual.objectives import read_pairs
    from ctxembed.distill.contrastive import train_contrastive

    user_pairs = read_pairs(config.pairs) if config.pairs else []
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.contrastive-", dir=out.parent))
    try:
        return train_contrastive(static, docs, settings, work, user_pairs=user_pairs, seed=config.seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def distill_static(config: DistillConfig, *, overwrite: bool = False) -> DistillResult:
    """Distil (and domain-tune) a static model from the teacher; write a model2vec folder to `config.out`."""
    require_distill_extras()
    out = Path(config.out)
    refuse_existing(out, overwrite)
    docs = load_corpus(config.corpus)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    teacher = load_teacher(config)
    texts = [d.full_text for d in docs]
    vocabulary = domain_vocabulary(
        texts, teacher.model.tokenizer, size=config.vocabulary_size, min_count=config.min_count
    )
    logger.info(
        "distill: %d domain words added to the teacher's %d tokens", len(vocabulary), len(teacher.model.tokenizer)
    )
    static = distill_model(config, teacher, vocabulary)
    seconds["distill"] = time.perf_counter() - started
    tuned_texts: list[str] = []
    if config.domain_tune:
        started = time.perf_counter()
        tuned_texts = tuning_texts(docs, config.max_texts, config.seed)
        if len(tuned_texts) < 16:
            raise CorpusError(
                f"corpus {config.corpus.path} has {len(tuned_texts)} usable sentences, too few to domain-tune; "
                f"add documents or set domain_tune: false"
            )
        logger.info("distill: domain tuning on %d corpus texts embedded by the teacher", len(tuned_texts))
        static = domain_tune(config, static, teacher, tuned_texts)
        seconds["domain_tune"] = time.perf_counter() - started
    outcome = None
    if config.contrastive is not None:
        static, outcome = contrastive_step(config, config.contrastive, static, docs, out)
        seconds["contrastive"] = outcome.seconds
    set_max_length(static, config.max_length)
    result = DistillResult(
        out=out,
        teacher=teacher.identity(),
        vocabulary=len(static.tokens),
        domain_words=len(vocabulary),
        dim=int(static.dim),
        tuned_texts=len(tuned_texts),
        seconds=seconds,
        contrastive=None if outcome is None else asdict(outcome),
    )
    report = {**{k: v for k, v in asdict(result).items() if k != "out"}, "settings": to_dict(config)}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        static.save_pretrained(str(tmp))
        (tmp / REPORT_FILE).write_text(dumps_json(report), encoding="utf-8")
    return result
