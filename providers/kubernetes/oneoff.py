"""`cockpit exec ENV -- CMD` on Kubernetes: the command in a one-off Job of the serving release.

The Job (`<app>-<env>-exec-<6 hex>`, label `cockpit.dev/role=exec`) has the shape of the release
command's Job (`manifests.release_job`: cockpit's labels, no `app`/`env` pod labels so the
Service never routes to it, `backoffLimit: 0`, `restartPolicy: Never`) with the serving
ReplicaSet's pod template in it: the app container as it serves (image by digest, plain env,
the release's Secret through envFrom, which also holds the accessories' URLs, resources,
volumes), without probes and ports, the image's entrypoint kept and the command as its `args`
(as `docker run IMAGE CMD...` does on a VPS). No activeDeadlineSeconds: a one-off command may
run as long as it needs; `ttlSecondsAfterFinished` removes a Job cockpit could not delete.

cockpit waits until the pod's container has started (at most `release_timeout` seconds; a
CreateContainerConfigError ends the wait at once), follows its log line by line, then reads
the Job's terminal condition and the container's exit code, and deletes the Job with
propagationPolicy Background (its pod goes by garbage collection) whatever happened, Ctrl-C
included. There is no terminal through a Job: `-i` is refused, naming `kubectl exec -it`.
"""

from __future__ import annotations

import secrets as _random
import shlex
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cockpit.providers.kubernetes import manifests as m
from cockpit.providers.kubernetes import release as jobs
from cockpit.providers.kubernetes import rollout as ro

from cockpit.errors import ProviderError, UsageError

if TYPE_CHECKING:
    from cockpit.providers.kubernetes.kube import Kube

    from cockpit.config import Environment
    from cockpit.models import Release

ROLE = "exec"
CONTAINER = m.RELEASE_CONTAINER  # "release": the one-off Jobs' container (release.wait reads it)
TTL_SECONDS = 3600  # ttlSecondsAfterFinished: the TTL controller's net under our own delete
# waiting reasons that never resolve by themselves (kubelet container states)
STUCK = ("CreateContainerConfigError", "CreateContainerError", "InvalidImageName")
LOG_LIMIT = 100_000  # lines read again when the follow stream broke off early


def job_name(env: Environment) -> str:
    """`<app>-<env>-exec-<6 random hex>`: a fresh RFC 1123 name (≤63 chars) per run."""
    return m.dns_name(f"{env.app.name}-{env.name}-exec-{_random.token_hex(3)}")


def serving(provider, env: Environment) -> tuple[Release, dict[str, Any]]:
    """(the release serving env, its ReplicaSet) from the Deployment's current revision.
    Raises UsageError when there is no Deployment or no current ReplicaSet, ApiFailure."""
    kube = provider.kube(env)
    d = kube.deployment(m.app_name(env))
    rs = None
    if d is not None:
        rs = ro.current_replicaset(d, kube.replicasets(ro.label_selector(d)))
    if rs is None:
        raise UsageError(f"no release serves {env.name}: there is no image to run",
                         hint=f"cockpit deploy {env.name}")
    return provider._release_of(rs, env), rs


def exec_job(env: Environment, release: Release, template: dict[str, Any], argv: list[str],
             name: str) -> dict[str, Any]:
    """The batch/v1 Job running `argv` once in the pod template `template` (a ReplicaSet's
    `spec.template`) of `release`: release_job's metadata, labels and retry policy, the app
    container (named "app", else the first) without probes, ports and lifecycle hooks, its
    `command` (the image's entrypoint unless the template set one) kept and `args` = argv,
    restartPolicy Never, ttlSecondsAfterFinished TTL_SECONDS, no activeDeadlineSeconds."""
    import copy

    job = m.release_job(env, release, with_secret=False, deadline=0, command="", name=name,
                        role=ROLE)
    spec = copy.deepcopy(template.get("spec") or {})
    containers = spec.get("containers") or []
    app = next((c for c in containers if c.get("name") == m.CONTAINER), None) or (
        containers[0] if containers else None)
    if app is None:
        raise ProviderError(f"the pod template of release {release.id} has no container")
    for key in ("readinessProbe", "livenessProbe", "startupProbe", "ports", "lifecycle"):
        app.pop(key, None)
    app["name"] = CONTAINER
    app["args"] = list(argv)
    spec["containers"] = [app]
    spec["restartPolicy"] = "Never"
    job["spec"].pop("activeDeadlineSeconds", None)
    job["spec"]["ttlSecondsAfterFinished"] = TTL_SECONDS
    job["spec"]["template"]["spec"] = spec
    return job


