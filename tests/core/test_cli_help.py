"""`--help` of the stateful commands says what each does, its safety rule and an example, and
every positional and option it adds has a help string."""

from __future__ import annotations

import argparse

import pytest

from cockpit.cli import build_parser

COMMANDS = ["backup", "backups", "restore", "remove", "exec", "accessories"]


def _sub(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_a_description_with_an_example(name):
    p = _sub(name)
    assert p.description and 2 <= len(p.description.strip().splitlines()) <= 4, p.description
    assert f"Example: cockpit {name} " in p.format_help()


@pytest.mark.parametrize("name", ["backup", "backups", "restore"])
def test_every_argument_has_help(name):
    p = _sub(name)
    bare = [a.dest for a in p._actions if a.help is None]
    assert not bare, f"cockpit {name}: {bare} have no help"


def test_backup_usage_names_both_forms():
    usage = _sub("backup").format_usage()
    assert usage.strip() == ("usage: cockpit backup ENV NAME [--keep N] | "
                             "cockpit backup schedule ENV NAME [--every PERIOD] [--keep N]")
    # the usage line is only words: both forms still parse as before
    args = build_parser().parse_args(["backup", "schedule", "prod", "postgres", "--every", "24h"])
    assert (args.env, args.name, args.rest, args.every) == ("schedule", "prod", "postgres", "24h")
    args = build_parser().parse_args(["backup", "prod", "postgres", "--keep", "3"])
    assert (args.env, args.name, args.rest, args.keep) == ("prod", "postgres", None, 3)
