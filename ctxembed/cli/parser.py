"""The `ctxembed` argument parser: one subcommand per workflow, each naming the module that runs it
(imported only when that subcommand runs); what the help says to users is in `descriptions.py`."""

from __future__ import annotations

import argparse
from typing import Any

from ctxembed.cli.descriptions import describe
from ctxembed.cli.field_help import HELP_FROM, ConfigHelpFormatter


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one subcommand per workflow."""
    from ctxembed._version import __version__

    parser = argparse.ArgumentParser(prog="ctxembed")
    parser.add_argument("--version", action="version", version=f"ctxembed {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show library logs and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = _command(
        sub,
        "index",
        "ctxembed.config:IndexRunConfig",
        help="embed a corpus with one backend and save a FAISS index",
        yaml="YAML run config (see configs/)",
    )
    _override(p, "--backend", key="backend", choices=["static", "contextual"])
    _override(p, "--corpus", key="corpus.path")
    _override(p, "--adapter", key="contextual.adapter")
    _override(p, "--vectors", key="static.vectors")
    _override(
        p,
        "--trust-pickle",
        key="static.trust_pickle",
        action="store_true",
    )
    _override(p, "--factory", key="index.factory")
    _override(
        p,
        "--precision",
        key="contextual.precision",
        choices=["fp32", "bf16", "int8", "auto"],
    )
    _override(
        p,
        "--sparse",
        key="index.sparse",
        choices=["bm25", "none"],
    )
    _override(p, "--passages", key="index.passages.mode", choices=["auto", "none"])
    _override(p, "--passage-tokens", key="index.passages.max_tokens", type=int)
    _names(p, "--out", key="out", required=True, help="index folder to write")
    _names(p, "--overwrite", key="overwrite", action="store_true", help="replace an existing index folder")
    p.add_argument("--resume", action="store_true", help="continue an interrupted build of --out from its checkpoint")
    p.add_argument("--engine", choices=["local", "ray"], default="local", help="encode here, or on Ray workers")
    p.add_argument("--address", help="Ray cluster address (--engine ray; default: start Ray on this machine)")
    p.add_argument("--workers", type=int, help="Ray workers (default: one per CPU Ray offers)")
    p.set_defaults(command_at="index:cmd_index")

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
    _names(
        p,
        "--fusion",
        key="fusion.method",
        choices=["convex", "rrf"],
        help="how hybrid combines the sides (default: the index's)",
    )
    _names(
        p,
        "--weight",
        key="fusion.weight",
        type=float,
        help="BM25's weight in hybrid search, 0 to 1 (default: the index's)",
    )
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="COND",
        help="keep documents whose metadata match: field=value, field!=value, 'field in a,b', field>=3 (also >, <=, "
        "<); repeat for several (all must hold)",
    )
    _index_model_flags(p)
    p.set_defaults(command_at="search:cmd_search")

    p = sub.add_parser("update", help="add or replace documents of a saved index, encoding only those")
    p.add_argument("index", help="index folder written by `ctxembed index`")
    p.add_argument("--corpus", help="the new and changed documents, in any corpus format `index` reads")
    p.add_argument("--batch-size", type=int, default=64, help="texts encoded per batch (default 64)")
    p.add_argument(
        "--compact", action="store_true", help="write the index whole again, without its deleted documents' traces"
    )
    _index_model_flags(p)
    p.set_defaults(command_at="update:cmd_update")

    p = sub.add_parser("delete", help="delete documents from a saved index by id")
    p.add_argument("index", help="index folder written by `ctxembed index`")
    p.add_argument("ids", nargs="*", metavar="ID", help="ids of the documents to delete")
    p.add_argument("--ids", dest="ids_file", help="file with one id per line")
    _index_model_flags(p)
    p.set_defaults(command_at="update:cmd_delete")

    p = sub.add_parser("tune-fusion", help="choose an index's hybrid BM25 weight on labelled queries")
    p.add_argument("index", help="index folder with a sparse side (built with --sparse bm25, the default)")
    p.add_argument("--dataset", required=True, help="BEIR folder whose corpus built the index (queries + qrels)")
    p.add_argument("--split", default="dev", help="qrels split to tune on (default dev; keep test for reporting)")
    p.add_argument("--dry-run", action="store_true", help="print the comparison, leave the manifest as it is")
    _index_model_flags(p)
    p.set_defaults(command_at="search:cmd_tune_fusion")

    p = _command(
        sub,
        "finetune",
        "ctxembed.contextual.settings:ContextualFinetuneConfig",
        "ctxembed.static.settings:StaticFinetuneConfig",
        help="adapt a model to domain text: LoRA/full (contextual) or gensim (static)",
        yaml="YAML finetune config (configs/contextual-lora.yaml)",
    )
    _override(p, "--corpus", key="corpus.path")
    _override(p, "--pairs", key="pairs")
    _override(p, "--model", key="contextual.model")
    _override(p, "--vectors", key="vectors")
    p.add_argument("--backend", choices=["static", "contextual"], help="override the config's backend")
    _override(p, "--out", key="out")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint of an unfinished run")
    _names(p, "--overwrite", key="overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(command_at="train:cmd_finetune")

    p = _command(
        sub,
        "distill",
        "ctxembed.distill.settings:DistillConfig",
        help="distil a static model2vec model from a contextual one (LoRA merged)",
        yaml="YAML distill config (configs/distill.yaml)",
    )
    _override(p, "--corpus", key="corpus.path")
    _override(p, "--teacher", key="teacher")
    _override(p, "--adapter", key="adapter")
    _override(p, "--pairs", key="pairs")
    _override(p, "--out", key="out")
    _names(p, "--overwrite", key="overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(command_at="train:cmd_distill")

    p = _command(
        sub,
        "senses",
        "ctxembed.evaluate.corpus_senses:SensesConfig",
        help="find words the corpus uses in several senses; compare static neighbours",
        yaml="YAML senses config (configs/senses.yaml)",
    )
    _override(p, "--corpus", key="corpus.path")
    p.add_argument("--words", help="comma-separated words to inspect instead of finding them")
    _override(p, "--out", key="out")
    _names(p, "--overwrite", key="overwrite", action="store_true", help="replace an existing report folder")
    p.set_defaults(command_at="compare:cmd_senses")

    p = sub.add_parser("export", help="merge a LoRA adapter into its base model")
    p.add_argument("adapter", help="adapter folder written by `ctxembed finetune`")
    p.add_argument("--merge", action="store_true", required=True, help="merge the adapter weights (required)")
    _names(p, "--out", key="out", required=True, help="folder for the standalone model")
    _names(p, "--overwrite", key="overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(command_at="train:cmd_export")

    p = _command(
        sub,
        "evaluate",
        "ctxembed.evaluate.settings:EvaluateConfig",
        help="compare BM25, static and contextual models in one report",
        yaml="YAML evaluate config (configs/evaluate.yaml)",
    )
    _override(p, "--dataset", key="dataset")
    _override(p, "--split", key="split")
    p.add_argument(
        "--precision", choices=["fp32", "bf16", "int8", "auto"], help="override each contextual model's precision"
    )
    _override(p, "--out", key="out")
    _names(p, "--overwrite", key="overwrite", action="store_true", help="replace an existing report folder")
    p.set_defaults(command_at="compare:cmd_evaluate")

    p = _command(
        sub,
        "serve",
        "ctxembed.serve.settings:ServeConfig",
        help="serve saved indexes over HTTP: search, embeddings and a comparison page",
    )
    p.add_argument("indexes", nargs="+", metavar="INDEX", help="index folders (`ctxembed index` output)")
    p.add_argument("--device", help="cpu or cuda (contextual indexes)")
    _override(p, "--host", key="host")
    _override(p, "--port", key="port", type=int)
    _override(p, "--api-key", key="api_key")
    _override(p, "--max-k", key="max_k", type=int)
    _override(p, "--max-batch", key="max_batch", type=int)
    _override(p, "--max-body-bytes", key="max_body_bytes", type=int)
    _override(p, "--timeout", key="timeout_s", type=float)
    _override(p, "--max-concurrency", key="max_concurrency", type=int)
    _override(p, "--max-queue", key="max_queue", type=int)
    p.set_defaults(command_at="serve:cmd_serve")

    p = _command(
        sub,
        "demo",
        "ctxembed.config:DemoConfig",
        help="index one corpus with both backends and compare hits side by side",
        yaml="YAML demo config (configs/demo.yaml)",
    )
    _override(p, "--corpus", key="corpus.path")
    _names(p, "--out", key="out", help="also save both indexes under this folder")
    _names(p, "--overwrite", key="overwrite", action="store_true", help="replace existing indexes under --out")
    p.set_defaults(command_at="compare:cmd_demo")
    describe(parser, sub)
    return parser


def _command(sub: Any, name: str, *configs: str, help: str, yaml: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose override flags take their help from the fields of `configs` ("module:Class");
    with `yaml` (its help), it reads a YAML config (`--config`) that those flags override."""
    p = sub.add_parser(name, help=help, formatter_class=ConfigHelpFormatter)
    if yaml:
        p.add_argument("--config", help=yaml)
    p.set_defaults(help_configs=configs, reads_yaml=bool(yaml))
    return p


