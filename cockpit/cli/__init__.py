"""`cockpit` on the command line: every action as a plain command with `--json` output.

With no arguments it opens the TUI (the wizard when no cockpit.toml is found). Subcommands live in
this package, one module each (`add_parser(sub)` and its `run(args) -> int`), discovered at start;
their heavy imports stay inside `run`. Modules whose names start with `_` are shared helpers.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from cockpit import __version__
from cockpit.errors import EXIT_FAILED, CockpitError


def build_parser() -> argparse.ArgumentParser:
    import cockpit.cli as package

    parser = argparse.ArgumentParser(
        prog="cockpit",
        description="Deploy an app that works on your machine: scan, deploy to staging behind a "
        "health gate, promote the same image to prod, roll back. No arguments opens the TUI.",
    )
    parser.add_argument("--version", action="version", version=f"cockpit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cockpit.cli.{info.name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("--config=") or argv[:1] == ["--config"]:
        return _tui(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from cockpit.output import make

    renderer = make(getattr(args, "json", False))
    try:
        return int(args.func(args) or 0)
    except CockpitError as exc:
        renderer.error(exc)
        if getattr(args, "debug", False):
            raise
        return exc.exit_code
    except KeyboardInterrupt:
        renderer.error(CockpitError("interrupted"))
        return 130
    except Exception as exc:  # a bug: say so plainly, traceback only with --debug
        if getattr(args, "debug", False):
            raise
        from cockpit.redaction import redact

        renderer.error(CockpitError(
            f"internal error: {type(exc).__name__}: {redact(str(exc))}",
            hint="re-run with --debug for the traceback, and please report it",
        ))
        return EXIT_FAILED


def _tui(argv: list[str]) -> int:
    path: Path | None = None
    if argv:
        value = argv[0].split("=", 1)[1] if "=" in argv[0] else (argv[1] if len(argv) > 1 else "")
        path = Path(value) if value else None
    from cockpit.screens.app import run

    return run(path)
