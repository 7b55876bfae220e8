"""`ctxembed index`: a streaming, resumable build, encoded here or on Ray workers, with progress lines."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ctxembed.cli.output import say
from ctxembed.cli.parser import config_overrides
from ctxembed.errors import CtxEmbedError


def cmd_index(args: argparse.Namespace) -> int:
    from ctxembed import load_embedder
    from ctxembed._io import check_output_folder
    from ctxembed.config import IndexRunConfig
    from ctxembed.config.loading import load_config, override
    from ctxembed.data import corpus_source, iter_corpus
    from ctxembed.index import build_index

    config = load_config(IndexRunConfig, args.config) if args.config else IndexRunConfig()
    config = override(config, **config_overrides(args))
    check_output_folder(args.out, args.overwrite)  # fails fast, before a model loads
    source = corpus_source(config.corpus)  # also fails fast on a missing corpus, before a model loads
    started = time.perf_counter()
    backend = config.backend.value
    embedder = load_embedder(backend, getattr(config, backend))
    say(
        f"{backend}: loaded {embedder.identity()['model']} (dim {embedder.dim}) in {time.perf_counter() - started:.1f}s"
    )
    progress, encode = _Progress(), _engine(args, embedder, config.index.batch_size)
    try:
        index = build_index(
            embedder,
            lambda: iter_corpus(config.corpus),
            args.out,
            factory=config.index.factory,
            nprobe=config.index.nprobe,
            ef_search=config.index.ef_search,
            batch_size=config.index.batch_size,
            chunk_size=config.index.chunk_size,
            checkpoint_seconds=config.index.checkpoint_seconds,
            resume=args.resume,
            overwrite=args.overwrite,
            source=source,
            encode=encode,
            on_progress=progress,
            sparse=config.index.sparse == "bm25",
            fusion=config.index.fusion,
            passages=config.index.passages,
        )
    finally:
        progress.close()
    sides = " and BM25" if index.sparse is not None else ""
    split = f", {len(index.passages)} passages" if index.passages.split else ""
    say(
        f"saved {len(index)} documents ({index.factory}{split}){sides} to {args.out} "
        f"in {time.perf_counter() - started:.1f}s"
    )
    if index.sparse is not None:
        say(fusion_summary(index))
    return 0


def fusion_summary(index: Any) -> str:
    """One line on the index's hybrid weight: how it was chosen and what the pseudo-queries showed."""
    from ctxembed.retrieval.fusion import describe

    chosen = index.fusion_chosen
    if chosen is None:
        source = "set in the config" if index.fusion.weight is not None else "too few pseudo-queries to choose one"
        return f"hybrid: {describe(index.fusion)} ({source})"
    ndcg = chosen["ndcg@10"]
    seen = f"BM25 {ndcg['sparse']:.3f}, model {ndcg['dense']:.3f}"
    if chosen["alone"] is None:
        seen += f", fused {ndcg[str(chosen['weight'])]:.3f}"
    return (
        f"hybrid: {describe(index.fusion)}, chosen without labels on {chosen['queries']} pseudo-queries mined from "
        f"the corpus (nDCG@10 there: {seen}; {chosen['seconds']:.1f}s)"
    )


def _engine(args: argparse.Namespace, embedder: Any, batch_size: int) -> Any:
    """None (encode in this process), or a Ray encoder on a local Ray or the cluster at --address."""
    if args.engine != "ray":
        return None
    if args.workers is not None and args.workers < 1:
        raise CtxEmbedError(f"--workers must be >= 1, got {args.workers}")
    from ctxembed.assets import require

    ray = require("ray", "--engine ray: pip install 'ctxembed[scale]' (or pip install ray)")
    from ctxembed.index.ray import RayEncoder

    if not ray.is_initialized():
        ray.init(address=args.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    encoder = RayEncoder(embedder.identity(), workers=args.workers, batch_size=batch_size)
    say(f"ray: encoding on {encoder.workers} workers ({args.address or 'this machine'})")
    return encoder


class _Progress:
    """A tqdm bar (documents/s and ETA) fed by `build_index`; says so when a build resumed."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, progress: Any) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            if progress.resumed_from:
                say(f"resumed an interrupted build after {progress.resumed_from} documents")
            self.bar = tqdm(
                total=progress.total, initial=progress.resumed_from, unit="doc", desc="index", file=sys.stderr
            )
        self.bar.update(progress.read - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
