"""The `ctxembed` command line: YAML config -> dataclass -> library call."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ctxembed.errors import CtxEmbedError, EmptyTextError


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
                    _say(f"warning: {_printable(text)}")


def _cmd_index(args: argparse.Namespace) -> int:
    from ctxembed._io import refuse_existing
    from ctxembed.config import IndexRunConfig
    from ctxembed.data import load_corpus
    from ctxembed.yaml_config import load_config, override

    config = load_config(IndexRunConfig, args.config) if args.config else IndexRunConfig()
    config = override(
        config,
        backend=args.backend,
        **{
            "corpus.path": args.corpus,
            "index.factory": args.factory,
            "contextual.adapter": args.adapter,
            "static.vectors": args.vectors,
            "static.trust_pickle": args.trust_pickle or None,
        },
    )
    refuse_existing(args.out, args.overwrite)
    docs = load_corpus(config.corpus)
    _say(f"corpus: {len(docs)} documents from {config.corpus.path}")
    index = _build(config.backend.value, config, docs)
    index.save(args.out, overwrite=args.overwrite)
    _say(f"saved {len(index)} vectors to {args.out}")
    return 0


def _build(backend: str, config: Any, docs: Sequence[Any]) -> Any:
    """Load one backend's embedder and index `docs` with progress output."""
    from ctxembed import VectorIndex, load_embedder

    started = time.perf_counter()
    embedder = load_embedder(backend, getattr(config, backend))
    elapsed = time.perf_counter() - started
    _say(f"{backend}: loaded {embedder.identity()['model']} (dim {embedder.dim}) in {elapsed:.1f}s")
    started = time.perf_counter()
    index = VectorIndex.build(
        embedder,
        docs,
        factory=config.index.factory,
        batch_size=config.index.batch_size,
        show_progress=True,
        nprobe=config.index.nprobe,
        ef_search=config.index.ef_search,
    )
    _say(f"{backend}: indexed {len(index)} documents in {time.perf_counter() - started:.1f}s")
    return index


def _cmd_search(args: argparse.Namespace) -> int:
    from ctxembed import VectorIndex, embedder_from_manifest
    from ctxembed.index_files import read_manifest

    if args.k < 1:
        raise CtxEmbedError(f"-k must be >= 1 (hits per query), got {args.k}")
    if args.queries:
        path = Path(args.queries)
        if not path.is_file():
            raise CtxEmbedError(f"queries file {path} not found; pass a file with one query per line")
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError as exc:
            raise CtxEmbedError(f"{path}: not UTF-8 (byte {exc.start}); re-encode the queries file as UTF-8") from None
        queries = [q.strip() for q in lines if q.strip()]
    else:
        queries = list(args.query)
    if not queries:
        raise CtxEmbedError('no query given; pass one or more queries ("...") or --queries FILE')
    manifest = read_manifest(args.index)
    embedder = embedder_from_manifest(manifest, args.index, device=args.device, model=args.model, adapter=args.adapter)
    index = VectorIndex.load(args.index, embedder)
    failed = 0
    for query in queries:
        try:
            (hits,) = index.search([query], k=args.k)
        except EmptyTextError as exc:  # one unknown query is reported; the others are still answered
            failed += 1
            if args.json:
                print(json.dumps({"query": query, "error": str(exc)}, ensure_ascii=False))
            else:
                print(f"query: {_printable(query)}\n  error: {_printable(str(exc))}")
            continue
        if args.json:
            print(json.dumps({"query": query, "hits": [h._asdict() for h in hits]}, ensure_ascii=False))
            continue
        print(f"query: {_printable(query)}")
        for rank, hit in enumerate(hits, start=1):
            print(f"  {rank:>2}. {hit.score:.4f}  [{_printable(hit.doc_id)}] {_snippet(hit.text, 90)}")
    return 1 if failed == len(queries) else 0


