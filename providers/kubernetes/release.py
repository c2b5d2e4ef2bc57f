"""The release phase on Kubernetes: `[app] release_command` as a Job, once per release.

After the image is pushed (and the release's Secret applied) and before the Deployment is
applied, cockpit server-side-applies the Job `<app>-<env>-release-<release id>`
(`manifests.release_job`: the new image, the release's Secret and env, `sh -c <command>`,
backoffLimit 0, activeDeadlineSeconds from `release_timeout`, default 600) and reads it until
the Job controller writes a terminal condition (`Complete` or `Failed`, the conditions of
batch/v1 JobStatus). Its pod's output becomes LogLines (source "release"). On `Failed` the
deploy stops with the pod's last log lines and its container's exit status (or the Job's
reason, e.g. DeadlineExceeded): nothing else is applied, the serving ReplicaSet is untouched.

A re-run for the same release reuses a Job that already completed (the command ran once); a
failed Job of the same release is deleted and run again; a running one is waited for.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cockpit.providers.kubernetes import manifests as m

from cockpit.events import Emit, LogLine, StepScope, StepSkipped
from cockpit.redaction import redact
from cockpit.release_phase import RELEASE_TAIL, STEP, failure

if TYPE_CHECKING:
    from cockpit.providers.kubernetes.kube import Kube

    from cockpit.config import Environment
    from cockpit.models import Release

APPLY = "application/apply-patch+yaml"
GRACE = 30.0  # seconds cockpit waits past activeDeadlineSeconds for the controller's verdict


def condition(job: dict[str, Any] | None) -> str | None:
    """"Complete", "Failed" or None (still running): the Job's terminal condition with
    status "True" (batch/v1 JobStatus.conditions)."""
    for cond in ((job or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return cond["type"]
    return None


def _reason(job: dict[str, Any]) -> str:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Failed":
            return f"{cond.get('reason') or 'Failed'}: {cond.get('message') or ''}".strip(": ")
    return "Failed"


def run(kube: Kube, env: Environment, release: Release, emit: Emit, *, with_secret: bool,
        previous_id: str | None, poll: float = 0.5) -> None:
    """Run the release command of `release` as a Job and wait for its verdict (`poll`
    seconds between reads). Returns on Complete; raises ReleaseCommandFailed (exit 1, with
    `logs` and `status`) on Failed or when no verdict comes within activeDeadlineSeconds +
    GRACE; ApiFailure when the API refuses (e.g. 403 on batch/jobs)."""
    from kubernetes import client

    batch = client.BatchV1Api(kube.api)
    ns = kube.namespace
    name = m.release_job_name(env, release.id)
    deadline_s = int(env.settings.release_timeout)
    existing = kube.get(f"read job {name}", batch.read_namespaced_job, name, ns)
    if condition(existing) == "Complete":
        emit(StepSkipped(step=STEP, reason=f"job {name} already completed for release "
                                           f"{release.id}: not run again", env=env.name))
        return
    with StepScope(emit, STEP, f"release command: {env.release_command} (job {name})",
                   env.name) as scope:
        if condition(existing) == "Failed":  # an earlier try of this release: run it again
            kube.call(f"delete job {name}", batch.delete_namespaced_job, name, ns,
                      propagation_policy="Background")
            _gone(kube, batch, name, poll)
            existing = None
        if existing is None:
            job = m.release_job(env, release, with_secret=with_secret, deadline=deadline_s)
            kube.call(f"apply job {name}", batch.patch_namespaced_job, name, ns, job,
                      field_manager=m.FIELD_MANAGER, force=True, _content_type=APPLY)
        verdict, job, pod, lines = wait(kube, name, deadline_s, poll)
        for line in lines:
            emit(LogLine(source="release", line=line, env=env.name))
        if verdict == "Complete":
            scope.detail = (f"job {name} complete, exit 0"
                            + (f", {len(lines)} line(s) of output" if lines else ""))
            return
        status = _exit_status(pod)
        why = (_reason(job) if job else "vanished") if verdict else \
            f"gave no verdict within {deadline_s + GRACE:.0f} s"
        raise failure(release.id, status, lines, previous_id,
                      where=f"{kube.where} job {name} step {STEP}",
                      why=f"failed ({why})" if status is None else None)


def wait(kube: Kube, name: str, deadline_s: int, poll: float, tail: int = RELEASE_TAIL,
         container: str = m.RELEASE_CONTAINER
         ) -> tuple[str | None, dict[str, Any] | None, dict[str, Any] | None, list[str]]:
    """Read the Job `name` every `poll` seconds until its terminal condition or
    `deadline_s` + GRACE seconds: (verdict "Complete"/"Failed"/None, the Job as last read,
    its newest pod, the last `tail` log lines of that pod's `container`, redacted). Raises
    ApiFailure."""
    from kubernetes import client

    batch = client.BatchV1Api(kube.api)
    give_up = time.monotonic() + deadline_s + GRACE
    while True:
        job = kube.get(f"read job {name}", batch.read_namespaced_job, name, kube.namespace)
        verdict = condition(job)
        if verdict is not None or time.monotonic() > give_up:
            break
        time.sleep(poll)
    pod, lines = _output(kube, name, tail, container)
    return verdict, job, pod, lines


def exit_status(pod: dict[str, Any] | None) -> int | None:
    """The exit code of the pod's terminated container (None while it has not ended)."""
    return _exit_status(pod)


def delete(kube: Kube, name: str, poll: float = 0.5) -> None:
    """Delete the Job `name` (its pods by background garbage collection) and wait up to 60 s
    until it is gone. Raises ApiFailure (a missing Job is not an error)."""
    from kubernetes import client

    batch = client.BatchV1Api(kube.api)
    kube.get(f"delete job {name}", batch.delete_namespaced_job, name, kube.namespace,
             propagation_policy="Background")
    _gone(kube, batch, name, poll)


def _gone(kube: Kube, batch: Any, name: str, poll: float, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if kube.get(f"read job {name}", batch.read_namespaced_job, name,
                    kube.namespace) is None:
            return
        time.sleep(poll)


def _output(kube: Kube, job_name: str, tail: int = RELEASE_TAIL,
            container: str = m.RELEASE_CONTAINER) -> tuple[dict[str, Any] | None, list[str]]:
    """The Job's (newest) pod and its last `tail` log lines, redacted."""
    from cockpit.providers.kubernetes.kube import ApiFailure

    pods = kube.pods(f"batch.kubernetes.io/job-name={job_name}")
    if not pods:
        return None, []
    pod = max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")
    try:
        text = kube.call(f"read log of pod {pod['metadata']['name']}",
                         kube.core.read_namespaced_pod_log, pod["metadata"]["name"],
                         kube.namespace, container=container, tail_lines=tail, raw=True)
    except ApiFailure as exc:
        return pod, [f"(no output: {exc.what})"]
    return pod, [redact(line) for line in text.splitlines()][-tail:]


def _exit_status(pod: dict[str, Any] | None) -> int | None:
    for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated") or {}
        if "exitCode" in term:
            return int(term["exitCode"])
    return None


def prune(kube: Kube, env: Environment, keep: int) -> list[str]:
    """Delete the environment's finished release Jobs (and, by garbage collection, their
    pods) beyond the newest `keep` (revision_history: the releases a rollback can reach).
    Best effort: an API error leaves them for the next deploy. Returns the deleted names."""
    from cockpit.providers.kubernetes.kube import ApiFailure
    from kubernetes import client

    batch = client.BatchV1Api(kube.api)
    selector = (f"cockpit.dev/app={m.label_value(env.app.name)},"
                f"cockpit.dev/env={m.label_value(env.name)},{m.ROLE_LABEL}=release-command")
    try:
        jobs = kube.call("list release jobs", batch.list_namespaced_job, kube.namespace,
                         label_selector=selector)["items"]
        jobs.sort(key=lambda j: (j["metadata"].get("creationTimestamp") or "",
                                j["metadata"]["name"]), reverse=True)  # ids sort by time
        gone = []
        for job in jobs[keep:]:
            if condition(job) is None:
                continue  # still running: never cut short
            name = job["metadata"]["name"]
            kube.get(f"delete job {name}", batch.delete_namespaced_job, name, kube.namespace,
                     propagation_policy="Background")
            gone.append(name)
        return gone
    except ApiFailure:
        return []
