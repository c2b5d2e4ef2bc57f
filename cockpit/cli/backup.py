"""`cockpit backup ENV NAME`, `cockpit backups ENV NAME`, `cockpit restore ENV NAME --from ID`.

backup: the accessory's data (Postgres `pg_dump -Fc`, Redis RDB) to a local folder, verified by
restoring it into a scratch instance and comparing per-table row counts; exit 1 when it does not
restore. backups: the folder's backups with size, age and verification. restore: verify, then
restore into a fresh volume and switch the accessory to it (the old volume is kept); a protected
environment needs `--confirm ENV`. `backup schedule ENV NAME --every 24h [--keep N]` runs them
on the host instead, each verified the same way there (`--every off` stops it, letting a backup
in progress finish); `backups` lists those too and `restore --from ID` fetches one, with or
without a running schedule (read from the backups volume). `backup schedule ENV NAME` alone
shows the schedule (active, period, keep, the last backup and its verification; `--json`).
An in-cluster accessory on Kubernetes: `backup` runs the schedule's pod once as a Job (the
backup stays in the backups claim, verified the same way), `backups` lists the claim, the
schedule is a CronJob; `restore` is not there yet. See cockpit.backups and
cockpit.providers.kubernetes.backups."""

from __future__ import annotations

import argparse
import time

from cockpit.cli._common import common, load_context, renderer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", parents=[common(trust=True)],
                       help="back up an accessory to a local folder, verified by a restore "
                            "(`backup schedule ENV NAME --every 24h`: on the host)",
                       usage="cockpit backup ENV NAME [--keep N] | "
                             "cockpit backup schedule ENV NAME [--every PERIOD] [--keep N]",
                       formatter_class=argparse.RawDescriptionHelpFormatter, description=(
                           "Back up an accessory (Postgres pg_dump, Redis RDB) to a local "
                           "folder and verify it by restoring it\ninto a scratch instance: "
                           "exit 1 when it does not restore. `schedule` runs them on the host "
                           "instead.\n--keep N deletes older backups made by `cockpit backup` "
                           "only, never those taken before a release.\n"
                           "Example: cockpit backup prod postgres --keep 7"))
    p.add_argument("env", help="the environment (or `schedule`, then ENV NAME)")
    p.add_argument("name", help="the accessory, e.g. postgres")
    p.add_argument("rest", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--every", metavar="PERIOD",
                   help="schedule: how often, e.g. 24h, 30m; `off` removes the schedule "
                        "(without --every, `backup schedule ENV NAME` shows it)")
    p.add_argument("--dir", metavar="PATH", help="the backup folder (default: the state dir)")
    p.add_argument("--keep", type=int, metavar="N",
                   help="then keep only the newest N verified backups made by `cockpit backup` "
                        "(older ones are deleted; those taken before a release command keep "
                        "their own retention); with `schedule`: how many the schedule keeps")
    p.set_defaults(func=run_backup)

    p = sub.add_parser("backups", parents=[common()],
                       help="list an accessory's backups with size, age and verification",
                       formatter_class=argparse.RawDescriptionHelpFormatter, description=(
                           "List an accessory's backups (this machine's, the host schedule's, "
                           "a cluster's claim) with size,\nage and whether a restore verified "
                           "them. It only reads: nothing is changed.\n"
                           "Example: cockpit backups prod postgres"))
    p.add_argument("env", help="the environment, e.g. prod")
    p.add_argument("name", help="the accessory, e.g. postgres")
    p.add_argument("--dir", metavar="PATH", help="the backup folder (default: the state dir)")
    p.set_defaults(func=run_list)

    p = sub.add_parser("restore", parents=[common(confirm=True, trust=True)],
                       help="restore an accessory from a backup into a fresh volume",
                       formatter_class=argparse.RawDescriptionHelpFormatter, description=(
                           "Verify a backup, restore it into a fresh volume and switch the "
                           "accessory to it; the old volume\nis kept (`cockpit accessories "
                           "volumes`). A protected environment needs --confirm ENV.\n"
                           "Example: cockpit restore prod postgres --from 20261130T020306Z "
                           "--confirm prod"))
    p.add_argument("env", help="the environment, e.g. prod")
    p.add_argument("name", help="the accessory to restore, e.g. postgres")
    p.add_argument("--from", dest="source", required=True, metavar="BACKUP",
                   help="a backup id from `cockpit backups`, or a backup file")
    p.add_argument("--dir", metavar="PATH",
                   help="the backup folder to look in (default: the state dir)")
    p.set_defaults(func=run_restore)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _env(ctx, args):
    env = ctx.config.env(args.env)
    if args.name not in env.accessories:
        from cockpit.errors import UsageError

        known = ", ".join(sorted(env.accessories)) or "none"
        raise UsageError(f"{env.name} has no accessory {args.name!r} (known: {known})")
    return env


