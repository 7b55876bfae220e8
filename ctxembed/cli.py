"""The `ctxembed` command line: YAML config -> dataclass -> library call."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ctxembed import analysis_commands, commands, index_command
from ctxembed.commands import printable, say
from ctxembed.errors import CtxEmbedError


@contextmanager
def _show_warnings() -> Iterator[None]:
    """Print warnings (ctxembed's, and those of peft, transformers, torch) as `warning:` lines, once each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warnings.simplefilter("ignore", DeprecationWarning)  # about the libraries' own code, not the user's run
        try:
            yield
        finally:
            seen: set[str] = set()
            for warning in caught:
                text = " ".join(str(warning.message).split())
                if text not in seen:
                    seen.add(text)
                    say(f"warning: {printable(text)}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one subcommand per workflow."""
    from ctxembed._version import __version__

    parser = argparse.ArgumentParser(prog="ctxembed", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ctxembed {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show library logs and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="embed a corpus with one backend and save a FAISS index")
    p.add_argument("--config", help="YAML run config (see configs/)")
    p.add_argument("--backend", choices=["static", "contextual"], help="override config's backend")
    p.add_argument("--corpus", help="override corpus.path")
    p.add_argument("--adapter", help="override contextual.adapter (a LoRA adapter folder)")
    p.add_argument("--vectors", help="override static.vectors (e.g. runs/glove-manpages/vectors.bin)")
    p.add_argument(
        "--trust-pickle", action="store_true", help="allow a gensim .kv file (a pickle that can run code) as --vectors"
    )
    p.add_argument("--factory", help="override index.factory (Flat, HNSW32, IVF256,Flat...)")
    p.add_argument(
        "--precision", choices=["fp32", "bf16", "int8", "auto"], help="override contextual.precision (encoding)"
    )
    p.add_argument("--sparse", choices=["bm25", "none"], help="override index.sparse (BM25 beside the vectors)")
    p.add_argument("--out", required=True, help="index folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing index folder")
    p.add_argument("--resume", action="store_true", help="continue an interrupted build of --out from its checkpoint")
    p.add_argument("--engine", choices=["local", "ray"], default="local", help="encode here, or on Ray workers")
    p.add_argument("--address", help="Ray cluster address (--engine ray; default: start Ray on this machine)")
    p.add_argument("--workers", type=int, help="Ray workers (default: one per CPU Ray offers)")
    p.set_defaults(func=index_command.cmd_index)

    p = sub.add_parser("search", help="query a saved index")
    p.add_argument("index", help="index folder written by `ctxembed index`")
    p.add_argument("query", nargs="*", help="query text(s)")
    p.add_argument("--queries", help="file with one query per line")
    p.add_argument("-k", type=int, default=10, help="hits per query (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON line per query (hybrid: each side's score)")
    p.add_argument(
        "--mode",
        choices=["dense", "sparse", "hybrid"],
        help="which side answers (default: hybrid if the index has BM25)",
    )
    p.add_argument("--fusion", choices=["convex", "rrf"], help="how hybrid combines the sides (default: the index's)")
    p.add_argument("--weight", type=float, help="BM25's weight in hybrid search, 0 to 1 (default: the index's)")
    p.add_argument("--device", help="cpu or cuda (contextual indexes)")
    p.add_argument("--model", help="where the index's model (or vectors) is now, if it moved; checked by content")
    p.add_argument("--adapter", help="where the index's LoRA adapter is now, if it moved; checked by content")
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16", "int8", "auto"],
        help="encode queries at this precision (default: the index's)",
    )
    p.set_defaults(func=commands.cmd_search)

    p = sub.add_parser("tune-fusion", help="choose an index's hybrid BM25 weight on labelled queries")
    p.add_argument("index", help="index folder with a sparse side (built with --sparse bm25, the default)")
    p.add_argument("--dataset", required=True, help="BEIR folder whose corpus built the index (queries + qrels)")
    p.add_argument("--split", default="dev", help="qrels split to tune on (default dev; keep test for reporting)")
    p.add_argument("--dry-run", action="store_true", help="print the comparison, leave the manifest as it is")
    p.add_argument("--device", help="cpu or cuda (contextual indexes)")
    p.add_argument("--model", help="where the index's model (or vectors) is now, if it moved; checked by content")
    p.add_argument("--adapter", help="where the index's LoRA adapter is now, if it moved; checked by content")
    p.add_argument("--precision", choices=["fp32", "bf16", "int8", "auto"], help="encode queries at this precision")
    p.set_defaults(func=commands.cmd_tune_fusion)

    p = sub.add_parser("finetune", help="adapt a model to domain text: LoRA/full (contextual) or gensim (static)")
    p.add_argument("--config", help="YAML finetune config (configs/contextual-lora.yaml)")
    p.add_argument("--corpus", help="override corpus.path (raw domain documents)")
    p.add_argument("--pairs", help="override pairs (JSONL of query/positive[/negative])")
    p.add_argument("--model", help="override contextual.model (the base model)")
    p.add_argument("--vectors", help="override vectors (static: the pretrained vectors)")
    p.add_argument("--backend", choices=["static", "contextual"], help="override the config's backend")
    p.add_argument("--out", help="override out (the adapter folder to write)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint of an unfinished run")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=commands.cmd_finetune)

    p = sub.add_parser("distill", help="distil a static model2vec model from a contextual one (LoRA merged)")
    p.add_argument("--config", help="YAML distill config (configs/distill.yaml)")
    p.add_argument("--corpus", help="override corpus.path (domain words and domain tuning)")
    p.add_argument("--teacher", help="override teacher (a model name or sentence-transformers folder)")
    p.add_argument("--adapter", help="override adapter (the teacher's LoRA adapter folder)")
    p.add_argument("--out", help="override out (the model2vec folder to write)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=analysis_commands.cmd_distill)

    p = sub.add_parser("senses", help="find words the corpus uses in several senses; compare static neighbours")
    p.add_argument("--config", help="YAML senses config (configs/senses.yaml)")
    p.add_argument("--corpus", help="override corpus.path")
    p.add_argument("--words", help="comma-separated words to inspect instead of finding them")
    p.add_argument("--out", help="override out (the report folder)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    p.set_defaults(func=analysis_commands.cmd_senses)

    p = sub.add_parser("export", help="merge a LoRA adapter into its base model")
    p.add_argument("adapter", help="adapter folder written by `ctxembed finetune`")
    p.add_argument("--merge", action="store_true", required=True, help="merge the adapter weights (required)")
    p.add_argument("--out", required=True, help="folder for the standalone model")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=commands.cmd_export)

    p = sub.add_parser("evaluate", help="compare BM25, static and contextual models in one report")
    p.add_argument("--config", help="YAML evaluate config (configs/evaluate.yaml)")
    p.add_argument("--dataset", help="override dataset (a BEIR folder)")
    p.add_argument("--split", help="override split (default test)")
    p.add_argument(
        "--precision", choices=["fp32", "bf16", "int8", "auto"], help="override each contextual model's precision"
    )
    p.add_argument("--out", help="override out (the report folder)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    p.set_defaults(func=commands.cmd_evaluate)

    p = sub.add_parser("demo", help="index one corpus with both backends and compare hits side by side")
    p.add_argument("--config", help="YAML demo config (configs/demo.yaml)")
    p.add_argument("--corpus", help="override corpus.path")
    p.add_argument("--out", help="also save both indexes under this folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing indexes under --out")
    p.set_defaults(func=commands.cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit 1, usage errors exit 2, unexpected failures exit 3."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("ctxembed").setLevel(logging.INFO)  # progress lines of long steps
    if not args.verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    try:
        with _show_warnings():
            return int(args.func(args))
    except Exception as exc:
        if args.verbose:
            raise
        message, code = describe_failure(exc)
        print(f"ctxembed: error: {printable(message)}", file=sys.stderr)
        return code


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """One line and an exit code for a failed command: 1 for a problem the user can fix (ctxembed's own
    errors, a file or disk the system refused), 3 for anything else, reported as what it is, not blamed on
    the input."""
    if isinstance(exc, CtxEmbedError):
        return _with_flags(_describe(exc)), 1
    if isinstance(exc, OSError) and exc.strerror:
        return _describe(exc), 1
    if isinstance(exc, MemoryError):
        return "out of memory; lower the batch size or use a machine with more memory (rerun with -v for where)", 3
    detail = " ".join(str(exc).split())[:300]
    return (
        f"unexpected {type(exc).__module__}.{type(exc).__name__}: {detail} - a bug in ctxembed or a library it "
        f"uses, not a problem with your input; rerun with -v for the traceback and report it",
        3,
    )


# Library messages name config keys; on the command line these flags set them.


_FLAGS = {
    "(overwrite)": "(--overwrite)",
    "another output path": "another --out",
    "corpus.path": "corpus.path, --corpus",
    "static.trust_pickle: true": "static.trust_pickle: true or --trust-pickle",
    "set `pairs:`": "set `pairs:` (or --pairs)",
    "fusion.weight must": "fusion.weight (--weight) must",
}


def _with_flags(message: str) -> str:
    for key, flag in _FLAGS.items():
        message = message.replace(key, flag)
    return message


def _describe(exc: BaseException) -> str:
    """One line for an error; OS errors name the path and the cause."""
    if isinstance(exc, OSError) and not isinstance(exc, CtxEmbedError) and exc.strerror:
        where = exc.filename or ""
        hint = {
            "No space left on device": "free disk space or choose another --out",
            "Permission denied": "check its permissions, or choose a location you can use",
            "Not a directory": "a parent of the path is a file; choose another --out",
            "Read-only file system": "choose a writable location",
        }.get(exc.strerror, "check the path")
        return f"{where}: {exc.strerror}; {hint}" if where else f"{exc.strerror}; {hint}"
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
