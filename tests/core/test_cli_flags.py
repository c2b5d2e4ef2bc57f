"""Every subcommand takes the common flags the README promises (`--json`, `--yes`, `--config`,
`--debug`), found by walking the real parser: a new command cannot forget them."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from cockpit.cli import build_parser


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
           ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command words, parser) of every command that runs (a parser with no subcommands)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for action in subs:
        for name, sub in action.choices.items():
            yield from leaves(sub, (*path, name))


COMMANDS = sorted(leaves(build_parser()), key=lambda item: item[0])


def test_the_walk_finds_the_commands():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"deploy", "secrets unset", "secrets list", "accessories", "scan"} <= names
    assert len(names) >= 25


@pytest.mark.parametrize("path, parser", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_takes_json_and_yes(path, parser):
    flags = {s for action in parser._actions for s in action.option_strings}
    missing = {"--json", "--yes", "--config", "--debug"} - flags
    assert not missing, f"cockpit {' '.join(path)} lacks {sorted(missing)}"


def test_secrets_unset_parses_yes_and_confirm():
    args = build_parser().parse_args(["secrets", "unset", "prod", "API_TOKEN", "--yes", "--json",
                                      "--confirm", "prod"])
    assert (args.yes, args.json, args.confirm) == (True, True, "prod")
