"""Accessories on a VPS host: a Postgres or Redis container per environment, beside the app.

Each environment's accessories sit on its own docker network (`cockpit-<app>-<env>`), which the
app's containers and its release command join; they publish no port, so only that
environment's app reaches them (by the accessory's name: `postgres://...@postgres:5432/...`).
Data lives in a named volume (`cockpit-<app>-<env>-<name>-data`) that outlives the container:
re-creating the container (a new version or image) keeps it. Each container is health-checked
by docker itself (`pg_isready`, `redis-cli ping`), and a deploy waits until it is healthy before
the release command runs.

Its credentials: a password generated once into the keyring (cockpit.accessories.password),
written on the host only into the accessory's env file (mode 0600, under the environment's
directory) and the release's env file (the URL). Labels carry no secret: `cockpit.accessory`
(the name), `cockpit.accessory-app`, `cockpit.accessory-env`, `cockpit.accessory-spec` (a hash
of image, kind, database and mount; a change re-creates the container, never the volume).
Accessory containers have no `cockpit.app` label, so they are never taken for a release.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cockpit.providers.vps import commands as cmd

from cockpit import accessories as core
from cockpit.errors import ProviderError, Refused, UsageError
from cockpit.events import Emit
from cockpit.models import stable_hash

LABEL = f"{cmd.LABEL}.accessory"
HEALTHY_DEADLINE = 180.0  # seconds a new accessory may take to answer (initdb ~5 s here)

HEALTH_CMD = {
    # over TCP: while the image initialises its data, a temporary server answers on the socket
    "postgres": 'pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"',
    "redis": 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG',
}
# The server command: Postgres runs the image's own; Redis gets its password from the env file
# (never on a command line) and keeps an append-only file in the volume.
COMMAND = {
    "postgres": [],
    "redis": ["sh", "-c", 'exec redis-server --requirepass "$REDIS_PASSWORD" '
              "--appendonly yes --dir /data"],
}


def network(env) -> str:
    return core.network_name(env.app.name, env.name)


def names(env) -> list[str]:
    return sorted(env.accessories)


def container(env, name: str) -> str:
    return core.container_name(env.app.name, env.name, name, env.accessories[name])


def volume(env, name: str) -> str:
    return core.volume_name(env.app.name, env.name, name, env.accessories[name])


def env_file(host, name: str) -> str:
    return f"{host.layout.app_dir}/accessories/{name}.env"


def pointer_file(host, name: str) -> str:
    """Where a restore records the volume the accessory now runs on (the previous one is
    kept); without it the accessory runs on `volume(env, name)`."""
    return f"{host.layout.app_dir}/accessories/{name}.volume"


def current_volume(host, env, name: str, info: dict | None = None) -> str:
    """The volume the accessory runs on: its container's label, else the restore pointer on
    the host, else the default `volume(env, name)`."""
    if info and info.get("volume"):
        return info["volume"]
    out = host.run(["sh", "-c", 'cat "$1" 2>/dev/null || true', "sh", pointer_file(host, name)],
                   step="accessories", idempotent=True).stdout.strip()
    return out if out and not out.startswith("-") and " " not in out else volume(env, name)


def spec_hash(env, name: str, vol: str | None = None) -> str:
    acc = env.accessories[name]
    return stable_hash({"image": acc.image_ref, "kind": acc.kind,
                        "database": core.database(env.app.name, acc),
                        "volume": vol or volume(env, name), "mount": acc.spec.data_dir,
                        "command": COMMAND[acc.kind]}).split(":")[1][:16]


def join(env, argv: list[str]) -> list[str]:
    """`docker run ...` argv of an app container or release command, joined to the
    environment's network when it has accessories (unchanged otherwise)."""
    if not env.accessories or argv[:2] != ["docker", "run"]:
        return argv
    return [*argv[:2], "--network", network(env), *argv[2:]]


def run_argv(env, host, name: str, vol: str | None = None) -> list[str]:
    """`docker run` of one accessory: detached, restarted unless stopped, on the environment's
    network under its name, its volume (`vol`, default `volume(env, name)`) at the image's data
    directory, health-checked, no published port."""
    acc = env.accessories[name]
    vol = vol or volume(env, name)
    argv = ["docker", "run", "--detach", "--name", container(env, name),
            "--restart", "unless-stopped", "--network", network(env),
            "--network-alias", name, "--env-file", env_file(host, name),
            "--mount", f"type=volume,source={vol},target={acc.spec.data_dir}",
            "--health-cmd", HEALTH_CMD[acc.kind], "--health-interval", "2s",
            "--health-timeout", "5s", "--health-retries", "5", "--health-start-period", "120s",
            "--log-opt", "max-size=10m", "--log-opt", "max-file=3",
            "--label", f"{LABEL}={name}", "--label", f"{LABEL}-app={env.app.name}",
            "--label", f"{LABEL}-env={env.name}", "--label", f"{LABEL}-kind={acc.kind}",
            "--label", f"{LABEL}-volume={vol}",
            "--label", f"{LABEL}-spec={spec_hash(env, name, vol)}"]
    return [*argv, acc.image_ref, *COMMAND[acc.kind]]


