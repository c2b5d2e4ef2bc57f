"""The Kubernetes provider: a Deployment per environment, gated on kubectl's rollout logic.

Live state is the Deployment and its ReplicaSets: each revision's pod template carries the release
record (`cockpit.dev/release`, names and digests only) and `kubernetes.io/change-cause`, so any
machine with the kubeconfig sees the release history. A deploy server-side-applies (field manager
`cockpit`) an immutable per-release Secret, the Deployment (image pinned by digest, probes on the
health path, `maxUnavailable: 0`), a Service and, with a domain, an Ingress for cert-manager. The
gate is kubectl's `rollout status`, plus crash-loop/restart detection on the new ReplicaSet's pods,
plus N consecutive 2xx on the health path through the API server's service proxy; a failed gate
runs kubectl's `rollout undo` automatically and raises GateFailed with the pods' last log lines.

`kubernetes` and `docker` are imported inside functions: importing this module stays cheap.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from cockpit.providers.kubernetes import manifests as m
from cockpit.providers.kubernetes import rollout as ro
from cockpit.providers.kubernetes.settings import KubernetesSettings

from cockpit.errors import ProviderError
from cockpit.events import (
    Emit,
    HealthSample,
    LogLine,
    Message,
    StepFailed,
    StepFinished,
    StepSkipped,
    StepStarted,
    Timer,
)
from cockpit.gate import GateError, GateUnfinished
from cockpit.models import (
    DomainStatus,
    Finding,
    Instance,
    LiveState,
    LockInfo,
    Plan,
    Release,
    Step,
    TlsInfo,
)
from cockpit.provider import Provider
from cockpit.redaction import REDACTOR, redact

if TYPE_CHECKING:
    from cockpit.providers.kubernetes.kube import Kube

    from cockpit.config import Environment
    from cockpit.provider import Context

EVENTS_THAT_MATTER = frozenset({
    "FailedScheduling", "BackOff", "Unhealthy", "Failed", "FailedCreate",
    "ProgressDeadlineExceeded", "FailedMount", "Evicted", "OOMKilling",
})


def _poll(env: Environment) -> float:
    """How often the gate reads rollout state: the gate's interval, at most once a second."""
    return max(0.05, min(env.gate.interval, 1.0))


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
        from cockpit.providers.kubernetes.kube import ApiFailure

        s = env.settings
        where = f"{s.context or 'current-context'}/{s.namespace}"
        findings: list[Finding] = []
        try:
            kube = self.kube(env)
        except ProviderError as exc:
            return [Finding("k8s.kubeconfig", "error", exc.what, where=s.kubeconfig, fix=exc.hint)]
        try:
            version = kube.version()
            findings.append(Finding("k8s.reachable", "info",
                                    f"the API server of context {s.context or 'current-context'}"
                                    f" answers (Kubernetes {version.get('gitVersion', '?')})",
                                    where=kube.host))
        except ApiFailure as exc:
            return [*findings, Finding("k8s.reachable", "error", exc.what, where=where,
                                       fix=exc.hint)]
        try:
            exists = kube.namespace_exists()
        except ApiFailure as exc:
            if exc.status != 403:
                return [*findings, Finding("k8s.namespace", "error", exc.what, where=where)]
            exists = None
        if exists is False:
            allowed, _ = kube.can("create", "", "namespaces")
            if allowed and s.create_namespace:
                findings.append(Finding("k8s.namespace", "info",
                                        f"namespace {s.namespace!r} does not exist; setup and "
                                        "deploy will create it", where=where))
            else:
                findings.append(Finding(
                    "k8s.namespace", "error",
                    f"namespace {s.namespace!r} does not exist and cockpit may not create it",
                    where=where,
                    fix=f"ask a cluster admin: kubectl create namespace {s.namespace}"))
        for verb, group, resource, sub in m.access_checks(env):
            allowed, reason = kube.can(verb, group, resource, sub, namespace=s.namespace)
            if not allowed:
                res = resource + (f"/{sub}" if sub else "")
                api = f"{group}/" if group else ""
                findings.append(Finding(
                    f"k8s.rbac.{res.replace('/', '.')}.{verb}", "error",
                    f"not allowed to {verb} {api}{res} in namespace {s.namespace!r}"
                    + (f" ({reason})" if reason else ""),
                    where=where,
                    fix=f"kubectl create role cockpit --verb={verb} --resource={resource}"
                        f"{'.' + group if group else ''} -n {s.namespace} (and bind it to the "
                        "kubeconfig user)"))
        if not any(f.severity == "error" for f in findings):
            findings.append(Finding("k8s.rights", "info",
                                    "rights for deployments, services, secrets, pods/log, "
                                    "leases" + (", ingresses" if env.domain else "") + " granted",
                                    where=where))
        if env.domain and not s.cert_issuer:
            findings.append(Finding("k8s.tls", "warning",
                                    f"domain {env.domain} has no cert-manager issuer: the "
                                    "Ingress will serve without TLS", where=where,
                                    fix="set cert_issuer = \"<ClusterIssuer>\" in the environment"))
        return findings

    def setup(self, env: Environment, emit: Emit) -> list[Finding]:
        kube = self.kube(env)
        if kube.namespace_exists():
            emit(StepSkipped(step="namespace", reason="exists", env=env.name))
            return []
        with self._stage(emit, env, "namespace", f"namespace {env.settings.namespace}") as out:
            if not env.settings.create_namespace:
                raise ProviderError(f"namespace {env.settings.namespace!r} does not exist",
                                    where=kube.where,
                                    hint=f"kubectl create namespace {env.settings.namespace}")
            kube.apply(m.namespace(env))
            out["detail"] = "created"
        return []

    # ------------------------------------------------------------------ live state

    def _release_of(self, rs: dict[str, Any], env: Environment) -> Release:
        template = rs["spec"]["template"]
        ann = (template.get("metadata") or {}).get("annotations") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        image = (template["spec"]["containers"] or [{}])[0].get("image", "")
        try:
            data = json.loads(ann.get(m.RELEASE_ANNOTATION) or "{}")
        except ValueError:
            data = {}
        if not data:  # a revision made outside cockpit (kubectl set image, ...)
            data = {"id": f"rev{ro.revision(rs)}", "app": env.app.name, "env": env.name,
                    "image": image, "digest": image.split("@", 1)[1] if "@" in image else "",
                    "config_hash": ""}
            data["created_by"] = "outside cockpit"
        release = Release.from_dict(data)
        rs_ann = rs["metadata"].get("annotations") or {}
        gate = rs_ann.get(m.GATE_ANNOTATION)
        release.status = {"passed": "healthy", "failed": "failed"}.get(gate or "", "pending")
        release.meta = {
            "revision": ro.revision(rs),
            "replicaset": rs["metadata"]["name"],
            "change_cause": rs_ann.get(m.CHANGE_CAUSE, ""),
            "namespace": env.settings.namespace,
            "pod_template_hash": labels.get(ro.HASH_LABEL),
        }
        if gate == "failed":
            release.meta["gate_reason"] = rs_ann.get(m.GATE_REASON_ANNOTATION, "")
        return release

    def live(self, env: Environment) -> LiveState:
        from cockpit.providers.kubernetes.kube import ApiFailure

        kube = self.kube(env)
        state = LiveState(env=env.name, provider=self.name)
        state.extra["namespace"] = env.settings.namespace
        d = kube.deployment(m.app_name(env))
        if d is None:
            state.extra["rollout"] = "no deployment yet"
            state.lock = self.lock_info(env)
            return state
        rss = ro.owned_replicasets(d, kube.replicasets(ro.label_selector(d)))
        current_rs = ro.current_replicaset(d, rss)
        status = ro.rollout_status(d)
        for rs in rss:
            release = self._release_of(rs, env)
            if rs is current_rs:
                state.current = release  # "pending" when no gate verdict: the store decides
            elif release.status == "healthy":
                release.status = "superseded"
            state.releases.append(release)
        pods = kube.pods(ro.label_selector(d))
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            state.instances.append(_instance(pod))
        st = d.get("status") or {}
        state.extra.update({
            "revision": ro.revision(d),
            "replicas": {"wanted": (d.get("spec") or {}).get("replicas", 1),
                         "ready": st.get("readyReplicas") or 0,
                         "updated": st.get("updatedReplicas") or 0,
                         "available": st.get("availableReplicas") or 0},
            "restarts": sum(i.restarts for i in state.instances),
            "rollout": status.message,
            "rollout_state": status.state,
            "change_cause": (d["metadata"].get("annotations") or {}).get(m.CHANGE_CAUSE, ""),
        })
        try:
            state.extra["events"] = self._events(kube, d, rss, pods)
        except ApiFailure:
            state.extra["events"] = []
        if state.current is not None:
            template_image = d["spec"]["template"]["spec"]["containers"][0].get("image")
            if template_image != state.current.image:
                state.drift.append(f"image changed outside cockpit: {template_image}")
        wanted = (d.get("spec") or {}).get("replicas", 1)
        if wanted != env.common.replicas:
            state.drift.append(f"replicas: cluster wants {wanted}, cockpit.toml says "
                               f"{env.common.replicas}")
        ing = self._ingress(env)
        hosts = sorted({r.get("host") for r in ((ing or {}).get("spec") or {}).get("rules") or []
                        if r.get("host")})
        if env.domain and env.domain not in hosts:
            state.drift.append(f"no ingress serves {env.domain} yet (deploy or `cockpit domain`)")
        elif not env.domain and hosts:
            state.drift.append(f"an ingress serves {', '.join(hosts)} but cockpit.toml sets no "
                               "domain (the next deploy removes it)")
        state.extra["ingress_hosts"] = hosts
        state.lock = self.lock_info(env)
        if env.domain and env.settings.cert_issuer:
            cert = self._certificate(env)
            state.tls = cert
            state.extra["certificate"] = cert.to_dict() if cert else None
        return state

    def _events(self, kube: Kube, d: dict[str, Any], rss: list[dict[str, Any]],
                pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ours = {o["metadata"]["uid"] for o in [d, *rss, *pods]}
        ours_names = {o["metadata"]["name"] for o in [d, *rss, *pods]}
        out = []
        for ev in kube.events():
            inv = ev.get("involvedObject") or {}
            if ev.get("reason") not in EVENTS_THAT_MATTER:
                continue
            if inv.get("uid") not in ours and inv.get("name") not in ours_names:
                continue
            out.append({"reason": ev.get("reason"), "object": f"{inv.get('kind')}/"
                        f"{inv.get('name')}", "message": redact(ev.get("message") or ""),
                        "count": ev.get("count") or 1, "type": ev.get("type"),
                        "last": ev.get("lastTimestamp") or ev.get("eventTime")})
        out.sort(key=lambda e: e.get("last") or "", reverse=True)
        return out[:20]

    # ------------------------------------------------------------------ plan / apply

    def plan_deploy(self, env: Environment, release: Release) -> Plan:
        kube = self.kube(env)
        ns = env.settings.namespace
        steps: list[Step] = []
        notes: list[str] = []
        previous: Release | None = None
        changes: dict[str, tuple[Any, Any]] = {}
        ns_exists = kube.namespace_exists()
        if not ns_exists:
            steps.append(Step("namespace", f"create namespace {ns}"))
        if env.secret_names:
            steps.append(Step("secret", f"secret {m.secret_name(env, release.id)} "
                                        f"({len(env.secret_names)} value(s), immutable)"))
        d = kube.deployment(m.app_name(env)) if ns_exists else None
        if d is not None:
            rss = kube.replicasets(ro.label_selector(d))
            cur = ro.current_replicaset(d, rss)
            if cur is not None:
                previous = self._release_of(cur, env)
                changes.update(release.changes_from(previous))
            wanted = (d.get("spec") or {}).get("replicas")
            if wanted != env.common.replicas:
                changes["replicas"] = (wanted, env.common.replicas)
        if env.release_command:
            steps.append(Step("release_command",
                              f"run the release command once as job "
                              f"{m.release_job_name(env, release.id)} (the new image, the "
                              "release's secrets and env, at most "
                              f"{env.settings.release_timeout} s) before the deployment: "
                              f"{env.release_command}"))
        steps.append(Step("deployment",
                          f"apply deployment {m.app_name(env)} in {ns} "
                          f"({env.common.replicas} replica(s), image "
                          f"{m.short_digest(release.digest) or release.image})",
                          destructive=d is not None))
        steps.append(Step("service", f"apply service {m.app_name(env)}"))
        if env.domain:
            steps.append(Step("ingress", f"apply ingress for {env.domain}"
                                         + (f" (cert-manager {env.settings.cert_issuer})"
                                            if env.settings.cert_issuer else "")))
        steps.append(Step("gate", f"rollout status, pod restarts, {env.gate.count}× 2xx on "
                                  f"{env.app.health_path}"))
        if "@sha256:" not in release.image:
            notes.append(f"image {release.image} is not pinned by digest; the deploy pins it "
                         "(push it to image_repository or pass repo@sha256:...)")
        if previous is not None:
            notes.append(f"on a failed gate: automatic undo to release {previous.id} "
                         f"(revision {previous.meta.get('revision')})")
        return Plan(env=env.name, action="deploy", release=release, steps=steps,
                    previous=previous, notes=notes, changes=changes,
                    data={"namespace_exists": ns_exists})

    def apply(self, plan: Plan, emit: Emit) -> Release:
        env = self.ctx.config.env(plan.env)
        release = plan.release
        if "@sha256:" not in release.image:
            raise ProviderError(
                f"image {release.image!r} is not pinned by digest; Kubernetes nodes must pull "
                "exactly the release's image",
                hint="set image_repository so cockpit pushes and pins it, or pass "
                     "image=repo@sha256:...")
        with self.lock(env, plan.action, emit):
            return self._apply(env, plan, release, emit)

    def _apply(self, env: Environment, plan: Plan, release: Release, emit: Emit) -> Release:
        kube = self.kube(env)
        if not kube.namespace_exists():
            self.setup(env, emit)
        values = self.ctx.secrets.values(env) if env.secret_names else {}
        for value in values.values():  # the Secret's data is base64: mask that form too
            REDACTOR.add(base64.b64encode(value.encode()).decode())
        if values:
            name = m.secret_name(env, release.id)
            with self._stage(emit, env, "secret", "secret for the release") as out:
                existing = kube.get(f"read secret {name}", kube.core.read_namespaced_secret,
                                    name, kube.namespace)
                if existing is None:
                    kube.apply(m.secret(env, release, values))
                out["detail"] = f"{name} ({len(values)} value(s))"
        if env.release_command:  # once, before anything of the release serves
            from cockpit.providers.kubernetes import release as release_phase

            release_phase.run(kube, env, release, emit, with_secret=bool(values),
                              previous_id=plan.previous.id if plan.previous else None,
                              poll=_poll(env))
        with self._stage(emit, env, "deployment", f"deployment {m.app_name(env)}") as out:
            before = kube.deployment(m.app_name(env))
            serving = (ro.current_replicaset(before, kube.replicasets(ro.label_selector(before)))
                       if before is not None else None)
            # undo goes to what served before this apply, named by revision: "the previous
            # revision" would be wrong if the controller never got to create the new one
            undo_to = ro.revision(serving) if serving is not None else 0
            d = kube.apply(m.deployment(env, release, with_secret=bool(values)))
            out["detail"] = f"generation {d['metadata'].get('generation')}"
        with self._stage(emit, env, "service", f"service {m.app_name(env)}"):
            kube.apply(m.service(env))
        if env.domain:
            with self._stage(emit, env, "ingress", f"ingress {env.domain}"):
                kube.apply(m.ingress(env, env.domain))
        elif self._ingress(env) is not None:  # the domain was removed from cockpit.toml
            with self._stage(emit, env, "ingress", "remove the ingress (no domain configured)"):
                kube.get("delete ingress", kube.net.delete_namespaced_ingress, m.app_name(env),
                         kube.namespace)
        self._gate_or_undo(env, release, emit, action=plan.action, undo_to=undo_to)
        release.status = "healthy"
        self._prune_secrets(env)
        return release

    # ------------------------------------------------------------------ gate

    def _gate_or_undo(self, env: Environment, release: Release, emit: Emit, *, action: str,
                      undo_to: int = 0) -> dict[str, Any]:
        """Run the gate; on failure undo (to `undo_to`, default previous) and raise GateFailed."""
        timer = self._step(emit, env, "gate", "health gate")
        try:
            rs = self._gate(env, release, emit)
        except _GateFailure as failure:
            emit(StepFailed(step="gate", error=failure.reason, env=env.name))
            self._fail(env, release, failure, emit, undo_to=undo_to)
        except ProviderError as exc:  # the API failed mid-gate (429s, 5xx, 401): no verdict
            emit(StepFailed(step="gate", error=exc.what, env=env.name))
            self._gate_unfinished(env, release, exc, emit, undo_to=undo_to)
        emit(StepFinished(step="gate", detail=f"revision {ro.revision(rs)} healthy",
                          env=env.name, seconds=timer.seconds()))
        self._mark(env, rs, "passed")
        release.meta.update({"revision": ro.revision(rs), "replicaset": rs["metadata"]["name"],
                             "namespace": env.settings.namespace})
        return rs

    def _gate(self, env: Environment, release: Release, emit: Emit) -> dict[str, Any]:
        """The core gate on the rollout (`rollout.gate`): raises _GateFailure on a verdict,
        ApiFailure when the API fails while sampling."""
        return ro.gate(self.kube(env), env, release, emit,
                       lambda timeout: self._health_sample(env, timeout))

    def health(self, env: Environment) -> HealthSample:
        """One health sample through the Service (the TUI dashboard's optional hook)."""
        return self._health_sample(env)

    def _health_sample(self, env: Environment, timeout: float | None = None) -> HealthSample:
        """One GET of the health path (through `health_url`, or the API server's service
        proxy), within `timeout` seconds (default gate.timeout); never retried: a sample."""
        from cockpit.providers.kubernetes.kube import ApiFailure

        timeout = env.gate.timeout if timeout is None else timeout

        started = time.monotonic()
        if env.settings.health_url:
            import httpx

            url = env.settings.health_url.rstrip("/") + env.app.health_path
            try:
                r = httpx.get(url, timeout=timeout, follow_redirects=False)
                code, error = r.status_code, ""
            except httpx.HTTPError as exc:
                code, error = None, type(exc).__name__
        else:
            kube = self.kube(env)
            svc = f"{m.app_name(env)}:http"
            url = (f"{kube.host}/api/v1/namespaces/{kube.namespace}/services/{svc}/proxy"
                   f"{env.app.health_path}")
            try:
                kube.call("health via service proxy",
                          kube.core.connect_get_namespaced_service_proxy_with_path, svc,
                          kube.namespace, env.app.health_path.lstrip("/"), retry=False,
                          _request_timeout=(min(5, timeout), timeout))
                code, error = 200, ""
            except ApiFailure as exc:
                code, error = (exc.status or None), ("" if exc.status else exc.what)
        ms = round((time.monotonic() - started) * 1000, 1)
        ok = code is not None and 200 <= code < 300
        return HealthSample(ok=ok, status=code, latency_ms=ms, url=url, error=error, env=env.name)

    def watch_traffic(self, env: Environment, release: Release):
        """The watch window's sampler: readiness and restarts of the release's pods behind the
        Service (`providers/kubernetes/traffic.py`)."""
        from cockpit.providers.kubernetes import traffic

        return traffic.sampler(self, env, release)

    def _fail(self, env: Environment, release: Release, failure: _GateFailure, emit: Emit, *,
              undo_to: int) -> NoReturn:
        kube = self.kube(env)
        logs = self._failing_logs(env, failure)
        if failure.rs is not None:
            self._mark(env, failure.rs, "failed", failure.reason)
        timer = self._step(emit, env, "undo", "automatic undo")
        try:
            back = self._undo(env, undo_to, f"cockpit auto-rollback: {failure.reason}")
        except ProviderError as exc:  # not rolled back: exit 1, and reconcile finishes it
            emit(StepFailed(step="undo", error=exc.what, env=env.name))
            raise GateUnfinished(f"release {release.id} failed its gate: {failure.reason}; the "
                                 f"automatic undo failed too: {exc.what}", where=kube.where,
                                 hint="the next cockpit command on this environment undoes it "
                                      "(reconcile); or inspect with `cockpit status`",
                                 logs=logs) from None
        if back is None:
            emit(StepSkipped(step="undo", reason="no earlier revision to go back to",
                             env=env.name))
            raise GateError(f"release {release.id} failed its gate: {failure.reason}; there is "
                            "no earlier revision to go back to", where=kube.where,
                            hint="fix the release and deploy again", logs=logs,
                            reason=failure.code, samples=failure.samples)
        self._wait_rollout(env, env.gate.deadline)
        back_release = self._release_of(back, env)
        emit(StepFinished(step="undo", detail=f"back to release {back_release.id}",
                          env=env.name, seconds=timer.seconds()))
        for line in logs[-10:]:
            emit(LogLine(source="gate", line=line, env=env.name))
        raise GateError(f"release {release.id} failed its gate: {failure.reason}; rolled back to "
                        f"release {back_release.id}", where=kube.where,
                        hint="see the pods' last log lines; fix and deploy again", logs=logs,
                        reason=failure.code, samples=failure.samples)

    def _gate_unfinished(self, env: Environment, release: Release, error: ProviderError,
                         emit: Emit, *, undo_to: int) -> NoReturn:
        """The API failed while the gate sampled: no verdict on the release, so undo it (it
        never passed) and say so, exit 1. When the undo fails too, raise GateUnfinished: the
        run stays open in the journal and the next command's reconcile finishes it."""
        kube = self.kube(env)
        cause = f"the gate could not finish: {error.what}"
        with self._stage(emit, env, "undo", "undo: the gate could not finish") as out:
            try:
                back = self._undo(env, undo_to, f"cockpit auto-rollback: {cause}")
            except ProviderError as exc:
                raise GateUnfinished(
                    f"release {release.id}: {cause}; the undo failed too: {exc.what}",
                    where=kube.where,
                    hint="the next cockpit command on this environment checks the release "
                         "and undoes it (reconcile), once the Kubernetes API answers") from None
            if back is None:
                out["detail"] = "no earlier revision"
                raise ProviderError(f"release {release.id}: {cause}; there is no earlier "
                                    "revision to go back to", where=kube.where,
                                    hint="check `cockpit status`, then deploy again")
            self._wait_rollout(env, env.gate.deadline)
            back_release = self._release_of(back, env)
            out["detail"] = f"back to release {back_release.id}"
        raise ProviderError(f"release {release.id}: {cause}; undone, back to release "
                            f"{back_release.id}", where=kube.where,
                            hint="retry the deploy once the Kubernetes API answers")

    def _failing_logs(self, env: Environment, failure: _GateFailure) -> list[str]:
        """The last log lines of the failing pods (previous container when it restarted)."""
        from cockpit.providers.kubernetes.kube import ApiFailure

        kube = self.kube(env)
        pods = failure.pods
        if pods is None and failure.rs is not None:
            hash_ = (failure.rs["metadata"].get("labels") or {}).get(ro.HASH_LABEL)
            try:
                pods = kube.pods(f"app={env.app.name},env={env.name},{ro.HASH_LABEL}={hash_}")
            except ApiFailure:
                pods = []
        out: list[str] = []
        for pod in (pods or [])[:3]:
            name = pod["metadata"]["name"]
            restarted = any(cs.get("restartCount") or (cs.get("lastState") or {}).get(
                "terminated") for cs in (pod.get("status") or {}).get("containerStatuses") or [])
            text = ""
            for previous in ([True, False] if restarted else [False]):
                try:
                    text = kube.pod_log(name, tail=20, previous=previous)
                except ApiFailure:
                    continue
                if text.strip():
                    break
            out += [f"{name}: {redact(line)}" for line in text.splitlines()[-20:]]
        names = {p["metadata"]["name"] for p in pods or []}
        if names:  # why a pod is stuck before it logs anything: scheduling, pulls, probes
            try:
                events = kube.events()
            except ApiFailure:
                events = []
            warnings = [e for e in events if e.get("type") == "Warning"
                        and (e.get("involvedObject") or {}).get("name") in names]
            warnings.sort(key=lambda e: e.get("lastTimestamp") or "")
            seen: set[str] = set()
            for e in reversed(warnings):
                key = f"{e.get('reason')}: {e.get('message')}"
                if key not in seen and len(seen) < 5:
                    seen.add(key)
                    out.append(f"{e['involvedObject']['name']}: [event] {redact(key)}")
        return out

    def _mark(self, env: Environment, rs: dict[str, Any], gate: str, reason: str = "") -> None:
        """Record the gate's verdict on the ReplicaSet itself (live state is the truth)."""
        kube = self.kube(env)
        ann: dict[str, str | None] = {m.GATE_ANNOTATION: gate,
                                      m.GATE_REASON_ANNOTATION: reason[:500] or None}
        kube.call(f"annotate replicaset {rs['metadata']['name']}",
                  kube.apps.patch_namespaced_replica_set, rs["metadata"]["name"], kube.namespace,
                  {"metadata": {"annotations": ann}}, field_manager=m.FIELD_MANAGER,
                  _content_type="application/merge-patch+json")

    def _wait_rollout(self, env: Environment, timeout: float) -> ro.Status:
        kube = self.kube(env)
        deadline = time.monotonic() + timeout
        while True:
            d = kube.deployment(m.app_name(env))
            if d is None:
                return ro.Status("failed", "deployment is gone")
            status = ro.rollout_status(d)
            if status.state != "waiting" or time.monotonic() > deadline:
                return status
            time.sleep(_poll(env))

    def _undo(self, env: Environment, to_revision: int, cause: str) -> dict[str, Any] | None:
        """kubectl rollout undo; returns the ReplicaSet now serving (None: no history)."""
        kube = self.kube(env)
        name = m.app_name(env)
        d = kube.deployment(name)
        if d is None:
            raise ProviderError(f"deployment {name} not found", where=kube.where)
        rss = kube.replicasets(ro.label_selector(d))
        if to_revision == 0 and len(ro.owned_replicasets(d, rss)) < 2:
            return None
        patch, target = ro.undo_patch(d, rss, to_revision, change_cause=cause[:1000])
        if patch is not None:
            kube.call(f"undo deployment {name}", kube.apps.patch_namespaced_deployment, name,
                      kube.namespace, patch, field_manager=m.FIELD_MANAGER,
                      _content_type="application/json-patch+json")
        return target

    # ------------------------------------------------------------------ rollback

    def rollback(self, env: Environment, to: Release, emit: Emit) -> Release:
        with self.lock(env, "rollback", emit):
            kube = self.kube(env)
            d = kube.deployment(m.app_name(env))
            if d is None:
                raise ProviderError(f"nothing to roll back: no deployment {m.app_name(env)}",
                                    where=kube.where)
            rss = ro.owned_replicasets(d, kube.replicasets(ro.label_selector(d)))
            target = next((rs for rs in rss if self._release_of(rs, env).id == to.id), None)
            if target is None:
                raise ProviderError(
                    f"release {to.id} is no longer kept on the cluster (only the last "
                    f"{env.settings.revision_history} revisions are)", where=kube.where,
                    hint="deploy its image again instead")
            current = ro.current_replicaset(d, rss)
            with self._stage(emit, env, "secret", "restore the release's secret"):
                self._check_secret(env, target)
            with self._stage(emit, env, "rollback",
                             f"undo to revision {ro.revision(target)} (release {to.id})"):
                self._undo(env, ro.revision(target), f"cockpit rollback to release {to.id}")
            release = self._release_of(target, env)
            undo_to = ro.revision(current) if current is not None else 0
            # after the undo, `current`'s revision number is unchanged: undo goes back to it
            self._gate_or_undo(env, release, emit, action="rollback", undo_to=undo_to)
            release.status = "healthy"
            return release

    def _check_secret(self, env: Environment, rs: dict[str, Any]) -> None:
        kube = self.kube(env)
        for c in rs["spec"]["template"]["spec"].get("containers") or []:
            for src in c.get("envFrom") or []:
                ref = (src.get("secretRef") or {}).get("name")
                if ref and kube.get(f"read secret {ref}", kube.core.read_namespaced_secret, ref,
                                    kube.namespace) is None:
                    raise ProviderError(
                        f"the secret {ref} that release used is gone; its values cannot be "
                        "restored", where=kube.where,
                        hint="deploy the release's image again with the current secrets")

    def _prune_secrets(self, env: Environment) -> None:
        """Delete per-release Secrets no kept ReplicaSet refers to any more."""
        kube = self.kube(env)
        d = kube.deployment(m.app_name(env))
        if d is None:
            return
        used = set()
        for rs in kube.replicasets(ro.label_selector(d)):
            for c in rs["spec"]["template"]["spec"].get("containers") or []:
                for src in c.get("envFrom") or []:
                    used.add((src.get("secretRef") or {}).get("name"))
        secrets = kube.call("list secrets", kube.core.list_namespaced_secret, kube.namespace,
                            label_selector=f"app={env.app.name},env={env.name},"
                                           f"{m.ROLE_LABEL}=release-secrets")["items"]
        for sec in secrets:
            name = sec["metadata"]["name"]
            if name not in used:
                kube.get(f"delete secret {name}", kube.core.delete_namespaced_secret, name,
                         kube.namespace)

    # ------------------------------------------------------------------ logs

    def logs(self, env: Environment, *, follow: bool, since: str | None = None,
             tail: int | None = None, stop: Any = None) -> Iterator[LogLine]:
        """`stop` (a threading.Event) ends a follow even while no line arrives: the readers'
        streams and the pod watch are closed then."""
        from cockpit.providers.kubernetes.logs import LogFollower, parse_since

        try:
            since_seconds = parse_since(since)
        except ValueError as exc:
            raise ProviderError(str(exc)) from None
        follower = LogFollower(self.kube(env), f"app={env.app.name},env={env.name}", env.name,
                               follow=follow, since_seconds=since_seconds,
                               tail=tail if tail is not None else (100 if follow else None),
                               cancel=stop)
        return iter(follower)

    # ------------------------------------------------------------------ secrets / domain

    def set_secrets(self, env: Environment, secrets: Mapping[str, str]) -> None:
        """Nothing to push now: values reach the cluster with the next deploy.

        Each release gets its own immutable Secret built from the keyring at deploy time, so a
        changed value goes through a new release and its gate, and a rollback brings back the
        values the old release ran with. Editing the running release's Secret in place would
        change what runs without a release or a gate.
        """
        return None

    def configure_domain(self, env: Environment, domain: str, emit: Emit) -> DomainStatus:
        kube = self.kube(env)
        if not kube.namespace_exists():
            self.setup(env, emit)
        with self._stage(emit, env, "ingress", f"ingress for {domain}"):
            ing = kube.apply(m.ingress(env, domain))
        status = DomainStatus(domain=domain)

        def records() -> list[dict[str, Any]]:
            fresh = kube.get("read ingress", kube.net.read_namespaced_ingress, m.app_name(env),
                             kube.namespace) or ing
            lb = ((fresh.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            status.records_to_create = [
                {"type": "A", "name": domain, "value": e["ip"]} if e.get("ip") else
                {"type": "CNAME", "name": domain, "value": e["hostname"]}
                for e in lb if e.get("ip") or e.get("hostname")]
            return lb

        lb = records()
        if not env.settings.cert_issuer:
            status.status = "unknown"
            emit(Message(f"no cert_issuer set: {domain} is served without TLS", level="warning",
                         env=env.name))
            return status
        timer = self._step(emit, env, "certificate", "cert-manager certificate")
        deadline = time.monotonic() + min(env.gate.deadline, 30)
        tls = self._certificate(env)
        while (tls is None or (not tls.ok and not tls.error)) and time.monotonic() < deadline:
            time.sleep(0.2)
            tls = self._certificate(env)
        status.tls = tls
        if tls is not None and tls.ok:
            status.status = "issued"
            emit(StepFinished(step="certificate", detail=f"ready, {tls.days_left} days left",
                              env=env.name, seconds=timer.seconds()))
        elif tls is not None and tls.error:
            status.status = "failed" if "failed" in tls.error.lower() else "pending"
            emit(StepFailed(step="certificate", error=tls.error, env=env.name))
        else:
            status.status = "pending"
            emit(StepFinished(step="certificate", detail="pending", env=env.name,
                              seconds=timer.seconds()))
        lb = records() or lb  # the ingress controller fills its address in meanwhile
        address = next((e.get("ip") or e.get("hostname") for e in lb), None)
        probed = _tls_probe(address, domain, env.common.acme_ca_root)
        if probed is not None:
            status.tls = probed
        return status

    def _ingress(self, env: Environment) -> dict[str, Any] | None:
        """The environment's Ingress when cockpit made it (never someone else's)."""
        from cockpit.providers.kubernetes.kube import ApiFailure

        kube = self.kube(env)
        try:
            ing = kube.get("read ingress", kube.net.read_namespaced_ingress, m.app_name(env),
                           kube.namespace)
        except ApiFailure:
            return None
        labels = ((ing or {}).get("metadata") or {}).get("labels") or {}
        return ing if labels.get("app.kubernetes.io/managed-by") == "cockpit" else None

    def _certificate(self, env: Environment) -> TlsInfo | None:
        """cert-manager's Certificate for the Ingress TLS secret (ingress-shim names it so)."""
        from cockpit.providers.kubernetes.kube import ApiFailure

        kube = self.kube(env)
        try:
            cert = kube.get("read certificate", kube.custom.get_namespaced_custom_object,
                            "cert-manager.io", "v1", kube.namespace, "certificates",
                            m.tls_secret_name(env))
        except ApiFailure as exc:
            return TlsInfo(ok=False, error=f"cannot read the Certificate: {exc.what}")
        if cert is None:
            return None
        st = cert.get("status") or {}
        ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
        not_after = _parse_time(st.get("notAfter"))
        days = int((not_after - time.time()) // 86400) if not_after else None
        issuer = ((cert.get("spec") or {}).get("issuerRef") or {}).get("name")
        names = list((cert.get("spec") or {}).get("dnsNames") or [])
        if ready and ready.get("status") == "True":
            return TlsInfo(ok=True, issuer=issuer, names=names, not_after=not_after,
                           days_left=days)
        reason = ready.get("reason") if ready else None
        error = None
        if ready and reason not in (None, "DoesNotExist", "InProgress", "Issuing"):
            error = f"{reason}: {ready.get('message', '')}"
        return TlsInfo(ok=False, issuer=issuer, names=names, not_after=not_after,
                       days_left=days, error=error)

    # ------------------------------------------------------------------ lock

    def lock_store(self, env: Environment):
        """The deploy lock: the environment's Lease, timed by the API server's clock
        (`providers/kubernetes/lease.py`); the namespace is created before a first lease."""
        from cockpit.providers.kubernetes.lease import LeaseStore

        kube = self.kube(env)

        def ensure_namespace() -> None:
            if not kube.namespace_exists():
                self.setup(env, lambda _e: None)

        return LeaseStore(kube, env, before_create=ensure_namespace)

    def lock_info(self, env: Environment) -> LockInfo | None:
        """The Lease while it is live by the API server's clock; None when free, expired or
        unreadable (live state must not fail on the lock)."""
        from cockpit.providers.kubernetes.kube import ApiFailure

        try:
            held = self.lock_store(env).read()
        except ApiFailure:
            return None
        return held.info() if held is not None and not held.expired else None

    @contextmanager
    def lock(self, env: Environment, command: str, emit: Emit | None = None
             ) -> Iterator[LockInfo]:
        """Hold the environment's Lease for the block (re-entered when the pipeline holds it),
        renewed every third of `lock_ttl`. Raises LockHeld naming the holder."""
        from cockpit.lock import hold

        with hold(self.lock_store(env), env=env.name, command=command,
                  emit=emit or (lambda _e: None), steps=False) as held:
            yield held.held.info() if held.held is not None else None  # type: ignore[misc]

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, env: Environment, journal: list[dict[str, Any]], emit: Emit) -> str:
        """An interrupted deploy: keep it if its rollout is healthy, else undo it."""
        kube = self.kube(env)
        d = kube.deployment(m.app_name(env))
        if d is None:
            return "no deployment on the cluster; nothing to finish or undo"
        deadline = time.monotonic() + min(env.gate.deadline, 30)
        while (d.get("status") or {}).get("observedGeneration", 0) < d["metadata"].get(
                "generation", 0) and time.monotonic() < deadline:
            time.sleep(_poll(env))
            d = kube.deployment(m.app_name(env)) or d
        cur = ro.current_replicaset(d, kube.replicasets(ro.label_selector(d)))
        if cur is None:
            return f"rollout state: {ro.rollout_status(d).message}"
        release = self._release_of(cur, env)
        if release.status in ("healthy", "failed"):
            return f"release {release.id} already {release.status} (revision {ro.revision(cur)})"
        try:  # the same gate a deploy runs: rollout status, pod problems, health
            rs = self._gate(env, release, emit)
        except _GateFailure as failure:
            reason = failure.reason
            self._mark(env, failure.rs or cur, "failed", reason)
            back = self._undo(env, 0, f"cockpit reconcile: {reason}")
            if back is None:
                return f"release {release.id} is unhealthy ({reason}) and has no earlier revision"
            self._wait_rollout(env, env.gate.deadline)
            return (f"release {release.id} was unhealthy ({reason}); rolled back to release "
                    f"{self._release_of(back, env).id}")
        self._mark(env, rs, "passed")
        return f"release {release.id} finished rolling out and answers; kept"

    # ------------------------------------------------------------------ build

    def build(self, env: Environment, emit: Emit) -> tuple[str, str]:
        """Build with the docker SDK, push to `image_repository`: (repo@digest, digest)."""
        from cockpit.providers.kubernetes.build import build_and_push

        repo = env.settings.image_repository
        if not repo:
            raise ProviderError(
                "a Kubernetes deploy needs an image in a registry the cluster can pull from",
                hint="set image_repository = \"registry.example.com/app\" in the environment")
        return build_and_push(self.ctx.config, repo, emit, env_name=env.name)


_GateFailure = ro.GateFailure


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _lock_info(lease: dict[str, Any]) -> LockInfo:
    spec = lease.get("spec") or {}
    ann = lease["metadata"].get("annotations") or {}
    renewed = _parse_time(spec.get("renewTime")) or time.time()
    acquired = _parse_time(spec.get("acquireTime")) or renewed
    pid = ann.get("cockpit.dev/pid")
    return LockInfo(holder=spec.get("holderIdentity") or "?",
                    pid=int(pid) if pid and pid.isdigit() else None,
                    command=ann.get("cockpit.dev/command", "?"), acquired_at=acquired,
                    expires_at=renewed + float(spec.get("leaseDurationSeconds") or 0))


def _instance(pod: dict[str, Any]) -> Instance:
    meta, status = pod["metadata"], pod.get("status") or {}
    cs = (status.get("containerStatuses") or [{}])[0]
    state = cs.get("state") or {}
    ready = ro.pod_ready(pod)
    if "waiting" in state:
        phase = state["waiting"].get("reason") or "waiting"
    elif "terminated" in state:
        phase = "exited"
    elif "running" in state:
        phase = "running"
    else:
        phase = (status.get("phase") or "pending").lower()
    if ready:
        health = "healthy"
    elif phase in ro.BAD_WAITING:
        health = "unhealthy"
    elif phase == "running":
        health = "starting"
    else:
        health = "unknown"
    started = _parse_time((state.get("running") or {}).get("startedAt"))
    return Instance(id=meta.get("uid", meta["name"]), name=meta["name"], state=phase,
                    release_id=(meta.get("labels") or {}).get("release"),
                    image=cs.get("image") or (pod.get("spec", {}).get("containers") or [{}])[0]
                    .get("image"), health=health, restarts=int(cs.get("restartCount") or 0),
                    started_at=started, serving=ready,
                    location=(pod.get("spec") or {}).get("nodeName"))


def _tls_probe(address: str | None, domain: str, ca_file: str | None) -> TlsInfo | None:
    """The core's live TLS probe against the Ingress address, when that answers on 443."""
    if not address:
        return None
    from cockpit.probes import check_tls

    info = check_tls(address, 443, domain, ca_file=ca_file, timeout=3.0)
    if info.error and "handshake" in info.error:
        return None  # not reachable from here: cert-manager's status is what we report
    return info