def _printable(text: str) -> str:
    """Text with control characters (terminal escape sequences) shown as escapes, not executed."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _snippet(text: str, width: int) -> str:
    text = _printable(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 3] + "..."


def _cmd_demo(args: argparse.Namespace) -> int:
    from ctxembed._io import refuse_existing
    from ctxembed.config import DemoConfig
    from ctxembed.data import load_corpus
    from ctxembed.yaml_config import load_config, override

    config = load_config(DemoConfig, args.config) if args.config else DemoConfig()
    config = override(config, **{"corpus.path": args.corpus})
    if args.out:
        refuse_existing(args.out, args.overwrite)
    docs = load_corpus(config.corpus)
    _say(f"corpus: {len(docs)} documents from {config.corpus.path}")
    indexes = {}
    for backend in ("static", "contextual"):
        indexes[backend] = _build(backend, config, docs)
        if args.out:
            out = Path(args.out) / backend
            indexes[backend].save(out, overwrite=args.overwrite)
            _say(f"{backend}: saved index to {out}")
    results = {b: idx.search(list(config.queries), k=config.k) for b, idx in indexes.items()}
    labels = [f"{backend} ({_model_label(index.embedder.identity())})" for backend, index in indexes.items()]
    width = 58
    for qi, query in enumerate(config.queries):
        print(f"\nquery: {query}")
        print(f"  {labels[0]:<{width + 18}}  {labels[1]}")
        for rank in range(config.k):
            cells = []
            for backend in ("static", "contextual"):
                hits = results[backend][qi]
                hit = hits[rank] if rank < len(hits) else None
                cells.append(f"{hit.score:.3f} [{hit.doc_id:>3}] {_snippet(hit.text, width)}" if hit else "")
            print(f"  {cells[0]:<{width + 18}}  {cells[1]}")
    return 0


def _model_label(identity: dict[str, Any]) -> str:
    """A short label: the model's name or folder name, its pooling if it has one."""
    name = Path(str(identity.get("model"))).name
    return f"{name}, {identity['pooling']}" if identity.get("pooling") else name


def _cmd_finetune(args: argparse.Namespace) -> int:
    from ctxembed.contextual.settings import ContextualFinetuneConfig
    from ctxembed.registry import finetune_config_class
    from ctxembed.static.settings import StaticFinetuneConfig
    from ctxembed.yaml_config import load_config, override

    cls = finetune_config_class(args.config, args.backend)
    if cls is StaticFinetuneConfig:
        return _finetune_static(args)
    config = load_config(ContextualFinetuneConfig, args.config) if args.config else ContextualFinetuneConfig()
    config = override(
        config,
        out=args.out,
        pairs=args.pairs,
        **{"corpus.path": args.corpus, "contextual.model": args.model},
    )
    from ctxembed.contextual.training import finetune_contextual

    result = finetune_contextual(config, resume=args.resume, overwrite=args.overwrite)
    metric = result.primary_metric
    share = 100 * result.trainable_params / result.total_params
    print(f"saved {'adapter' if config.lora else 'model'} to {result.out} ({result.size_mb:.1f} MB)")
    print(f"trainable parameters: {result.trainable_params:,} of {result.total_params:,} ({share:.2f}%)")
    print(
        f"training: {result.train_seconds:.0f}s, {result.data.get('steps')} steps, peak RSS {result.peak_rss_mb:.0f} MB"
    )
    c = result.comparison
    print(
        f"dev {metric}: base {result.base_metrics[metric]:.4f} -> tuned {result.tuned_metrics[metric]:.4f} "
        f"({c.delta:+.4f}, 95% paired-bootstrap interval {c.low:+.4f} to {c.high:+.4f} over {c.queries} queries; "
        f"dev set: {result.data.get('dev_set')})"
    )
    if not result.improved:
        _say(
            "warning: the tuned model does not beat the base model on dev by more than noise (the interval "
            "includes zero or lies below it); it is not an improvement: prefer the base model"
        )
    return 0