INSPECT = ('{"Name":{{json .Name}},"State":{{json .State}},"Image":{{json .Config.Image}},'
           '"Labels":{{json .Config.Labels}}}')


def inspect(host, env) -> dict[str, dict[str, Any]]:
    """{accessory name: {"container", "state", "health", "image", "spec", "started_at",
    "restarts"}} for the environment's accessory containers on the host (one exec; never
    Config.Env, which holds the password)."""
    script = ('ids=$(docker ps -aq --no-trunc --filter "label=$1" --filter "label=$2") || exit 1; '
              '[ -z "$ids" ] || exec docker inspect --type container --format "$3" $ids')
    result = host.run(["sh", "-c", script, "sh", f"{LABEL}-app={env.app.name}",
                       f"{LABEL}-env={env.name}", INSPECT], step="accessories", check=False,
                      idempotent=True)
    found: dict[str, dict[str, Any]] = {}
    for line in result.stdout.splitlines():
        if not line.startswith("{"):
            continue
        raw = json.loads(line)
        labels = raw.get("Labels") or {}
        state = raw.get("State") or {}
        if not labels.get(LABEL):  # an accessory's backup schedule, not the accessory
            continue
        found[labels[LABEL]] = {
            "container": str(raw.get("Name", "")).lstrip("/"),
            "state": state.get("Status", "unknown"),
            "health": (state.get("Health") or {}).get("Status", "none"),
            "image": raw.get("Image", ""),
            "spec": labels.get(f"{LABEL}-spec", ""),
            "volume": labels.get(f"{LABEL}-volume", ""),
            "started_at": state.get("StartedAt"),
            "restarts": state.get("RestartCount", 0) if "RestartCount" in state else None,
        }
    return found


def ensure(provider, env, host, emit: Emit) -> dict[str, str]:
    """Make the environment's accessories run and answer their health check; returns the
    variables the app gets ({env_var: URL}; secrets). Idempotent: a running accessory with the
    same spec is left alone; a changed spec re-creates the container on the same volume.
    Raises ProviderError when one does not become healthy within HEALTHY_DEADLINE (with its
    last log lines), SecretStoreError when its password cannot be read or stored."""
    from cockpit.events import StepFinished, StepStarted, Timer

    if not env.accessories:
        return {}
    store = provider.ctx.secrets
    timer = Timer()
    emit(StepStarted("accessories", "make sure the accessories run and are healthy",
                     env=env.name))
    passwords = {n: core.password(store, env, n) for n in names(env)}
    net = network(env)
    host.run(["sh", "-c", 'docker network inspect "$1" >/dev/null 2>&1 || docker network create '
              '--label "$2" --label "$3" "$1" >/dev/null', "sh", net,
              f"{cmd.LABEL}.app={env.app.name}", f"{cmd.LABEL}.env={env.name}"],
             step="accessories", idempotent=True)
    have = inspect(host, env)
    said = []
    for name in names(env):
        acc = env.accessories[name]
        current = have.get(name)
        vol = current_volume(host, env, name, current)
        want = spec_hash(env, name, vol)
        lines = [f"{k}={v}" for k, v in
                 core.container_env(env.app.name, acc, passwords[name]).items()]
        host.run(cmd.chain(cmd.mkdirs(f"{host.layout.app_dir}/accessories"),
                           cmd.write_file(env_file(host, name), "600")), step="accessories",
                 stdin="\n".join(lines) + "\n", idempotent=True)
        if current and current["spec"] == want and current["state"] == "running":
            said.append(f"{name} running")
            continue
        if current and current["spec"] == want:
            host.run(cmd.docker_start(container(env, name)), step="accessories")
            said.append(f"{name} started")
            continue
        if acc.kind == "postgres":
            refuse_other_major(host, env, name, vol)
        host.run(cmd.chain(cmd.quiet(cmd.docker_rm(container(env, name))),
                           cmd.docker_volume_create(vol, app=env.app.name, env=env.name),
                           run_argv(env, host, name, vol)), step="accessories", timeout=900)
        said.append(f"{name} {'re-created' if current else 'created'} ({acc.image_ref})")
    wait_healthy(host, env, names(env))
    emit(StepFinished("accessories", "; ".join(said), env=env.name, seconds=timer.seconds()))
    return {env.accessories[n].url_var: core.url(env.app.name, n, env.accessories[n],
                                                 passwords[n]) for n in names(env)}


