"""The `ctxembed` command line: YAML config -> dataclass -> library call -> printed lines.

`parser` defines the subcommands; each runs from its own module (`index`, `search`, `train`, `compare`),
imported only when it is called; `failures` turns an exception into one line and an exit code.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence

from ctxembed.cli.failures import describe_failure, show_warnings
from ctxembed.cli.output import printable
from ctxembed.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit 1, usage errors exit 2, unexpected failures exit 3."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    # progress lines of long steps; with -v also the trainers' per-step logs (debug)
    logging.getLogger("ctxembed").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:  # read by transformers and huggingface_hub when (and if) a command imports them
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    module, _, function = args.command_at.partition(":")
    try:
        with show_warnings():
            command = getattr(importlib.import_module(f"ctxembed.cli.{module}"), function)
            return int(command(args))
    except Exception as exc:
        if args.verbose:
            raise
        message, code = describe_failure(exc, args)
        print(f"ctxembed: error: {printable(message)}", file=sys.stderr)
        return code
