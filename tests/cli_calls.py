"""Running the `ctxembed` command line inside a test: one copy of the helpers every CLI test file uses."""

from __future__ import annotations

from pathlib import Path

from ctxembed.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one `ctxembed` call."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def static_index_args(corpus: Path, vectors: Path, out: Path, *extra: str) -> list[str]:
    """`ctxembed index` arguments for a static index of `corpus` with `vectors` into `out`."""
    return [
        "index",
        "--backend",
        "static",
        "--corpus",
        str(corpus),
        "--vectors",
        str(vectors),
        "--out",
        str(out),
        *extra,
    ]
