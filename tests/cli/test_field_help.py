"""Override flags take their help (and default) from the config fields they set."""

from __future__ import annotations

import importlib

import pytest

from ctxembed.cli.field_help import HELP_FROM, field_help
from ctxembed.cli.parser import build_parser


def _override_flags():
    commands = build_parser()._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        for action in sub._actions:
            if getattr(action, HELP_FROM, None):
                yield name, sub, action


def test_every_override_flag_names_a_documented_config_field():
    """A flag whose key is not a field (a typo, a renamed setting) or whose field has no help fails here."""
    flags = list(_override_flags())
    assert {name for name, _, _ in flags} >= {"index", "finetune", "distill", "senses", "evaluate", "serve", "demo"}
    for name, _, action in flags:
        configs, key, _ = getattr(action, HELP_FROM)
        assert field_help(*configs, key), f"ctxembed {name} {action.option_strings[0]}: no field help for {key}"


def test_help_shows_the_field_text_and_default(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["distill", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--teacher TEACHER override teacher: The contextual teacher: a well-known name" in out
    assert "(default: runs/distilled)" in out


def test_help_without_an_extra_keeps_the_short_text(monkeypatch, capsys):
    real = importlib.import_module

    def missing_extra(name, *args, **kwargs):
        if name.startswith("ctxembed.serve"):
            raise ImportError("ctxembed serve: pip install 'ctxembed[serve]'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", missing_extra)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--max-k MAX_K max_k" in out  # the flag is still listed, with its key