# Prints "<data major> <server major>": PG_VERSION of the volume (empty when it holds no
# cluster yet) and the major of the image's `postgres --version` ("postgres (PostgreSQL) 15.8").
_PG_MAJORS = r"""
docker volume inspect "$1" >/dev/null 2>&1 || exit 0
exec docker run --rm --user 0 --entrypoint sh \
    --mount "type=volume,source=$1,target=/cockpit-data,readonly" "$2" -c '
v=$(cat /cockpit-data/PG_VERSION 2>/dev/null || true)
s=$(postgres --version 2>/dev/null | sed -n "s/^postgres (PostgreSQL) \([0-9][0-9]*\).*/\1/p")
echo "$v $s"'
"""


def refuse_other_major(host, env, name: str, vol: str) -> None:
    """Before a Postgres accessory's container is (re-)created on `vol`: Refused when the
    volume holds a cluster of another major version than the image's server, since a data
    directory only starts under the major version that wrote it (PostgreSQL docs, "Upgrading a
    PostgreSQL Cluster": a major upgrade needs dump/restore or pg_upgrade). Without the check the
    old container is removed and the new one crash-loops on the data, taking the app's database
    down. Nothing is changed when it refuses. One `docker run --rm` of the image (~0.5 s, only
    when a container is created); a volume that does not exist yet or holds no cluster passes."""
    acc = env.accessories[name]
    out = host.run(["sh", "-c", _PG_MAJORS, "sh", vol, acc.image_ref], step="accessories",
                   idempotent=True, timeout=300).stdout.split()
    if len(out) != 2 or out[0] == out[1]:
        return
    data, server = out
    raise Refused(
        f"accessory {name} of {env.name}: volume {vol} holds Postgres {data} data and image "
        f"{acc.image_ref} runs Postgres {server}; a data directory only starts under the major "
        "version that wrote it. Nothing was changed",
        where=f"cockpit.toml [accessories.{name}]",
        hint=f"keep the version that wrote the data, or move it: `cockpit backup {env.name} "
             f"{name}` under the old version, then set the new one and `cockpit restore "
             f"{env.name} {name} --from <backup>` (a fresh volume; the old one is kept)")


def wait_healthy(host, env, which: list[str], deadline: float = HEALTHY_DEADLINE) -> None:
    """Poll docker's health status until every accessory in `which` is healthy; ProviderError
    naming the unhealthy one and its last log lines after `deadline` seconds, or at once when
    its container stopped."""
    end = time.monotonic() + deadline
    while True:
        have = inspect(host, env)
        waiting = [n for n in which if have.get(n, {}).get("health") != "healthy"]
        if not waiting:
            return
        dead = [n for n in waiting if have.get(n, {}).get("state") in ("exited", "dead", None)]
        if dead or time.monotonic() >= end:
            name = (dead or waiting)[0]
            info = have.get(name, {})
            logs = host.logs_tail(container(env, name), 20)
            raise ProviderError(
                f"accessory {name} of {env.name} is not healthy (state "
                f"{info.get('state', 'missing')}, health {info.get('health', 'none')})"
                + (": " + logs[-1] if logs else ""),
                where=f"{host.t.where} container {container(env, name)}",
                hint=f"cockpit accessories logs {env.name} {name}")
        time.sleep(1.0)


def status(provider, env) -> list[dict[str, Any]]:
    """One dict per configured accessory: name, kind, version, image, container, state
    (running, exited, missing), health (healthy, starting, unhealthy, none), volume, network,
    env_var, started_at, drift (running with another spec than cockpit.toml's)."""
    host = provider.host(env)
    have = inspect(host, env)
    out = []
    for name in names(env):
        acc = env.accessories[name]
        info = have.get(name)
        out.append({
            "name": name, "kind": acc.kind, "version": acc.tag, "image": acc.image_ref,
            "container": container(env, name), "state": info["state"] if info else "missing",
            "health": info["health"] if info else "none",
            "volume": (info or {}).get("volume") or volume(env, name),
            "network": network(env), "env_var": acc.url_var,
            "started_at": info["started_at"] if info else None,
            "drift": bool(info and info["spec"] != spec_hash(
                env, name, info.get("volume") or None)),
        })
    return out


