"""`cockpit lock status|release ENV`: the deploy lock held on the target.

Releasing the lock of a protected environment (prod) needs `--confirm ENV` (exit 5 without,
naming the holder); elsewhere `--yes` or a yes at the prompt. Status is a read: no confirmation."""

from __future__ import annotations

import argparse
import time

from cockpit.cli._common import common, load_context, renderer
from cockpit.lock import describe


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lock", parents=[common(yes=True, confirm=True, trust=True)],
                       help="show or release an environment's deploy lock")
    p.add_argument("action", choices=["status", "release"])
    p.add_argument("env")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cockpit import pipeline
    from cockpit.errors import Refused
    from cockpit.pipeline import provider_for

    out = renderer(args)
    ctx = load_context(args)
    env = ctx.config.env(args.env)
    provider = provider_for(ctx, env)
    info = provider.lock_status(env)  # UsageError when the provider has no lock
    if args.action == "status":
        if info is None:
            out.result({"env": env.name, "lock": None}, human=f"{env.name}: not locked")
            return 0
        left = int(info.expires_at - time.time())
        human = f"{env.name}: locked by {describe(info)}; " + (
            f"expires in {left}s" if left > 0 else "expired (the next deploy takes it over)")
        out.result({"env": env.name, "lock": info.to_dict()}, human=human)
        return 0
    if info is None:
        out.result({"env": env.name, "released": False}, human=f"{env.name}: not locked")
        return 0
    # A protected environment: the typed name (release_lock asks) is the answer, no yes/no.
    if not env.protected and not ctx.options.yes and not (ctx.options.ask and ctx.options.ask(
            f"Release the lock held by {describe(info)}?")):
        raise Refused(f"the lock of {env.name} is held by {describe(info)}",
                      hint="pass --yes to release it anyway")
    pipeline.release_lock(ctx, env.name, describe(info))
    ctx.store.audit("lock release", env.name, "ok", f"was held by {describe(info)}")
    out.result({"env": env.name, "released": True, "was": info.to_dict()},
               human=f"{env.name}: released the lock held by {describe(info)}")
    return 0
