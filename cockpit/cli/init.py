"""`cockpit init`: write a commented cockpit.toml with a staging and a prod environment."""

from __future__ import annotations

import argparse
from pathlib import Path

from cockpit.cli._common import common, renderer
from cockpit.config import FILENAME, loads, write_atomic
from cockpit.errors import UsageError
from cockpit.scan.detect import DEFAULT_HEALTH_PATH
from cockpit.template import (
    lab_values,
    render,
    render_for_scan,
    scan_or_none,
    secrets_for_scan,
    slug,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", parents=[common()], help="write a commented cockpit.toml",
                       description=__doc__)
    p.add_argument("path", nargs="?", default=".", help="the app's directory (default: .)")
    p.add_argument("--name", help="app name (default: the directory name)")
    p.add_argument("--provider", default="vps", choices=["vps", "kubernetes", "fly"])
    p.add_argument("--port", type=int, help="port the app listens on (default: from the scan)")
    p.add_argument("--health-path", help="health endpoint (default: from the scan, else /up)")
    p.add_argument("--host", default=None, help="VPS host (vps provider)")
    p.add_argument("--user", default=None, help="SSH user (vps provider)")
    p.add_argument("--ssh-port", type=int, default=None, help="SSH port (vps provider)")
    p.add_argument("--secret", action="append", default=[], metavar="NAME",
                   help="a secret name both environments need (repeatable)")
    p.add_argument("--lab", action="store_true",
                   help="fill in the local lab's addresses (from `scripts/lab env`)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing cockpit.toml (the old one is kept as .bak)")
    p.add_argument("--interactive", action="store_true", help="open the TUI wizard instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = renderer(args)
    root = Path(args.path).resolve()
    if args.interactive:
        from cockpit.screens.app import run as run_tui

        return run_tui(root / FILENAME, interactive_init=True)
    target = root / FILENAME
    if target.exists() and not args.force:
        raise UsageError(f"{target} already exists", hint="use --force to replace it (keeps .bak)")
    result = scan_or_none(root)
    secrets = list(args.secret)
    if result is not None:
        secrets += [n for n in secrets_for_scan(result) if n not in secrets]
    lab = lab_values() if args.lab else None
    vps = {"host": args.host, "user": args.user, "ssh_port": args.ssh_port}
    if lab:
        vps = {"host": args.host or lab["host"], "user": args.user or lab["user"],
               "ssh_port": args.ssh_port or lab["ssh_port"]}
    name = slug(args.name or root.name)
    if result is not None:
        text = render_for_scan(name, result, args.provider, vps, lab, port=args.port,
                               health=args.health_path, secrets=secrets)
    else:
        text = render(name, args.provider, int(args.port or 8000),
                      args.health_path or DEFAULT_HEALTH_PATH, secrets, vps, lab)
    loads(text, target)  # never write a file that does not load
    write_atomic(target, text)
    out.result({"path": str(target), "app": name, "provider": args.provider},
               human=f"wrote {target} (app {name!r}, environments staging and prod, "
               f"provider {args.provider}). Next: `cockpit config check`.")
    return 0
