"""The Fly.io provider: Machines REST API over httpx (token from the keyring).

What it adds to flyctl, from its users' complaints (shared/reference/fly.md §3): a rollback
command that restores image *and* config, leases that are always released and that name their
holder on conflict, bluegreen that destroys only green on failure, a gate that fails fast when
a machine exits, exact DNS records for certificates, and logs with backoff.

The token is read from the keyring (secret FLY_API_TOKEN in the environment's scope), or from
$FLY_API_TOKEN for CI. It is registered with the redactor and only ever sent as a header.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cockpit.providers.fly import flow, setup
from cockpit.providers.fly.flow import TOKEN_NAME
from cockpit.providers.fly.settings import FlySettings

from cockpit.events import Emit, HealthSample, LogLine
from cockpit.models import (
    DomainStatus,
    Finding,
    LiveState,
    LockInfo,
    Plan,
    Release,
    TlsInfo,
)
from cockpit.provider import Provider

if TYPE_CHECKING:
    from cockpit.providers.fly.api import FlyApi

    from cockpit.config import Environment


class FlyProvider(Provider):
    name: ClassVar[str] = "fly"
    description: ClassVar[str] = "Fly.io Machines through the Machines API (rolling or blue-green)"
    settings_model: ClassVar[type[FlySettings]] = FlySettings
    credential_names: ClassVar[tuple[str, ...]] = (TOKEN_NAME,)

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self._apis: dict[str, FlyApi] = {}
        self.sleep = time.sleep  # injectable: tests record the log polling backoff

    # ------------------------------------------------------------------ plumbing

    def _token(self, env: Environment) -> str:
        return setup._token(self, env)

    def _api(self, env: Environment) -> FlyApi:
        key = f"{env.name}:{env.settings.app}"
        if key not in self._apis:
            from cockpit.providers.fly.api import FlyApi

            s: FlySettings = env.settings
            self._apis[key] = FlyApi(s.api_url, s.logs_url, self._token(env), app=s.app,
                                     sleep=self.sleep)
        return self._apis[key]

    def close(self) -> None:
        """Close the HTTP clients of the Machines API this provider opened (one per app)."""
        for api in self._apis.values():
            api.close()
        self._apis.clear()

    def _who(self) -> str:
        from cockpit.state import whoami

        return whoami()

    def _store_get(self, key: str, default: Any = None) -> Any:
        store = getattr(self.ctx, "store", None)
        return store.get_meta(key, default) if store is not None else default

    def _store_set(self, key: str, value: Any) -> None:
        store = getattr(self.ctx, "store", None)
        if store is not None:
            store.set_meta(key, value)

    def _secrets_key(self, env: Environment) -> str:
        return f"fly:{env.settings.app}:secrets"

    # ------------------------------------------------------------------ preflight, setup

    def preflight(self, env: Environment) -> list[Finding]:
        return setup.preflight(self, env)

    def _ensure_app(self, env: Environment, emit: Emit) -> bool:
        """Create the app if missing; True when it was created. (`setup._ensure_app`)"""
        return setup._ensure_app(self, env, emit)

    def _ensure_ips(self, env: Environment, emit: Emit) -> list[dict[str, Any]]:
        return setup._ensure_ips(self, env, emit)

    def setup(self, env: Environment, emit: Emit) -> list[Finding]:
        return setup.setup(self, env, emit)

    # ------------------------------------------------------------------ live state

    def health(self, env: Environment) -> HealthSample:
        """One sample for the dashboard: the checks Fly's proxy runs on the serving machines (it
        routes only to machines whose checks pass), read from the Machines API. (`flow.health`)"""
        return flow.health(self, env)

    def watch_traffic(self, env: Environment, release: Release):
        """The watch window's sampler: checks and restarts of the release's machines
        (`providers/fly/traffic.py`)."""
        from cockpit.providers.fly import traffic

        return traffic.sampler(self, env, release)

    def live(self, env: Environment) -> LiveState:
        return flow.live(self, env)

    def _cert_tls(self, api: FlyApi, host: str) -> TlsInfo:
        """Certificate status as Fly reports it (no handshake: `domain` does that).
        (`flow._cert_tls`)"""
        return flow._cert_tls(self, api, host)

    def lock_store(self, env: Environment):
        """The deploy lock: the lease on the app's oldest machine, timed by Fly
        (`providers/fly/leases.py`)."""
        from cockpit.providers.fly.leases import FlyLeaseStore

        return FlyLeaseStore(self._api(env), env.settings.lease_ttl)

    def _stored_releases(self, env: Environment) -> list[Release]:
        return flow._stored_releases(self, env)

    def _lock_info(self, lease: dict[str, Any]) -> LockInfo:
        """A machine lease as a lock: the operator and command a cockpit deploy lock names in its
        description, else the lease's owner and description (flyctl's). (`flow._lock_info`)"""
        return flow._lock_info(self, lease)

    def _first_lease(self, api: FlyApi, machines: list[dict[str, Any]]) -> LockInfo | None:
        return flow._first_lease(self, api, machines)

    def status(self, env: Environment) -> dict[str, Any]:
        """Machines, states, checks, regions, current release, certificate status.
        (`flow.status`)"""
        return flow.status(self, env)

    # ------------------------------------------------------------------ plan, apply

    def build(self, env: Environment, emit: Emit) -> tuple[str, str]:
        """Fly runs registry images: the configured `image`, else build and push to `registry`.
        (`flow.build`)"""
        return flow.build(self, env, emit)

    def plan_deploy(self, env: Environment, release: Release) -> Plan:
        return flow.plan_deploy(self, env, release)

    def apply(self, plan: Plan, emit: Emit) -> Release:
        return flow.apply(self, plan, emit)

    def rollback(self, env: Environment, to: Release, emit: Emit) -> Release:
        """Serve `to` again: its image and its recorded machine config, through the gate.
        (`flow.rollback`)"""
        return flow.rollback(self, env, to, emit)

    def schema_head(self, env: Environment, release: Release) -> dict[str, Any] | None:
        """The schema head after `release`'s release command: the probe in a one-off machine
        like the release command, kept in the release's machine metadata (`flow.schema_head`).
        """
        return flow.schema_head(self, env, release)

    def one_off(self, env: Environment, argv: list[str], write, *,
                interactive: bool = False) -> tuple[str, int]:
        """`cockpit exec`: `argv` as `init.cmd` of a one-off, auto-destroyed machine of a
        serving machine's config, its log passed on; `-i` refused (`providers/fly/oneoff.py`).
        """
        from cockpit.providers.fly import oneoff

        return oneoff.run(self, env, argv, write, interactive=interactive)

    def reconcile(self, env: Environment, journal: list[dict[str, Any]], emit: Emit) -> str:
        """After an interrupted run: remove leftover green machines, report mixed releases.
        (`flow.reconcile`)"""
        return flow.reconcile(self, env, journal, emit)

    # ------------------------------------------------------------------ secrets

    def _stage_secrets(self, env: Environment, emit: Emit) -> int | None:
        """Push the keyring's values when they differ from what was last staged.
        (`flow._stage_secrets`)"""
        return flow._stage_secrets(self, env, emit)

    def _has_secrets_version(self, env: Environment, version: int) -> bool:
        return flow._has_secrets_version(self, env, version)

    def remote_secrets(self, env: Environment) -> list[dict[str, Any]]:
        api = self._api(env)
        data = api.request("GET", f"/apps/{env.settings.app}/secrets", op="list secrets")
        return [{k: v for k, v in s.items() if k != "value"}
                for s in (data or {}).get("secrets") or []]

    def set_secrets(self, env: Environment, secrets: Mapping[str, str | None]) -> int | None:
        """Stage values (None unsets) in one call; the version goes on later machine updates.
        (`flow.set_secrets`)"""
        return flow.set_secrets(self, env, secrets)

    def unset_secrets(self, env: Environment, names: list[str]) -> int | None:
        return self.set_secrets(env, {n: None for n in names})

    def secret_status(self, env: Environment) -> list[dict[str, Any]]:
        """Names and Fly digests; `deployed` when running machines have that secrets version.
        (`flow.secret_status`)"""
        return flow.secret_status(self, env)

    # ------------------------------------------------------------------ domain

    def configure_domain(self, env: Environment, domain: str, emit: Emit) -> DomainStatus:
        from cockpit.providers.fly.certs import configure

        return configure(self, env, domain, emit)

    # ------------------------------------------------------------------ logs

    def logs(self, env: Environment, *, follow: bool, since: str | None = None,
             tail: int | None = None, machine: str | None = None,
             region: str | None = None, stop: Any = None) -> Iterator[LogLine]:
        """`machine`/`region` filter at the API; `stop` (a threading.Event) ends a follow while
        no lines arrive, so a reader thread can quit. (`flow.logs`)"""
        return flow.logs(self, env, follow=follow, since=since, tail=tail, machine=machine,
                         region=region, stop=stop)

    def _last_lines(self, env: Environment, mid: str, n: int = 20) -> list[str]:
        return flow._last_lines(self, env, mid, n)

    # ------------------------------------------------------------------ lock (leases)

    def lock_status(self, env: Environment) -> LockInfo | None:
        """Fly's deploy lock is the machine lease: who holds one, until when.
        (`flow.lock_status`)"""
        return flow.lock_status(self, env)

    def lock_release(self, env: Environment) -> None:
        """Break leases left behind (`cockpit lock release --yes`): read each nonce, release.
        (`flow.lock_release`)"""
        return flow.lock_release(self, env)


    # ------------------------------------------------------------------ remove

    def remove_plan(self, env: Environment, *, accessories: bool, volumes: bool,
                    secrets: bool):
        """`cockpit remove`'s plan: the environment's machines, the app's volumes, the app
        when cockpit created it and nothing is left (`providers/fly/teardown.py`)."""
        from cockpit.providers.fly import teardown

        return teardown.plan(self, env, accessories=accessories, volumes=volumes,
                             secrets=secrets)

    def remove(self, env: Environment, plan, emit: Emit) -> list[str]:
        """Lease, stop and destroy under the deploy lock (`teardown.remove`)."""
        from cockpit.providers.fly import teardown

        return teardown.remove(self, env, plan, emit)

    def remove_finish(self, env: Environment, plan, done: list[str]) -> str:
        """The app, when the plan says it goes and it is still empty (`teardown.finish`)."""
        from cockpit.providers.fly import teardown

        return teardown.finish(self, env, plan, done)
