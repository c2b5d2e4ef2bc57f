"""An in-memory provider, ONLY for the TUI's own tests (secrets go to the real OS keyring).

It implements the provider contract over a dict so dashboard, logs, releases and rollback
screens can be driven and snapshotted without the timing of a real target. The real flows are
tested against the lab's VPS in test_wizard_lab.py. Everything here is deterministic: fixed
release ids, digests, times, instance names and latencies.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from cockpit.events import Emit, HealthSample, LogLine, StepFinished, StepStarted
from cockpit.models import (
    DnsInfo,
    DomainStatus,
    Finding,
    Instance,
    LiveState,
    Plan,
    Release,
    Step,
    TlsInfo,
)
from cockpit.provider import ProviderSettings
from tests.tui_snapshots import T0  # the fixed clock of every TUI test


class MemorySettings(ProviderSettings):
    target: str = Field("memory", min_length=1)
    fail_preflight: bool = False

    def exclusive(self, app: str, env: str) -> dict[str, tuple[str, Any]]:
        return {"target": ("memory target", f"{self.target}/{app}-{env}")}


@dataclass
class Target:
    """What 'runs' for one environment."""

    releases: list[Release] = field(default_factory=list)  # newest first
    current: Release | None = None
    logs: list[tuple[float, str, str]] = field(default_factory=list)
    secret_names: list[str] = field(default_factory=list)
    domain: str | None = None
    applied: list[str] = field(default_factory=list)
    hold: threading.Event | None = None  # when set up, each step waits for it (quit tests)
    step_started: threading.Event = field(default_factory=threading.Event)


TARGETS: dict[str, Target] = {}


def target_for(env) -> Target:
    return TARGETS.setdefault(f"{env.settings.target}/{env.app.name}-{env.name}", Target())


def seed(env_key: str, app: str, env: str, count: int = 3) -> Target:
    """A history of `count` healthy releases an hour apart; the newest serves."""
    target = TARGETS.setdefault(env_key, Target())
    target.releases.clear()
    for i in range(count):
        digest = "sha256:" + hashlib.sha256(f"{app}-{env}-{i}".encode()).hexdigest()
        release = Release(
            id=f"r{i + 1:03d}-{digest[7:13]}", app=app, env=env, image=f"hello@{digest}",
            digest=digest, config_hash=f"sha256:{i}{'c' * 63}", secret_names=["SECRET_KEY"],
            secrets_digest=f"{i:x}" * 16, created_at=T0 - 3600 * (count - i),
            created_by="alice@laptop", status="superseded" if i < count - 1 else "healthy")
        target.releases.insert(0, release)
    target.current = target.releases[0]
    target.logs = [(T0 - 60 + n, f"{app}-{env}-{'ab'[n % 2]}",
                    ("GET /up 200" if n % 3 else f"ERROR worker {n} timed out"))
                   for n in range(30)]
    return target


class MemoryProvider:
    name = "memory"
    settings_model = MemorySettings

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.builds = 0

    def preflight(self, env) -> list[Finding]:
        if env.settings.fail_preflight:
            return [Finding("memory.unreachable", "error", "memory target is unreachable",
                            where=env.settings.target, fix="set fail_preflight = false")]
        return [Finding("memory.ok", "info", f"memory target {env.settings.target} reachable")]

    def setup(self, env, emit: Emit) -> list[Finding]:
        return []

    def live(self, env) -> LiveState:
        target = target_for(env)
        instances = []
        if target.current is not None:
            instances = [Instance(id=f"i-{s}", name=f"{env.app.name}-{env.name}-{s}",
                                  state="running", release_id=target.current.id, health="healthy",
                                  restarts=1 if s == "b" else 0, serving=True) for s in "ab"]
        tls = TlsInfo(ok=True, issuer="Pebble Intermediate CA", names=[target.domain],
                      days_left=89) if target.domain or env.domain else None
        return LiveState(env=env.name, provider=self.name, current=target.current,
                         releases=list(target.releases), instances=instances, tls=tls)

    def health(self, env) -> HealthSample:
        return HealthSample(ok=True, status=200, latency_ms=12.0, url="memory://up", env=env.name)

    def build(self, env, emit: Emit) -> tuple[str, str]:
        self.builds += 1
        digest = "sha256:" + hashlib.sha256(f"build-{self.builds}".encode()).hexdigest()
        emit(StepStarted("build", "build the image", env=env.name))
        emit(StepFinished("build", digest[7:19], env=env.name))
        return f"hello@{digest}", digest

    def plan_deploy(self, env, release: Release) -> Plan:
        target = target_for(env)
        steps = [Step("ship", "ship the image"), Step("start", "start the new release"),
                 Step("gate", "health gate"), Step("switch", "switch traffic", destructive=True)]
        return Plan(env=env.name, action="deploy", release=release, steps=steps,
                    previous=target.current)

    def _serve(self, env, release: Release, emit: Emit, steps: list[str]) -> Release:
        target = target_for(env)
        for step in steps:
            emit(StepStarted(step, step, env=env.name))
            target.step_started.set()
            if target.hold is not None:
                target.hold.wait(10)
            if step == "gate":
                for _ in range(env.gate.count):
                    emit(HealthSample(ok=True, status=200, latency_ms=12.0, env=env.name))
            emit(LogLine(f"{env.app.name}-{env.name}-a", f"{step}: ok", ts=T0, env=env.name))
            emit(StepFinished(step, "", env=env.name))
        if target.current is not None and target.current.id != release.id:
            target.current.status = "superseded"
        release.status = "healthy"
        if all(r.id != release.id for r in target.releases):
            target.releases.insert(0, release)
        target.current = release
        target.applied.append(release.id)
        return release

    def apply(self, plan: Plan, emit: Emit) -> Release:
        env = self.ctx.config.env(plan.env)
        return self._serve(env, plan.release, emit, [s.id for s in plan.steps])

    def rollback(self, env, to: Release, emit: Emit) -> Release:
        emit(StepStarted("rollback", f"serve release {to.id} again", env=env.name))
        result = self._serve(env, to, emit, ["start", "gate", "switch"])
        emit(StepFinished("rollback", "", env=env.name))
        return result

    def logs(self, env, *, follow: bool, since: str | None = None,
             tail: int | None = None) -> Iterator[LogLine]:
        lines = target_for(env).logs
        if tail is not None:
            lines = lines[-tail:]
        for ts, source, text in lines:
            yield LogLine(source, text, ts=ts, env=env.name)

    def set_secrets(self, env, secrets: Mapping[str, str]) -> None:
        target_for(env).secret_names = sorted(secrets)

    def configure_domain(self, env, domain: str, emit: Emit) -> DomainStatus:
        target_for(env).domain = domain
        emit(StepStarted("dns", f"check DNS for {domain}", env=env.name))
        emit(StepFinished("dns", "A 127.0.0.1", env=env.name))
        emit(StepStarted("tls", "certificate", env=env.name))
        emit(StepFinished("tls", "issued", env=env.name))
        return DomainStatus(
            domain=domain, dns=DnsInfo(ok=True, name=domain, records={"A": ["127.0.0.1"]},
                                       expected=["127.0.0.1"]),
            tls=TlsInfo(ok=True, issuer="Pebble Intermediate CA", names=[domain], days_left=89),
            redirects_to_https=True, status="issued")

    def reconcile(self, env, journal: list[dict[str, Any]], emit: Emit) -> str:
        return "nothing was left half-done"



# Alembic revisions each seeded release's code carries (r001, r002, r003): a rollback from r003
# to r002 is onto another schema head (two migrations in between)
SCHEMA_REVISIONS = [[("1a2b3c4d5e6f", "create notes")],
                    [("1a2b3c4d5e6f", "create notes"), ("7e8f9a0b1c2d", "add tags")],
                    [("1a2b3c4d5e6f", "create notes"), ("7e8f9a0b1c2d", "add tags"),
                     ("3d4e5f6a7b8c", "add pinned"), ("9f8e7d6c5b4a", "index tags")]]


def record_schema_heads(env_key: str) -> None:
    """Give a seeded target's releases (oldest first) the schema records their release command
    would have left (`cockpit.schema`'s Alembic record, SCHEMA_REVISIONS)."""
    oldest_first = reversed(TARGETS[env_key].releases)
    for release, revisions in zip(oldest_first, SCHEMA_REVISIONS, strict=False):
        release.meta = {**release.meta, "schema": {
            "tool": "alembic", "head": revisions[-1][0], "applied": [r for r, _ in revisions],
            "labels": dict(revisions)}}
