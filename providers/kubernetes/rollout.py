"""kubectl's rollout logic, copied as pure functions over API dicts.

- `rollout_status`: `DeploymentStatusViewer.Status` (kubectl pkg/polymorphichelpers/
  rollout_status.go), with None counts read as 0 (zero counts are omitted on the wire).
- `undo_patch`: `DeploymentRollbacker.Rollback` (rollback.go): pick the revision, refuse a
  paused Deployment, skip equal templates, drop `pod-template-hash`, merge annotations, and
  answer the JSON patch to send.
- `pod_problems`: what the gate adds on top: crash loops and restarts on the new ReplicaSet's pods.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from cockpit.errors import ProviderError

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
# kubectl keeps the Deployment's own values of these; everything else comes from the ReplicaSet.
ANNOTATIONS_TO_SKIP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
})
# ReplicaSet-only bookkeeping of cockpit's gate: never copied onto the Deployment by an undo.
# annotations that describe one ReplicaSet (its gate verdict, its release's schema head): an undo
# must not copy them onto the Deployment, whence the controller would copy them to new revisions
RS_ONLY_PREFIXES = ("cockpit.dev/gate", "cockpit.dev/schema")
BAD_WAITING = frozenset({
    "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "ErrImagePull",
    "ImagePullBackOff", "InvalidImageName", "RunContainerError", "ErrImageNeverPull",
})


@dataclass
class Status:
    state: str  # waiting | done | failed
    message: str


def _n(value: Any) -> int:
    return int(value or 0)


def rollout_status(d: dict[str, Any]) -> Status:
    name = d["metadata"]["name"]
    meta, spec, status = d["metadata"], d.get("spec") or {}, d.get("status") or {}
    if _n(meta.get("generation")) > _n(status.get("observedGeneration")):
        return Status("waiting", "Waiting for deployment spec update to be observed...")
    progressing = next((c for c in status.get("conditions") or []
                        if c.get("type") == "Progressing"), None)
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Status("failed", f"deployment {name!r} exceeded its progress deadline")
    wanted = spec.get("replicas")
    updated, replicas = _n(status.get("updatedReplicas")), _n(status.get("replicas"))
    available = _n(status.get("availableReplicas"))
    if wanted is not None and updated < wanted:
        return Status("waiting", f"Waiting for deployment {name!r} rollout to finish: {updated} "
                                 f"out of {wanted} new replicas have been updated...")
    if replicas > updated:
        return Status("waiting", f"Waiting for deployment {name!r} rollout to finish: "
                                 f"{replicas - updated} old replicas are pending termination...")
    if available < updated:
        return Status("waiting", f"Waiting for deployment {name!r} rollout to finish: "
                                 f"{available} of {updated} updated replicas are available...")
    return Status("done", f"deployment {name!r} successfully rolled out")


def revision(obj: dict[str, Any]) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, -1))
    except (TypeError, ValueError):
        return -1


def label_selector(d: dict[str, Any]) -> str:
    """A label selector string for `spec.selector`, with matchExpressions too."""
    sel = d["spec"]["selector"]
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def controlled_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    uid = owner["metadata"].get("uid")
    return any(ref.get("controller") and ref.get("uid") == uid
               for ref in obj["metadata"].get("ownerReferences") or [])


def owned_replicasets(d: dict[str, Any], replicasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Deployment's ReplicaSets, newest revision first."""
    return sorted((rs for rs in replicasets if controlled_by(rs, d)), key=revision, reverse=True)


def current_replicaset(d: dict[str, Any], replicasets: list[dict[str, Any]]
                       ) -> dict[str, Any] | None:
    rev = revision(d)
    return next((rs for rs in owned_replicasets(d, replicasets) if revision(rs) == rev), None)


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(template)
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return t


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def undo_patch(d: dict[str, Any], replicasets: list[dict[str, Any]], to_revision: int = 0,
               change_cause: str | None = None) -> tuple[list[dict[str, Any]] | None,
                                                         dict[str, Any]]:
    """kubectl rollout undo: the JSON patch to send (None: already at that template) and the
    ReplicaSet it restores."""
    name = d["metadata"]["name"]
    owned = owned_replicasets(d, replicasets)
    if to_revision == 0:
        if len(owned) < 2:
            raise ProviderError(f"no rollout history found for deployment {name!r}",
                                hint="deploy at least twice before rolling back")
        target = owned[1]  # the second-highest revision
    else:
        target = next((rs for rs in owned if revision(rs) == to_revision), None)
        if target is None:
            raise ProviderError(f"unable to find specified revision {to_revision} in history "
                                f"of deployment {name!r}",
                                hint="older revisions are dropped after revisionHistoryLimit")
    if (d.get("spec") or {}).get("paused"):
        raise ProviderError(f"you cannot rollback a paused deployment; resume it first with "
                            f"'kubectl rollout resume deployment/{name}' and try again")
    template = _without_hash(target["spec"]["template"])
    if _canonical(template) == _canonical(_without_hash(d["spec"]["template"])):
        return None, target
    dep_ann = d["metadata"].get("annotations") or {}
    annotations = {k: v for k, v in dep_ann.items() if k in ANNOTATIONS_TO_SKIP}
    for k, v in (target["metadata"].get("annotations") or {}).items():
        if k not in ANNOTATIONS_TO_SKIP and not k.startswith(RS_ONLY_PREFIXES):
            annotations[k] = v
    if change_cause:
        annotations["kubernetes.io/change-cause"] = change_cause
    return ([{"op": "replace", "path": "/spec/template", "value": template},
             {"op": "replace", "path": "/metadata/annotations", "value": annotations}], target)


