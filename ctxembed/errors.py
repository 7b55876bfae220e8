"""The small family of errors ctxembed raises for problems a user can fix."""

from __future__ import annotations


class CtxEmbedError(Exception):
    """Base class: a problem with the user's input, config or assets (not a bug).

    `key` names the setting that fixes it (a dotted config key such as `corpus.path`, or `overwrite`), so the
    command line can name its flag without rewriting the message.
    """

    key: str | None = None

    def __init__(self, message: str = "", *, key: str | None = None) -> None:
        super().__init__(message)
        if key is not None:
            self.key = key


class ConfigError(CtxEmbedError, ValueError):
    """A run config has an unknown key, a wrong type or conflicting values; `key` names it when known."""


class CorpusError(CtxEmbedError, ValueError):
    """A corpus file is empty, malformed or lacks a needed column."""

    key = "corpus.path"


class AssetNotFoundError(CtxEmbedError, FileNotFoundError):
    """A model, adapter or vector file cannot be found or is not installed."""


class IndexMismatchError(CtxEmbedError, ValueError):
    """An index was built by a different model than the one used to query it."""


class EmptyTextError(CtxEmbedError, ValueError):
    """A text has no token the model knows, so it has no embedding."""


class OutputExistsError(CtxEmbedError, FileExistsError):
    """An output path already holds an artifact and `overwrite` was not asked for."""


class DependencyError(CtxEmbedError, ImportError):
    """Installed packages do not work together (e.g. a transformers that needs a newer peft): not the input's fault."""
