"""`cockpit deploy ENV`, `cockpit plan ENV`, `cockpit promote SRC DST`, `cockpit rollback ENV`.

Each reads live state first, shows the plan, needs `--confirm prod` for protected environments,
journals every step and gates on real health. `--dry-run` (and `plan`) change nothing.
"""

from __future__ import annotations

import argparse

from cockpit.cli._common import common, load_context, renderer


def add_parser(sub: argparse._SubParsersAction) -> None:
    flags = common(yes=True, confirm=True, dry_run=True, trust=True)
    flags.add_argument("--no-watch", action="store_true",
                       help="skip the watch window after the switch (it judges the new release "
                       "on real traffic and switches back on a breach); said in the output")
    flags.add_argument("--skip-backup", action="store_true",
                       help="no backup of the database before the release command (taken by "
                       "default on protected environments); said in the output")
    d = sub.add_parser("deploy", parents=[flags], help="build, ship and switch to a new release",
                       description="Build the image, ship it, start it beside the current "
                       "release, gate on health, switch traffic, keep the old one for rollback.")
    d.add_argument("env")
    d.add_argument("--image", help="deploy this image reference instead of building "
                   "(e.g. registry/app@sha256:...)")
    d.set_defaults(func=run_deploy)

    p = sub.add_parser("plan", parents=[common(trust=True)],
                       help="show what `deploy ENV` would do; changes nothing")
    p.add_argument("env")
    p.add_argument("--image")
    p.set_defaults(func=run_plan)

    pr = sub.add_parser("promote", parents=[flags],
                        help="deploy the image staging serves (same digest) to prod")
    pr.add_argument("src", metavar="FROM")
    pr.add_argument("dst", metavar="TO")
    pr.add_argument("--accept-schema", action="store_true",
                    help="promote even when TO's database has migrations the release does not "
                    "know (they are listed)")
    pr.set_defaults(func=run_promote)

    rb = sub.add_parser("rollback", parents=[flags],
                        help="serve an earlier release again (image, env file and config)")
    rb.add_argument("env")
    rb.add_argument("--to", metavar="RELEASE", help="release id or prefix (default: the "
                    "previous healthy release)")
    rb.add_argument("--accept-schema", action="store_true",
                    help="roll back even when that release recorded another schema head (the "
                    "migrations in between are listed; rolling back does not undo them)")
    rb.set_defaults(func=run_rollback)


def _report(out, ctx, release, done: str) -> int:
    """The one result object of a mutating command (or of its dry run)."""
    if ctx.options.dry_run:
        out.result({"dry_run": True, "release": release.to_dict()},
                   human="dry run: nothing was changed")
    else:
        out.result({"release": release.to_dict()}, human=done)
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    from cockpit import pipeline

    out = renderer(args)
    ctx = load_context(args)
    release = pipeline.deploy(ctx, args.env, out.emit, image=args.image)
    return _report(out, ctx, release, f"{args.env}: release {release.id} is live "
                   f"({release.short_digest}, {release.status})")


def run_plan(args: argparse.Namespace) -> int:
    from cockpit import plans

    out = renderer(args)
    ctx = load_context(args)
    saved = plans.make(ctx, "deploy", args.env, out.emit, image=args.image, client="cli")
    then = (f"a person approves it (cockpit approve {saved.plan_id}), then "
            if saved.protected else "")
    out.result({"plan_id": saved.plan_id, "expires_at": saved.expires_at,
                "fingerprint": saved.fingerprint, "plan": saved.to_dict()},
               human=f"(plan only: nothing was changed) plan {saved.plan_id}: to run exactly "
                     f"this, {then}cockpit apply {saved.plan_id}")
    return 0


def run_promote(args: argparse.Namespace) -> int:
    from cockpit import pipeline

    out = renderer(args)
    ctx = load_context(args)
    ctx.options.accept_schema = bool(getattr(args, "accept_schema", False))
    release = pipeline.promote(ctx, args.src, args.dst, out.emit)
    return _report(out, ctx, release, f"{args.dst}: release {release.id} is live, promoted "
                   f"from {release.promoted_from} (same image {release.short_digest})")


def run_rollback(args: argparse.Namespace) -> int:
    from cockpit import pipeline

    out = renderer(args)
    ctx = load_context(args)
    ctx.options.accept_schema = bool(getattr(args, "accept_schema", False))
    release = pipeline.rollback(ctx, args.env, out.emit, to=args.to)
    return _report(out, ctx, release,
                   f"{args.env}: rolled back to release {release.id} ({release.short_digest})")
