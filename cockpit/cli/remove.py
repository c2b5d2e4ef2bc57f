"""`cockpit remove ENV --confirm ENV [--accessories] [--volumes] [--secrets] [--dry-run]`:
take an environment off its target (Kamal's `kamal remove`, flyctl's `fly apps destroy`).

First a plan, read from live state by the provider (`Provider.remove_plan`): on a VPS the
containers of every release, the edge route, the switch entry, the host port claims, the host
directory and env files (`providers/vps/teardown.py`); on Kubernetes the objects cockpit made
in the namespace, found by its labels, and the namespace itself when cockpit created it and
nothing else is in it (`providers/kubernetes/teardown.py`; a namespace already gone is not
made again to hold the deploy lock); on Fly the environment's machines (stopped, then
destroyed with force) and the app when cockpit created it (that app, by its id) and nothing is
left in it (`providers/fly/teardown.py`). With `--accessories` the accessories (containers and
network; StatefulSets and Services); with `--volumes` the data volumes (PersistentVolumeClaims,
Fly volumes), each with its size (never implied); with `--secrets` the environment's keyring
items (an accessory's password only together with its data). It always needs the
environment's name typed (`--confirm ENV`), even for an unprotected environment; it is refused
(exit 4) while another run holds the deploy lock (on Fly also while someone else leases one
of the machines) and (exit 5) in a read-only session. What it keeps is said (`kept:`), and
when the namespace, directory or app is kept after all, the warning says what is in it.
Journalled and audited; a second run removes nothing and says so. Other environments (and
apps on the same host) are untouched."""

from __future__ import annotations

import argparse
import contextlib

from cockpit.cli._common import common, load_context, renderer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("remove", parents=[common(confirm=True, dry_run=True, trust=True)],
                       help="remove an environment from its target (containers, edge route, "
                            "switch entry, ports, host files; Kubernetes objects; Fly machines)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, description=(
                           "Take an environment off its target: it shows a plan read from live "
                           "state, then removes what\ncockpit made. Always needs the name typed "
                           "(--confirm ENV); accessories, volumes (data lost) and\nsecrets go "
                           "only with their own flag.\n"
                           "Example: cockpit remove staging --confirm staging --dry-run"))
    p.add_argument("env", help="the environment to remove, e.g. staging")
    p.add_argument("--accessories", action="store_true",
                   help="also remove the accessories' containers and network, or StatefulSets "
                        "and Services (data kept)")
    p.add_argument("--volumes", action="store_true",
                   help="also remove the data volumes (the app's; the accessories' with "
                        "--accessories): their data is lost")
    p.add_argument("--secrets", action="store_true",
                   help="also delete the environment's keyring items (secrets; an accessory's "
                        "password with its data)")
    p.set_defaults(func=run)


def _typed(ctx, env, would: str) -> None:
    """The environment's name, typed: `--confirm ENV` or the prompt; for every environment."""
    from cockpit.errors import Refused

    given = ctx.options.confirm
    if given is None and ctx.options.confirm_typed is not None:
        given = ctx.options.confirm_typed(env.name)
    if given == env.name:
        return
    if given:
        raise Refused(f"remove of {env.name!r} refused: confirmation {given!r} does not match; "
                      f"it would {would}", hint=f"pass --confirm {env.name}")
    raise Refused(f"remove of {env.name!r} needs its name typed: it would {would}",
                  hint=f"pass --confirm {env.name} (asked for every environment: it destroys)")


def _local_backups(env) -> list[str]:
    """A kept note per accessory whose backups this machine holds (cockpit.backups.folder):
    a remove never deletes them, even with --volumes; they are the way back."""
    from cockpit import backups

    notes = []
    for name in sorted(env.accessories):
        found = backups.listing(env.app.name, env.name, name)
        if found:
            notes.append(f"{len(found)} backup(s) of {name} on this machine in "
                         f"{backups.folder(env.app.name, env.name, name)} (cockpit backups "
                         f"{env.name} {name} lists them; delete the folder to remove them)")
    return notes


def run(args: argparse.Namespace) -> int:
    from cockpit import pipeline
    from cockpit.errors import CockpitError
    from cockpit.events import Message, PlanShown

    out = renderer(args)
    ctx = load_context(args)
    env = ctx.config.env(args.env)
    pipeline.refuse_read_only(ctx, env.name, "remove")
    provider = pipeline.provider_for(ctx, env)
    td = provider.remove_plan(env, accessories=args.accessories, volumes=args.volumes,
                              secrets=args.secrets)
    steps = td.steps()
    td.kept.extend(_local_backups(env))
    out.emit(PlanShown(env=env.name, action="remove", steps=[s.to_dict() for s in steps]))
    for note in td.kept:
        out.emit(Message(f"kept: {note}", env=env.name))
    data = {"env": env.name, "plan": td.to_dict(), "removed": [], "dry_run": args.dry_run}
    if td.empty:
        ctx.store.audit("remove", env.name, "nothing to remove", "")
        out.result({**data, "nothing": True},
                   human=f"{env.name}: nothing to remove on {td.host}"
                         + (f" (kept: {'; '.join(td.kept)})" if td.kept else ""))
        return 0
    if args.dry_run:
        out.result(data, human=f"{env.name}: dry run, nothing removed")
        return 0
    would = "remove " + "; ".join(s.title for s in steps)
    _typed(ctx, env, would)
    store = ctx.store
    run_id = store.begin_run(env.name, "remove", {"env": env.name, "action": "remove",
                                                  "steps": [s.to_dict() for s in steps]})
    journal = pipeline.Journaled(ctx, run_id, out.emit)
    flags = ", ".join(f"--{k}" for k, v in td.flags.items() if v) or "no flags"
    try:
        # no lock where there is nothing to hold one in (a Kubernetes namespace already gone:
        # taking the Lease would make it again)
        lock = (pipeline.deploy_lock(ctx, env, "remove", journal)
                if getattr(td, "lock", True) else contextlib.nullcontext())
        with lock as held:
            journal.lock = held
            done = provider.remove(env, td, journal)
        final = provider.remove_finish(env, td, done)
        if final == "held":
            why = getattr(td, "held", "") or ("another run took its deploy lock, or made "
                                              "something there, meanwhile")
            journal(Message(f"{env.name}'s directory (or namespace, or app) is kept: {why}",
                            level="warning", env=env.name))
    except (CockpitError, KeyboardInterrupt) as exc:
        store.finish_run(run_id, "failed")  # a remove is re-run, never reconciled
        what = getattr(exc, "what", None) or "interrupted"
        store.audit("remove", env.name, "failed", f"{flags}: {what}")
        raise
    for release in store.releases(env.name, limit=500):
        if release.status != "removed":
            store.set_release_status(env.name, release.id, "removed")
    for left in store.unfinished_runs(env.name):  # nothing is left for a reconcile to finish
        if left.run_id != run_id:
            store.finish_run(left.run_id, "removed")
    store.finish_run(run_id, "ok")
    store.audit("remove", env.name, "ok", f"{flags}: " + "; ".join(done))
    data["removed"] = done
    out.result(data, human=f"{env.name}: removed from {td.host}:\n  " + "\n  ".join(done)
               + (f"\nkept: {'; '.join(td.kept)}" if td.kept else ""))
    return 0