def run_schedule(args: argparse.Namespace) -> int:
    from cockpit import backups, pipeline
    from cockpit.errors import UsageError

    out = renderer(args)
    args.env, args.name = args.name, args.rest
    if not args.name:
        raise UsageError("usage: cockpit backup schedule ENV NAME [--every 24h [--keep N]] "
                         "(without --every: show the schedule; --every off removes it)")
    ctx = load_context(args)
    env = _env(ctx, args)
    if not args.every:
        return _show_schedule(out, ctx, env, args.name)
    every = None if args.every == "off" else backups.parse_every(args.every)
    pipeline.confirm(ctx, env, "backup schedule", f"run {args.name}'s backups on the host")
    from cockpit import accessories as core

    if core.in_cluster(env, env.accessories[args.name]):  # Kubernetes: a CronJob
        from cockpit.providers.kubernetes import backups as k8s

        done = k8s.schedule(pipeline.provider_for(ctx, env), env, args.name, every,
                            args.keep or 7)
    else:
        done = backups.schedule(ctx, env, args.name, every, args.keep or 7)
    ctx.store.audit("backup schedule", env.name, "ok", f"{args.name} every {args.every}")
    human = (f"{env.name}/{args.name}: no backup schedule (its backups stay in {done['volume']})"
             if every is None else
             f"{env.name}/{args.name}: backed up every {args.every} "
             f"{done.get('where', 'on the host')} by "
             f"{done['container']}, each verified by a restore; the newest {done['keep']} are "
             f"kept in volume {done['volume']} (cockpit backups {env.name} {args.name})")
    out.result({"env": env.name, "accessory": args.name, **done}, human=human)
    return 0


def _every_text(seconds: int | None) -> str:
    if not seconds:
        return "?"
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % n == 0:
            return f"{seconds // n}{unit}"
    return f"{seconds}s"


def _state(b) -> str:
    """verified / UNVERIFIED (why) / FAILED (why) of a backup record."""
    error = b.verify.get("error", "unverified")
    if b.verified:
        return "verified"
    return f"UNVERIFIED ({error})" if error.startswith("not verified") else f"FAILED ({error})"


