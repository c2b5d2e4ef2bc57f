"""FlyProvider's flow operations: module functions taking the provider first (the class in
__init__.py delegates to them, the way the VPS provider's class does)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from cockpit.providers.fly.settings import FlySettings

from cockpit.errors import ProviderError, UsageError
from cockpit.events import Emit, HealthSample, LogLine, Message, StepFinished, StepStarted
from cockpit.models import (
    Instance,
    LiveState,
    LockInfo,
    Plan,
    Release,
    Step,
    TlsInfo,
)

if TYPE_CHECKING:
    from cockpit.providers.fly.api import FlyApi

    from cockpit.config import Environment


TOKEN_NAME = "FLY_API_TOKEN"


LOG_BACKOFF = (0.064, 4.0)


def _tail_per_source(lines: Iterator[LogLine], n: int) -> Iterator[LogLine]:
    """The last `n` lines of each machine, in their original order."""
    from collections import deque

    per: dict[str, deque[tuple[int, LogLine]]] = {}
    for index, line in enumerate(lines):
        per.setdefault(line.source, deque(maxlen=n)).append((index, line))
    for _, line in sorted((item for q in per.values() for item in q), key=lambda x: x[0]):
        yield line


def _meta(machine: dict[str, Any]) -> dict[str, Any]:
    return (machine.get("config") or {}).get("metadata") or {}


def _release_of(machine: dict[str, Any]) -> str | None:
    return _meta(machine).get("cockpit_release")


def health(provider, env: Environment) -> HealthSample:
    """One sample for the dashboard: the checks Fly's proxy runs on the serving machines
    (it routes only to machines whose checks pass), read from the Machines API."""
    from cockpit.providers.fly.machines import GONE

    api = provider._api(env)
    url = f"{env.settings.api_url}/apps/{env.settings.app}/machines"
    started = time.monotonic()
    try:
        machines = [m for m in api.list_machines() if m.get("state") not in GONE]
    except ProviderError as exc:  # FlyApiError, timeouts, a refused token
        return HealthSample(ok=False, status=None, latency_ms=None, url=url, error=exc.what,
                            env=env.name)
    ms = round((time.monotonic() - started) * 1000, 1)
    serving = [m for m in machines if m.get("state") == "started" and not m.get("cordoned")]
    checks = [(m["id"], c) for m in serving for c in m.get("checks") or []]
    passing = sum(1 for _, c in checks if c.get("status") == "passing")
    failing = [(mid, c) for mid, c in checks if c.get("status") != "passing"]
    if not serving:
        error = f"no machine serves ({len(machines)} in the app)"
    elif not checks:
        error = "no checks configured on the serving machines"
    elif failing:
        mid, c = failing[0]
        error = (f"check {c.get('name', '?')} on {mid}: {c.get('status', '?')}"
                 + (f" ({c['output']})" if c.get("output") else ""))
    else:
        error = ""
    return HealthSample(ok=not error, status=None, latency_ms=ms, url=url, error=error,
                        env=env.name, detail=f"checks {passing}/{len(checks)} passing on "
                                             f"{len(serving)} machines")


def live(provider, env: Environment) -> LiveState:
    from cockpit.providers.fly.machines import (
        GONE,
        META_SLOT,
        health_of,
        previous_from_machine,
        release_from_machine,
    )

    s: FlySettings = env.settings
    api = provider._api(env)
    state = LiveState(env=env.name, provider=provider.name)
    app = api.get_app()
    state.extra["app"] = s.app
    state.extra["app_exists"] = app is not None
    stored = provider._stored_releases(env)
    if app is None:
        state.releases = stored
        return state
    machines = [m for m in api.list_machines() if m.get("state") not in GONE]
    found: dict[str, Release] = {}
    remembered: dict[str, Release] = {}
    serving_releases: Counter[str] = Counter()
    for m in machines:
        meta = (m.get("config") or {}).get("metadata") or {}
        release = release_from_machine(m, provider.ctx.config.app.name, env.name)
        before = previous_from_machine(m, provider.ctx.config.app.name, env.name)
        if before is not None:
            remembered.setdefault(before.id, before)
        serving = m.get("state") == "started" and not m.get("cordoned")
        if release is not None:
            found.setdefault(release.id, release)
            if serving:
                serving_releases[release.id] += 1
        state.instances.append(Instance(
            id=m["id"], name=m.get("name", m["id"]),
            state={"started": "running", "stopped": "exited"}.get(m.get("state"),
                                                                   m.get("state", "?")),
            release_id=release.id if release else None,
            image=(m.get("config") or {}).get("image"), health=health_of(m),
            serving=serving, location=m.get("region"),
        ))
        if meta.get(META_SLOT) == "green" and m.get("cordoned"):
            state.drift.append(f"machine {m['id']} is a leftover green machine "
                               "(interrupted bluegreen); the next deploy removes it")
        elif m.get("cordoned"):
            state.drift.append(f"machine {m['id']} is cordoned (receives no traffic)")
        lease = m.get("lease")
        if lease and state.lock is None:
            state.lock = provider._lock_info(lease)
    state.extra["regions"] = sorted({m.get("region", "") for m in machines})
    state.extra["checks"] = {m["id"]: m.get("checks") or [] for m in machines}
    if serving_releases:
        current_id = serving_releases.most_common(1)[0][0]
        if len(serving_releases) > 1:
            state.drift.append("machines serve different releases: " + ", ".join(
                f"{rid} ({n})" for rid, n in serving_releases.most_common()))
        known = next((r for r in stored if r.id == current_id), None)
        current = known or found[current_id]
        if known is not None:
            current.meta.setdefault("fly_config", found[current_id].meta["fly_config"])
        if current.status in ("unknown", "pending", ""):
            current.status = "healthy" if all(
                i.health == "healthy" for i in state.instances
                if i.release_id == current_id and i.serving) else current.status
        state.current = current
    by_id = {r.id: r for r in stored}
    for rid, release in {**remembered, **found}.items():
        by_id.setdefault(rid, release)
    state.releases = sorted(by_id.values(), key=lambda r: (r.created_at, r.id), reverse=True)
    if state.lock is None:
        state.lock = provider._first_lease(api, machines)
    try:
        certs = api.request("GET", f"/apps/{s.app}/certificates", op="list certificates")
        state.extra["certificates"] = (certs or {}).get("certificates") or []
    except ProviderError:
        state.extra["certificates"] = []
    if env.domain:
        state.tls = provider._cert_tls(api, env.domain.lower())
    return state


def _cert_tls(provider, api: FlyApi, host: str) -> TlsInfo:
    """Certificate status as Fly reports it (no handshake: `domain` does that)."""
    from cockpit.providers.fly.logs import parse_ts

    try:
        detail = api.request("GET", f"/apps/{api.app}/certificates/{host}",
                             op=f"read certificate {host}")
    except ProviderError as exc:
        return TlsInfo(ok=False, names=[host], error=exc.what)
    issued = [i for c in detail.get("certificates") or [] if c.get("status") == "active"
              for i in c.get("issued") or []]
    if not issued:
        return TlsInfo(ok=False, names=[host],
                       error=f"certificate {detail.get('status') or 'pending'}: "
                             f"run `cockpit domain` for the DNS records to create")
    expiries = [t for t in (parse_ts(i.get("expires_at")) for i in issued) if t]
    not_after = min(expiries) if expiries else None
    return TlsInfo(ok=True, issuer="Fly.io (ACME)", names=[host], not_after=not_after,
                   days_left=int((not_after - time.time()) // 86400) if not_after else None)


def _stored_releases(provider, env: Environment) -> list[Release]:
    store = getattr(provider.ctx, "store", None)
    return store.releases(env.name, limit=50) if store is not None else []


def _lock_info(provider, lease: dict[str, Any]) -> LockInfo:
    """A machine lease as a lock: the operator and command a cockpit deploy lock names in
    its description, else the lease's owner and description (flyctl's)."""
    from cockpit.providers.fly.leases import _holder

    expires = float(lease.get("expires_at") or 0)
    holder = _holder(lease)
    return LockInfo(holder=holder.operator, pid=holder.pid, command=holder.command,
                    acquired_at=holder.acquired_at, expires_at=expires)


def _first_lease(provider, api: FlyApi, machines: list[dict[str, Any]]) -> LockInfo | None:
    from cockpit.providers.fly.api import FlyApiError

    for m in machines[:10]:
        try:
            data = api.request("GET", api.m(m["id"]) + "/lease", op="read lease",
                               machine=m["id"])
        except FlyApiError:
            continue
        lease = (data or {}).get("data") or {}
        if lease.get("expires_at", 0) > time.time():
            return provider._lock_info(lease)
    return None


def status(provider, env: Environment) -> dict[str, Any]:
    """Machines, states, checks, regions, current release, certificate status."""
    state = provider.live(env)
    return {
        "app": env.settings.app,
        "current": state.current.id if state.current else None,
        "regions": state.extra.get("regions", []),
        "machines": [{**i.to_dict(), "checks": state.extra.get("checks", {}).get(i.id, [])}
                     for i in state.instances],
        "certificates": state.extra.get("certificates", []),
        "lock": state.lock.to_dict() if state.lock else None,
        "drift": state.drift,
    }


def build(provider, env: Environment, emit: Emit) -> tuple[str, str]:
    """Fly runs registry images: the configured `image`, else build and push to `registry`."""
    s: FlySettings = env.settings
    if s.image:
        digest = s.image.split("@", 1)[1] if "@" in s.image else ""
        return s.image, digest
    if not s.registry:
        raise UsageError(
            f"environment {env.name!r} has no image for Fly",
            hint="pass --image registry.fly.io/<app>@sha256:..., or set `image` or "
                 "`registry` (e.g. \"registry.fly.io\") in cockpit.toml",
        )
    from cockpit.providers.fly.build import build_and_push

    return build_and_push(provider.ctx.config, env, emit, token=provider._token(env))


def plan_deploy(provider, env: Environment, release: Release) -> Plan:
    from cockpit.providers.fly.machines import (
        GONE,
        machine_count,
        recordable,
        release_config,
    )

    s: FlySettings = env.settings
    count = machine_count(env)
    api = provider._api(env)
    if not release.image or release.image.startswith("sha256:"):
        raise UsageError(
            f"Fly needs a registry image reference, got {release.image!r}",
            hint="pass --image registry.fly.io/<app>@sha256:... or set `registry`",
        )
    app_exists = api.get_app() is not None
    machines = [m for m in api.list_machines() if m.get("state") not in GONE] \
        if app_exists else []
    config = release_config(env, release)
    release.meta.setdefault("fly_config", recordable(config))
    release.meta["strategy"] = s.strategy
    release.meta["fly_app"] = s.app
    previous = None
    if machines:
        from cockpit.providers.fly.machines import release_from_machine

        previous = release_from_machine(machines[0], release.app, env.name)
    steps: list[Step] = []
    if not app_exists:
        steps.append(Step("app", f"create Fly app {s.app} in org {s.org}"))
    if env.secret_names and (previous is None
                             or previous.secrets_digest != release.secrets_digest):
        steps.append(Step("secrets", f"stage {len(env.secret_names)} secret(s) "
                                     "(names and digests only)"))
    if env.release_command:
        steps.append(Step("release_command",
                          "run the release command once in a release_command machine of "
                          "the new image (the app's env and secrets, restart no, "
                          f"auto_destroy, at most {s.release_timeout:.0f} s) before any "
                          f"machine changes: {env.release_command}"))
    if machines:
        steps.append(Step("leases", f"lease {len(machines)} machine(s)"))
    if s.strategy == "bluegreen":
        steps += [Step(f"green:{n}", f"create green machine {n} (not serving)")
                  for n in range(1, count + 1)]
        steps.append(Step("gate", "gate every green machine on its checks"))
        steps.append(Step("swap", "uncordon green, cordon blue", destructive=True))
        steps += [Step(f"retire:{m['id']}", f"stop and destroy blue {m['id']}",
                       destructive=True) for m in machines]
    else:
        steps += [Step(f"update:{m['id']}", f"update {m['id']} ({m.get('region')}) then "
                                            "gate it", destructive=True)
                  for m in machines[:count]]
        steps += [Step(f"create:{n}", "create a machine then gate it")
                  for n in range(len(machines) + 1, count + 1)]
        steps += [Step(f"destroy:{m['id']}", f"scale down: destroy {m['id']}",
                       destructive=True) for m in machines[count:]]
    changes = release.changes_from(previous)
    notes = [f"strategy {s.strategy}: " + (
        "green machines are gated before they serve; on failure only green is destroyed"
        if s.strategy == "bluegreen" else
        "one machine at a time; a failed gate restores the machines already updated")]
    if "@sha256:" not in release.image:
        notes.append(f"image {release.image} is not pinned by digest; rollback may not "
                     "find the same bits")
    return Plan(env=env.name, action="deploy", release=release, steps=steps,
                previous=previous, notes=notes, changes=changes,
                data={"app": s.app, "strategy": s.strategy, "config": config,
                      "machines": [m["id"] for m in machines]})


def apply(provider, plan: Plan, emit: Emit) -> Release:
    from cockpit.providers.fly.deploy import Deployer
    from cockpit.providers.fly.machines import release_config

    env = provider.ctx.config.env(plan.env)
    provider._ensure_app(env, emit)
    min_secrets = provider._stage_secrets(env, emit)
    if env.release_command and plan.action != "rollback":  # once, before any machine
        from cockpit.providers.fly import release as release_phase

        release_phase.run(
            provider._api(env), env, plan.release, emit, min_secrets=min_secrets,
            previous_id=plan.previous.id if plan.previous else None, sleep=provider.sleep,
            logs=_one_off_output(provider, env))
    config = release_config(env, plan.release, min_secrets, previous=plan.previous)
    deployer = Deployer(provider._api(env), env, emit, who=provider._who(), sleep=time.sleep,
                        logs=lambda mid: provider._last_lines(env, mid))
    strategy = plan.release.meta.get("strategy") or env.settings.strategy
    if strategy == "bluegreen":
        return deployer.bluegreen(plan, config, min_secrets)
    return deployer.rolling(plan, config, min_secrets)


def _one_off_output(provider, env: Environment) -> Callable[[str], list[str]]:
    """`output(machine id)`: every line a one-off machine (release command, schema probe)
    wrote, from Fly's logs endpoint."""
    from cockpit.providers.fly.logs import poll

    def output(mid: str) -> list[str]:
        return [line.line for line in poll(provider._api(env), env.name, follow=False,
                                           machine=mid, sleep=provider.sleep,
                                           backoff=LOG_BACKOFF, max_pages=20)]

    return output