def _finetune_static(args: argparse.Namespace) -> int:
    from ctxembed.static.run import VECTORS_FILE, finetune_static
    from ctxembed.static.settings import StaticFinetuneConfig
    from ctxembed.yaml_config import load_config, override

    if args.pairs or args.model or args.resume:
        raise CtxEmbedError("--pairs, --model and --resume are for contextual fine-tuning; use --vectors for static")
    config = load_config(StaticFinetuneConfig, args.config) if args.config else StaticFinetuneConfig()
    config = override(config, out=args.out, vectors=args.vectors, **{"corpus.path": args.corpus})
    report = finetune_static(config, overwrite=args.overwrite)
    c = report["coverage"]
    print(f"saved {config.out}/{VECTORS_FILE}, report.md, report.json, neighbours.png")
    print(f"coverage: {100 * c['known_token_share']:.1f}% of tokens known, {c['new_types']} new words")
    for name, scores in report["lexical"].items():
        line = f"{name:>20}: SimLex {scores['simlex999_spearman']:.4f}  WordSim {scores['wordsim353_spearman']:.4f}"
        if "retrieval" in report:
            line += f"  nDCG@10 {report['retrieval'][name]['ndcg@10']:.4f}"
        print(line)
    for warning in report["warnings"]:
        _say(f"warning: {warning}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ctxembed.contextual.export import export_merged

    export_merged(args.adapter, args.out, overwrite=args.overwrite)
    print(f"saved merged model to {args.out}; load it with SentenceTransformer({str(args.out)!r})")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ctxembed._io import refuse_existing
    from ctxembed.evaluate.report import render_markdown, run_evaluation, write_report
    from ctxembed.evaluate.settings import EvaluateConfig
    from ctxembed.yaml_config import load_config, override

    config = load_config(EvaluateConfig, args.config) if args.config else EvaluateConfig()
    config = override(config, dataset=args.dataset, out=args.out, split=args.split)
    refuse_existing(config.out, args.overwrite)
    started = time.perf_counter()
    report = run_evaluation(config)
    out = write_report(report, config.out, overwrite=args.overwrite)
    print(render_markdown({**report, "words": {}}, []))
    _say(f"wrote {out}/report.md, report.json and plots in {time.perf_counter() - started:.0f}s")
    return 0


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
    p.add_argument("--out", required=True, help="index folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing index folder")
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser("search", help="query a saved index")
    p.add_argument("index", help="index folder written by `ctxembed index`")
    p.add_argument("query", nargs="*", help="query text(s)")
    p.add_argument("--queries", help="file with one query per line")
    p.add_argument("-k", type=int, default=10, help="hits per query (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON line per query")
    p.add_argument("--device", help="cpu or cuda (contextual indexes)")
    p.add_argument("--model", help="where the index's model (or vectors) is now, if it moved; checked by content")
    p.add_argument("--adapter", help="where the index's LoRA adapter is now, if it moved; checked by content")
    p.set_defaults(func=_cmd_search)

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
    p.set_defaults(func=_cmd_finetune)

    p = sub.add_parser("export", help="merge a LoRA adapter into its base model")
    p.add_argument("adapter", help="adapter folder written by `ctxembed finetune`")
    p.add_argument("--merge", action="store_true", required=True, help="merge the adapter weights (required)")
    p.add_argument("--out", required=True, help="folder for the standalone model")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("evaluate", help="compare BM25, static and contextual models in one report")
    p.add_argument("--config", help="YAML evaluate config (configs/evaluate.yaml)")
    p.add_argument("--dataset", help="override dataset (a BEIR folder)")
    p.add_argument("--split", help="override split (default test)")
    p.add_argument("--out", help="override out (the report folder)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("demo", help="index one corpus with both backends and compare hits side by side")
    p.add_argument("--config", help="YAML demo config (configs/demo.yaml)")
    p.add_argument("--corpus", help="override corpus.path")
    p.add_argument("--out", help="also save both indexes under this folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing indexes under --out")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit 1, usage errors exit 2."""
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
    except (CtxEmbedError, OSError, ValueError) as exc:  # user input, files, disks: one line, no traceback
        if args.verbose:
            raise
        print(f"ctxembed: error: {_printable(_with_flags(_describe(exc)))}", file=sys.stderr)
        return 1


# Library messages name config keys; on the command line these flags set them.
_FLAGS = {
    "(overwrite)": "(--overwrite)",
    "another output path": "another --out",
    "corpus.path": "corpus.path, --corpus",
    "static.trust_pickle: true": "static.trust_pickle: true or --trust-pickle",
    "set `pairs:`": "set `pairs:` (or --pairs)",
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
            "Permission denied": "choose a location you can write to",
            "Not a directory": "a parent of the path is a file; choose another --out",
            "Read-only file system": "choose a writable location",
        }.get(exc.strerror, "check the path")
        return f"{where}: {exc.strerror}; {hint}" if where else f"{exc.strerror}; {hint}"
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