def _show_schedule(out, ctx, env, name: str) -> int:
    """`cockpit backup schedule ENV NAME`: whether backups run on the host, how often, how
    many are kept, and the newest one with its verification."""
    from cockpit import accessories as core
    from cockpit import backups

    if core.in_cluster(env, env.accessories[name]):
        from cockpit import pipeline
        from cockpit.providers.kubernetes import backups as k8s

        done = k8s.schedule_status(pipeline.provider_for(ctx, env), env, name)
    else:
        done = backups.schedule_status(ctx, env, name)
    last = done["last"]
    if done.get("where") == "in the cluster":
        runs = (f"; last run {done['last_run']}" if done["last_run"] else
                "; it has not run yet") if done["active"] else ""
        head = (f"{env.name}/{name}: backed up every {_every_text(done['every'])} in the "
                f"cluster by CronJob {done['container']} ({done['schedule']}), the newest "
                f"{done['keep'] or '?'} kept in claim {done['volume']}{runs}"
                if done["active"] else
                f"{env.name}/{name}: no backup schedule runs"
                + (f"; claim {done['volume']} keeps {done['count']} backup(s)"
                   if done["count"] else "")
                + f" (cockpit backup schedule {env.name} {name} --every 24h starts one)")
    elif done["active"]:
        head = (f"{env.name}/{name}: backed up every {_every_text(done['every'])} on the host "
                f"by {done['container']}, the newest {done['keep'] or '?'} kept in volume "
                f"{done['volume']}")
    else:
        head = (f"{env.name}/{name}: no backup schedule runs"
                + (f" (container {done['container']} is {done['state']})"
                   if done["container"] else "")
                + (f"; volume {done['volume']} keeps {done['count']} backup(s)"
                   if done["count"] else "")
                + f" (cockpit backup schedule {env.name} {name} --every 24h starts one)")
    if last:
        b = backups.Backup(**last)
        mins = int((time.time() - b.created_at) // 60)
        head += (f"\nlast backup: {b.id} ({_size(b.size)}, {mins} min ago): {_state(b)}")
    elif done["active"]:
        head += "\nno backup yet (the first one starts when the schedule does)"
    out.result({"env": env.name, "accessory": name, **done}, human=head)
    return 0


def run_backup(args: argparse.Namespace) -> int:
    from cockpit import backups
    from cockpit.errors import UsageError

    if args.env == "schedule":
        return run_schedule(args)
    if args.rest or args.every:
        raise UsageError("--every and a third argument belong to `cockpit backup schedule`")
    out = renderer(args)
    ctx = load_context(args)
    env = _env(ctx, args)
    in_cluster = _in_cluster(env, args)
    record = backups.backup(ctx, env, args.name, args.dir, out.emit, keep=args.keep)
    ctx.store.audit("backup", env.name, "ok" if record.verified else "failed",
                    f"{args.name} {record.id} ({record.size} bytes)")
    tables = ", ".join(f"{k} {v}" for k, v in sorted(record.counts.items())) or "no tables"
    if in_cluster:
        from cockpit.providers.kubernetes import backups as k8s

        claim = k8s.name_of(env, args.name)
        state = "verified by a restore" if record.verified else \
            f"FAILED verification: {record.verify.get('error')}"
        human = (f"{env.name}/{args.name}: backup {record.id} ({_size(record.size)}) {state}"
                 + (f": {tables}" if record.verified else "")
                 + f"\n{record.file} in claim {claim}"
                 + (f" (the newest {args.keep} verified backups are kept there)" if args.keep
                    else " (nothing pruned: --keep N, or a schedule's keep, prunes)"))
        out.result(record.to_dict(), human=human)
        return 0 if record.verified else 1
    if record.verified:
        human = (f"{env.name}/{args.name}: backup {record.id} ({_size(record.size)}) verified "
                 f"by a restore in {record.verify.get('seconds')} s: {tables}\n{record.file}")
    else:
        human = (f"{env.name}/{args.name}: backup {record.id} FAILED verification: "
                 f"{record.verify.get('error')}\n{record.file}")
    data = record.to_dict()
    if args.keep is not None and record.verified:
        bucket = backups.Bucket(ctx.secrets, env, args.name) \
            if env.accessories[args.name].backup_bucket else None
        data["pruned"] = backups.prune_made_by_backup(ctx, env, args.name, args.keep, args.dir,
                                                      bucket)
        if data["pruned"]:
            human += (f"\nremoved {len(data['pruned'])} older backup(s) made by cockpit "
                      f"backup, keeping the newest {args.keep}: {', '.join(data['pruned'])} "
                      "(backups taken before a release command keep their own retention)")
    out.result(data, human=human)
    return 0 if record.verified else 1


def _in_cluster(env, args: argparse.Namespace) -> bool:
    """True for an in-cluster accessory (Kubernetes): its backups stay in its claim, so a
    local `--dir` is refused (UsageError) rather than ignored."""
    from cockpit import accessories as core
    from cockpit.errors import UsageError

    if not core.in_cluster(env, env.accessories[args.name]):
        return False
    if getattr(args, "dir", None):
        raise UsageError(f"{env.name}/{args.name} runs in the cluster: its backups stay in "
                         "its backups claim, not in a local --dir")
    return True


def run_list(args: argparse.Namespace) -> int:
    from cockpit import backups

    out = renderer(args)
    ctx = load_context(args)
    env = _env(ctx, args)
    if _in_cluster(env, args):
        from cockpit import pipeline
        from cockpit.providers.kubernetes import backups as k8s

        found = k8s.records(pipeline.provider_for(ctx, env), env, args.name)
        claim = k8s.name_of(env, args.name)
        rows = [f"{b.id}  {_size(b.size):>9}  {_age(b.created_at)} ago  {_state(b)}  "
                f"(claim {claim})" for b in found]
        out.result({"env": env.name, "accessory": args.name, "claim": claim,
                    "backups": [{**b.to_dict(), "local": False} for b in found]},
                   human="\n".join(rows) or f"no backups of {args.name} in {env.name} yet")
        return 0
    found = backups.listing(env.app.name, env.name, args.name, args.dir)
    local = {b.id for b in found}
    if backups.core_hosted(env):  # and the scheduled ones on the host
        found += [b for b in backups.host_records(ctx, env, args.name) if b.id not in local]
        local_or_host = {b.id for b in found}
    else:
        local_or_host = set(local)
    if env.accessories[args.name].backup_bucket:  # and those only in the bucket
        remote = backups.Bucket(ctx.secrets, env, args.name).records()
        found += [b for b in remote if b.id not in local_or_host]
        found.sort(key=lambda b: b.created_at, reverse=True)
    now = time.time()
    rows = []
    for b in found:
        age = _age(b.created_at, now)
        state = _state(b)
        where = ("local" + (" + s3" if b.remote else "")) if b.id in local else \
            "host" if b.file.startswith("/backups/") else "s3 only"
        rows.append(f"{b.id}  {_size(b.size):>9}  {age} ago  {state}  ({where})")
    out.result({"env": env.name, "accessory": args.name,
                "folder": str(backups.folder(env.app.name, env.name, args.name, args.dir)),
                "backups": [{**b.to_dict(), "local": b.id in local} for b in found]},
               human="\n".join(rows) or f"no backups of {args.name} in {env.name} yet")
    return 0


def _age(created_at: float, now: float | None = None) -> str:
    """'5m', '3h', '2d' (right-aligned in 4 columns) since `created_at` (epoch seconds)."""
    mins = int(((now if now is not None else time.time()) - created_at) // 60)
    age = f"{mins // 1440}d" if mins >= 1440 else f"{mins // 60}h" if mins >= 60 \
        else f"{mins}m"
    return f"{age:>4}"


def run_restore(args: argparse.Namespace) -> int:
    from cockpit import backups

    out = renderer(args)
    ctx = load_context(args)
    env = _env(ctx, args)
    try:
        done = backups.restore(ctx, env, args.name, args.source, args.dir, out.emit)
    except backups.NotRestorable:
        ctx.store.audit("restore", env.name, "failed", f"{args.name} from {args.source}")
        raise
    out.result({"env": env.name, "accessory": args.name, **done},
               human=f"{env.name}/{args.name}: restored backup {done['backup']} into volume "
                     f"{done['volume']}; the previous volume {done['previous_volume']} is kept "
                     f"(remove it with `cockpit accessories drop-volume {env.name} {args.name} "
                     f"--volume {done['previous_volume']}` when you no longer need it)")
    return 0