def schema_head(provider, env: Environment, release: Release) -> dict[str, Any] | None:
    """The schema head after `release`'s release command (`Provider.schema_head`): the probe
    run in a one-off machine like the release command (`release.schema_head`), then kept in
    the metadata of the release's machines (`cockpit_schema`, Update Metadata: no restart), so
    another machine's rollback reads it from live state. None when the release command runs no
    known migration tool. Raises ProviderError (FlyApiError, a failed probe) or
    SchemaProbeError."""
    from cockpit.providers.fly import release as release_phase
    from cockpit.providers.fly.machines import (
        GONE,
        META_SCHEMA,
        META_SECRETS_VERSION,
        schema_value,
    )

    api = provider._api(env)
    machines = [m for m in api.list_machines()
                if m.get("state") not in GONE and _release_of(m) == release.id]
    versions = [str(_meta(m).get(META_SECRETS_VERSION) or "") for m in machines]
    min_secrets = max((int(v) for v in versions if v.isdigit()), default=None)
    record = release_phase.schema_head(api, env, release, min_secrets=min_secrets,
                                       logs=_one_off_output(provider, env),
                                       sleep=provider.sleep)
    if record:
        value = schema_value(record)
        for m in machines:
            api.request("POST", f"{api.m(m['id'])}/metadata/{META_SCHEMA}",
                        op="record the schema head", machine=m["id"], json={"value": value},
                        idempotent=True)
    return record