def _index_model_flags(p: argparse.ArgumentParser) -> None:
    """The flags of commands that load a saved index: where its model is now, and how to run it."""
    p.add_argument("--device", help="cpu or cuda (contextual indexes)")
    p.add_argument("--model", help="where the index's model (or vectors) is now, if it moved; checked by content")
    p.add_argument("--adapter", help="where the index's LoRA adapter is now, if it moved; checked by content")
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16", "int8", "auto"],
        help="encode queries at this precision (default: the index's)",
    )


def _override(p: argparse.ArgumentParser, *names: str, key: str, **kwargs: Any) -> None:
    """A flag that overrides the config's dotted `key`: declared once here, read by `config_overrides`, and
    named by `flag_for` when an error is about that key."""
    if kwargs.get("action") == "store_true":
        kwargs["default"] = None  # unset: the config decides
    prefix = f"override {key}: " if p.get_default("reads_yaml") else ""  # without a YAML config, nothing to override
    kwargs.setdefault("help", prefix + key)
    action = p.add_argument(*names, **kwargs)
    setattr(action, HELP_FROM, (p.get_default("help_configs") or (), key, prefix))
    _declare(p, action, key, overrides=True)


def _names(p: argparse.ArgumentParser, *names: str, key: str, **kwargs: Any) -> None:
    """A flag that is not a config override but is what fixes errors about `key` (e.g. --overwrite)."""
    _declare(p, p.add_argument(*names, **kwargs), key, overrides=False)


def _declare(p: argparse.ArgumentParser, action: argparse.Action, key: str, *, overrides: bool) -> None:
    flags = {**(p.get_default("setting_flags") or {}), key: (action.dest, action.option_strings[0], overrides)}
    p.set_defaults(setting_flags=flags)


def config_overrides(args: argparse.Namespace, config: Any = None) -> dict[str, Any]:
    """{dotted key: value} of the command's override flags (those a `config` has, when one is given)."""
    flags = getattr(args, "setting_flags", None) or {}
    return {
        key: getattr(args, dest)
        for key, (dest, _, overrides) in flags.items()
        if overrides and (config is None or hasattr(config, key.split(".")[0]))
    }


def flag_for(args: argparse.Namespace | None, key: str | None) -> str | None:
    """The command's flag for the setting `key` (a dotted config key, or `overwrite`), if it has one."""
    if args is None or key is None:
        return None
    for dotted, (_, flag, _) in (getattr(args, "setting_flags", None) or {}).items():
        if dotted == key or dotted.endswith(f".{key}"):
            return flag
    return None
