"""KubernetesProvider's flow operations: module functions taking the provider first (the class in
__init__.py delegates to them, the way the VPS provider's class does)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from cockpit.providers.kubernetes import manifests as m
from cockpit.providers.kubernetes import rollout as ro

from cockpit.errors import ProviderError
from cockpit.events import (
    Emit,
    HealthSample,
    LogLine,
    StepFailed,
    StepFinished,
    StepSkipped,
)
from cockpit.gate import GateError, GateUnfinished
from cockpit.models import (
    Instance,
    LiveState,
    LockInfo,
    Plan,
    Release,
    Step,
    TlsInfo,
)
from cockpit.redaction import REDACTOR, redact

if TYPE_CHECKING:
    from cockpit.providers.kubernetes.kube import Kube

    from cockpit.config import Environment


EVENTS_THAT_MATTER = frozenset({
    "FailedScheduling", "BackOff", "Unhealthy", "Failed", "FailedCreate",
    "ProgressDeadlineExceeded", "FailedMount", "Evicted", "OOMKilling",
})


def _poll(env: Environment) -> float:
    """How often the gate reads rollout state: the gate's interval, at most once a second."""
    return max(0.05, min(env.gate.interval, 1.0))


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


def _release_of(provider, rs: dict[str, Any], env: Environment) -> Release:
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
    from cockpit.providers.kubernetes import schema as schema_k8s

    release.meta.update(schema_k8s.read(rs))  # the schema head(s) recorded on the revision
    return release


def live(provider, env: Environment) -> LiveState:
    from cockpit.providers.kubernetes.kube import ApiFailure

    kube = provider.kube(env)
    state = LiveState(env=env.name, provider=provider.name)
    state.extra["namespace"] = env.settings.namespace
    d = kube.deployment(m.app_name(env))
    if d is None:
        state.extra["rollout"] = "no deployment yet"
        state.lock = provider.lock_info(env)
        return state
    rss = ro.owned_replicasets(d, kube.replicasets(ro.label_selector(d)))
    current_rs = ro.current_replicaset(d, rss)
    status = ro.rollout_status(d)
    for rs in rss:
        release = provider._release_of(rs, env)
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
        state.extra["events"] = provider._events(kube, d, rss, pods)
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
    ing = provider._ingress(env)
    hosts = sorted({r.get("host") for r in ((ing or {}).get("spec") or {}).get("rules") or []
                    if r.get("host")})
    if env.domain and env.domain not in hosts:
        state.drift.append(f"no ingress serves {env.domain} yet (deploy or `cockpit domain`)")
    elif not env.domain and hosts:
        state.drift.append(f"an ingress serves {', '.join(hosts)} but cockpit.toml sets no "
                           "domain (the next deploy removes it)")
    state.extra["ingress_hosts"] = hosts
    from cockpit.providers.kubernetes import accessories as acc_k8s

    if acc_k8s.names(env):  # a line per accessory on the dashboard and in status --json
        try:
            state.extra["accessories"] = [{k: a[k] for k in ("name", "kind", "state", "health")}
                                          for a in acc_k8s.status(provider, env)]
        except ApiFailure as exc:
            state.extra["accessories_error"] = exc.what
    state.lock = provider.lock_info(env)
    if env.domain and env.settings.cert_issuer:
        cert = provider._certificate(env)
        state.tls = cert
        state.extra["certificate"] = cert.to_dict() if cert else None
    return state