def pod_problems(pods: list[dict[str, Any]], max_restarts: int = 0) -> list[str]:
    """Crash loops, config errors and restarts of the new ReplicaSet's pods (one line each)."""
    problems = []
    for pod in pods:
        name = pod["metadata"]["name"]
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            last = (cs.get("lastState") or {}).get("terminated") or {}
            restarts = _n(cs.get("restartCount"))
            if reason in BAD_WAITING:
                detail = waiting.get("message") or ""
                if last:
                    detail = f"last exit code {last.get('exitCode')} ({last.get('reason')})"
                problems.append(f"pod {name}: {reason}" + (f": {detail}" if detail else ""))
            elif restarts > max_restarts:
                problems.append(f"pod {name}: restarted {restarts} time(s)"
                                + (f", last exit code {last.get('exitCode')}" if last else ""))
    return problems


def pod_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


# ---------------------------------------------------------------------- the gate


class GateFailure(Exception):
    """A gate verdict against the release: `reason` (one line), the ReplicaSet gated (None when
    it was never seen), the pods read last (for their log lines), `samples` and `code` (the
    cockpit.gate reason: deadline, 5xx, exited, restarted; "rollout" for kubectl's verdicts)."""

    def __init__(self, reason: str, rs: dict[str, Any] | None,
                 pods: list[dict[str, Any]] | None = None,
                 samples: list[Any] | None = None, code: str = "rollout") -> None:
        super().__init__(reason)
        self.reason = reason
        self.rs = rs
        self.pods = pods
        self.samples = list(samples or [])
        self.code = code


def gate(kube: Any, env: Any, release: Any, emit: Any, health: Any) -> dict[str, Any]:
    """The core gate (cockpit.gate) on a Deployment's rollout: one sample reads the Deployment
    (kubectl's rollout status), its current ReplicaSet and that ReplicaSet's pods (crash loops
    and restarts: fail fast), then, once the rollout is done, one health answer through the
    Service (`health(timeout)` -> HealthSample; emitted). Passes after `gate.count` 2xx in a
    row; fails fast on a 5xx streak after `gate.start_period`; fails at `gate.deadline`.

    Returns the gated ReplicaSet. Raises GateFailure on a verdict; an API error (ApiFailure)
    while sampling propagates: it is not a verdict on the release."""
    from cockpit.providers.kubernetes import manifests as m

    from cockpit import gate as core
    from cockpit.events import Message

    name = m.app_name(env)
    label = m.label_value(release.id)
    seen: dict[str, Any] = {"rs": None, "pods": None, "msg": "", "status": None}

    def sample(timeout: float) -> core.Sample:
        d = kube.deployment(name)
        if d is None:
            raise GateFailure(f"deployment {name} disappeared during the rollout", seen["rs"])
        status = rollout_status(d)
        seen["status"] = status
        observed = _n(d["metadata"].get("generation")) <= _n(
            (d.get("status") or {}).get("observedGeneration"))
        cur = None
        if observed:
            rs = seen["rs"]
            if rs is not None and revision(rs) == revision(d):
                cur = rs  # known: only the Deployment and the pods need reading again
            else:
                cur = current_replicaset(d, kube.replicasets(label_selector(d)))
        if cur is not None:
            cur_label = ((cur["spec"]["template"].get("metadata") or {}).get("labels")
                         or {}).get("release")
            if cur_label != label:
                raise GateFailure(f"another rollout replaced release {release.id} "
                                  f"(revision {revision(cur)} runs {cur_label})", cur)
            seen["rs"] = cur
            hash_ = (cur["metadata"].get("labels") or {}).get(HASH_LABEL)
            pods = kube.pods(f"{label_selector(d)},{HASH_LABEL}={hash_}")
            seen["pods"] = pods
            problems = pod_problems(pods, env.settings.max_restarts)
            if problems:
                text = "; ".join(problems)
                state = core.EXITED if any(r in text for r in BAD_WAITING) else core.RESTARTED
                return core.Sample(ok=False, state=state, detail=text, error=text)
        if status.state == "failed":
            raise GateFailure(status.message, seen["rs"], seen["pods"])
        if status.state != "done" or seen["rs"] is None:
            if status.message != seen["msg"]:
                emit(Message(status.message, env=env.name))
                seen["msg"] = status.message
            return core.Sample(ok=False, state=core.STARTING, error=status.message)
        answer = health(timeout)
        emit(answer)
        return core.Sample.of(answer)

    policy = core.Policy.of(env.gate, poll=max(0.05, min(env.gate.interval, 1.0)))
    try:
        core.run(sample, policy, what=f"release {release.id}")
    except core.GateError as exc:
        last = exc.samples[-1] if exc.samples else None
        if exc.reason in (core.EXITED, core.RESTARTED):
            reason = last.detail if last is not None else exc.what
        elif exc.reason == core.DEADLINE and (last is None or last.state == core.STARTING):
            status = seen["status"]
            reason = (f"rollout not finished after {env.gate.deadline:g}s: "
                      + (status.message if status else "no rollout status"))
        elif exc.reason == core.DEADLINE:
            reason = (f"health check {env.app.health_path} did not answer 2xx "
                      f"{env.gate.count} times in a row within {env.gate.deadline:g}s "
                      f"(last: {last.status or last.error}); {core.describe(exc.samples)}")
        else:
            reason = (f"health check {env.app.health_path} answered "
                      f"{last.status if last else '5xx'} {env.gate.fail_streak}+ times in a row "
                      "after its "
                      f"{env.gate.start_period:g}s start period; {core.describe(exc.samples)}")
        raise GateFailure(reason, seen["rs"], seen["pods"], exc.samples, exc.reason) from None
    return seen["rs"]
