"""`cockpit audit`: the append-only audit log (who, which client, what, result), newest first."""

from __future__ import annotations

import argparse
import time

from cockpit.cli._common import common, load_context, renderer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", parents=[common()],
                       help="the audit log: every action and agent call, who and which client")
    p.add_argument("--env", help="only this environment")
    p.add_argument("--limit", type=int, default=50, help="entries (default 50)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cockpit.output import inert

    out = renderer(args)
    ctx = load_context(args)
    rows = ctx.store.audit_log(args.env, limit=max(1, args.limit))
    entries = [{k: r.get(k) for k in ("seq", "ts", "who", "client", "command", "env", "result",
                                      "detail")} for r in rows]
    lines = [f"{'TIME':<19} {'WHO':<20} {'CLIENT':<16} {'COMMAND':<20} {'ENV':<10} "
             f"{'RESULT':<9} DETAIL"]
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["ts"]))
        lines.append(inert(f"{when:<19} {(e['who'] or '')[:20]:<20} "
                           f"{(e['client'] or '-')[:16]:<16} {e['command'][:20]:<20} "
                           f"{(e['env'] or '-')[:10]:<10} {e['result'][:9]:<9} {e['detail']}"))
    out.result({"entries": entries}, human="\n".join(lines))
    return 0
