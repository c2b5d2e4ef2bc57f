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
CreateContainerConfigError ends the wait at once), follows its log line by line until the
container has terminated, however long it runs: a log stream that ends or breaks first (a proxy
or load balancer closing an idle stream, commonly after 60 s, while a backfill prints nothing)
is reopened with sinceSeconds (the log API has no sinceTime) and the overlap dropped by
timestamp, as `logs.LogFollower` does. Then it reads the container's exit code and deletes the
Job with propagationPolicy Background (its pod goes by garbage collection); on Ctrl-C or an
error the Job is deleted too, which stops the command. There is no terminal through a Job:
`-i` is refused, naming `kubectl exec -it`.
"""

from __future__ import annotations

import math
import secrets as _random
import shlex
import time
from collections import Counter
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
# (connect, read) seconds of a log stream: a stream silent for longer (a half-dead connection
# included) is reopened, so cockpit never hangs on a connection that will not deliver the end
STREAM_TIMEOUT = (10, 300)


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
        if pod is not None:
            pod = _follow_to_end(kube, batch, name, pod["metadata"]["name"], write, poll)
        job = kube.get(f"read job {name}", batch.read_namespaced_job, name, kube.namespace)
        verdict = jobs.condition(job)
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


def _follow_to_end(kube: Kube, batch: Any, name: str, pod_name: str,
                   write: Callable[[str, bool], None], poll: float) -> dict[str, Any] | None:
    """Pass each log line of the Job `name`'s pod `pod_name` to `write(line, False)` until its
    container has terminated, the Job has a terminal condition or the pod is gone, with no
    time limit. The log is followed; a stream that ends or breaks before that (an idle stream
    closed by a proxy, a read timeout, a reset) is reopened every `poll` seconds with
    sinceSeconds reaching back past the last line seen, and lines at or before it (by their
    timestamp, counting repeats of the same line) are dropped. Once the end is seen, the log
    is read one last time. Returns the pod as last read (None when gone). Raises ApiFailure
    when the pod or the Job cannot be read."""
    from cockpit.providers.kubernetes.logs import split_timestamp

    last: tuple[int, int] | None = None  # timestamp of the newest line written
    seen: Counter[str] = Counter()  # raw lines written at `last`
    while True:
        pod = kube.get(f"read pod {pod_name}", kube.core.read_namespaced_pod, pod_name,
                       kube.namespace)
        if pod is None:
            return None
        ended = jobs.exit_status(pod) is not None or jobs.condition(
            kube.get(f"read job {name}", batch.read_namespaced_job, name,
                     kube.namespace)) is not None
        kwargs: dict[str, Any] = {"container": CONTAINER, "timestamps": True,
                                  "follow": not ended, "_request_timeout": STREAM_TIMEOUT}
        if last is not None:
            kwargs["since_seconds"] = max(1, math.ceil(time.time() - last[0]) + 1)
        again: Counter[str] = Counter()  # raw lines at `last` met in this stream
        for raw in _stream(kube, pod_name, kwargs):
            stamp, text = split_timestamp(raw)
            if stamp is not None and last is not None and stamp <= last:
                if stamp < last:
                    continue
                again[raw] += 1
                if again[raw] <= seen[raw]:
                    continue  # written from an earlier stream
            elif stamp is not None:
                last, seen, again = stamp, Counter(), Counter({raw: 1})
            if stamp is not None:
                seen[raw] += 1
            write(text, False)
        if ended:
            return pod
        time.sleep(poll)


def _stream(kube: Kube, pod: str, kwargs: dict[str, Any]):
    """The raw lines of one pod-log request (`kwargs`: read_namespaced_pod_log's options);
    a request refused or a stream broken off ends it quietly (the caller reopens it)."""
    from cockpit.providers.kubernetes.logs import _lines, _shutdown

    try:
        resp = kube.core.read_namespaced_pod_log(pod, kube.namespace, _preload_content=False,
                                                 **kwargs)
    except Exception:  # noqa: BLE001 - refused or unreachable: the caller tries again
        return
    try:
        yield from _lines(resp)
    except Exception:  # noqa: BLE001 - a dropped stream, a read timeout: reopened
        return
    finally:
        _shutdown(resp)