def rollback(provider, env: Environment, to: Release, emit: Emit) -> Release:
    """Serve `to` again: its image and its recorded machine config, through the gate."""
    import copy

    release = copy.deepcopy(to)
    if not release.meta.get("fly_config"):
        emit(Message(f"release {to.id} has no recorded machine config; using today's "
                     "cockpit.toml with its image", level="warning", env=env.name))
    if env.secret_names and to.secrets_digest:
        current = provider.ctx.secrets.digest(env)
        if current != to.secrets_digest:
            emit(Message(f"secrets changed since release {to.id}: today's values are used "
                         "(Fly secrets are app-wide; cockpit keeps digests, never values)",
                         level="warning", env=env.name))
            release.secrets_digest = current  # the machines' metadata says what runs
    plan = provider.plan_deploy(env, release)
    plan.action = "rollback"
    result = provider.apply(plan, emit)
    result.status = "healthy"
    return result


def reconcile(provider, env: Environment, journal: list[dict[str, Any]], emit: Emit) -> str:
    """After an interrupted run: remove leftover green machines, report mixed releases."""
    from cockpit.providers.fly.machines import GONE, META_SLOT

    try:
        api = provider._api(env)
        if api.get_app() is None:
            return "the app does not exist; nothing was changed"
        machines = [m for m in api.list_machines() if m.get("state") not in GONE]
        serving = {_release_of(m) for m in machines
                   if m.get("state") == "started" and not m.get("cordoned")}
        zombies = [m["id"] for m in machines if m.get("cordoned") and serving and (
            _meta(m).get(META_SLOT) == "green" or _release_of(m) not in serving)]
        removed = []
        for mid in zombies:
            try:
                api.request("DELETE", api.m(mid), op="destroy leftover green machine",
                            machine=mid, params={"force": "true"}, idempotent=True)
                removed.append(mid)
            except ProviderError:
                pass
        releases = {_release_of(m) for m in machines if m["id"] not in removed}
        parts = []
        if removed:
            parts.append(f"destroyed leftover green machine(s) {', '.join(removed)}")
        if len(releases) > 1:
            parts.append("machines run different releases ("
                         + ", ".join(sorted(str(r) for r in releases))
                         + "); deploy or roll back to converge")
        return "; ".join(parts) or "live state is consistent; nothing to do"
    except ProviderError as exc:
        return f"could not read live state: {exc.what}"


