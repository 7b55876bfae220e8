"""Help that helps: `ctxembed --help` and each subcommand say what they do for the user, with examples."""

from __future__ import annotations

import pytest

from ctxembed.cli.descriptions import COMMANDS
from ctxembed.cli.parser import build_parser


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return capsys.readouterr().out


def test_the_overview_is_for_users(capsys):
    text = _help(capsys)
    assert "Adapt embedding models to your own documents" in text and "examples:" in text
    assert "argument parser" not in text and "module that runs it" not in text


def test_every_subcommand_says_what_it_does_and_shows_examples(capsys):
    names = set(build_parser()._subparsers._group_actions[0].choices)
    assert names == set(COMMANDS)  # a new subcommand needs its description
    for name in names:
        text = _help(capsys, name)
        description = " ".join(text.split("\n\n")[1].split())  # after the usage block
        assert description == " ".join(COMMANDS[name][0].split()), name
        assert f"examples:\n  ctxembed {name}" in text, name