def refuse_interactive(env: Environment, argv: list[str]) -> None:
    """UsageError (exit 2): a Job gives no terminal nor stdin; names `kubectl exec -it`."""
    raise UsageError("cockpit exec -i is not on kubernetes: a one-off Job has no terminal "
                     "and no stdin",
                     hint=f"kubectl exec -it -n {env.settings.namespace} "
                          f"deploy/{m.app_name(env)} -- {shlex.join(argv)}")


def run(provider, env: Environment, argv: list[str], write: Callable[[str, bool], None], *,
        interactive: bool = False) -> tuple[str, int]:
    """Run `argv` in a one-off Job of the serving release (`exec_job`), pass each log line to
    `write(line, False)` as it comes (the pod's log merges stdout and stderr), and delete the
    Job afterwards. Returns (release id, container exit code). Raises UsageError (`-i`, nothing
    serves), ProviderError (the pod did not start within `release_timeout` seconds or the Job
    failed without an exit code; the waiting reason named), ApiFailure."""
    from kubernetes import client

    if interactive:
        refuse_interactive(env, argv)
    release, rs = serving(provider, env)
    kube = provider.kube(env)
    batch = client.BatchV1Api(kube.api)
    name = job_name(env)
    poll = max(0.05, min(env.gate.interval, 1.0))
    job = exec_job(env, release, rs["spec"]["template"], argv, name)
    kube.call(f"apply job {name}", batch.patch_namespaced_job, name, kube.namespace, job,
              field_manager=m.FIELD_MANAGER, force=True, _content_type=jobs.APPLY)
    try:
        pod = _started(kube, batch, name, float(env.settings.release_timeout), poll)
        written = 0
        broke = False
        if pod is not None:
            try:
                for line in _follow(kube, pod["metadata"]["name"]):
                    write(line, False)
                    written += 1
            except Exception:  # noqa: BLE001 - a dropped stream: the rest is read below
                broke = True
        verdict, job, pod, lines = jobs.wait(kube, name, 0, poll,
                                             tail=LOG_LIMIT if broke else 1)
        if broke:
            for line in lines[written:]:
                write(line, False)
        status = jobs.exit_status(pod)
        if status is None:
            why = jobs._reason(job) if job and verdict == "Failed" else "gave no exit code"
            raise ProviderError(f"the one-off Job {name} ended without an exit code ({why})",
                                where=f"{kube.where} job {name} step exec")
        return release.id, status
    finally:
        try:
            kube.get(f"delete job {name}", batch.delete_namespaced_job, name, kube.namespace,
                     propagation_policy="Background")
        except ProviderError:
            pass  # ttlSecondsAfterFinished removes it


def _started(kube: Kube, batch: Any, name: str, timeout: float, poll: float
             ) -> dict[str, Any] | None:
    """The Job's pod once its container has started (or ended); None when the Job failed
    before any pod ran. Raises ProviderError on a stuck waiting reason or after `timeout`."""
    from cockpit.providers.kubernetes.logs import _has_started

    give_up = time.monotonic() + timeout
    reason = "no pod yet"
    while True:
        pods = kube.pods(f"batch.kubernetes.io/job-name={name}")
        pod = max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "",
                  default=None)
        if pod is not None:
            if _has_started(pod):
                return pod
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (cs.get("state") or {}).get("waiting") or {}
                if waiting.get("reason"):
                    reason = f"{waiting['reason']}: {waiting.get('message') or ''}".strip(": ")
                    if waiting["reason"] in STUCK:
                        raise ProviderError(f"the one-off Job {name} cannot start ({reason})",
                                            where=f"{kube.where} job {name} step exec")
        if jobs.condition(kube.get(f"read job {name}", batch.read_namespaced_job, name,
                                   kube.namespace)) is not None:
            return pod
        if time.monotonic() > give_up:
            raise ProviderError(f"the one-off Job {name} did not start within {timeout:.0f} s "
                                f"(release_timeout; {reason})",
                                where=f"{kube.where} job {name} step exec")
        time.sleep(poll)


def _follow(kube: Kube, pod: str):
    """The pod's log lines as they come (follow), until its container ends."""
    from cockpit.providers.kubernetes.logs import _lines, _shutdown

    resp = kube.core.read_namespaced_pod_log(pod, kube.namespace, container=CONTAINER,
                                             follow=True, _preload_content=False)
    try:
        yield from _lines(resp)
    finally:
        _shutdown(resp)