def _stage_secrets(provider, env: Environment, emit: Emit) -> int | None:
    """Push the keyring's values when they differ from what was last staged."""
    saved = provider._store_get(provider._secrets_key(env), {}) or {}
    version = saved.get("version")
    if version and not provider._has_secrets_version(env, int(version)):
        # the local min-version is ahead of the app (app recreated, store copied from
        # elsewhere): flyctl's "out of sync" (#4576). Forget it and stage again.
        emit(Message(f"secrets version {version} is not on {env.settings.app}; "
                     "staging the keyring's values again", level="warning", env=env.name))
        saved, version = {}, None
    if not env.secret_names:
        return version
    values = provider.ctx.secrets.require(env)
    digest = provider.ctx.secrets.digest(env, values)
    remote = {s["name"] for s in provider.remote_secrets(env)}
    if saved.get("digest") == digest and set(values) <= remote:
        return version
    emit(StepStarted(step="secrets", title=f"stage {len(values)} secret(s) on "
                                           f"{env.settings.app}", env=env.name))
    version = provider.set_secrets(env, values)
    emit(StepFinished(step="secrets", detail=f"secrets version {version}", env=env.name))
    return version


def _has_secrets_version(provider, env: Environment, version: int) -> bool:
    from cockpit.providers.fly.api import FlyApiError

    try:
        provider._api(env).request("GET", f"/apps/{env.settings.app}/secrets",
                               op="check secrets version",
                               params={"min_version": version})
        return True
    except FlyApiError as exc:
        if exc.status in (404, 422):
            return False
        raise


