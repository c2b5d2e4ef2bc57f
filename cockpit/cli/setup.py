"""`cockpit setup ENV`: prepare the target once (idempotent): on a VPS, check docker and disk,
start the edge and the switch with a persisted config, create the app's directories.

A protected environment (prod) needs `--confirm ENV` first: setup creates or replaces what
serves it (exit 5 without, saying what would change)."""

from __future__ import annotations

import argparse

from cockpit.cli._common import common, load_context, renderer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", parents=[common(yes=True, confirm=True, trust=True)],
                       help="prepare the target for an environment (idempotent)")
    p.add_argument("env")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cockpit import pipeline

    out = renderer(args)
    ctx = load_context(args)
    env = ctx.config.env(args.env)
    findings = pipeline.setup(ctx, env.name, out.emit)
    errors = [f for f in findings if f.severity == "error"]
    lines = [f"{f.severity:<7} {f.message}" + (f" ({f.fix})" if f.fix else "") for f in findings]
    ctx.store.audit("setup", env.name, "failed" if errors else "ok",
                    "; ".join(f.message for f in findings))
    out.result({"env": env.name, "findings": [f.to_dict() for f in findings]},
               human="\n".join(lines + [f"{env.name}: ready" if not errors else "not ready"]))
    return 1 if errors else 0
