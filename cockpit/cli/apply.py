"""`cockpit apply PLAN_ID`: run a saved plan (from `cockpit plan ENV --json` or an agent) once.

The same rules as the agent's `apply`: refused when the plan expired, ran already, live state
changed since it was made, or it is for a protected environment and nobody approved it with
`cockpit approve PLAN_ID`.
"""

from __future__ import annotations

import argparse

from cockpit.cli._common import common, load_context, renderer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("apply", parents=[common(trust=True)],
                       help="run a saved plan once (protected environments: approved first)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan_id", metavar="PLAN_ID")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cockpit import plans

    out = renderer(args)
    ctx = load_context(args)
    release = plans.apply(ctx, args.plan_id, out.emit, client="cli")
    saved = plans.get(ctx, args.plan_id)
    out.result({"plan_id": saved.plan_id, "status": saved.status, "env": saved.env,
                "action": saved.action, "release": release.to_dict()},
               human=f"{saved.env}: plan {saved.plan_id} applied, release {release.id} "
                     f"({release.short_digest}, {release.status})")
    return 0
