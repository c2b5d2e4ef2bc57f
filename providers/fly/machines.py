"""Machine config for a release, the metadata that marks it, and the health gate.

The release travels in the machine itself (`config.metadata`), so any operator reading the app
knows what runs: release id, image digest, config hash, secrets digest, and the schema head its
release command left (`cockpit_schema`, written after the probe; the replaced release's head
travels in `cockpit_previous`), so another machine's rollback knows them. The gate is Fly's own
machine checks (the proxy's view), read until every check passes; a machine that exits fails
the gate at once with its exit code and last log lines (flyctl waits out its whole timeout,
issue #2653).
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cockpit.providers.fly.api import FlyApi, FlyApiError, WaitTimeout

from cockpit.errors import GateFailed
from cockpit.events import Emit, HealthSample, Message
from cockpit.models import Release
from cockpit.redaction import redact

if TYPE_CHECKING:
    from cockpit.config import Environment

META_RELEASE = "cockpit_release"
META_DIGEST = "cockpit_digest"
META_CONFIG = "cockpit_config_hash"
META_SECRETS = "cockpit_secrets_digest"
META_SECRETS_VERSION = "cockpit_secrets_version"
META_ENV = "cockpit_env"
META_CREATED = "cockpit_created_at"
META_SLOT = "cockpit_slot"  # "green" while a bluegreen candidate is not serving yet
META_PREVIOUS = "cockpit_previous"  # JSON: the release this one replaced (rollback w/o store)
META_SCHEMA = "cockpit_schema"  # JSON: the release's schema record (cockpit.schema)
META_SCHEMA_DB = "cockpit_schema_db"  # JSON: the database's head while it serves (a rollback)
COCKPIT_KEYS = (META_RELEASE, META_DIGEST, META_CONFIG, META_SECRETS, META_SECRETS_VERSION,
                META_ENV, META_CREATED, META_SLOT, META_PREVIOUS, META_SCHEMA, META_SCHEMA_DB)
SCHEMA_META_CHARS = 4000  # a schema record in metadata is cut (oldest migrations first) to this
GONE = ("destroyed", "destroying", "replaced", "migrated")


def machine_count(env: Environment) -> int:
    """Machines per environment: the common `replicas` key (one name for one idea)."""
    return env.common.replicas


def port_of(env: Environment) -> int:
    return env.settings.internal_port or env.app.port


def base_config(env: Environment, image: str) -> dict[str, Any]:
    """The machine config cockpit.toml describes, before any release metadata."""
    s = env.settings
    kind, _, size = s.vm_size.partition("-cpu-")
    port = port_of(env)
    config: dict[str, Any] = {
        "image": image,
        "guest": {"cpu_kind": kind, "cpus": int(size.rstrip("x") or 1), "memory_mb": s.memory_mb},
        "env": {**env.plain_env, "PORT": str(port)},  # [app.env] < [environments.*.env]
        "services": [{
            "protocol": "tcp", "internal_port": port, "autostop": "off", "autostart": False,
            "ports": [{"port": 80, "handlers": ["http"], "force_https": True},
                      {"port": 443, "handlers": ["tls", "http"]}],
        }],
        "checks": {"health": {
            "type": "http", "port": port, "method": "GET",
            "path": s.check_path or env.app.health_path,
            "interval": s.check_interval, "timeout": s.check_timeout,
            "grace_period": s.check_grace,
        }},
        "restart": {"policy": "on-failure", "max_retries": 3},
        "metadata": {"fly_platform_version": "v2", "fly_process_group": "app"},
    }
    return config


def schema_compact(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A schema record (`cockpit.schema`) small enough for machine metadata: tool, head, and
    the newest applied migrations (with their labels) that fit SCHEMA_META_CHARS of JSON;
    None for none."""
    if not record:
        return None
    applied = [str(a) for a in record.get("applied") or []]
    labels = record.get("labels") or {}
    while True:
        out: dict[str, Any] = {"tool": record.get("tool"), "head": record.get("head"),
                               "applied": applied}
        kept = {a: labels[a] for a in applied if a in labels}
        if kept:
            out["labels"] = kept
        if len(json.dumps(out, separators=(",", ":"))) <= SCHEMA_META_CHARS or not applied:
            return out
        applied = applied[len(applied) // 4 + 1:]


def schema_value(record: dict[str, Any] | None) -> str:
    """`schema_compact(record)` as the JSON string a metadata value is."""
    return json.dumps(schema_compact(record), separators=(",", ":"), sort_keys=True)


def schema_from(value: Any) -> dict[str, Any] | None:
    """A schema record from a metadata value (JSON string) or a dict; None when unreadable."""
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("tool") else None


def release_config(env: Environment, release: Release, secrets_version: int | None = None,
                   previous: Release | None = None) -> dict[str, Any]:
    """The config for `release`: its recorded config (rollback) or today's, plus its marks."""
    recorded = release.meta.get("fly_config")
    config = copy.deepcopy(recorded) if recorded else base_config(env, release.image)
    config["image"] = release.image
    meta = {k: v for k, v in config.get("metadata", {}).items() if k not in COCKPIT_KEYS}
    meta.update({
        META_RELEASE: release.id, META_DIGEST: release.digest, META_CONFIG: release.config_hash,
        META_SECRETS: release.secrets_digest, META_ENV: env.name,
        META_CREATED: str(int(release.created_at or 0)),
    })
    if secrets_version is not None:
        meta[META_SECRETS_VERSION] = str(secrets_version)
    for key, name in ((META_SCHEMA, "schema"), (META_SCHEMA_DB, "schema_db")):
        if release.meta.get(name):  # a rollback's target; a deploy's is written after its probe
            meta[key] = schema_value(release.meta[name])
    if previous is not None and previous.id != release.id:
        before = {"id": previous.id, "image": previous.image, "digest": previous.digest,
                  "config_hash": previous.config_hash,
                  "created_at": int(previous.created_at or 0)}
        if previous.meta.get("schema"):
            before["schema"] = schema_compact(previous.meta["schema"])
        meta[META_PREVIOUS] = json.dumps(before, separators=(",", ":"))
    config["metadata"] = meta
    return config


def previous_from_machine(machine: dict[str, Any], app: str, env: str) -> Release | None:
    """The release a machine's release replaced, as its metadata remembers it (no config:
    rolling back to it uses today's cockpit.toml with its image, like flyctl's only way)."""
    raw = ((machine.get("config") or {}).get("metadata") or {}).get(META_PREVIOUS)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        meta: dict[str, Any] = {"source": "fly machine metadata (previous release)"}
        if schema_from(data.get("schema")):
            meta["schema"] = schema_from(data["schema"])
        return Release(id=str(data["id"]), app=app, env=env, image=str(data["image"]),
                       digest=str(data.get("digest", "")),
                       config_hash=str(data.get("config_hash", "")),
                       created_at=float(data.get("created_at") or 0), status="superseded",
                       meta=meta)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def recordable(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a machine config a release keeps for rollback (no release marks)."""
    out = copy.deepcopy(config)
    out["metadata"] = {k: v for k, v in out.get("metadata", {}).items() if k not in COCKPIT_KEYS}
    return out


def release_from_machine(machine: dict[str, Any], app: str, env: str) -> Release | None:
    config = machine.get("config") or {}
    meta = config.get("metadata") or {}
    rid = meta.get(META_RELEASE)
    if not rid:
        return None
    try:
        created = float(meta.get(META_CREATED) or 0)
    except ValueError:
        created = 0.0
    kept: dict[str, Any] = {"source": "fly machine metadata", "fly_config": recordable(config)}
    for key, name in ((META_SCHEMA, "schema"), (META_SCHEMA_DB, "schema_db")):
        if schema_from(meta.get(key)):
            kept[name] = schema_from(meta[key])
    return Release(
        id=rid, app=app, env=env, image=config.get("image", ""),
        digest=meta.get(META_DIGEST, ""), config_hash=meta.get(META_CONFIG, ""),
        secrets_digest=meta.get(META_SECRETS, ""), created_at=created, status="unknown",
        meta=kept,
    )


def health_of(machine: dict[str, Any]) -> str:
    checks = machine.get("checks") or []
    if machine.get("state") not in ("started",):
        return "starting" if machine.get("state") in ("created", "starting", "replacing") \
            else "unknown"
    if not checks:
        return "unknown"
    if all(c.get("status") == "passing" for c in checks):
        return "healthy"
    if any(c.get("status") == "critical" for c in checks):
        return "unhealthy"
    return "starting"


def exit_code(machine: dict[str, Any]) -> int | None:
    for event in machine.get("events") or []:  # newest first
        if event.get("type") == "exit":
            code = ((event.get("request") or {}).get("exit_event") or {}).get("exit_code")
            return code
    return None


class Gate:
    """Waits until one machine (at one version) is started and every check passes."""

    def __init__(self, api: FlyApi, env: Environment, emit: Emit,
                 sleep: Callable[[float], None] = time.sleep,
                 logs: Callable[[str], list[str]] | None = None) -> None:
        self.api = api
        self.env = env
        self.emit = emit
        self.sleep = sleep
        self.logs = logs or (lambda _mid: [])

    def healthy(self, mid: str, instance_id: str | None) -> dict[str, Any]:
        """Gate one machine (at `instance_id` when given) with the core gate (cockpit.gate):
        wait until it started (`wait_timeout`), then sample it (Get Machine, within
        `gate.timeout`) until `gate.count` reads in a row find every check passing,
        `gate.interval` apart, within `gate.deadline`. Fails fast when the machine stops,
        fails, restarts or is destroyed, and when its checks report 5xx `gate.fail_streak` times
        in a row after `gate.start_period`. Raises GateFailed (cockpit.gate.GateError with the
        samples and the machine's last log lines); answers the machine JSON of the last read."""
        from cockpit import gate

        start = time.monotonic()
        wait_deadline = start + self.env.settings.wait_timeout
        self._started(mid, instance_id, wait_deadline)
        policy = gate.Policy.of(self.env.gate, min_poll=GET_MACHINE_POLL)
        url = f"fly:{self.api.app}/{mid}"
        seen: dict[str, Any] = {"machine": {}, "last": None}

        def sample(timeout: float) -> gate.Sample:
            started = time.monotonic()
            machine = self.api.get_machine(mid, timeout=timeout)
            seen["machine"] = machine
            if instance_id and machine.get("instance_id") != instance_id:
                raise GateFailed(
                    f"machine {mid} was changed by someone else during the deploy "
                    f"(version {machine.get('instance_id')}, expected {instance_id})",
                    where=f"fly app {self.api.app}",
                    hint="check `cockpit status`; another tool is updating this app")
            out = _sample(machine)
            out.url = url
            out.latency_ms = round((time.monotonic() - started) * 1000, 1)
            if out.state == gate.RUNNING and not (machine.get("config") or {}).get("checks"):
                if seen["last"] is None:
                    self.emit(Message(f"machine {mid} has no checks: started counts as healthy",
                                      level="warning", env=self.env.name))
                seen["last"] = (True, "")
                return gate.Sample(ok=True, status=None, state=gate.RUNNING, url=url,
                                   detail="started, no checks")
            checks = machine.get("checks") or []
            result = (out.ok, out.error)
            settled = all(c.get("status") in ("passing", "critical") for c in checks)
            if result != seen["last"] and (settled or out.state != gate.RUNNING):
                seen["last"] = result  # one event per result, none while checks warm up
                self.emit(HealthSample(ok=out.ok, status=None, latency_ms=None, url=url,
                                       error=out.error, env=self.env.name))
            return out

        try:
            gate.run(sample, policy, logs=lambda: self._report(seen["machine"]),
                     what=f"machine {mid}", where=f"fly app {self.api.app}")
        except gate.GateError as exc:
            if exc.reason == gate.DEADLINE:
                checks = (seen["machine"] or {}).get("checks") or []
                exc.what = (f"machine {mid} did not pass its checks within "
                            f"{self.env.gate.deadline:g}s: "
                            + (_summary(checks) or "no check results")
                            + f" ({gate.describe(exc.samples)})")
                exc.hint = ("see the check output and log lines below; the previous release "
                            "keeps serving")
                exc.args = (exc.message,)
            raise
        return seen["machine"]

    def _started(self, mid: str, instance_id: str | None, deadline: float) -> None:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                machine = self.api.get_machine(mid)
                raise GateFailed(
                    f"machine {mid} did not start within {self.env.settings.wait_timeout:g}s "
                    f"(state {machine.get('state')})",
                    where=f"fly app {self.api.app}", logs=self._report(machine))
            try:
                self.api.wait(mid, "started", timeout=min(remaining, 10),
                              instance_id=instance_id, op="wait for machine to start")
                return
            except WaitTimeout:
                machine = self.api.get_machine(mid)
                if machine.get("state") in ("stopped", "failed", *GONE):
                    code = exit_code(machine)
                    raise GateFailed(
                        f"machine {mid} {machine.get('state')} instead of starting"
                        + (f" (exit code {code})" if code is not None else ""),
                        where=f"fly app {self.api.app}", logs=self._report(machine)) from None

    def _report(self, machine: dict[str, Any]) -> list[str]:
        lines = [f"check {c.get('name')}: {c.get('status')}: {redact(str(c.get('output', '')))}"
                 for c in machine.get("checks") or [] if c.get("status") != "passing"]
        try:
            lines += self.logs(machine.get("id", ""))
        except FlyApiError:
            lines.append("(logs unavailable)")
        return lines


GET_MACHINE_POLL = 0.25  # s: Get Machine is limited to 5/s (burst 10) per machine
_STATUS = re.compile(r"(?<![\w.:/])([1-5]\d\d)(?![\w.:/])")  # not in an address or port


def _sample(machine: dict[str, Any]) -> Any:
    """One gate sample (cockpit.gate.Sample) from a machine's JSON: its state (a stop, failure
    or destroy ends the gate; an exit since this version launched, now running again, is a
    restart) and its checks (all passing: ok, status 200; a failing check's output names an
    HTTP status, e.g. "HTTP GET /up: 500 ...": that status)."""
    from cockpit import gate

    state = machine.get("state")
    if state in GONE:
        return gate.Sample(ok=False, state=gate.GONE, detail=f"state {state}",
                           error=f"machine {state}")
    if state in ("stopped", "failed"):
        code = exit_code(machine)
        return gate.Sample(ok=False, state=gate.EXITED, error=f"machine {state}",
                           detail=f"exit code {code}" if code is not None else f"state {state}")
    if state != "started":
        return gate.Sample(ok=False, state=gate.STARTING, error=f"machine {state}")
    for event in machine.get("events") or []:  # newest first, back to this version's launch
        if event.get("type") in ("launch", "update"):
            break
        if event.get("type") == "exit":
            code = ((event.get("request") or {}).get("exit_event") or {}).get("exit_code")
            return gate.Sample(ok=False, state=gate.RESTARTED, error="machine restarted",
                               detail=f"exited with code {code} and was restarted")
    checks = machine.get("checks") or []
    ok = bool(checks) and all(c.get("status") == "passing" for c in checks)
    if ok:
        return gate.Sample(ok=True, status=200, detail=f"checks {len(checks)}/{len(checks)}")
    status = None
    for c in checks:
        if c.get("status") == "critical":
            found = _STATUS.search(str(c.get("output", "")))
            if found:
                status = int(found.group(1))
                break
    return gate.Sample(ok=False, status=status, error=_summary(checks) or "no check results",
                       state=gate.RUNNING if checks else gate.STARTING)


def _summary(checks: list[dict[str, Any]]) -> str:
    bad = [c for c in checks if c.get("status") != "passing"]
    return "; ".join(f"{c.get('name')} {c.get('status')}: {redact(str(c.get('output', '')))}"
                     for c in bad)
