"""`ctxembed update` and `ctxembed delete`: change a saved index in place."""

from __future__ import annotations

import argparse
from pathlib import Path

from ctxembed.cli.output import say
from ctxembed.errors import CtxEmbedError


def _embedder(args: argparse.Namespace):
    """The model the index's manifest names (moved paths from --model/--adapter); refused if it is not that one."""
    from ctxembed import embedder_from_manifest
    from ctxembed.index.files import read_manifest

    return embedder_from_manifest(
        read_manifest(args.index), args.index, device=args.device, model=args.model, adapter=args.adapter,
        precision=args.precision,
    )  # fmt: skip


def _report(args: argparse.Namespace, report) -> int:
    changes = f"{report.added} added, {report.replaced} replaced, {report.deleted} deleted"
    how = ", compacted" if report.compacted else ""
    say(
        f"{args.index}: {changes}; {report.documents} documents (generation {report.generation}{how}) in "
        f"{report.seconds:.1f}s"
    )
    for note in report.notes:
        say(f"note: {note}")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from ctxembed.config import CorpusConfig
    from ctxembed.data import load_corpus
    from ctxembed.index.update import update_index

    if args.batch_size < 1:
        raise CtxEmbedError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.corpus is None and not args.compact:
        raise CtxEmbedError("nothing to do: pass --corpus CHANGES (new and changed documents), or --compact")
    changes = load_corpus(CorpusConfig(path=args.corpus)) if args.corpus else []  # before a model loads
    report = update_index(
        args.index, _embedder(args), changes=changes, batch_size=args.batch_size, compact=args.compact
    )
    return _report(args, report)


def cmd_delete(args: argparse.Namespace) -> int:
    from ctxembed.index.update import update_index

    ids = list(args.ids)
    if args.ids_file:
        path = Path(args.ids_file)
        if not path.is_file():
            raise CtxEmbedError(f"ids file {path} not found; pass a file with one document id per line")
        try:
            ids += [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
        except UnicodeDecodeError as exc:
            raise CtxEmbedError(f"{path}: not UTF-8 (byte {exc.start}); re-encode the ids file as UTF-8") from exc
    if not ids:
        raise CtxEmbedError("no id given; pass ids to delete (ctxembed delete INDEX ID ...) or --ids FILE")
    return _report(args, update_index(args.index, _embedder(args), deletes=ids))
