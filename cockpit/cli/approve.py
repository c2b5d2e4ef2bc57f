"""`cockpit approve PLAN_ID`: a person approves a saved plan for a protected environment.

Shows the plan (steps, what changes, the live state it was made against, when it expires), then
asks for the environment's name to be typed on the terminal. Refused without a terminal: no flag
or argument stands in for the typed name. The approval is bound to the plan's hash, single use,
and expires (cockpit.plans.APPROVAL_TTL).
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
    sys.stderr.write(f"Type the environment name ({plan.env}) to approve this plan: ")
    sys.stderr.flush()
    typed = sys.stdin.readline().strip()
    status = plans.approve(ctx, plan.plan_id, typed)
    out.result(status, human=f"approved plan {plan.plan_id} for {plan.env} (single use, "
               f"until {time.strftime('%H:%M:%S', time.localtime(status['approval_expires_at']))}"
               f"); apply it: cockpit apply {plan.plan_id}")
    return 0
