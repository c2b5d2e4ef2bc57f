"""The VPS provider: zero-downtime deploys to a host over SSH (Kamal's model, improved).

On the host: Caddy is the edge (TLS, ACME, HTTP→HTTPS) and proxies each environment's domain
to a stable loopback port served by HAProxy (the switch), whose backend has two slots, blue and
green. A deploy starts the new release's container on the free slot, gates it on the host with
the environment's Host header, flips the slot weights through HAProxy's runtime API (no reload),
gates again through the public edge, then drains and stops the old container, keeping it for
rollback. The host's container labels are the release history. Heavy libraries load lazily.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cockpit.providers.vps.settings import VpsSettings

from cockpit.events import Emit, HealthSample, LogLine
from cockpit.models import DomainStatus, Finding, LiveState, Plan, Release
from cockpit.provider import Provider


class VpsProvider(Provider):
    name = "vps"
    description = "a server you reach over SSH (Docker, Caddy edge, HAProxy switch)"
    settings_model = VpsSettings

    def __init__(self, ctx) -> None:
        import threading

        self.ctx = ctx
        self._hosts: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._prewarm()

    def host(self, env):
        """The (cached) Host for an environment: one SSH connection per host address."""
        from cockpit.providers.vps.flow import make_host

        with self._lock:
            if env.name not in self._hosts:
                self._hosts[env.name] = make_host(self.ctx, env, self._hosts)
            return self._hosts[env.name]

    def _prewarm(self) -> None:
        """Open the SSH connection in the background while the pipeline reads the keyring and
        the local state (saves the ~0.15 s handshake), then import the HTTP client the edge gate
        uses (while the deploy waits on the host). Only to hosts whose key is already
        known, so no trust question is ever asked from a background thread; errors are left
        for the real call to report."""
        import threading

        from cockpit.providers.vps.flow import host_key_known

        seen = set()
        envs = getattr(getattr(self.ctx, "config", None), "environments", {}) or {}
        for env in envs.values():
            if env.provider != self.name:
                continue
            address = (env.settings.host, env.settings.ssh_port, env.settings.user)
            if address in seen or not host_key_known(env.settings.host, env.settings.ssh_port):
                continue
            seen.add(address)

            def warm(env=env, edge=any(e.domain for e in envs.values())) -> None:
                try:
                    self.host(env).layout  # noqa: B018
                    if edge:  # the gate through the edge needs httpx (0.1-0.4 s to import)
                        import httpx  # noqa: F401
                except Exception:
                    pass

            threading.Thread(target=warm, daemon=True, name=f"ssh-{env.settings.host}").start()

    def close(self) -> None:
        for host in self._hosts.values():
            host.t.close()
        self._hosts.clear()

    def preflight(self, env) -> list[Finding]:
        from cockpit.providers.vps import flow

        return flow.preflight(self, env)

    def setup(self, env, emit: Emit) -> list[Finding]:
        from cockpit.providers.vps import setup

        return setup.setup(self, env, emit)

    def build(self, env, emit: Emit) -> tuple[str, str]:
        from cockpit.providers.vps import flow

        return flow.build(self, env, emit)

    def live(self, env) -> LiveState:
        from cockpit.providers.vps import flow

        return flow.live(self, env)

    def plan_deploy(self, env, release: Release) -> Plan:
        from cockpit.providers.vps import flow

        return flow.plan_deploy(self, env, release)

    def apply(self, plan: Plan, emit: Emit) -> Release:
        from cockpit.providers.vps import flow

        return flow.apply(self, plan, emit)

    def rollback(self, env, to: Release, emit: Emit) -> Release:
        from cockpit.providers.vps import flow

        return flow.rollback(self, env, to, emit)

    def schema_head(self, env, release: Release) -> dict[str, Any] | None:
        """The schema head after the release command, probed the way it ran
        (`providers/vps/schema.py`)."""
        from cockpit.providers.vps import schema

        return schema.schema_head(self, env, release)

    def health(self, env) -> HealthSample | None:
        """One sample for the dashboard, the way users arrive: HTTPS to the domain through this
        host's edge (Caddy), trusting `edge_ca_file` when set; failing whenever the serving
        container is restarting or exited (flow.health). None without a domain while it runs."""
        from cockpit.providers.vps import flow

        return flow.health(self, env)

    def watch_traffic(self, env, release: Release):
        """The watch window's sampler of real traffic: the switch's per-backend and per-slot
        counters (`providers/vps/traffic.py`)."""
        from cockpit.providers.vps import traffic

        return traffic.sampler(self, env, release)

    def logs(self, env, *, follow: bool, since: str | None = None,
             tail: int | None = None, stop: Any = None) -> Iterator[LogLine]:
        """`stop` (a threading.Event) ends a follow even while no line arrives."""
        from cockpit.providers.vps import logs

        return logs.stream(self, env, follow=follow, since=since, tail=tail, stop=stop)

    def set_secrets(self, env, secrets: Mapping[str, str]) -> None:
        """Nothing to push: each release's env file is written on the host at deploy."""

    def configure_domain(self, env, domain: str, emit: Emit) -> DomainStatus:
        from cockpit.providers.vps import setup

        return setup.configure_domain(self, env, domain, emit)

    def reconcile(self, env, journal: list[dict[str, Any]], emit: Emit) -> str:
        from cockpit.providers.vps import flow

        return flow.reconcile(self, env, journal, emit)

    def lock_store(self, env):
        """The deploy lock: a directory under flock on the host (`providers/vps/lock.py`)."""
        from cockpit.providers.vps import lock

        return lock.store(self.host(env))

    def remove_plan(self, env, *, accessories: bool, volumes: bool, secrets: bool):
        """`cockpit remove`'s plan, read from the host (`providers/vps/teardown.py`)."""
        from cockpit.providers.vps import teardown

        return teardown.plan(self, env, accessories=accessories, volumes=volumes,
                             secrets=secrets)

    def remove(self, env, plan, emit: Emit) -> list[str]:
        """Carry out the plan under the lock (`teardown.remove`)."""
        from cockpit.providers.vps import teardown

        return teardown.remove(self, env, plan, emit)

    def remove_finish(self, env, plan, done: list[str]) -> str:
        """The host directory, once the lock (which lives in it) is released
        (`teardown.finish`)."""
        from cockpit.providers.vps import teardown

        return teardown.finish(self, env, plan) if plan.host_dir or done else "gone"