def set_secrets(provider, env: Environment, secrets: Mapping[str, str | None]) -> int | None:
    """Stage values (None unsets) in one call; the version goes on later machine updates."""
    from cockpit.redaction import REDACTOR

    for value in secrets.values():
        if value:
            REDACTOR.add(value)
    api = provider._api(env)
    data = api.request("POST", f"/apps/{env.settings.app}/secrets", op="stage secrets",
                       json={"values": dict(secrets)}, idempotent=True)
    version = (data or {}).get("version")
    values = provider.ctx.secrets.values(env) if env.secret_names else {}
    provider._store_set(provider._secrets_key(env), {
        "version": version,
        "digest": provider.ctx.secrets.digest(env, values) if env.secret_names else "",
    })
    return version


def secret_status(provider, env: Environment) -> list[dict[str, Any]]:
    """Names and Fly digests; `deployed` when running machines have that secrets version."""
    from cockpit.providers.fly.machines import GONE, META_SECRETS_VERSION

    saved = provider._store_get(provider._secrets_key(env), {}) or {}
    staged = saved.get("version")
    api = provider._api(env)
    running = {((m.get("config") or {}).get("metadata") or {}).get(META_SECRETS_VERSION)
               for m in api.list_machines() if m.get("state") not in GONE}
    deployed = staged is not None and running == {str(staged)}
    return [{"name": s["name"], "digest": s.get("digest"),
             "status": "deployed" if deployed else "staged"}
            for s in provider.remote_secrets(env)]


