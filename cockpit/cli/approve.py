"""`cockpit approve PLAN_ID`: a person approves a saved plan for a protected environment, or a
rollback plan onto another schema head (any environment).

Shows the plan (steps, what changes, the schema check, the live state it was made against, when
it expires), then asks for the environment's name to be typed on the terminal. Refused without a
terminal: no flag or argument stands in for the typed name. A rollback onto another schema head
is approved only with `--accept-schema` (the person read the migrations in between and accepts
that the old code runs on this schema); only such an approval lets `apply` roll back onto it.
The approval is bound to the plan's hash, single use, and expires (cockpit.plans.APPROVAL_TTL).
"""

from __future__ import annotations

import argparse
import sys
import time

from cockpit.cli._common import common, load_context, renderer
from cockpit.errors import Refused


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("approve", parents=[common()],
                       help="approve a saved plan for a protected environment (typed, on a TTY)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan_id", metavar="PLAN_ID")
    p.add_argument("--accept-schema", action="store_true",
                   help="accept a rollback plan onto another schema head (needed for one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cockpit import plans
    from cockpit.output import inert

    out = renderer(args)
    ctx = load_context(args)
    for env in ctx.config.environments.values():
        ctx.secrets.register(env)
    plan = plans.get(ctx, args.plan_id)
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        ctx.store.audit("approve", plan.env, "refused", f"plan {plan.plan_id}: no terminal")
        raise Refused(f"approving plan {plan.plan_id} needs a person at a terminal: stdin and "
                      "stderr must be a TTY", hint=f"run `cockpit approve {plan.plan_id}` "
                      "yourself in a terminal")
    for line in plans.describe(plan, time.time()):
        sys.stderr.write(inert(line) + "\n")
    accept = bool(args.accept_schema)
    if plan.schema_differs != accept:  # refused before anything is typed, with the reason
        plans.approve(ctx, plan.plan_id, None, accept_schema=accept)
    what = "to accept the schema and approve this plan" if accept else "to approve this plan"
    sys.stderr.write(f"Type the environment name ({plan.env}) {what}: ")
    sys.stderr.flush()
    typed = sys.stdin.readline().strip()
    status = plans.approve(ctx, plan.plan_id, typed, accept_schema=accept)
    out.result(status, human=f"approved plan {plan.plan_id} for {plan.env} (single use, "
               f"until {time.strftime('%H:%M:%S', time.localtime(status['approval_expires_at']))}"
               f"); apply it: cockpit apply {plan.plan_id}")
    return 0
