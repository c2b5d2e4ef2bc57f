"""The Kubernetes provider: a Deployment per environment, gated on kubectl's rollout logic.

Live state is the Deployment and its ReplicaSets: each revision's pod template carries the release
record (`cockpit.dev/release`, names and digests only) and `kubernetes.io/change-cause`, so any
machine with the kubeconfig sees the release history. A deploy server-side-applies (field manager
`cockpit`) an immutable per-release Secret, the Deployment (image pinned by digest, probes on the
health path, `maxUnavailable: 0`), a Service and, with a domain, an Ingress for cert-manager. The
gate is kubectl's `rollout status`, plus crash-loop/restart detection on the new ReplicaSet's pods,
plus N consecutive 2xx on the health path through the API server's service proxy; a failed gate
runs kubectl's `rollout undo` automatically and raises GateFailed with the pods' last log lines.

Before the release, in-cluster accessories (Postgres, Redis) are StatefulSets of the environment's
namespace (`accessories.py`), the release command a Job (`release.py`), and after it a probe Job
reads the schema head, kept on the release's ReplicaSet (`schema.py`); scheduled backups are
CronJobs (`backups.py`).

`kubernetes` and `docker` are imported inside functions: importing this module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from cockpit.providers.kubernetes import flow, setup
from cockpit.providers.kubernetes import rollout as ro
from cockpit.providers.kubernetes.flow import (
    _GateFailure,
)
from cockpit.providers.kubernetes.settings import KubernetesSettings

from cockpit.errors import ProviderError
from cockpit.events import (
    Emit,
    HealthSample,
    LogLine,
    StepStarted,
    Timer,
)
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
    from cockpit.providers.kubernetes.kube import Kube

    from cockpit.config import Environment
    from cockpit.provider import Context


class KubernetesProvider(Provider):
    name = "kubernetes"
    description = "a Kubernetes cluster through a kubeconfig (Deployment, Service, Ingress)"
    settings_model = KubernetesSettings

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._kubes: dict[str, Kube] = {}

    # ------------------------------------------------------------------ plumbing

    def kube(self, env: Environment) -> Kube:
        from cockpit.providers.kubernetes.kube import Kube

        s = env.settings
        key = f"{s.kubeconfig}|{s.context}|{s.namespace}"
        if key not in self._kubes:
            from cockpit.providers.kubernetes.kube import check_repo_kubeconfig

            root = getattr(self.ctx.config, "root", None)
            path = s.kubeconfig
            if path and root is not None and not Path(path).expanduser().is_absolute():
                path = str(Path(root) / path)
            for one in (path or os.environ.get("KUBECONFIG") or "").split(os.pathsep):
                check_repo_kubeconfig(one or None, root, self.ctx.options.ask)
            self._kubes[key] = Kube(s.kubeconfig, s.context, root=root, namespace=s.namespace)
        return self._kubes[key]

    def close(self) -> None:
        for kube in self._kubes.values():
            kube.close()
        self._kubes.clear()

    @staticmethod
    def _step(emit: Emit, env: Environment, step: str, title: str):
        emit(StepStarted(step=step, title=title, env=env.name))
        return Timer()

    @staticmethod
    @contextmanager
    def _stage(emit: Emit, env: Environment, step: str, title: str) -> Iterator[dict[str, str]]:
        """A step that always ends (cockpit.events.StepScope): StepFinished with
        `out["detail"]`, or StepFailed."""
        from cockpit.events import StepScope

        with StepScope(emit, step, title, env.name) as scope:
            out = {"detail": ""}
            try:
                yield out
            finally:
                scope.detail = out["detail"]

    # ------------------------------------------------------------------ preflight / setup

    def preflight(self, env: Environment) -> list[Finding]:
        return setup.preflight(self, env)

    def setup(self, env: Environment, emit: Emit) -> list[Finding]:
        return setup.setup(self, env, emit)

    # ------------------------------------------------------------------ live state

    def _release_of(self, rs: dict[str, Any], env: Environment) -> Release:
        return flow._release_of(self, rs, env)

    def live(self, env: Environment) -> LiveState:
        return flow.live(self, env)

    def _events(self, kube: Kube, d: dict[str, Any], rss: list[dict[str, Any]],
                pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return flow._events(self, kube, d, rss, pods)

    # ------------------------------------------------------------------ plan / apply

    def plan_deploy(self, env: Environment, release: Release) -> Plan:
        return flow.plan_deploy(self, env, release)

    def apply(self, plan: Plan, emit: Emit) -> Release:
        return flow.apply(self, plan, emit)

    def _apply(self, env: Environment, plan: Plan, release: Release, emit: Emit) -> Release:
        return flow._apply(self, env, plan, release, emit)

    # ------------------------------------------------------------------ gate

    def _gate_or_undo(self, env: Environment, release: Release, emit: Emit, *, action: str,
                      undo_to: int = 0) -> dict[str, Any]:
        """Run the gate; on failure undo (to `undo_to`, default previous) and raise GateFailed.
        (`flow._gate_or_undo`)"""
        return flow._gate_or_undo(self, env, release, emit, action=action, undo_to=undo_to)

    def _gate(self, env: Environment, release: Release, emit: Emit) -> dict[str, Any]:
        """The core gate on the rollout (`rollout.gate`): raises _GateFailure on a verdict,
        ApiFailure when the API fails while sampling. (`flow._gate`)"""
        return flow._gate(self, env, release, emit)

    def health(self, env: Environment) -> HealthSample:
        """One health sample through the Service (the TUI dashboard's optional hook)."""
        return self._health_sample(env)

    def _health_sample(self, env: Environment, timeout: float | None = None) -> HealthSample:
        """One GET of the health path (through `health_url`, or the API server's service proxy),
        within `timeout` seconds (default gate.timeout); never retried: a sample.
        (`flow._health_sample`)"""
        return flow._health_sample(self, env, timeout)

    def watch_traffic(self, env: Environment, release: Release):
        """The watch window's sampler: readiness and restarts of the release's pods behind the
        Service (`providers/kubernetes/traffic.py`)."""
        from cockpit.providers.kubernetes import traffic

        return traffic.sampler(self, env, release)

    def _fail(self, env: Environment, release: Release, failure: _GateFailure, emit: Emit, *,
              undo_to: int) -> NoReturn:
        return flow._fail(self, env, release, failure, emit, undo_to=undo_to)

    def _gate_unfinished(self, env: Environment, release: Release, error: ProviderError,
                         emit: Emit, *, undo_to: int) -> NoReturn:
        """The API failed while the gate sampled: no verdict on the release, so undo it (it never
        passed) and say so, exit 1. When the undo fails too, raise GateUnfinished: the run stays
        open in the journal and the next command's reconcile finishes it.
        (`flow._gate_unfinished`)"""
        return flow._gate_unfinished(self, env, release, error, emit, undo_to=undo_to)

    def _failing_logs(self, env: Environment, failure: _GateFailure) -> list[str]:
        """The last log lines of the failing pods (previous container when it restarted).
        (`flow._failing_logs`)"""
        return flow._failing_logs(self, env, failure)

    def _mark(self, env: Environment, rs: dict[str, Any], gate: str, reason: str = "") -> None:
        """Record the gate's verdict on the ReplicaSet itself (live state is the truth).
        (`flow._mark`)"""
        return flow._mark(self, env, rs, gate, reason)

    def _wait_rollout(self, env: Environment, timeout: float) -> ro.Status:
        return flow._wait_rollout(self, env, timeout)

    def _undo(self, env: Environment, to_revision: int, cause: str) -> dict[str, Any] | None:
        """kubectl rollout undo; returns the ReplicaSet now serving (None: no history).
        (`flow._undo`)"""
        return flow._undo(self, env, to_revision, cause)

    # ------------------------------------------------------------------ rollback

    def rollback(self, env: Environment, to: Release, emit: Emit) -> Release:
        return flow.rollback(self, env, to, emit)

    def _check_secret(self, env: Environment, rs: dict[str, Any]) -> None:
        return flow._check_secret(self, env, rs)

    def _prune_secrets(self, env: Environment) -> None:
        """Delete per-release Secrets no kept ReplicaSet refers to any more.
        (`flow._prune_secrets`)"""
        return flow._prune_secrets(self, env)

    def schema_head(self, env: Environment, release: Release) -> dict[str, Any] | None:
        """The schema head after the release command, read by a probe Job of the release's
        image and kept on its ReplicaSet (`providers/kubernetes/schema.py`)."""
        from cockpit.providers.kubernetes import schema

        return schema.schema_head(self, env, release)

    def one_off(self, env: Environment, argv: list[str], write, *,
                interactive: bool = False) -> tuple[str, int]:
        """`cockpit exec`: `argv` in a one-off Job of the serving ReplicaSet's pod template,
        its log followed, deleted afterwards; `-i` refused (`providers/kubernetes/oneoff.py`).
        """
        from cockpit.providers.kubernetes import oneoff

        return oneoff.run(self, env, argv, write, interactive=interactive)

    # ------------------------------------------------------------------ logs

    def logs(self, env: Environment, *, follow: bool, since: str | None = None,
             tail: int | None = None, stop: Any = None) -> Iterator[LogLine]:
        """`stop` (a threading.Event) ends a follow even while no line arrives: the readers'
        streams and the pod watch are closed then. (`flow.logs`)"""
        return flow.logs(self, env, follow=follow, since=since, tail=tail, stop=stop)

    # ------------------------------------------------------------------ secrets / domain

    def set_secrets(self, env: Environment, secrets: Mapping[str, str]) -> None:
        """Nothing to push now: values reach the cluster with the next deploy.
        (`flow.set_secrets`)"""
        return flow.set_secrets(self, env, secrets)

    def configure_domain(self, env: Environment, domain: str, emit: Emit) -> DomainStatus:
        return setup.configure_domain(self, env, domain, emit)

    def _ingress(self, env: Environment) -> dict[str, Any] | None:
        """The environment's Ingress when cockpit made it (never someone else's).
        (`setup._ingress`)"""
        return setup._ingress(self, env)

    def _certificate(self, env: Environment) -> TlsInfo | None:
        """cert-manager's Certificate for the Ingress TLS secret (ingress-shim names it so).
        (`setup._certificate`)"""
        return setup._certificate(self, env)

    # ------------------------------------------------------------------ lock

    def lock_store(self, env: Environment):
        """The deploy lock: the environment's Lease, timed by the API server's clock
        (`providers/kubernetes/lease.py`); the namespace is created before a first lease.
        (`flow.lock_store`)"""
        return flow.lock_store(self, env)

    def lock_info(self, env: Environment) -> LockInfo | None:
        """The Lease while it is live by the API server's clock; None when free, expired or
        unreadable (live state must not fail on the lock). (`flow.lock_info`)"""
        return flow.lock_info(self, env)

    def lock(self, env: Environment, command: str, emit: Emit | None = None
             ) -> Iterator[LockInfo]:
        """Hold the environment's Lease for the block (re-entered when the pipeline holds it),
        renewed every third of `lock_ttl`. Raises LockHeld naming the holder. (`flow.lock`)"""
        return flow.lock(self, env, command, emit)

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, env: Environment, journal: list[dict[str, Any]], emit: Emit) -> str:
        """An interrupted deploy: keep it if its rollout is healthy, else undo it.
        (`flow.reconcile`)"""
        return flow.reconcile(self, env, journal, emit)

    # ------------------------------------------------------------------ remove

    def remove_plan(self, env: Environment, *, accessories: bool, volumes: bool,
                    secrets: bool):
        """`cockpit remove`'s plan: cockpit's objects in the namespace, found by its labels
        (`providers/kubernetes/teardown.py`)."""
        from cockpit.providers.kubernetes import teardown

        return teardown.plan(self, env, accessories=accessories, volumes=volumes,
                             secrets=secrets)

    def remove(self, env: Environment, plan, emit: Emit) -> list[str]:
        """Delete them under the deploy lock (`teardown.remove`)."""
        from cockpit.providers.kubernetes import teardown

        return teardown.remove(self, env, plan, emit)

    def remove_finish(self, env: Environment, plan, done: list[str]) -> str:
        """The namespace, when cockpit made it and it is empty (`teardown.finish`)."""
        from cockpit.providers.kubernetes import teardown

        return teardown.finish(self, env, plan, done)

    # ------------------------------------------------------------------ build

    def build(self, env: Environment, emit: Emit) -> tuple[str, str]:
        """Build with the docker SDK, push to `image_repository`: (repo@digest, digest).
        (`flow.build`)"""
        return flow.build(self, env, emit)