def logs(provider, env: Environment, *, follow: bool, since: str | None = None,
         tail: int | None = None, machine: str | None = None,
         region: str | None = None, stop: Any = None) -> Iterator[LogLine]:
    """`machine`/`region` filter at the API; `stop` (a threading.Event) ends a follow
    while no lines arrive, so a reader thread can quit."""
    from cockpit.providers.fly.logs import poll

    lines = poll(provider._api(env), env.name, follow=follow, since=since, machine=machine,
                 region=region, sleep=provider.sleep, backoff=LOG_BACKOFF, stop=stop)
    if tail and not follow:
        yield from _tail_per_source(lines, tail)
    else:
        yield from lines


def _last_lines(provider, env: Environment, mid: str, n: int = 20) -> list[str]:
    from collections import deque

    from cockpit.providers.fly.logs import poll

    lines = poll(provider._api(env), env.name, follow=False, machine=mid, sleep=provider.sleep,
                 backoff=LOG_BACKOFF, max_pages=20)
    return [f"{line.source}: {line.line}" for line in deque(lines, maxlen=n)]


def lock_status(provider, env: Environment) -> LockInfo | None:
    """Fly's deploy lock is the machine lease: who holds one, until when."""
    from cockpit.providers.fly.machines import GONE

    api = provider._api(env)
    if api.get_app() is None:
        return None
    machines = [m for m in api.list_machines() if m.get("state") not in GONE]
    return provider._first_lease(api, machines)


def lock_release(provider, env: Environment) -> None:
    """Break leases left behind (`cockpit lock release --yes`): read each nonce, release."""
    from cockpit.providers.fly.api import FlyApiError
    from cockpit.providers.fly.machines import GONE

    api = provider._api(env)
    for m in api.list_machines():
        if m.get("state") in GONE:
            continue
        try:
            data = api.request("GET", api.m(m["id"]) + "/lease", op="read lease",
                               machine=m["id"])
        except FlyApiError:
            continue
        nonce = ((data or {}).get("data") or {}).get("nonce")
        if nonce:
            api.request("DELETE", api.m(m["id"]) + "/lease", op="release lease",
                        machine=m["id"], nonce=nonce, idempotent=True)
