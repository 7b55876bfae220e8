"""Running the `ctxembed` command line inside a test: one copy of the helpers every CLI test file uses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

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


def raising_after(items: Iterable[Any], after: int, error: BaseException) -> Iterator[Any]:
    """`items` until the `after`-th, then `error` (an interrupted read)."""
    for i, item in enumerate(items):
        if i == after:
            raise error
        yield item


def crash_build_pass(monkeypatch, after: int, error: BaseException) -> None:
    """`ctxembed index` reads the corpus twice (a count, then the build): make the build's read raise `error`
    at document `after`. `monkeypatch.undo()` restores the reader."""
    import ctxembed.data as data

    real, passes = data.iter_corpus, []

    def iter_corpus(config: Any) -> Iterator[Any]:
        passes.append(config)
        docs = real(config)
        return docs if len(passes) == 1 else raising_after(docs, after, error)

    monkeypatch.setattr(data, "iter_corpus", iter_corpus)