def _events(provider, kube: Kube, d: dict[str, Any], rss: list[dict[str, Any]],
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


def plan_deploy(provider, env: Environment, release: Release) -> Plan:
    kube = provider.kube(env)
    ns = env.settings.namespace
    steps: list[Step] = []
    notes: list[str] = []
    previous: Release | None = None
    changes: dict[str, tuple[Any, Any]] = {}
    ns_exists = kube.namespace_exists()
    if not ns_exists:
        steps.append(Step("namespace", f"create namespace {ns}"))
    from cockpit.providers.kubernetes import accessories as acc_k8s

    for name in acc_k8s.names(env):
        acc = env.accessories[name]
        steps.append(Step("accessories", f"apply statefulset {acc_k8s.object_name(env, name)} "
                          f"({acc.kind} {acc.tag}, claim {acc_k8s.claim_name(env, name)}, "
                          f"{acc.storage or acc_k8s.DEFAULT_STORAGE}), its headless service and "
                          f"secret; wait until ready; its URL reaches the app as "
                          f"{acc.url_var}"))
    if env.secret_names or acc_k8s.names(env):
        steps.append(Step("secret", f"secret {m.secret_name(env, release.id)} "
                                    f"({len(env.secret_names) + len(acc_k8s.names(env))} "
                                    "value(s), immutable)"))
    d = kube.deployment(m.app_name(env)) if ns_exists else None
    if d is not None:
        rss = kube.replicasets(ro.label_selector(d))
        cur = ro.current_replicaset(d, rss)
        if cur is not None:
            previous = provider._release_of(cur, env)
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


def apply(provider, plan: Plan, emit: Emit) -> Release:
    env = provider.ctx.config.env(plan.env)
    release = plan.release
    if "@sha256:" not in release.image:
        raise ProviderError(
            f"image {release.image!r} is not pinned by digest; Kubernetes nodes must pull "
            "exactly the release's image",
            hint="set image_repository so cockpit pushes and pins it, or pass "
                 "image=repo@sha256:...")
    with provider.lock(env, plan.action, emit):
        return provider._apply(env, plan, release, emit)


def _apply(provider, env: Environment, plan: Plan, release: Release, emit: Emit) -> Release:
    kube = provider.kube(env)
    if not kube.namespace_exists():
        provider.setup(env, emit)
    from cockpit.providers.kubernetes import accessories as acc_k8s

    urls = acc_k8s.ensure(provider, env, emit)  # before the release command needs them
    values = provider.ctx.secrets.values(env) if env.secret_names else {}
    values = {**values, **urls}
    for value in values.values():  # the Secret's data is base64: mask that form too
        REDACTOR.add(base64.b64encode(value.encode()).decode())
    if values:
        name = m.secret_name(env, release.id)
        with provider._stage(emit, env, "secret", "secret for the release") as out:
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
    with provider._stage(emit, env, "deployment", f"deployment {m.app_name(env)}") as out:
        before = kube.deployment(m.app_name(env))
        serving = (ro.current_replicaset(before, kube.replicasets(ro.label_selector(before)))
                   if before is not None else None)
        # undo goes to what served before this apply, named by revision: "the previous
        # revision" would be wrong if the controller never got to create the new one
        undo_to = ro.revision(serving) if serving is not None else 0
        d = kube.apply(m.deployment(env, release, with_secret=bool(values)))
        out["detail"] = f"generation {d['metadata'].get('generation')}"
    with provider._stage(emit, env, "service", f"service {m.app_name(env)}"):
        kube.apply(m.service(env))
    if env.domain:
        with provider._stage(emit, env, "ingress", f"ingress {env.domain}"):
            kube.apply(m.ingress(env, env.domain))
    elif provider._ingress(env) is not None:  # the domain was removed from cockpit.toml
        with provider._stage(emit, env, "ingress", "remove the ingress (no domain configured)"):
            kube.get("delete ingress", kube.net.delete_namespaced_ingress, m.app_name(env),
                     kube.namespace)
    provider._gate_or_undo(env, release, emit, action=plan.action, undo_to=undo_to)
    release.status = "healthy"
    provider._prune_secrets(env)
    if env.release_command:
        from cockpit.providers.kubernetes import release as release_phase

        release_phase.prune(kube, env, keep=env.settings.revision_history)
    return release


def _gate_or_undo(provider, env: Environment, release: Release, emit: Emit, *, action: str,
                  undo_to: int = 0) -> dict[str, Any]:
    """Run the gate; on failure undo (to `undo_to`, default previous) and raise GateFailed."""
    timer = provider._step(emit, env, "gate", "health gate")
    try:
        rs = provider._gate(env, release, emit)
    except _GateFailure as failure:
        emit(StepFailed(step="gate", error=failure.reason, env=env.name))
        provider._fail(env, release, failure, emit, undo_to=undo_to)
    except ProviderError as exc:  # the API failed mid-gate (429s, 5xx, 401): no verdict
        emit(StepFailed(step="gate", error=exc.what, env=env.name))
        provider._gate_unfinished(env, release, exc, emit, undo_to=undo_to)
    emit(StepFinished(step="gate", detail=f"revision {ro.revision(rs)} healthy",
                      env=env.name, seconds=timer.seconds()))
    provider._mark(env, rs, "passed")
    release.meta.update({"revision": ro.revision(rs), "replicaset": rs["metadata"]["name"],
                         "namespace": env.settings.namespace})
    return rs


def _gate(provider, env: Environment, release: Release, emit: Emit) -> dict[str, Any]:
    """The core gate on the rollout (`rollout.gate`): raises _GateFailure on a verdict,
    ApiFailure when the API fails while sampling."""
    return ro.gate(provider.kube(env), env, release, emit,
                   lambda timeout: provider._health_sample(env, timeout))


def _health_sample(provider, env: Environment, timeout: float | None = None) -> HealthSample:
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
        kube = provider.kube(env)
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


def _fail(provider, env: Environment, release: Release, failure: _GateFailure, emit: Emit, *,
          undo_to: int) -> NoReturn:
    kube = provider.kube(env)
    logs = provider._failing_logs(env, failure)
    if failure.rs is not None:
        provider._mark(env, failure.rs, "failed", failure.reason)
    timer = provider._step(emit, env, "undo", "automatic undo")
    try:
        back = provider._undo(env, undo_to, f"cockpit auto-rollback: {failure.reason}")
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
    provider._wait_rollout(env, env.gate.deadline)
    back_release = provider._release_of(back, env)
    emit(StepFinished(step="undo", detail=f"back to release {back_release.id}",
                      env=env.name, seconds=timer.seconds()))
    for line in logs[-10:]:
        emit(LogLine(source="gate", line=line, env=env.name))
    raise GateError(f"release {release.id} failed its gate: {failure.reason}; rolled back to "
                    f"release {back_release.id}", where=kube.where,
                    hint="see the pods' last log lines; fix and deploy again", logs=logs,
                    reason=failure.code, samples=failure.samples)


def _gate_unfinished(provider, env: Environment, release: Release, error: ProviderError,
                     emit: Emit, *, undo_to: int) -> NoReturn:
    """The API failed while the gate sampled: no verdict on the release, so undo it (it
    never passed) and say so, exit 1. When the undo fails too, raise GateUnfinished: the
    run stays open in the journal and the next command's reconcile finishes it."""
    kube = provider.kube(env)
    cause = f"the gate could not finish: {error.what}"
    with provider._stage(emit, env, "undo", "undo: the gate could not finish") as out:
        try:
            back = provider._undo(env, undo_to, f"cockpit auto-rollback: {cause}")
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
        provider._wait_rollout(env, env.gate.deadline)
        back_release = provider._release_of(back, env)
        out["detail"] = f"back to release {back_release.id}"
    raise ProviderError(f"release {release.id}: {cause}; undone, back to release "
                        f"{back_release.id}", where=kube.where,
                        hint="retry the deploy once the Kubernetes API answers")


def _failing_logs(provider, env: Environment, failure: _GateFailure) -> list[str]:
    """The last log lines of the failing pods (previous container when it restarted)."""
    from cockpit.providers.kubernetes.kube import ApiFailure

    kube = provider.kube(env)
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


def _mark(provider, env: Environment, rs: dict[str, Any], gate: str, reason: str = "") -> None:
    """Record the gate's verdict on the ReplicaSet itself (live state is the truth)."""
    kube = provider.kube(env)
    ann: dict[str, str | None] = {m.GATE_ANNOTATION: gate,
                                  m.GATE_REASON_ANNOTATION: reason[:500] or None}
    kube.call(f"annotate replicaset {rs['metadata']['name']}",
              kube.apps.patch_namespaced_replica_set, rs["metadata"]["name"], kube.namespace,
              {"metadata": {"annotations": ann}}, field_manager=m.FIELD_MANAGER,
              _content_type="application/merge-patch+json")


def _wait_rollout(provider, env: Environment, timeout: float) -> ro.Status:
    kube = provider.kube(env)
    deadline = time.monotonic() + timeout
    while True:
        d = kube.deployment(m.app_name(env))
        if d is None:
            return ro.Status("failed", "deployment is gone")
        status = ro.rollout_status(d)
        if status.state != "waiting" or time.monotonic() > deadline:
            return status
        time.sleep(_poll(env))


def _undo(provider, env: Environment, to_revision: int, cause: str) -> dict[str, Any] | None:
    """kubectl rollout undo; returns the ReplicaSet now serving (None: no history)."""
    kube = provider.kube(env)
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


def rollback(provider, env: Environment, to: Release, emit: Emit) -> Release:
    with provider.lock(env, "rollback", emit):
        kube = provider.kube(env)
        d = kube.deployment(m.app_name(env))
        if d is None:
            raise ProviderError(f"nothing to roll back: no deployment {m.app_name(env)}",
                                where=kube.where)
        rss = ro.owned_replicasets(d, kube.replicasets(ro.label_selector(d)))
        target = next((rs for rs in rss if provider._release_of(rs, env).id == to.id), None)
        if target is None:
            raise ProviderError(
                f"release {to.id} is no longer kept on the cluster (only the last "
                f"{env.settings.revision_history} revisions are)", where=kube.where,
                hint="deploy its image again instead")
        current = ro.current_replicaset(d, rss)
        with provider._stage(emit, env, "secret", "restore the release's secret"):
            provider._check_secret(env, target)
        with provider._stage(emit, env, "rollback",
                         f"undo to revision {ro.revision(target)} (release {to.id})"):
            provider._undo(env, ro.revision(target), f"cockpit rollback to release {to.id}")
        release = provider._release_of(target, env)
        undo_to = ro.revision(current) if current is not None else 0
        # after the undo, `current`'s revision number is unchanged: undo goes back to it
        provider._gate_or_undo(env, release, emit, action="rollback", undo_to=undo_to)
        release.status = "healthy"
        if "schema_db" in to.meta or release.meta.get("schema_db"):
            # the database keeps the head it had (a rollback undoes no migration): say so on
            # the revision, so the next rollback from any machine compares against it
            from cockpit.providers.kubernetes import schema as schema_k8s

            schema_k8s.record(provider, env, to.id,
                              {m.SCHEMA_DB_ANNOTATION: to.meta.get("schema_db")})
            release.meta.pop("schema_db", None)
            if to.meta.get("schema_db"):
                release.meta["schema_db"] = to.meta["schema_db"]
        return release


def _check_secret(provider, env: Environment, rs: dict[str, Any]) -> None:
    kube = provider.kube(env)
    for c in rs["spec"]["template"]["spec"].get("containers") or []:
        for src in c.get("envFrom") or []:
            ref = (src.get("secretRef") or {}).get("name")
            if ref and kube.get(f"read secret {ref}", kube.core.read_namespaced_secret, ref,
                                kube.namespace) is None:
                raise ProviderError(
                    f"the secret {ref} that release used is gone; its values cannot be "
                    "restored", where=kube.where,
                    hint="deploy the release's image again with the current secrets")


def _prune_secrets(provider, env: Environment) -> None:
    """Delete per-release Secrets no kept ReplicaSet refers to any more."""
    kube = provider.kube(env)
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


def logs(provider, env: Environment, *, follow: bool, since: str | None = None,
         tail: int | None = None, stop: Any = None) -> Iterator[LogLine]:
    """`stop` (a threading.Event) ends a follow even while no line arrives: the readers'
    streams and the pod watch are closed then."""
    from cockpit.providers.kubernetes.logs import LogFollower, parse_since

    try:
        since_seconds = parse_since(since)
    except ValueError as exc:
        raise ProviderError(str(exc)) from None
    follower = LogFollower(provider.kube(env), f"app={env.app.name},env={env.name}", env.name,
                           follow=follow, since_seconds=since_seconds,
                           tail=tail if tail is not None else (100 if follow else None),
                           cancel=stop)
    return iter(follower)


def set_secrets(provider, env: Environment, secrets: Mapping[str, str]) -> None:
    """Nothing to push now: values reach the cluster with the next deploy.

    Each release gets its own immutable Secret built from the keyring at deploy time, so a
    changed value goes through a new release and its gate, and a rollback brings back the
    values the old release ran with. Editing the running release's Secret in place would
    change what runs without a release or a gate.
    """
    return None


def lock_store(provider, env: Environment):
    """The deploy lock: the environment's Lease, timed by the API server's clock
    (`providers/kubernetes/lease.py`); the namespace is created before a first lease."""
    from cockpit.providers.kubernetes.lease import LeaseStore

    kube = provider.kube(env)

    def ensure_namespace() -> None:
        if not kube.namespace_exists():
            provider.setup(env, lambda _e: None)

    return LeaseStore(kube, env, before_create=ensure_namespace)


def lock_info(provider, env: Environment) -> LockInfo | None:
    """The Lease while it is live by the API server's clock; None when free, expired or
    unreadable (live state must not fail on the lock)."""
    from cockpit.providers.kubernetes.kube import ApiFailure

    try:
        held = provider.lock_store(env).read()
    except ApiFailure:
        return None
    return held.info() if held is not None and not held.expired else None


@contextmanager
def lock(provider, env: Environment, command: str, emit: Emit | None = None
         ) -> Iterator[LockInfo]:
    """Hold the environment's Lease for the block (re-entered when the pipeline holds it),
    renewed every third of `lock_ttl`. Raises LockHeld naming the holder."""
    from cockpit.lock import hold

    with hold(provider.lock_store(env), env=env.name, command=command,
              emit=emit or (lambda _e: None), steps=False) as held:
        yield held.held.info() if held.held is not None else None  # type: ignore[misc]


def reconcile(provider, env: Environment, journal: list[dict[str, Any]], emit: Emit) -> str:
    """An interrupted deploy: keep it if its rollout is healthy, else undo it."""
    kube = provider.kube(env)
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
    release = provider._release_of(cur, env)
    if release.status in ("healthy", "failed"):
        return f"release {release.id} already {release.status} (revision {ro.revision(cur)})"
    try:  # the same gate a deploy runs: rollout status, pod problems, health
        rs = provider._gate(env, release, emit)
    except _GateFailure as failure:
        reason = failure.reason
        provider._mark(env, failure.rs or cur, "failed", reason)
        back = provider._undo(env, 0, f"cockpit reconcile: {reason}")
        if back is None:
            return f"release {release.id} is unhealthy ({reason}) and has no earlier revision"
        provider._wait_rollout(env, env.gate.deadline)
        return (f"release {release.id} was unhealthy ({reason}); rolled back to release "
                f"{provider._release_of(back, env).id}")
    provider._mark(env, rs, "passed")
    return f"release {release.id} finished rolling out and answers; kept"


def build(provider, env: Environment, emit: Emit) -> tuple[str, str]:
    """Build with the docker SDK, push to `image_repository`: (repo@digest, digest)."""
    from cockpit.providers.kubernetes.build import build_and_push

    repo = env.settings.image_repository
    if not repo:
        raise ProviderError(
            "a Kubernetes deploy needs an image in a registry the cluster can pull from",
            hint="set image_repository = \"registry.example.com/app\" in the environment")
    return build_and_push(provider.ctx.config, repo, emit, env_name=env.name)
