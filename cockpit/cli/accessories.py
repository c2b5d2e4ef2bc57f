"""`cockpit accessories status|logs|restart|volumes|drop-volume|exec|psql|redis-cli ENV [NAME]`:
the environment's Postgres and Redis.

status: one entry per accessory (kind, version, container, state, health, volume, network, the
variable its URL reaches the app in); logs: the last `--tail` lines (secrets masked); restart:
`docker restart` and wait until healthy (a protected environment needs `--confirm ENV`);
volumes: each accessory's volumes on the host (in use, kept by a restore, scheduled backups)
with their size; drop-volume ENV NAME --volume V: remove a kept volume (never the one in use;
a protected environment needs `--confirm ENV`); exec ENV NAME -- CMD, psql ENV [NAME] and
redis-cli ENV [NAME] run in the accessory's container (cockpit/cli/exec.py). On Kubernetes
status, logs and restart work on the in-cluster StatefulSets (cockpit.providers.kubernetes);
an external accessory (Fly, or `external = true`) has status only: whether its URL secret is
set."""

from __future__ import annotations

import argparse

from cockpit.cli._common import common, load_context, renderer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("accessories", parents=[common(confirm=True, trust=True)],
                       help="status, logs and restart of an environment's accessories",
                       formatter_class=argparse.RawDescriptionHelpFormatter, description=(
                           "Look after an environment's Postgres and Redis: status, logs, "
                           "restart, their volumes, and\ncommands (exec, psql, redis-cli) in "
                           "an accessory's container. restart and drop-volume need\n"
                           "--confirm ENV on a protected environment; drop-volume never "
                           "removes the volume in use.\n"
                           "Example: cockpit accessories psql prod postgres -- -c 'select 1'"))
    p.add_argument("action", choices=["status", "logs", "restart", "volumes", "drop-volume",
                                      "exec", "psql", "redis-cli"])
    p.add_argument("env", help="the environment, e.g. prod")
    p.add_argument("name", nargs="?", help="one accessory (default: all)")
    p.add_argument("-i", "--interactive", action="store_true",
                   help="exec: forward stdin (with a terminal when stdin is one)")
    p.add_argument("--tail", type=int, default=100, metavar="N",
                   help="logs: lines per accessory (default 100)")
    p.add_argument("--volume", metavar="VOLUME",
                   help="drop-volume: the kept volume to remove (see `accessories volumes`)")
    p.set_defaults(func=run)
    from cockpit.cli.exec import after_dashes

    after_dashes(p)  # exec ENV NAME -- CMD; psql / redis-cli ENV [NAME] -- ARGS


def _external(ctx, env, name: str | None) -> list[dict]:
    from cockpit.errors import UsageError

    if name is not None and name not in env.accessories:
        raise UsageError(f"{env.name} has no accessory {name!r}")
    out = []
    for n, acc in sorted(env.accessories.items()):
        if name in (None, n):
            is_set = ctx.secrets.get(env, acc.url_var) is not None
            out.append({"name": n, "kind": acc.kind, "external": True,
                        "env_var": acc.url_var, "state": "external",
                        "health": "set" if is_set else "missing"})
    return out


def _line(a: dict) -> str:
    if a.get("external"):
        return (f"{a['name']:<10} {a['kind']:<9} external: URL from the keyring as "
                f"{a['env_var']} ({a['health']})")
    drift = "  (differs from cockpit.toml: the next deploy re-creates it)" if a["drift"] else ""
    return (f"{a['name']:<10} {a['kind']} {a['version']:<6} {a['state']:<8} {a['health']:<10} "
            f"{a['container']}  volume {a['volume']}  URL in {a['env_var']}{drift}")


