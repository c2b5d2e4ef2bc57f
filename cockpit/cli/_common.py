"""Flags and set-up shared by every subcommand."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from cockpit.errors import Refused
from cockpit.provider import Context, Options


def common(json: bool = True, yes: bool = True, confirm: bool = False,
           dry_run: bool = False, trust: bool = False) -> argparse.ArgumentParser:
    """A parent parser with the flags a subcommand takes (`parents=[common(...)]`).
    Every subcommand takes `--config`, `--debug`, `--json` and `--yes` (as the README says;
    a command that never asks ignores --yes); checked for every parser by
    tests/core/test_cli_flags.py, so keep `json` and `yes` on."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", "-c", metavar="PATH",
                        help="cockpit.toml to use (default: search from the current directory)")
    parent.add_argument("--debug", action="store_true", help="show tracebacks")
    if json:
        parent.add_argument("--json", action="store_true",
                            help="NDJSON events on stdout, then one result object")
    if yes:
        parent.add_argument("--yes", "-y", action="store_true",
                            help="answer ordinary prompts with yes (prod still needs --confirm;"
                            " a command that never asks ignores it)")
    if confirm:
        parent.add_argument("--confirm", metavar="ENV",
                            help="type the protected environment's name to allow the action")
    if dry_run:
        parent.add_argument("--dry-run", action="store_true",
                            help="print the plan and change nothing")
    if trust:
        parent.add_argument("--trust-host", action="append", default=[], metavar="SHA256:...",
                            help="trust this SSH host key fingerprint (repeatable)")
    return parent


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def ask(question: str) -> bool:
    if not interactive():
        return False
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def typed_confirmation(env: str) -> str | None:
    """For protected environments: the user must type the name (only on a terminal)."""
    if not interactive():
        return None
    sys.stderr.write(f"This changes {env!r}. Type the environment name to go on: ")
    sys.stderr.flush()
    return sys.stdin.readline().strip()


def options(args: argparse.Namespace) -> Options:
    return Options(
        yes=getattr(args, "yes", False),
        confirm=getattr(args, "confirm", None),
        dry_run=getattr(args, "dry_run", False),
        trust_host=list(getattr(args, "trust_host", []) or []),
        ask=None if getattr(args, "json", False) else (ask if interactive() else None),
        confirm_typed=None if getattr(args, "json", False) else (
            typed_confirmation if interactive() else None),
        debug=getattr(args, "debug", False),
        no_watch=getattr(args, "no_watch", False),
        skip_backup=getattr(args, "skip_backup", False),
    )


def load_config(args: argparse.Namespace):
    from cockpit import config

    return config.load(Path(args.config) if getattr(args, "config", None) else None)


def load_context(args: argparse.Namespace) -> Context:
    from cockpit.secrets import SecretStore
    from cockpit.state import Store

    cfg = load_config(args)
    return Context(config=cfg, store=Store.open(cfg.app.name), secrets=SecretStore(cfg.app.name),
                   options=options(args))


def renderer(args: argparse.Namespace):
    from cockpit.output import make

    return make(getattr(args, "json", False))


def read_secret_value(name: str) -> str:
    """A value from a hidden prompt on a terminal, or from stdin when piped; never argv."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"{name} (input hidden): ")
        second = getpass.getpass(f"{name} again: ")
        if first != second:
            raise Refused("the two values differ; nothing was stored")
        return first
    data = sys.stdin.read()
    return data[:-1] if data.endswith("\n") else data