def _pick(env, name: str | None) -> list[str]:
    if name is None:
        return names(env)
    if name not in env.accessories:
        known = ", ".join(names(env)) or "none"
        raise UsageError(f"{env.name} has no accessory {name!r} (known: {known})",
                         hint="accessories are [accessories.<name>] tables in cockpit.toml")
    return [name]


def restart(provider, env, name: str | None = None) -> list[str]:
    """`docker restart` the accessory (all when `name` is None), then wait until healthy.
    Returns the names restarted. The app reconnects on its own (its URL is unchanged)."""
    host = provider.host(env)
    which = _pick(env, name)
    host.run(["docker", "restart", "--time", "30", *[container(env, n) for n in which]],
             step="accessories", timeout=300)
    time.sleep(0.5)  # docker reports the old health until the first check after the restart
    wait_healthy(host, env, which)
    return which


def logs(provider, env, name: str | None = None, tail: int = 100) -> list[tuple[str, str]]:
    """The last `tail` lines of each accessory's log: [(name, line)], secrets redacted."""
    from cockpit.redaction import redact

    host = provider.host(env)
    out = []
    for n in _pick(env, name):
        for line in host.logs_tail(container(env, n), tail):
            out.append((n, redact(line)))
    return out


def exec_argv(env, name: str, argv: list[str], *, stdin: bool = False) -> list[str]:
    """`docker exec` in the accessory's container (with `-i` when it reads stdin)."""
    return ["docker", "exec", *(["-i"] if stdin else []), container(env, name), *argv]


def _owned(env, name: str, vol: str) -> bool:
    """True when `vol` is one of accessory `name`'s volumes: its data volume, a volume a
    restore made (`<data volume>-r<time>`) or its scheduled backups (`<data volume>-backups`)."""
    base = volume(env, name)
    return vol == base or vol.startswith(base + "-r") or vol == base + "-backups"


def volumes(provider, env, name: str | None = None) -> list[dict[str, Any]]:
    """The host's volumes of the environment's accessories (`name`: one of them), from
    `docker system df -v` (Docker Engine API /system/df): one dict each, newest first within an
    accessory: accessory, volume, role ("in use": the accessory runs on it; "backups": its
    scheduled backups; "kept": a previous volume a restore left, see `drop_volume`), size (as
    docker prints it, e.g. "135.2kB"), containers (how many use it). UsageError for an unknown
    accessory; ProviderError when docker cannot be asked."""
    host = provider.host(env)
    which = _pick(env, name)
    have = inspect(host, env)
    out = host.run(["docker", "system", "df", "-v", "--format", "{{json .Volumes}}"],
                   step="accessories", idempotent=True, timeout=300).stdout.strip()
    rows = json.loads(out or "[]") or []
    found = []
    for n in which:
        current = current_volume(host, env, n, have.get(n))
        for row in sorted(rows, key=lambda r: r.get("Name", ""), reverse=True):
            vol = row.get("Name", "")
            if not _owned(env, n, vol):
                continue
            role = ("in use" if vol == current else
                    "backups" if vol.endswith("-backups") else "kept")
            found.append({"accessory": n, "volume": vol, "role": role,
                          "size": row.get("Size", ""), "containers": int(row.get("Links") or 0)})
    return found


def drop_volume(provider, env, name: str, vol: str) -> None:
    """Remove a volume accessory `name` no longer runs on (one a restore kept). Refuses, with
    UsageError naming the volume, a volume that is not the accessory's, the one it runs on, and
    the scheduled backups' volume while a container uses it; nothing is removed then.
    ProviderError when docker refuses (e.g. a container still mounts it)."""
    host = provider.host(env)
    _pick(env, name)
    known = {v["volume"]: v for v in volumes(provider, env, name)}
    if vol not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise UsageError(f"{vol!r} is not a volume of accessory {name!r} of {env.name} "
                         f"(its volumes: {listed})",
                         hint=f"cockpit accessories volumes {env.name} {name}")
    if known[vol]["role"] == "in use":
        raise UsageError(f"{vol} is the volume accessory {name!r} of {env.name} runs on: "
                         "it is never dropped", hint="drop only a volume marked kept")
    if known[vol]["containers"]:
        raise UsageError(f"{vol} is used by {known[vol]['containers']} container(s)",
                         hint=f"stop them first (cockpit backup schedule {env.name} {name} "
                              "--every off stops the scheduled backups)")
    host.run(["docker", "volume", "rm", vol], step="accessories", timeout=120)
