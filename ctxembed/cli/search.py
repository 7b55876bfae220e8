"""`ctxembed search` and `ctxembed tune-fusion`: query a saved index, choose its fusion on labelled queries."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ctxembed.cli.output import printable, say
from ctxembed.errors import CtxEmbedError, EmptyTextError


def _open_index(args: argparse.Namespace) -> Any:
    """The index folder `args.index`, with the model its manifest names (moved paths from --model/--adapter)."""
    from ctxembed import VectorIndex, embedder_from_manifest
    from ctxembed.index.files import read_manifest

    embedder = embedder_from_manifest(
        read_manifest(args.index),
        args.index,
        device=args.device,
        model=args.model,
        adapter=args.adapter,
        precision=args.precision,
    )
    return VectorIndex.load(args.index, embedder)


def cmd_search(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise CtxEmbedError(f"-k must be >= 1 (hits per query), got {args.k}")
    if args.queries:
        path = Path(args.queries)
        if not path.is_file():
            raise CtxEmbedError(f"queries file {path} not found; pass a file with one query per line")
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError as exc:
            raise CtxEmbedError(f"{path}: not UTF-8 (byte {exc.start}); re-encode the queries file as UTF-8") from exc
        queries = [q.strip() for q in lines if q.strip()]
    else:
        queries = list(args.query)
    if not queries:
        raise CtxEmbedError('no query given; pass one or more queries ("...") or --queries FILE')
    index = _open_index(args)
    fusion = index.fusion
    if args.fusion is not None or args.weight is not None:
        from dataclasses import replace

        fusion = replace(fusion, method=args.fusion or fusion.method)
        if args.weight is not None:  # one weight for every query
            fusion = replace(fusion, weight=args.weight, questions=None)
    if (note := _alone_note(index, args, fusion)) is not None:
        say(note)
    failed = 0
    for query in queries:
        try:
            (hits,) = index.search([query], k=args.k, mode=args.mode, fusion=fusion, filter=args.filter or None)
        except EmptyTextError as exc:  # in a batch, one unknown query is reported and the others answered
            if len(queries) == 1:
                raise
            failed += 1
            if args.json:
                print(json.dumps({"query": query, "error": str(exc)}, ensure_ascii=False))
            else:
                print(f"query: {printable(query)}\n  error: {printable(str(exc))}")
            continue
        if args.json:
            print(json.dumps({"query": query, "hits": [h._asdict() for h in hits]}, ensure_ascii=False))
            continue
        print(f"query: {printable(query)}")
        for rank, hit in enumerate(hits, start=1):
            where = f" (passage at {hit.passage[0]})" if hit.passage else ""
            print(f"  {rank:>2}. {hit.score:.4f}  [{printable(hit.doc_id)}]{where} {printable(hit.snippet(90))}")
    return 1 if failed == len(queries) else 0


def _alone_note(index: Any, args: argparse.Namespace, fusion: Any) -> str | None:
    """Where the label-free choice left hybrid search to one side, a note saying so (once a run)."""
    chosen = index.fusion_chosen
    hybrid = args.mode == "hybrid" or (args.mode is None and index.sparse is not None)
    if not (hybrid and chosen and chosen.get("alone") and fusion.weight == chosen["weight"]):
        return None
    ndcg = chosen["ndcg@10"]
    side, other = ("BM25", "the model") if chosen["alone"] == "sparse" else ("the model", "BM25")
    better, weaker = (ndcg["sparse"], ndcg["dense"]) if chosen["alone"] == "sparse" else (ndcg["dense"], ndcg["sparse"])
    return (
        f"note: hybrid search on this index uses {side} alone: on {chosen['queries']} pseudo-queries mined from its "
        f"corpus, {other} scored nDCG@10 {weaker:.3f} against {better:.3f}; pass --weight to fuse anyway"
    )


def cmd_tune_fusion(args: argparse.Namespace) -> int:
    from ctxembed.evaluate.fusion_tuning import record_fusion, tune_fusion
    from ctxembed.retrieval.fusion import describe
    from ctxembed.scoring.beir import load_beir

    dataset = load_beir(args.dataset)  # fails on a bad dataset before a model loads
    queries, relevant = dataset.split(args.split)
    index = _open_index(args)
    started = time.perf_counter()
    choice = tune_fusion(index, queries, relevant)
    say(f"{args.index}: hybrid nDCG@10 on {choice.queries} {args.split} queries of {args.dataset}")
    for name, value in choice.ndcg.items():
        marks = " (current)" * (name == choice.current) + " <- best" * (name == describe(choice.chosen))
        say(f"  {name:>24}: {value:.4f}{marks}")
    c = choice.against_current
    current = "the label-free weight (current)" if index.fusion_chosen else "current"
    say(
        f"best vs {current}: {c.delta:+.4f} nDCG@10 (95% CI {c.low:+.4f} to {c.high:+.4f}), "
        f"{time.perf_counter() - started:.0f}s"
    )
    if describe(choice.chosen) == choice.current:
        say("the index's fusion is already the best here; manifest unchanged")
        return 0
    if not c.significant:
        say(f"warning: the gain is within noise on {choice.queries} queries; it may not hold on new queries")
    if args.dry_run:
        say("--dry-run: manifest unchanged")
        return 0
    record_fusion(args.index, choice, {"dataset": str(args.dataset), "split": args.split})
    say(f"recorded {describe(choice.chosen)} in {Path(args.index) / 'manifest.json'}; search uses it from now on")
    return 0
