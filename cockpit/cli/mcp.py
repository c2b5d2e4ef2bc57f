"""`cockpit mcp`: serve this app to an AI agent over MCP (stdio by default).

Run it in the app's folder (its cockpit.toml) or with --config. The agent gets typed tools to
read state and make plans; `apply` runs a plan once, protected environments only after a person
ran `cockpit approve PLAN_ID`. `--read-only` refuses every change in the pipeline itself.
`--http 127.0.0.1:PORT` serves streamable HTTP at /mcp behind a bearer token kept in the keyring
(`--show-token` prints it); a non-loopback address also needs --allow-remote.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from cockpit.cli._common import common, load_config, renderer
from cockpit.errors import Refused, UsageError

LOOPBACK_NAMES = ("localhost",)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mcp", parents=[common()], help="serve this app to AI agents (MCP)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--read-only", action="store_true",
                   help="refuse every change (apply of an approved plan included)")
    p.add_argument("--http", metavar="HOST:PORT",
                   help="streamable HTTP on HOST:PORT (path /mcp) with a bearer token")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow --http on a non-loopback address")
    p.add_argument("--show-token", action="store_true",
                   help="print the HTTP bearer token (created in the keyring if missing), exit")
    p.set_defaults(func=run)


def parse_bind(text: str, allow_remote: bool = False) -> tuple[str, int]:
    """"HOST:PORT" (IPv6 as "[::1]:PORT") → (host, port). Raises UsageError for a bad value and
    Refused (exit 5) for a non-loopback host without `allow_remote`."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--http {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8765")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host in LOOPBACK_NAMES
    if not loopback and not allow_remote:
        raise Refused(f"--http {text}: {host} is not a loopback address; anyone who reaches it "
                      "and holds the token can act on this app",
                      hint="bind 127.0.0.1, or pass --allow-remote (behind TLS you control)")
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    from cockpit.agent.http import token_for

    cfg = load_config(args)  # a config error is reported before any transport starts
    if args.show_token:
        out = renderer(args)
        token = token_for(cfg.app.name, register=False)
        out.result({"app": cfg.app.name, "token": token},
                   human=f"bearer token for cockpit mcp --http ({cfg.app.name}): {token}")
        return 0
    bind = parse_bind(args.http, args.allow_remote) if args.http else None
    from cockpit.agent.server import serve

    if bind:
        token = token_for(cfg.app.name)
        sys.stderr.write(f"cockpit mcp: serving {cfg.app.name} on http://{bind[0]}:{bind[1]}/mcp"
                         f"{' (read-only)' if args.read_only else ''}; token: "
                         "cockpit mcp --show-token\n")
        serve(cfg.path, read_only=args.read_only, http=bind, token=token)
    else:
        serve(cfg.path, read_only=args.read_only)
    return 0
