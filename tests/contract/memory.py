"""An in-memory provider: a real implementation of the provider contract whose target is a dict.

Every environment's target (`TARGETS[<target>/<app>-<env>]`) keeps what a real one would: the
releases it has (image, plain env, secrets digest), which one serves, the secret values pushed to
it, its log lines and its deploy lock, with its own clock (`Target.skew` seconds off the
client's) so the lock's expiry is provably judged by the target's clock. A deploy runs the same
steps as the VPS (ship, start, gate, switch, drain), each announced with StepStarted, so the
pipeline's guardrails apply to it as to any target; `steal_at` lets a test have another operator
take the lock at a named step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import Field

from cockpit import lock as core
from cockpit.events import Emit, LogLine, StepFinished, StepStarted
from cockpit.models import DomainStatus, Finding, LiveState, Plan, Release, Step
from cockpit.provider import Provider, ProviderSettings


class MemorySettings(ProviderSettings):
    target: str = Field("memory", min_length=1)
    lock_ttl: float = Field(30.0, gt=0)

    DOCS = {"target": ("The in-memory target's name.", "Target name"),
            "lock_ttl": ("Seconds the deploy lock lives without refresh.", "Lock TTL")}

    def exclusive(self, app: str, env: str) -> dict[str, tuple[str, Any]]:
        return {"target": ("memory target", f"{self.target}/{app}-{env}")}


@dataclass
class Served:
    release: Release
    env: dict[str, str]  # the plain configuration it runs with


@dataclass
class Target:
    releases: dict[str, Served] = field(default_factory=dict)
    serving: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    lock: tuple[core.Holder, float] | None = None  # holder, expires_at (target clock)
    skew: float = -3600.0  # the target's clock runs an hour behind the client's
    steal_at: str | None = None  # a step at which another operator takes the lock
    steal_quietly: bool = False  # ... between two refreshes (only a verify before a step sees it)
    changes: int = 0  # every write to the target
    guard: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.time() + self.skew


TARGETS: dict[str, Target] = {}


def target_for(env) -> Target:
    return TARGETS.setdefault(f"{env.settings.target}/{env.app.name}-{env.name}", Target())


class MemoryLockStore(core.LockStore):
    def __init__(self, target: Target, key: str, ttl: float) -> None:
        self.t = target
        self.key = f"memory:{key}"
        self.where = f"memory target {key}"
        self.ttl = ttl

    def _held(self) -> core.Held | None:
        if self.t.lock is None:
            return None
        holder, expires = self.t.lock
        return core.Held(holder, expires_at=expires, now=self.t.now(),
                         version=f"{holder.token}:{expires}")

    def read(self) -> core.Held | None:
        with self.t.guard:
            return self._held()

    def acquire(self, holder: core.Holder, ttl: float, replace: core.Held | None) -> core.Held:
        with self.t.guard:
            current = self._held()
            if (replace is None) != (current is None) or (
                    replace is not None and current is not None
                    and current.version != replace.version):
                raise core.Conflict()
            now = self.t.now()
            self.t.lock = (holder_at(holder, now), now + ttl)
            return self._held()  # type: ignore[return-value]

    def refresh(self, holder: core.Holder, ttl: float) -> core.Held:
        with self.t.guard:
            current = self._held()
            if current is None or current.holder.token != holder.token:
                raise core.Lost(current)
            self.t.lock = (current.holder, self.t.now() + ttl)
            return self._held()  # type: ignore[return-value]

    def release(self, token: str | None) -> bool:
        with self.t.guard:
            if self.t.lock is None or (token is not None and self.t.lock[0].token != token):
                return False
            self.t.lock = None
            return True


def holder_at(holder: core.Holder, now: float) -> core.Holder:
    return replace(holder, acquired_at=holder.acquired_at or now)


def steal(target: Target, operator: str = "mallory@elsewhere") -> core.Holder:
    """Another operator takes the lock over (as an expired-lock takeover would)."""
    thief = core.Holder(operator=operator, token="f" * 32, machine="elsewhere", pid=1,
                        command="deploy", acquired_at=target.now())
    with target.guard:
        target.lock = (thief, target.now() + 600)
    return thief


class MemoryProvider(Provider):
    name = "inmemory"
    description = "an in-memory target (tests)"
    settings_model = MemorySettings

    def preflight(self, env) -> list[Finding]:
        return [Finding("memory.ok", "info", f"memory target {env.settings.target} reachable")]

    def setup(self, env, emit: Emit) -> list[Finding]:
        target_for(env).changes += 1
        return []

    def lock_store(self, env) -> MemoryLockStore:
        return MemoryLockStore(target_for(env), f"{env.settings.target}/{env.app.name}-{env.name}",
                               env.settings.lock_ttl)

    def build(self, env, emit: Emit) -> tuple[str, str]:
        raise AssertionError("contract tests deploy prebuilt images")

    def live(self, env) -> LiveState:
        t = target_for(env)
        state = LiveState(env=env.name, provider=self.name)
        for rid, served in t.releases.items():
            release = replace(served.release, meta=dict(served.release.meta))
            release.meta["env"] = dict(served.env)
            if rid == t.serving:
                state.current = release
            state.releases.append(release)
        state.releases.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        held = MemoryLockStore(t, "", env.settings.lock_ttl).read()
        state.lock = held.info() if held is not None and not held.expired else None
        return state

    def plan_deploy(self, env, release: Release) -> Plan:
        t = target_for(env)
        steps = [Step("ship", "ship the image"), Step("start", "start the new release"),
                 Step("gate", "health gate"), Step("switch", "switch traffic", destructive=True),
                 Step("drain", "stop the previous release", destructive=True)]
        previous = t.releases[t.serving].release if t.serving else None
        return Plan(env=env.name, action="deploy", release=release, steps=steps,
                    previous=previous)

    def _step(self, env, emit: Emit, step: str) -> None:
        t = target_for(env)
        if t.steal_at == step:
            steal(t)
            t.steal_at = None
            store = self.lock_store(env)
            held = core.current(store.key)
            if held is not None and not t.steal_quietly:
                held.refresh()  # the refresh thread's next tick, now
        emit(StepStarted(step, step, env=env.name))
        emit(StepFinished(step, "", env=env.name))

    def _serve(self, env, release: Release, emit: Emit, plain: dict[str, str]) -> Release:
        t = target_for(env)
        for step in ("ship", "start", "gate"):
            self._step(env, emit, step)
        t.releases.setdefault(release.id, Served(release, plain))
        t.changes += 1
        self._step(env, emit, "switch")
        t.serving = release.id
        t.changes += 1
        self._step(env, emit, "drain")
        release.status = "healthy"
        return release

    def apply(self, plan: Plan, emit: Emit) -> Release:
        env = self.ctx.config.env(plan.env)
        values = self.ctx.secrets.require(env)
        t = target_for(env)
        t.secrets.update(values)
        return self._serve(env, plan.release, emit, dict(env.plain_env))

    def rollback(self, env, to: Release, emit: Emit) -> Release:
        t = target_for(env)
        served = t.releases.get(to.id)
        if served is None:
            from cockpit.errors import UsageError

            raise UsageError(f"release {to.id} is not kept on the memory target")
        return self._serve(env, served.release, emit, served.env)

    def logs(self, env, *, follow: bool, since: str | None = None, tail: int | None = None,
             stop: Any = None) -> Iterator[LogLine]:
        """An app that prints its own secrets: every value the target holds, once."""
        from cockpit.redaction import redact

        values = self.ctx.secrets.values(env)
        for name, value in sorted(values.items()):
            yield LogLine(f"{env.app.name}-{env.name}", redact(f"booting with {name}={value}"),
                          ts=time.time(), env=env.name)

    def set_secrets(self, env, secrets: Mapping[str, str]) -> None:
        t = target_for(env)
        t.secrets.update(secrets)
        t.changes += 1

    def configure_domain(self, env, domain: str, emit: Emit) -> DomainStatus:
        target_for(env).changes += 1
        return DomainStatus(domain=domain, dns=None, tls=None, redirects_to_https=False,
                            status="configured")

    def reconcile(self, env, journal: list[dict[str, Any]], emit: Emit) -> str:
        t = target_for(env)
        started = {j.get("step") for j in journal if j.get("status") == "started"}
        if "switch" in started and t.serving:
            return f"release {t.serving} serves; kept"
        return "the interrupted run never switched; nothing serves differently"
