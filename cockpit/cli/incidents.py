"""`cockpit incidents ENV`: what went wrong and when (from the state store the watcher keeps)."""

from __future__ import annotations

import argparse
import time

from cockpit.cli._common import common, load_context, renderer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("incidents", parents=[common()],
                       help="incidents of an environment, open first (from `cockpit watch`)")
    p.add_argument("env")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.set_defaults(func=run)


def _stamp(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "-"


def run(args: argparse.Namespace) -> int:
    from cockpit.watcher import _span

    out = renderer(args)
    ctx = load_context(args)
    env = ctx.config.env(args.env)
    rows = ctx.store.incidents(env.name, limit=args.limit)
    rows.sort(key=lambda r: (r["resolved_at"] is not None, -r["opened_at"]))
    now = ctx.now()
    lines = [f"{env.name} incidents:"]
    for r in rows:
        state = "OPEN" if r["resolved_at"] is None else f"resolved {_stamp(r['resolved_at'])}"
        lasted = _span((r["resolved_at"] or now) - r["opened_at"])
        lines.append(f"  #{r['id']:<4} {r['kind']:<9} {_stamp(r['opened_at'])}  {lasted:>7}  "
                     f"{state}  alerts {r['alerts']}\n         {r['summary']}")
    if not rows:
        lines.append(f"  none recorded (the watcher records them: cockpit watch {env.name})")
    out.result({"env": env.name, "open": sum(r["resolved_at"] is None for r in rows),
                "incidents": rows}, human="\n".join(lines))
    return 0