def run(args: argparse.Namespace) -> int:
    from cockpit import accessories as core
    from cockpit import pipeline
    from cockpit.errors import UsageError

    out = renderer(args)
    ctx = load_context(args)
    env = ctx.config.env(args.env)
    if not env.accessories:
        raise UsageError(f"{env.name} has no accessories",
                         hint='add e.g. [accessories.postgres] (kind = "postgres") to '
                              "cockpit.toml")
    if args.action in ("exec", "psql", "redis-cli"):  # cockpit/cli/exec.py
        from cockpit.cli.exec import run_accessory

        return run_accessory(args, ctx, env, out)
    in_cluster = [n for n, a in env.accessories.items() if core.in_cluster(env, a)]
    if not core.hosted(env) and not in_cluster:
        if args.action != "status":
            raise UsageError(f"{env.name}'s accessories are external on {env.provider}: "
                             "cockpit does not run them", hint="use your provider's tools")
        found = _external(ctx, env, args.name)
        out.result({"env": env.name, "accessories": found},
                   human="\n".join(_line(a) for a in found))
        return 0
    if in_cluster:  # Kubernetes StatefulSets: the same operations, on the cluster
        from cockpit.providers.kubernetes import accessories as vps

        if args.action in ("volumes", "drop-volume"):
            raise UsageError(f"{args.action} is for a VPS; on Kubernetes each accessory keeps "
                             "its PersistentVolumeClaim", hint=f"cockpit accessories status "
                                                               f"{env.name}")
        if args.action == "status" and args.name and args.name not in in_cluster:
            found = _external(ctx, env, args.name)  # an external one (or unknown: refused)
            out.result({"env": env.name, "accessories": found},
                       human="\n".join(_line(a) for a in found))
            return 0
    else:
        from cockpit.providers.vps import accessories as vps

    provider = pipeline.provider_for(ctx, env)
    ctx.secrets.register(env)  # values a log line could carry are masked
    if args.action == "status":
        found = [a for a in vps.status(provider, env) if args.name in (None, a["name"])]
        if in_cluster and args.name is None:  # and the external ones, with their URL state
            found += [a for a in _external(ctx, env, None) if a["name"] not in in_cluster]
        if args.name and not found:
            vps._pick(env, args.name)  # raises, naming the known ones
        out.result({"env": env.name, "accessories": found},
                   human="\n".join(_line(a) for a in found))
        return 0
    if args.action == "logs":
        for name in vps._pick(env, args.name):  # the passwords are masked in every line
            core.password(ctx.secrets, env, name, create=False)
        lines = vps.logs(provider, env, args.name, max(1, args.tail))
        out.result({"env": env.name, "lines": [{"accessory": n, "line": text}
                                               for n, text in lines]},
                   human="\n".join(f"{n} | {text}" for n, text in lines) or "(no output)")
        return 0
    if args.action == "volumes":
        found = vps.volumes(provider, env, args.name)
        out.result({"env": env.name, "volumes": found},
                   human="\n".join(f"{v['accessory']:<10} {v['role']:<8} {v['size']:>9}  "
                                    f"{v['volume']}" for v in found) or "(no volumes)")
        return 0
    if args.action == "drop-volume":
        if not args.name or not args.volume:
            raise UsageError("drop-volume needs the accessory and --volume",
                             hint=f"cockpit accessories drop-volume {env.name} NAME --volume V "
                                  f"(see cockpit accessories volumes {env.name})")
        pipeline.confirm(ctx, env, "accessories drop-volume",
                         f"remove volume {args.volume} of {args.name} (its data is lost)")
        vps.drop_volume(provider, env, args.name, args.volume)
        ctx.store.audit("accessories drop-volume", env.name, "ok", f"{args.name}: {args.volume}")
        out.result({"env": env.name, "accessory": args.name, "dropped": args.volume},
                   human=f"{env.name}/{args.name}: volume {args.volume} removed")
        return 0
    pipeline.confirm(ctx, env, "accessories restart",
                     f"restart {args.name or 'every accessory'} (connections drop for a moment)")
    done = vps.restart(provider, env, args.name)
    ctx.store.audit("accessories restart", env.name, "ok", ", ".join(done))
    out.result({"env": env.name, "restarted": done},
               human=f"{env.name}: restarted {', '.join(done)}; healthy")
    return 0
