"""An HTTP-level emulator of the Kubernetes API paths cockpit's provider uses, plus a tiny cluster.

No real API server can run on our machines, so the tests talk to this one: the real `kubernetes`
Python client, configured by a real kubeconfig file, sends real HTTP requests to a threaded
`http.server` on 127.0.0.1. Nothing is patched in Python.

What it serves (the subset the provider needs, with the real wire formats):
- get / list / create / replace / delete of namespaces, deployments, replicasets, pods, services,
  ingresses, secrets, events, leases and cert-manager Certificates;
- server-side apply (`application/apply-patch+yaml`, field manager + force), JSON patch,
  JSON merge patch and (approximated by merge patch) strategic merge patch;
- watch (`?watch=true`) as a chunked stream of JSON lines, with resourceVersion replay;
- pod logs (`/log`, `follow`, `timestamps`, `tailLines`, `sinceSeconds`, `previous`) as a
  chunked stream;
- SelfSubjectAccessReview, and 403s for denied verbs; bearer-token authentication;
- faults a test turns on: `inject(...)` (429 with Retry-After, 5xx, 401 on matching requests)
  and `stray_5xx(every=N)` (stray 500/502/503 answers);
- the API server's service proxy (`/services/<name>:<port>/proxy/<path>`), answered by the
  emulated application of a ready pod behind the Service (how the health gate reaches the app).

A controller thread moves the cluster the way the real controllers do, in small time steps:
the Deployment controller (ReplicaSets per pod template with `pod-template-hash`, revision
annotations and revision reuse on undo, rolling update with maxSurge/maxUnavailable,
observedGeneration, updated/ready/available replicas, Progressing/Available conditions with
ProgressDeadlineExceeded, revisionHistoryLimit), the ReplicaSet controller (pods), the
StatefulSet controller (pods `<name>-<ordinal>` created in order, PersistentVolumeClaims
`<template>-<name>-<ordinal>` from volumeClaimTemplates that outlive the StatefulSet, rolling
update on a template change, current/update revisions and readyReplicas), a "kubelet"
(pods start, get ready when the readiness probe path answers 2xx, crash and back off, log lines,
events such as BackOff and Unhealthy), garbage collection by owner, and cert-manager's
ingress-shim (a Certificate per Ingress TLS entry, becoming Ready).

What a pod's application does is decided by its image: `emulator.image(ref, **behaviour)`
registers a `Behaviour` for an image reference or digest (unknown images are healthy apps).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

# (group/version, plural) -> (kind, namespaced)
RESOURCES: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "namespaces"): ("Namespace", False),
    ("v1", "pods"): ("Pod", True),
    ("v1", "services"): ("Service", True),
    ("v1", "secrets"): ("Secret", True),
    ("v1", "events"): ("Event", True),
    ("v1", "configmaps"): ("ConfigMap", True),
    ("apps/v1", "deployments"): ("Deployment", True),
    ("apps/v1", "replicasets"): ("ReplicaSet", True),
    ("networking.k8s.io/v1", "ingresses"): ("Ingress", True),
    ("coordination.k8s.io/v1", "leases"): ("Lease", True),
    ("batch/v1", "jobs"): ("Job", True),
    ("apps/v1", "statefulsets"): ("StatefulSet", True),
    ("v1", "persistentvolumeclaims"): ("PersistentVolumeClaim", True),
    ("batch/v1", "cronjobs"): ("CronJob", True),
    ("cert-manager.io/v1", "certificates"): ("Certificate", True),
    ("v1", "serviceaccounts"): ("ServiceAccount", True),
    ("v1", "resourcequotas"): ("ResourceQuota", True),
    ("v1", "limitranges"): ("LimitRange", True),
    ("rbac.authorization.k8s.io/v1", "roles"): ("Role", True),
    ("rbac.authorization.k8s.io/v1", "rolebindings"): ("RoleBinding", True),
    ("networking.k8s.io/v1", "networkpolicies"): ("NetworkPolicy", True),
    ("autoscaling/v2", "horizontalpodautoscalers"): ("HorizontalPodAutoscaler", True),
    ("policy/v1", "poddisruptionbudgets"): ("PodDisruptionBudget", True),
    ("apps/v1", "daemonsets"): ("DaemonSet", True),
}
HAS_GENERATION = {"deployments", "replicasets", "ingresses", "certificates", "statefulsets"}
# the StatefulSet spec fields an update may change (apps/v1 validation, ValidateStatefulSetUpdate)
STS_MUTABLE = {"replicas", "ordinals", "template", "updateStrategy",
               "persistentVolumeClaimRetentionPolicy", "minReadySeconds"}
# kinds whose server-side apply the emulator checks against the OpenAPI schema when the request
# asks fieldValidation=Strict (kubernetes-validate's copy of the API's schemas)
STRICT_KINDS = {"statefulsets", "services", "secrets", "cronjobs", "persistentvolumeclaims"}
# a CronJob's schedule: five cron fields (or a @macro), as the API's validation parses it
CRON_FIELD = r"(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?)*"
CRON = re.compile(rf"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
                  rf"{CRON_FIELD}( {CRON_FIELD}){{4}})$")
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
NODE = "emulator-node"


def now_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def nano_iso(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int((ts % 1) * 1e9):09d}Z"


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict[str, Any]:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}


@dataclass
class Behaviour:
    """What the application inside an image does (decided per image, like a real image would)."""

    health_status: int = 200  # answer of every HTTP path (probes and the service proxy)
    proxy_status: int | None = None  # what users get through the Service, if not health_status
    pull_error: str | None = None  # the registry refuses the image: ErrImagePull/ImagePullBackOff
    crash: bool = False  # the process exits shortly after it starts, every time
    crash_after: float = 0.25
    backoff: float = 0.3  # CrashLoopBackOff wait before the next start
    start_delay: float = 0.05
    ready_delay: float = 0.1
    liveness_kill_after: float = 0.8  # failing liveness probe -> container killed after this
    logs: list[str] = field(default_factory=lambda: ["listening on 0.0.0.0:{port}"])
    crash_logs: list[str] = field(
        default_factory=lambda: ["Traceback (most recent call last):",
                                 "RuntimeError: boom: cannot start"]
    )
    log_env: list[str] = field(default_factory=list)  # env vars the (leaky) app prints
    log_every: float | None = None  # a periodic "tick n" line while running
    # a Job's pod of this image (a release command) prints these, then exits with release_exit
    release_exit: int = 0
    release_logs: list[str] = field(default_factory=lambda: ["running the release command"])
    release_seconds: float = 0.1  # how long the release command runs
    # seconds between a one-off command's output lines (0: all printed as it starts); a long,
    # mostly quiet command (a backfill) prints its lines over release_seconds
    release_line_every: float = 0.0
    # other one-off commands the image answers (a Job pod whose `sh -c` text contains the key
    # prints the lines and exits with the code instead): e.g. the schema probe
    # {"alembic current": (0, ["abc123 (head)", MARK, "<base> -> abc123 (head), init"])}
    commands: dict[str, tuple[int, list[str]]] = field(default_factory=dict)

    def one_off(self, argv: list[str] | None) -> tuple[int, list[str]]:
        """(exit code, output lines) of a Job pod running `argv` (its container's `command`
        then `args`, as the kubelet runs them) in this image."""
        text = " ".join(argv or [])
        for key, answer in self.commands.items():
            if key in text:
                return answer
        return self.release_exit, self.release_logs


@dataclass
class _Container:
    """Kubelet-side runtime of a pod's (single) container; never serialised to the API."""

    created: float
    instance: int = 0  # 1 after the first start
    started_at: float | None = None
    ready_at: float | None = None
    waiting_until: float | None = None
    logs: dict[int, list[tuple[float, str]]] = field(default_factory=dict)
    last_tick_log: float = 0.0
    ticks: int = 0
    probe_failing_since: float | None = None
    last_unhealthy_event: float = 0.0
    gone: bool = False
    script: list[str] = field(default_factory=list)  # a one-off command's output lines
    printed: int = 0  # of them, printed so far


class Emulator:
    def __init__(self, *, tick: float = 0.03, token: str | None = None) -> None:
        self.tick = tick
        self.token = token or "emulator-" + uuid.uuid4().hex[:16]
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, key, type, obj)
        self.rv = itertools.count(100)
        self.last_rv = 99
        self.applied: dict[tuple[Any, ...], Any] = {}  # (obj key, manager) -> last applied config
        self.images: dict[str, Behaviour] = {}
        self.denied: list[tuple[str, str, str]] = []  # (verb, resource[/sub], namespace or *)
        self.requests: list[dict[str, Any]] = []
        self.containers: dict[str, _Container] = {}  # pod uid -> runtime
        self.progress: dict[str, tuple[Any, float]] = {}  # deployment uid -> (snapshot, time)
        self.issuer_fails = False
        self.unschedulable: str | None = None  # e.g. "Insufficient cpu": new pods stay Pending
        self.cert_delay = 0.2
        self.log_stream_max_seconds: float | None = None  # cut log streams (tests reconnects)
        self.closing = False
        self._rr = itertools.count()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._names = itertools.count(1)
        self.controller_error: BaseException | None = None  # a crash of the control loop
        self.faults: list[dict[str, Any]] = []  # inject(): answers before routing
        self._stray: tuple[int, tuple[str, ...]] | None = None
        self._stray_seen = 0
        self.strays: list[tuple[str, str, int]] = []  # (method, path, status) answered stray

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Emulator:
        emulator = self

        class Handler(_Handler):
            emu = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="k8s-emu-http", daemon=True),
            threading.Thread(target=self._control_loop, name="k8s-emu-controller", daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if exc[0] is None and self.controller_error is not None:
            # the loop keeps the cluster alive after a crash, but a test must not pass on a
            # cluster whose controllers stopped doing their job
            raise AssertionError(f"the emulator's controller crashed: "
                                 f"{self.controller_error!r}") from self.controller_error

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def write_kubeconfig(self, path: Path, context: str = "emulator") -> Path:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "cockpit", "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": "emulator", "user": "cockpit"}}],
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # ------------------------------------------------------------------ test knobs

    def inject(self, method: str, path: str, *, status: int = 503, times: int = 1,
               after: int = 0, retry_after: int | None = None) -> None:
        """Answer the next `times` requests of `method` ("*": any) whose path matches the regex
        `path` with `status` (a Status object, as the API server sends), once `after` matching
        ones went through. A 429 carries `Retry-After` (`retry_after`, default 1 s), as API
        priority and fairness does."""
        with self.lock:
            self.faults.append({"method": method.upper(), "path": re.compile(path),
                                "status": status, "times": times, "after": after,
                                "retry_after": retry_after if retry_after is not None
                                else (1 if status == 429 else None)})

    def stray_5xx(self, every: int | None, methods: tuple[str, ...] = ("GET",)) -> None:
        """Answer every `every`th API request of `methods` with a stray 500/502/503 (in turn)
        before it is processed, as an API server behind a flaky load balancer does; None: off.
        The service proxy is left alone: what it answers is the application's answer."""
        with self.lock:
            self._stray = (every, tuple(m.upper() for m in methods)) if every else None
            self._stray_seen = 0

    def fault_for(self, method: str, path: str) -> tuple[int, int | None] | None:
        """(status, Retry-After) to answer instead of routing, or None."""
        with self.lock:
            if self._stray and method in self._stray[1] and "/proxy" not in path:
                self._stray_seen += 1
                if self._stray_seen % self._stray[0] == 0:
                    status = (500, 502, 503)[(self._stray_seen // self._stray[0]) % 3]
                    self.strays.append((method, path, status))
                    return status, None
            for fault in self.faults:
                if fault["times"] > 0 and fault["method"] in (method, "*") \
                        and fault["path"].search(path):
                    if fault["after"] > 0:
                        fault["after"] -= 1
                        continue
                    fault["times"] -= 1
                    return fault["status"], fault["retry_after"]
        return None

    def image(self, ref: str, **behaviour: Any) -> Behaviour:
        """Declare what an image's application does (ref may be a full ref or a digest)."""
        b = Behaviour(**behaviour)
        self.images[ref] = b
        return b

    def behaviour(self, image: str) -> Behaviour:
        if image in self.images:
            return self.images[image]
        digest = image.split("@", 1)[1] if "@" in image else None
        if digest and digest in self.images:
            return self.images[digest]
        return Behaviour()

    def deny(self, verb: str, resource: str, namespace: str = "*") -> None:
        self.denied.append((verb, resource, namespace))

    def allowed(self, verb: str, resource: str, namespace: str | None) -> bool:
        for v, r, ns in self.denied:
            if v in ("*", verb) and r in ("*", resource) and ns in ("*", namespace or ""):
                return False
        return True

    def get(self, gv: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((gv, plural, namespace, name))
            return copy.deepcopy(obj) if obj else None

    def list(self, gv: str, plural: str, namespace: str | None = None,
             labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
        with self.lock:
            out = []
            for (g, p, ns, _), obj in self.objects.items():
                if g == gv and p == plural and (namespace is None or ns == namespace):
                    obj_labels = obj["metadata"].get("labels") or {}
                    if all(obj_labels.get(k) == v for k, v in (labels or {}).items()):
                        out.append(copy.deepcopy(obj))
            return sorted(out, key=lambda o: o["metadata"]["name"])

    def pod_logs(self, namespace: str, name: str) -> list[str]:
        with self.lock:
            pod = self.objects.get(("v1", "pods", namespace, name))
            if not pod:
                return []
            rt = self.containers.get(pod["metadata"]["uid"])
            if not rt:
                return []
            return [line for inst in sorted(rt.logs) for _, line in rt.logs[inst]]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.02)
        raise AssertionError("emulator condition not reached in time")

    # ------------------------------------------------------------------ store

    def _key(self, gv: str, plural: str, ns: str, name: str) -> tuple[str, str, str, str]:
        return (gv, plural, ns if RESOURCES[(gv, plural)][1] else "", name)

    def _notify(self, kind: str, key: tuple[str, str, str, str], obj: dict[str, Any]) -> None:
        self.history.append((int(obj["metadata"]["resourceVersion"]), f"{key[0]}|{key[1]}", kind,
                             copy.deepcopy(obj)))
        self.cond.notify_all()

    def _next_rv(self) -> str:
        self.last_rv = next(self.rv)
        return str(self.last_rv)

    def create(self, gv: str, plural: str, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
        kind, namespaced = RESOURCES[(gv, plural)]
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta.get("name")
            if not name:
                raise ApiError(422, "Invalid", f"{kind} is invalid: metadata.name: Required value")
            _validate(plural, name, obj)
            if namespaced:
                if ("v1", "namespaces", "", ns) not in self.objects:
                    raise ApiError(404, "NotFound", f'namespaces "{ns}" not found')
                meta["namespace"] = ns
            key = self._key(gv, plural, ns, name)
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{plural} "{name}" already exists')
            obj["apiVersion"], obj["kind"] = gv, kind
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_iso()
            meta["resourceVersion"] = self._next_rv()
            if plural in HAS_GENERATION:
                meta["generation"] = 1
            if plural == "namespaces":
                obj["status"] = {"phase": "Active"}
            self.objects[key] = obj
            self._notify("ADDED", key, obj)
            if plural == "namespaces":  # the service-account controller's, in every namespace
                self.create("v1", "serviceaccounts", name, {"metadata": {"name": "default"}})
            return copy.deepcopy(obj)

    def update(self, gv: str, plural: str, ns: str, obj: dict[str, Any],
               *, check_rv: bool = False) -> dict[str, Any]:
        with self.lock:
            name = obj["metadata"]["name"]
            key = self._key(gv, plural, ns, name)
            old = self.objects.get(key)
            if old is None:
                raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
            sent_rv = obj["metadata"].get("resourceVersion")
            if check_rv and sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on {plural} "{name}": the object '
                               "has been modified; please apply your changes to the latest "
                               "version and try again")
            if plural == "secrets" and old.get("immutable") and (
                old.get("data") != obj.get("data") or not obj.get("immutable")
            ):
                raise ApiError(422, "Invalid",
                               f'Secret "{name}" is invalid: data: Forbidden: field is immutable '
                               "when `immutable` is set")
            if plural == "statefulsets":
                was, now_ = old.get("spec") or {}, obj.get("spec") or {}
                if any(was.get(k) != now_.get(k) for k in set(was) | set(now_)
                       if k not in STS_MUTABLE):
                    raise ApiError(422, "Invalid",
                                   f'StatefulSet.apps "{name}" is invalid: spec: Forbidden: '
                                   "updates to statefulset spec for fields other than "
                                   "'replicas', 'ordinals', 'template', 'updateStrategy', "
                                   "'persistentVolumeClaimRetentionPolicy' and "
                                   "'minReadySeconds' are forbidden")
            if plural == "persistentvolumeclaims" and (obj.get("spec") or {}).get(
                    "accessModes") != (old.get("spec") or {}).get("accessModes"):
                raise ApiError(422, "Invalid",
                               f'PersistentVolumeClaim "{name}" is invalid: spec: Forbidden: '
                               "spec is immutable after creation except "
                               "resources.requests and volumeAttributesClassName for bound "
                               "claims")
            if plural == "jobs" and (obj.get("spec") or {}).get("template") != (
                    old.get("spec") or {}).get("template"):
                raise ApiError(422, "Invalid",
                               f'Job.batch "{name}" is invalid: spec.template: Invalid value: '
                               "field is immutable")
            _validate(plural, name, obj)
            new = copy.deepcopy(obj)
            new["apiVersion"], new["kind"] = gv, RESOURCES[(gv, plural)][0]
            for k in ("uid", "creationTimestamp", "namespace", "generation",
                      "deletionTimestamp"):
                if k in old["metadata"]:
                    new["metadata"][k] = old["metadata"][k]
                else:
                    new["metadata"].pop(k, None)
            if plural in HAS_GENERATION and new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            if new == {**old, "metadata": {**old["metadata"],
                                            "resourceVersion": new["metadata"].get(
                                                "resourceVersion")}}:
                return copy.deepcopy(old)
            new["metadata"]["resourceVersion"] = self._next_rv()
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get(
                    "finalizers"):  # its last finalizer removed: it goes now
                del self.objects[key]
                self._notify("DELETED", key, new)
                return copy.deepcopy(new)
            self.objects[key] = new
            self._notify("MODIFIED", key, new)
            return copy.deepcopy(new)

    def delete(self, gv: str, plural: str, ns: str, name: str, *,
               orphan: bool = False) -> dict[str, Any]:
        with self.lock:
            key = self._key(gv, plural, ns, name)
            obj = self.objects.get(key)
            if obj is None:
                raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
            if obj["metadata"].get("finalizers") and plural != "namespaces":
                # a finalizer holds it: it stays, terminating, until its finalizers are removed
                # (an Ingress's load-balancer cleanup, a claim's pvc-protection)
                if not obj["metadata"].get("deletionTimestamp"):
                    obj["metadata"]["deletionTimestamp"] = now_iso()
                    obj["metadata"]["deletionGracePeriodSeconds"] = 0
                    obj["metadata"]["resourceVersion"] = self._next_rv()
                    self._notify("MODIFIED", key, obj)
                return copy.deepcopy(obj)
            del self.objects[key]
            if orphan:  # propagationPolicy Orphan: the dependents stay, owner removed
                uid = obj["metadata"].get("uid")
                for other in self.objects.values():
                    refs = other["metadata"].get("ownerReferences") or []
                    if any(r.get("uid") == uid for r in refs):
                        kept = [r for r in refs if r.get("uid") != uid]
                        if kept:
                            other["metadata"]["ownerReferences"] = kept
                        else:
                            other["metadata"].pop("ownerReferences", None)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._notify("DELETED", key, obj)
            if plural == "pods":
                rt = self.containers.get(obj["metadata"]["uid"])
                if rt:
                    rt.gone = True
            if plural == "namespaces":
                for k in [k for k in self.objects if k[2] == name]:
                    # the namespace controller waits for finalizers; the emulator's controllers
                    # hold none, so its objects go at once
                    self.objects[k]["metadata"].pop("finalizers", None)
                    self.delete(k[0], k[1], k[2], k[3])
            for k in [k for k in self.applied if k[0] == key]:
                del self.applied[k]
            return obj

    def apply(self, gv: str, plural: str, ns: str, name: str, body: dict[str, Any],
              manager: str, force: bool = False) -> tuple[dict[str, Any], bool]:
        """Server-side apply: the manager owns what it applied (metadata.managedFields).

        Maps merge; list-maps (LIST_MAP_KEYS: containers, env, ports, volumes...) merge item
        by key, other lists are replaced; a field the same manager applied last time and no
        longer applies is removed; fields set by others (status, controller annotations) stay.
        Changing a value another manager owns is a 409 Conflict unless `force` (the API's
        `force=true`), as the real server answers.
        """
        with self.lock:
            if body.get("metadata", {}).get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object does not match the URL")
            key = self._key(gv, plural, ns, name)
            old = self.objects.get(key)
            mine = fields_v1(body)
            if old is not None and not force:
                conflicts = []
                for entry in old["metadata"].get("managedFields") or []:
                    if entry.get("manager") == manager:
                        continue
                    for path in _leaf_paths(entry.get("fieldsV1") or {}):
                        ours = _value_at(body, path)  # set by this apply, to another value
                        if ours is not None and ours != _value_at(old, path):
                            dotted = "".join(("." + p[2:]) if p.startswith("f:")
                                             else f"[{p[2:]}]" for p in path)
                            conflicts.append(f'conflict with "{entry["manager"]}": {dotted}')
                if conflicts:
                    raise ApiError(409, "Conflict",
                                   f"Apply failed with {len(conflicts)} conflict"
                                   f"{'s' if len(conflicts) > 1 else ''}: "
                                   + "\n".join(conflicts))
            previous = self.applied.get((key, manager))
            self.applied[(key, manager)] = copy.deepcopy(body)
            entry = {"manager": manager, "operation": "Apply",
                     "apiVersion": body.get("apiVersion", gv), "time": now_iso(),
                     "fieldsType": "FieldsV1", "fieldsV1": mine}
            if old is None:
                body = copy.deepcopy(body)
                body.setdefault("metadata", {})["managedFields"] = [entry]
                return self.create(gv, plural, ns, body), True
            merged = copy.deepcopy(old)
            if previous is not None:
                _remove_dropped(merged, previous, body)
            _merge_into(merged, copy.deepcopy(body))
            merged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            others = [e for e in old["metadata"].get("managedFields") or []
                      if e.get("manager") != manager]
            merged["metadata"]["managedFields"] = others + [entry]
            return self.update(gv, plural, ns, merged), False

    # ------------------------------------------------------------------ events (k8s Event objects)

    def event(self, obj: dict[str, Any], reason: str, message: str, type_: str = "Normal") -> None:
        with self.lock:
            meta = obj["metadata"]
            ns = meta.get("namespace", "default")
            for (g, p, n, _), ev in list(self.objects.items()):
                if (g, p, n) == ("v1", "events", ns) and ev["involvedObject"]["uid"] == meta[
                    "uid"
                ] and ev["reason"] == reason and ev["message"] == message:
                    ev = copy.deepcopy(ev)
                    ev["count"] += 1
                    ev["lastTimestamp"] = now_iso()
                    self.update("v1", "events", ns, ev)
                    return
            if ("v1", "namespaces", "", ns) not in self.objects:
                return
            self.create("v1", "events", ns, {
                "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}"},
                "involvedObject": {"kind": obj["kind"], "name": meta["name"], "namespace": ns,
                                   "uid": meta["uid"], "apiVersion": obj["apiVersion"]},
                "reason": reason, "message": message, "type": type_, "count": 1,
                "firstTimestamp": now_iso(), "lastTimestamp": now_iso(),
                "source": {"component": "emulator"},
            })

    # ------------------------------------------------------------------ controllers

    def _control_loop(self) -> None:
        while not self.closing:
            try:
                with self.lock:
                    self.reconcile_once()
            except Exception as exc:  # keep the cluster alive; tests see the symptom
                import traceback

                traceback.print_exc()
                self.controller_error = exc
            time.sleep(self.tick)

    def reconcile_once(self) -> None:
        self._garbage_collect()
        for obj in self.list("apps/v1", "deployments"):
            self._deployment(obj)
        for obj in self.list("apps/v1", "replicasets"):
            self._replicaset(obj)
        for obj in self.list("batch/v1", "jobs"):
            self._job(obj)
        for obj in self.list("apps/v1", "statefulsets"):
            self._statefulset(obj)
        for obj in self.list("v1", "pods"):
            self._kubelet(obj)
        for obj in self.list("networking.k8s.io/v1", "ingresses"):
            self._ingress_shim(obj)
        for obj in self.list("cert-manager.io/v1", "certificates"):
            self._issue(obj)

    def _garbage_collect(self) -> None:
        uids = {o["metadata"]["uid"] for o in self.objects.values()}
        for key, obj in list(self.objects.items()):
            owners = obj["metadata"].get("ownerReferences") or []
            if owners and not any(o["uid"] in uids for o in owners) and key in self.objects:
                self.delete(*key)

    def _owned(self, gv: str, plural: str, owner: dict[str, Any]) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        return [o for o in self.list(gv, plural, owner["metadata"]["namespace"])
                if any(r.get("controller") and r["uid"] == uid
                       for r in o["metadata"].get("ownerReferences") or [])]

    @staticmethod
    def _owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                "controller": True, "blockOwnerDeletion": True}

    def _deployment(self, d: dict[str, Any]) -> None:
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        spec = d["spec"]
        desired = spec.get("replicas", 1)
        template = copy.deepcopy(spec["template"])
        tmpl_hash = _template_hash(template)
        owned = self._owned("apps/v1", "replicasets", d)

        def rev(rs: dict[str, Any]) -> int:
            return int(rs["metadata"].get("annotations", {}).get(REVISION, "0"))

        new = next((rs for rs in owned if _strip_hash(rs["spec"]["template"]) ==
                    _strip_hash(template)), None)
        max_rev = max((rev(rs) for rs in owned), default=0)
        dep_ann = {k: v for k, v in (d["metadata"].get("annotations") or {}).items()
                   if k not in (REVISION, REVISION_HISTORY,
                                "kubectl.kubernetes.io/last-applied-configuration")}
        surge, unavailable = _rolling_params(spec, desired)
        progressed = False
        if spec.get("paused"):
            return
        if new is None:
            template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = tmpl_hash
            selector = copy.deepcopy(spec["selector"])
            selector.setdefault("matchLabels", {})[HASH_LABEL] = tmpl_hash
            new = self.create("apps/v1", "replicasets", ns, {
                "metadata": {
                    "name": f"{name}-{tmpl_hash}",
                    "labels": dict(template["metadata"]["labels"]),
                    "annotations": {**dep_ann, REVISION: str(max_rev + 1),
                                    DESIRED: str(desired), MAX_REPLICAS: str(desired + surge)},
                    "ownerReferences": [self._owner_ref(d)],
                },
                "spec": {"replicas": 0, "selector": selector, "template": template,
                         "minReadySeconds": spec.get("minReadySeconds", 0)},
            })
            self.event(d, "ScalingReplicaSet",
                       f"Scaled up replica set {new['metadata']['name']} from 0 to 0")
            progressed = True
        elif rev(new) < max_rev or any(
            new["metadata"].get("annotations", {}).get(k) != v for k, v in dep_ann.items()
        ):
            ann = dict(new["metadata"].get("annotations") or {})
            if rev(new) < max_rev:
                history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h]
                ann[REVISION_HISTORY] = ",".join([*history, str(rev(new))])
                ann[REVISION] = str(max_rev + 1)
                progressed = True
            ann.update(dep_ann)
            new["metadata"]["annotations"] = ann
            new = self.update("apps/v1", "replicasets", ns, new)
        olds = [rs for rs in self._owned("apps/v1", "replicasets", d)
                if rs["metadata"]["uid"] != new["metadata"]["uid"]]
        d_ann = d["metadata"].setdefault("annotations", {})
        changed_meta = d_ann.get(REVISION) != str(rev(new))
        d_ann[REVISION] = str(rev(new))

        # scale up the new ReplicaSet within maxSurge
        old_total = sum(rs["spec"].get("replicas", 0) for rs in olds)
        new_replicas = new["spec"].get("replicas", 0)
        if spec.get("strategy", {}).get("type") == "Recreate":
            target_new = desired if old_total == 0 and not any(
                rs.get("status", {}).get("replicas") for rs in olds) else 0
            for rs in olds:
                if rs["spec"].get("replicas"):
                    self._scale(rs, 0, d)
                    progressed = True
        else:
            target_new = max(new_replicas, min(desired, desired + surge - old_total))
            if new_replicas > desired:
                target_new = desired
        if target_new != new_replicas:
            self._scale(new, target_new, d)
            progressed = True
            new["spec"]["replicas"] = target_new
        # scale down old ReplicaSets without going under minAvailable
        min_available = desired - unavailable
        new_unavailable = target_new - new.get("status", {}).get("availableReplicas", 0)
        all_spec = target_new + sum(rs["spec"].get("replicas", 0) for rs in olds)
        budget = all_spec - min_available - max(new_unavailable, 0)
        for rs in sorted(olds, key=rev):
            if budget <= 0:
                break
            have = rs["spec"].get("replicas", 0)
            if have:
                cut = min(have, budget)
                self._scale(rs, have - cut, d)
                budget -= cut
                progressed = True
        # history limit
        limit = spec.get("revisionHistoryLimit", 10)
        dead = [rs for rs in sorted(olds, key=rev)
                if not rs["spec"].get("replicas") and not rs.get("status", {}).get("replicas")]
        for rs in dead[: max(0, len(dead) - limit)]:
            self.delete("apps/v1", "replicasets", ns, rs["metadata"]["name"])

        # status
        fresh = self._owned("apps/v1", "replicasets", d)
        st = lambda rs, k: rs.get("status", {}).get(k, 0)  # noqa: E731
        new_now = next(rs for rs in fresh if rs["metadata"]["uid"] == new["metadata"]["uid"])
        replicas = sum(st(rs, "replicas") for rs in fresh)
        updated = st(new_now, "replicas")
        ready = sum(st(rs, "readyReplicas") for rs in fresh)
        available = sum(st(rs, "availableReplicas") for rs in fresh)
        now = time.time()
        snapshot = (new_now["metadata"]["uid"], new_now["spec"].get("replicas"), updated,
                    available, replicas)
        last = self.progress.get(d["metadata"]["uid"])
        if last is None or last[0] != snapshot or progressed:
            self.progress[d["metadata"]["uid"]] = (snapshot, now)
            last_progress = now
        else:
            last_progress = last[1]
        complete = updated == desired and replicas == updated and available == updated
        deadline = spec.get("progressDeadlineSeconds", 600)
        old_cond = {c["type"]: c for c in (d.get("status") or {}).get("conditions", [])}
        prog_old = old_cond.get("Progressing", {})
        if complete:
            prog = ("True", "NewReplicaSetAvailable",
                    f'ReplicaSet "{new_now["metadata"]["name"]}" has successfully progressed.')
        elif now - last_progress > deadline:
            prog = ("False", "ProgressDeadlineExceeded",
                    f'ReplicaSet "{new_now["metadata"]["name"]}" has timed out progressing.')
        else:
            prog = ("True", "ReplicaSetUpdated",
                    f'ReplicaSet "{new_now["metadata"]["name"]}" is progressing.')
        avail_ok = available >= min_available
        conditions = [
            {"type": "Available", "status": "True" if avail_ok else "False",
             "reason": "MinimumReplicasAvailable" if avail_ok else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if avail_ok
             else "Deployment does not have minimum availability.",
             "lastUpdateTime": old_cond.get("Available", {}).get("lastUpdateTime", now_iso()),
             "lastTransitionTime": old_cond.get("Available", {}).get("lastTransitionTime",
                                                                      now_iso())},
            {"type": "Progressing", "status": prog[0], "reason": prog[1], "message": prog[2],
             "lastUpdateTime": now_iso(last_progress),
             "lastTransitionTime": prog_old.get("lastTransitionTime", now_iso())
             if prog_old.get("status") == prog[0] else now_iso()},
        ]
        if old_cond.get("Available", {}).get("status") != conditions[0]["status"]:
            conditions[0]["lastTransitionTime"] = conditions[0]["lastUpdateTime"] = now_iso()
        status = {"observedGeneration": d["metadata"].get("generation", 1), "replicas": replicas,
                  "updatedReplicas": updated, "readyReplicas": ready,
                  "availableReplicas": available,
                  "unavailableReplicas": max(0, desired - available), "conditions": conditions}
        status = {k: v for k, v in status.items() if v != 0}  # zero counts are omitted
        if prog[1] == "ProgressDeadlineExceeded" and prog_old.get("reason") != prog[1]:
            self.event(d, "ProgressDeadlineExceeded", prog[2], "Warning")
        if status != d.get("status") or changed_meta:
            d["status"] = status
            self.update("apps/v1", "deployments", ns, d)

    def _scale(self, rs: dict[str, Any], to: int, d: dict[str, Any]) -> None:
        fresh = self.get("apps/v1", "replicasets", rs["metadata"]["namespace"],
                         rs["metadata"]["name"])
        if fresh is None:
            return
        before = fresh["spec"].get("replicas", 0)
        fresh["spec"]["replicas"] = to
        self.update("apps/v1", "replicasets", rs["metadata"]["namespace"], fresh)
        verb = "up" if to > before else "down"
        self.event(d, "ScalingReplicaSet",
                   f"Scaled {verb} replica set {rs['metadata']['name']} from {before} to {to}")

    def _replicaset(self, rs: dict[str, Any]) -> None:
        ns = rs["metadata"]["namespace"]
        pods = [p for p in self._owned("v1", "pods", rs) if not p["metadata"].get(
            "deletionTimestamp")]
        want = rs["spec"].get("replicas", 0)
        for _ in range(want - len(pods)):
            tmpl = copy.deepcopy(rs["spec"]["template"])
            pod = {"metadata": {
                "name": f"{rs['metadata']['name']}-{_pod_suffix(next(self._names))}",
                "labels": tmpl.get("metadata", {}).get("labels", {}),
                "annotations": tmpl.get("metadata", {}).get("annotations", {}),
                "ownerReferences": [self._owner_ref(rs)]},
                "spec": {**tmpl["spec"], "nodeName": NODE},
                "status": {"phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_iso()}]}}
            created = self.create("v1", "pods", ns, pod)
            self.containers[created["metadata"]["uid"]] = _Container(created=time.time())
            self.event(created, "Scheduled",
                       f"Successfully assigned {ns}/{created['metadata']['name']} to {NODE}")
            pods.append(created)
        if len(pods) > want:
            victims = sorted(pods, key=lambda p: (_pod_ready(p),
                                                  -self.containers.get(p["metadata"]["uid"],
                                                                       _Container(0)).created))
            for p in victims[: len(pods) - want]:
                self.event(p, "Killing", "Stopping container app")
                self.delete("v1", "pods", ns, p["metadata"]["name"])
                pods.remove(p)
        ready = sum(1 for p in pods if _pod_ready(p))
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                  "availableReplicas": ready,
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        status = {k: v for k, v in status.items() if v != 0}
        if status != rs.get("status"):
            rs["status"] = status
            self.update("apps/v1", "replicasets", ns, rs)

    def _statefulset(self, sts: dict[str, Any]) -> None:
        """The StatefulSet controller (OrderedReady, RollingUpdate): pod `<name>-<i>` for
        i < replicas, made only when the pods before it are ready, with the labels the
        controller adds (controller-revision-hash, statefulset.kubernetes.io/pod-name,
        apps.kubernetes.io/pod-index), hostname/subdomain for the headless Service, and a
        PersistentVolumeClaim `<template>-<name>-<i>` per volumeClaimTemplate (no owner: it
        outlives the StatefulSet, the Retain policy), Bound at once (a default StorageClass).
        A pod of an older template revision is deleted (highest ordinal first) once all are
        ready, then made again. status: replicas, readyReplicas, currentReplicas,
        updatedReplicas, availableReplicas, currentRevision, updateRevision,
        observedGeneration (zero counts omitted, as the API's omitempty does)."""
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        spec = sts["spec"]
        want = spec.get("replicas", 1)
        update_rev = f"{name}-{_template_hash(spec['template'])}"
        pods = {p["metadata"]["name"]: p for p in self._owned("v1", "pods", sts)}
        for i in range(want):
            pod_name = f"{name}-{i}"
            if pod_name in pods:
                if not _pod_ready(pods[pod_name]):
                    break  # OrderedReady: the next one waits
                continue
            tmpl = copy.deepcopy(spec["template"])
            volumes = list(tmpl["spec"].get("volumes") or [])
            for vct in spec.get("volumeClaimTemplates") or []:
                claim = f"{vct['metadata']['name']}-{name}-{i}"
                if ("v1", "persistentvolumeclaims", ns, claim) not in self.objects:
                    self.create("v1", "persistentvolumeclaims", ns, {
                        "metadata": {"name": claim, "labels": {
                            **(vct["metadata"].get("labels") or {}),
                            **spec["selector"].get("matchLabels", {})}},
                        "spec": {**copy.deepcopy(vct["spec"]), "volumeMode": "Filesystem",
                                 "storageClassName": "standard",
                                 "volumeName": f"pvc-{uuid.uuid4()}"},
                        "status": {"phase": "Bound",
                                   "accessModes": vct["spec"].get("accessModes"),
                                   "capacity": vct["spec"]["resources"]["requests"]}})
                volumes.append({"name": vct["metadata"]["name"],
                                "persistentVolumeClaim": {"claimName": claim}})
            pod = {"metadata": {
                "name": pod_name,
                "labels": {**(tmpl.get("metadata") or {}).get("labels", {}),
                           "controller-revision-hash": update_rev,
                           "statefulset.kubernetes.io/pod-name": pod_name,
                           "apps.kubernetes.io/pod-index": str(i)},
                "annotations": (tmpl.get("metadata") or {}).get("annotations", {}),
                "ownerReferences": [self._owner_ref(sts)]},
                "spec": {**tmpl["spec"], "volumes": volumes, "hostname": pod_name,
                         "subdomain": spec.get("serviceName", ""), "nodeName": NODE},
                "status": {"phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_iso()}]}}
            created = self.create("v1", "pods", ns, pod)
            self.containers[created["metadata"]["uid"]] = _Container(created=time.time())
            self.event(sts, "SuccessfulCreate",
                       f"create Pod {pod_name} in StatefulSet {name} successful")
            pods[pod_name] = created
            break  # one at a time
        for pod_name in sorted(pods, reverse=True):
            if int(pod_name.rsplit("-", 1)[1]) >= want:
                self.delete("v1", "pods", ns, pod_name)
                pods.pop(pod_name)
                break
        stale = [p for p in pods.values() if (p["metadata"].get("labels") or {}).get(
            "controller-revision-hash") != update_rev]
        if stale and all(_pod_ready(p) for p in pods.values()) and len(pods) == want:
            victim = max(stale, key=lambda p: p["metadata"]["name"])
            self.event(sts, "SuccessfulDelete", f"delete Pod {victim['metadata']['name']} in "
                       f"StatefulSet {name} successful")
            self.delete("v1", "pods", ns, victim["metadata"]["name"])
            pods.pop(victim["metadata"]["name"])
        updated = [p for p in pods.values() if (p["metadata"].get("labels") or {}).get(
            "controller-revision-hash") == update_rev]
        ready = sum(1 for p in pods.values() if _pod_ready(p))
        old = sts.get("status") or {}
        current_rev = (update_rev if len(updated) == want and not stale
                       else old.get("currentRevision") or update_rev)
        status = {"observedGeneration": sts["metadata"].get("generation", 1),
                  "replicas": len(pods), "readyReplicas": ready,
                  "currentReplicas": len(updated) if current_rev == update_rev
                  else len(pods) - len(updated),
                  "updatedReplicas": len(updated), "availableReplicas": ready,
                  "currentRevision": current_rev, "updateRevision": update_rev,
                  "collisionCount": 0}
        status = {k: v for k, v in status.items() if v != 0 or k == "replicas"}
        if status != old:
            sts["status"] = status
            self.update("apps/v1", "statefulsets", ns, sts)

    def _secret_env(self, pod: dict[str, Any]) -> tuple[dict[str, str], str | None]:
        ns = pod["metadata"]["namespace"]
        env: dict[str, str] = {}
        c = pod["spec"]["containers"][0]
        for src in c.get("envFrom") or []:
            ref = src.get("secretRef")
            if not ref:
                continue
            secret = self.objects.get(("v1", "secrets", ns, ref["name"]))
            if secret is None:
                if ref.get("optional"):
                    continue
                return {}, f'secret "{ref["name"]}" not found'
            for k, v in (secret.get("data") or {}).items():
                env[k] = base64.b64decode(v).decode()
        for item in c.get("env") or []:
            if "value" in item:
                env[item["name"]] = item["value"]
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                secret = self.objects.get(("v1", "secrets", ns, ref["name"]))
                if secret is None:
                    return {}, f'secret "{ref["name"]}" not found'
                if ref["key"] not in (secret.get("data") or {}):
                    return {}, (f"couldn't find key {ref['key']} in Secret "
                                f"{ns}/{ref['name']}")
                env[item["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        return env, None

    def _kubelet(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        rt = self.containers.setdefault(uid, _Container(created=time.time()))
        if self.unschedulable and rt.instance == 0:
            conds = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                      "message": f"0/1 nodes are available: 1 {self.unschedulable}."}]
            if (pod.get("status") or {}).get("conditions") != conds:
                pod["status"] = {"phase": "Pending", "conditions": conds}
                self.update("v1", "pods", pod["metadata"]["namespace"], pod)
                self.event(pod, "FailedScheduling", conds[0]["message"], "Warning")
            return
        c = pod["spec"]["containers"][0]
        image = c["image"]
        b = self.behaviour(image)
        now = time.time()
        if pod["spec"].get("restartPolicy") == "Never":  # a Job's pod: runs to completion
            return self._run_to_completion(pod, rt, b, now)
        status = copy.deepcopy(pod.get("status") or {})
        cs = (status.get("containerStatuses") or [{}])[0]
        cs.update({"name": c["name"], "image": image, "imageID": image})
        cs.setdefault("restartCount", 0)
        env, missing = self._secret_env(pod)
        port = str((c.get("ports") or [{}])[0].get("containerPort", 8000))

        def log(line: str) -> None:
            rt.logs.setdefault(rt.instance, []).append((time.time(), line))
            self.cond.notify_all()

        if rt.started_at is None:
            if rt.waiting_until is not None and now < rt.waiting_until:
                pass  # CrashLoopBackOff: keep the waiting state until the back-off ends
            elif b.pull_error and rt.instance == 0:
                reason = "ErrImagePull" if now - rt.created < 0.3 else "ImagePullBackOff"
                cs["state"] = {"waiting": {"reason": reason,
                                           "message": f'Back-off pulling image "{image}"'}}
                self.event(pod, "Failed", f'Failed to pull image "{image}": {b.pull_error}',
                           "Warning")
            elif missing:
                cs["state"] = {"waiting": {"reason": "CreateContainerConfigError",
                                           "message": missing}}
                self.event(pod, "Failed", f"Error: {missing}", "Warning")
            elif now - rt.created >= b.start_delay:
                if rt.instance:
                    cs["restartCount"] += 1
                rt.instance += 1
                rt.started_at, rt.ready_at, rt.waiting_until = now, None, None
                rt.probe_failing_since = None
                if rt.instance == 1:
                    self.event(pod, "Pulled", f'Container image "{image}" already present')
                self.event(pod, "Created", "Created container app")
                self.event(pod, "Started", "Started container app")
                cs["state"] = {"running": {"startedAt": now_iso(now)}}
                status.setdefault("startTime", now_iso(now))
                for line in b.logs:
                    log(line.format(port=port, image=image))
                for name in b.log_env:
                    log(f"config {name}={env.get(name, '')}")
            else:
                cs.setdefault("state", {"waiting": {"reason": "ContainerCreating"}})
        else:
            running_for = now - rt.started_at
            probe_ok = 200 <= b.health_status < 400
            if b.crash and running_for >= b.crash_after:
                for line in b.crash_logs:
                    log(line)
                cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error",
                                                  "startedAt": now_iso(rt.started_at),
                                                  "finishedAt": now_iso(now)}}
                cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message":
                                           f"back-off restarting failed container app in pod "
                                           f"{pod['metadata']['name']}"}}
                rt.started_at, rt.ready_at, rt.waiting_until = None, None, now + b.backoff
                self.event(pod, "BackOff", "Back-off restarting failed container app in pod "
                           f"{pod['metadata']['name']}_{pod['metadata']['namespace']}",
                           "Warning")
            else:
                if b.log_every and now - rt.last_tick_log >= b.log_every:
                    rt.ticks += 1
                    rt.last_tick_log = now
                    log(f"tick {rt.ticks}")
                probe = c.get("readinessProbe")
                if probe_ok and running_for >= b.ready_delay:
                    rt.ready_at = rt.ready_at or now
                elif not probe_ok:
                    rt.probe_failing_since = rt.probe_failing_since or now
                    path = (probe or {}).get("httpGet", {}).get("path", "/")
                    if now - rt.last_unhealthy_event > 0.5:
                        rt.last_unhealthy_event = now
                        self.event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed "
                                   f"with statuscode: {b.health_status} ({path})", "Warning")
                    if c.get("livenessProbe") and now - rt.probe_failing_since >= \
                            b.liveness_kill_after:
                        log("received SIGTERM, shutting down")
                        self.event(pod, "Killing", "Container app failed liveness probe, will "
                                   "be restarted")
                        cs["lastState"] = {"terminated": {"exitCode": 137, "reason": "Error",
                                                          "finishedAt": now_iso(now)}}
                        cs["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
                        rt.started_at, rt.ready_at = None, None
                        rt.waiting_until = now + b.backoff
                if rt.started_at is not None:
                    cs["state"] = {"running": {"startedAt": now_iso(rt.started_at)}}
        ready = rt.started_at is not None and rt.ready_at is not None
        cs["ready"] = ready
        cs["started"] = rt.started_at is not None
        status["phase"] = "Running" if rt.instance else "Pending"
        status["hostIP"] = "127.0.0.1"
        conds = {c_["type"]: c_ for c_ in status.get("conditions", [])}
        for t in ("Initialized", "ContainersReady", "Ready"):
            val = "True" if (t == "Initialized" or ready) else "False"
            if conds.get(t, {}).get("status") != val:
                conds[t] = {"type": t, "status": val, "lastTransitionTime": now_iso()}
        status["conditions"] = list(conds.values())
        status["containerStatuses"] = [cs]
        if status != pod.get("status"):
            pod["status"] = status
            self.update("v1", "pods", pod["metadata"]["namespace"], pod)

    def _job(self, job: dict[str, Any]) -> None:
        """The Job controller (backoffLimit 0 semantics for one pod; parallelism 1): one pod
        from the template (with the labels the API server adds), status.active/ready/succeeded/
        failed, and the terminal conditions the real controller writes: SuccessCriteriaMet +
        Complete, or FailureTarget + Failed (BackoffLimitExceeded, or DeadlineExceeded after
        activeDeadlineSeconds, which deletes the running pod)."""
        ns, name, uid = (job["metadata"]["namespace"], job["metadata"]["name"],
                         job["metadata"]["uid"])
        status = copy.deepcopy(job.get("status") or {})
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in status.get("conditions") or []):
            return
        now = time.time()
        job_labels = {"batch.kubernetes.io/controller-uid": uid,
                      "batch.kubernetes.io/job-name": name, "controller-uid": uid,
                      "job-name": name}
        pods = self._owned("v1", "pods", job)
        if not pods and not status.get("startTime"):
            tmpl = copy.deepcopy(job["spec"]["template"])
            pod = {"metadata": {
                "name": f"{name}-{_pod_suffix(next(self._names))}",
                "labels": {**(tmpl.get("metadata") or {}).get("labels", {}), **job_labels},
                "annotations": (tmpl.get("metadata") or {}).get("annotations", {}),
                "ownerReferences": [self._owner_ref(job)]},
                "spec": {**tmpl["spec"], "nodeName": NODE},
                "status": {"phase": "Pending"}}
            created = self.create("v1", "pods", ns, pod)
            self.containers[created["metadata"]["uid"]] = _Container(created=now)
            self.event(job, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
            status.update({"startTime": now_iso(now), "active": 1, "ready": 0,
                           "terminating": 0, "uncountedTerminatedPods": {}})
            pods = [created]
        phases = [(p.get("status") or {}).get("phase") for p in pods]
        reason = message = None
        deadline = job["spec"].get("activeDeadlineSeconds")
        started = _parse_iso(status.get("startTime")) if status.get("startTime") else now
        if "Succeeded" in phases:
            status.update({"active": 0, "ready": 0, "succeeded": 1,
                           "completionTime": now_iso(now)})
            conds = [("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of "
                      "succeeded pods"), ("Complete", "CompletionsReached",
                                          "Reached expected number of succeeded pods")]
            self.event(job, "Completed", "Job completed")
        elif "Failed" in phases:
            reason, message = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        elif deadline is not None and now - started >= float(deadline):
            reason, message = "DeadlineExceeded", "Job was active longer than specified deadline"
            for p in pods:
                self.delete("v1", "pods", ns, p["metadata"]["name"])
        else:
            ready = sum(1 for p in pods if _pod_ready(p))
            if status.get("ready") != ready:
                status["ready"] = ready
                job["status"] = status
                self.update("batch/v1", "jobs", ns, job)
            elif job.get("status") != status:
                job["status"] = status
                self.update("batch/v1", "jobs", ns, job)
            return
        if reason:
            status.update({"active": 0, "ready": 0, "failed": 1})
            conds = [("FailureTarget", reason, message), ("Failed", reason, message)]
            self.event(job, reason, message, "Warning")
        status["conditions"] = [{"type": t, "status": "True", "reason": r, "message": msg,
                                 "lastProbeTime": now_iso(now),
                                 "lastTransitionTime": now_iso(now)} for t, r, msg in conds]
        job["status"] = status
        self.update("batch/v1", "jobs", ns, job)

    def _run_to_completion(self, pod: dict[str, Any], rt: _Container, b: Behaviour,
                           now: float) -> None:
        """The kubelet for a `restartPolicy: Never` pod (a Job's): start, print the image's
        release_logs, exit with its release_exit after release_seconds; phase Succeeded or
        Failed with a terminated container state (exitCode, reason Completed or Error)."""
        status = copy.deepcopy(pod.get("status") or {})
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        c = pod["spec"]["containers"][0]
        cs = (status.get("containerStatuses") or [{}])[0]
        cs.update({"name": c["name"], "image": c["image"], "imageID": c["image"],
                   "restartCount": 0})
        _, missing = self._secret_env(pod)
        if rt.started_at is None:
            if missing:
                cs["state"] = {"waiting": {"reason": "CreateContainerConfigError",
                                           "message": missing}}
                status["phase"] = "Pending"
            elif now - rt.created >= b.start_delay:
                rt.instance, rt.started_at = 1, now
                self.event(pod, "Started", f"Started container {c['name']}")
                rt.script = list(b.one_off([*(c.get("command") or []),
                                            *(c.get("args") or [])])[1])
                self._print_due(rt, b, now)
                cs["state"] = {"running": {"startedAt": now_iso(now)}}
                status.update({"phase": "Running", "startTime": now_iso(now)})
            else:
                cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
                status["phase"] = "Pending"
        elif now - rt.started_at < b.release_seconds:
            self._print_due(rt, b, now)
        else:
            self._print_due(rt, b, now, every=0.0)
            code = b.one_off([*(c.get("command") or []), *(c.get("args") or [])])[0]
            cs["state"] = {"terminated": {"exitCode": code,
                                          "reason": "Completed" if code == 0 else "Error",
                                          "startedAt": now_iso(rt.started_at),
                                          "finishedAt": now_iso(now)}}
            status["phase"] = "Succeeded" if code == 0 else "Failed"
            rt.started_at = None
            rt.gone = True
            self.cond.notify_all()
        cs["ready"] = cs["started"] = status.get("phase") == "Running"
        status["containerStatuses"] = [cs]
        status["hostIP"] = "127.0.0.1"
        if status != pod.get("status"):
            pod["status"] = status
            self.update("v1", "pods", pod["metadata"]["namespace"], pod)

    def _print_due(self, rt: _Container, b: Behaviour, now: float,
                   every: float | None = None) -> None:
        """Log the lines of the one-off command's output (`rt.script`) due by `now`: all of
        them, or one every `every` (default b.release_line_every) seconds since its start."""
        every = b.release_line_every if every is None else every
        assert rt.started_at is not None
        due = len(rt.script) if every <= 0 else min(
            len(rt.script), 1 + int((now - rt.started_at) / every))
        if due > rt.printed:
            rt.logs.setdefault(1, []).extend((now, line) for line in rt.script[rt.printed:due])
            rt.printed = due
            self.cond.notify_all()

    def _ingress_shim(self, ing: dict[str, Any]) -> None:
        ns = ing["metadata"]["namespace"]
        ann = ing["metadata"].get("annotations") or {}
        issuer = ann.get("cert-manager.io/cluster-issuer") or ann.get("cert-manager.io/issuer")
        lb = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
        if ing.get("status") != lb:
            ing["status"] = lb
            ing = self.update("networking.k8s.io/v1", "ingresses", ns, ing)
        if not issuer:
            return
        kind = "ClusterIssuer" if "cert-manager.io/cluster-issuer" in ann else "Issuer"
        for tls in ing["spec"].get("tls") or []:
            name = tls.get("secretName")
            if not name:
                continue
            spec = {"secretName": name, "dnsNames": list(tls.get("hosts") or []),
                    "issuerRef": {"name": issuer, "kind": kind, "group": "cert-manager.io"}}
            cert = self.get("cert-manager.io/v1", "certificates", ns, name)
            if cert is None:
                self.create("cert-manager.io/v1", "certificates", ns, {
                    "metadata": {"name": name, "ownerReferences": [self._owner_ref(ing)]},
                    "spec": spec})
            elif cert["spec"] != spec:
                cert["spec"] = spec
                cert["status"] = {}
                self.update("cert-manager.io/v1", "certificates", ns, cert)

    def _issue(self, cert: dict[str, Any]) -> None:
        ns = cert["metadata"]["namespace"]
        status = cert.get("status") or {}
        gen = cert["metadata"].get("generation", 1)
        conds = status.get("conditions") or []
        if conds and conds[0].get("observedGeneration") == gen:
            return
        created = datetime.strptime(cert["metadata"]["creationTimestamp"],
                                    "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        if time.time() - created < self.cert_delay:
            if not conds:
                cert["status"] = {"conditions": [{
                    "type": "Ready", "status": "False", "reason": "DoesNotExist",
                    "message": "Issuing certificate as Secret does not exist",
                    "lastTransitionTime": now_iso()}]}
                self.update("cert-manager.io/v1", "certificates", ns, cert)
            return
        if self.issuer_fails:
            cert["status"] = {"conditions": [{
                "type": "Ready", "status": "False", "reason": "Failed",
                "message": "The certificate request has failed to complete and will be retried: "
                           "ACME order failed", "observedGeneration": gen,
                "lastTransitionTime": now_iso()}]}
        else:
            t = time.time()
            cert["status"] = {
                "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                                "message": "Certificate is up to date and has not expired",
                                "observedGeneration": gen, "lastTransitionTime": now_iso()}],
                "notBefore": now_iso(t), "notAfter": now_iso(t + 90 * 86400),
                "renewalTime": now_iso(t + 60 * 86400), "revision": 1}
            secret = cert["spec"]["secretName"]
            if ("v1", "secrets", ns, secret) not in self.objects:
                self.create("v1", "secrets", ns, {
                    "metadata": {"name": secret,
                                 "annotations": {"cert-manager.io/certificate-name":
                                                 cert["metadata"]["name"]}},
                    "type": "kubernetes.io/tls",
                    "data": {"tls.crt": base64.b64encode(b"emulated").decode(),
                             "tls.key": base64.b64encode(b"emulated").decode()}})
        self.update("cert-manager.io/v1", "certificates", ns, cert)

    # ------------------------------------------------------------------ service proxy

    def proxy(self, ns: str, service: str, path: str) -> tuple[int, bytes]:
        with self.lock:
            svc_name = service.split(":")[1] if service.count(":") == 2 else service.split(":")[0]
            svc = self.objects.get(("v1", "services", ns, svc_name))
            if svc is None:
                raise ApiError(404, "NotFound", f'services "{svc_name}" not found')
            selector = svc["spec"].get("selector") or {}
            pods = [p for p in self.list("v1", "pods", ns, selector) if _pod_ready(p)]
            if not pods:
                raise ApiError(503, "ServiceUnavailable",
                               f'no endpoints available for service "{svc_name}"')
            pod = pods[next(self._rr) % len(pods)]
            b = self.behaviour(pod["spec"]["containers"][0]["image"])
            code = b.proxy_status if b.proxy_status is not None else b.health_status
            body = json.dumps({"status": "ok" if code < 400 else "error",
                               "path": "/" + path, "pod": pod["metadata"]["name"]})
            return code, body.encode()


# ---------------------------------------------------------------------- helpers (pure)


def _parse_iso(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _pod_suffix(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()[:5]


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions", []))


def _strip_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(template)
    labels = t.get("metadata", {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def _template_hash(template: dict[str, Any]) -> str:
    blob = json.dumps(_strip_hash(template), sort_keys=True).encode()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    n = int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")
    out = ""
    for _ in range(10):
        n, r = divmod(n, len(alphabet))
        out += alphabet[r]
    return out


def _intstr(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def _rolling_params(spec: dict[str, Any], desired: int) -> tuple[int, int]:
    ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = _intstr(ru.get("maxSurge", "25%"), desired, True)
    unavailable = _intstr(ru.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


# Lists the API server merges item by item under server-side apply
# (`x-kubernetes-list-type: map` with these `x-kubernetes-list-map-keys` in the OpenAPI schema,
# kubernetes.io/docs/reference/using-api/server-side-apply/#merge-strategy); other lists are
# atomic (replaced whole).
LIST_MAP_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",), "initContainers": ("name",), "ephemeralContainers": ("name",),
    "env": ("name",), "volumes": ("name",), "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",), "ports": ("containerPort", "port"),
}


def _item_key(field: str, item: Any) -> tuple[str, Any] | None:
    if not isinstance(item, dict):
        return None
    for key in LIST_MAP_KEYS.get(field, ()):
        if key in item:
            return key, item[key]
    return None


def _merge_into(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge_into(target[k], v)
        elif k in LIST_MAP_KEYS and isinstance(v, list) and isinstance(target.get(k), list):
            merged = target[k]
            for item in v:
                key = _item_key(k, item)
                same = next((t for t in merged if key and _item_key(k, t) == key), None)
                if same is not None and isinstance(item, dict):
                    _merge_into(same, item)
                else:
                    merged.append(item)
        else:
            target[k] = v


def _remove_dropped(target: dict[str, Any], previous: dict[str, Any], now: dict[str, Any]) -> None:
    for k, v in previous.items():
        if k not in now:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(now[k], dict) and isinstance(target.get(k), dict):
            _remove_dropped(target[k], v, now[k])
        elif (k in LIST_MAP_KEYS and isinstance(v, list) and isinstance(now[k], list)
              and isinstance(target.get(k), list)):
            kept = {_item_key(k, i) for i in now[k]}
            dropped = {_item_key(k, i) for i in v} - kept - {None}
            target[k] = [t for t in target[k] if _item_key(k, t) not in dropped]
            for before in v:
                after = next((i for i in now[k] if _item_key(k, i) == _item_key(k, before)),
                             None)
                mine = next((t for t in target[k]
                             if _item_key(k, t) == _item_key(k, before)), None)
                if (isinstance(before, dict) and isinstance(after, dict)
                        and isinstance(mine, dict)):
                    _remove_dropped(mine, before, after)


def fields_v1(body: Any, field: str = "") -> dict[str, Any]:
    """The FieldsV1 set of `body` (the structure `metadata.managedFields[].fieldsV1` holds):
    `f:<name>` for map keys, `k:{...}` for list-map items, `.` for a leaf."""
    if isinstance(body, dict):
        return {f"f:{k}": fields_v1(v, k) for k, v in body.items()
                if k not in ("apiVersion", "kind") and not (field == "" and k == "status")}
    if isinstance(body, list) and field in LIST_MAP_KEYS:
        out: dict[str, Any] = {}
        for item in body:
            key = _item_key(field, item)
            if key:
                out["k:" + json.dumps({key[0]: key[1]}, separators=(",", ":"))] = \
                    fields_v1(item, "")
        return out
    return {}


def _value_at(obj: Any, fields_path: list[str]) -> Any:
    for part in fields_path:
        if part.startswith("f:") and isinstance(obj, dict):
            obj = obj.get(part[2:])
        elif part.startswith("k:") and isinstance(obj, list):
            want = json.loads(part[2:])
            obj = next((i for i in obj if isinstance(i, dict)
                        and all(i.get(a) == b for a, b in want.items())), None)
        else:
            return None
    return obj


def _leaf_paths(fields: dict[str, Any], prefix: list[str] | None = None) -> list[list[str]]:
    prefix = prefix or []
    out: list[list[str]] = []
    for k, v in fields.items():
        out += _leaf_paths(v, prefix + [k]) if v else [prefix + [k]]
    return out


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 JSON patch (add, replace, remove, test)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = _pointer(op["path"])
        if not parts:
            if op["op"] in ("add", "replace"):
                doc = copy.deepcopy(op["value"])
            continue
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op["value"]:
                raise ApiError(422, "Invalid", f"the test operation failed at {op['path']}")
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(copy.deepcopy(op["value"]))
                elif kind == "add":
                    parent.insert(int(last), copy.deepcopy(op["value"]))
                else:
                    parent[int(last)] = copy.deepcopy(op["value"])
            else:
                if kind == "replace" and last not in parent:
                    raise ApiError(422, "Invalid",
                                   f"the server rejected our request: replace of missing "
                                   f"path {op['path']}")
                parent[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                parent.pop(last, None)
        else:
            raise ApiError(400, "BadRequest", f"unsupported JSON patch op {kind!r}")
    return doc


def parse_selector(text: str | None) -> list[tuple[str, str, list[str]]]:
    """Label selector: k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k."""
    if not text:
        return []
    out = []
    for part in re.findall(r"[^,(]+(?:\([^)]*\))?", text):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$", part)
        if m:
            out.append((m.group(1), m.group(2), [v.strip() for v in m.group(3).split(",")]))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            out.append((k.strip(), "!=", [v.strip()]))
        elif "=" in part:
            k, v = part.replace("==", "=").split("=", 1)
            out.append((k.strip(), "=", [v.strip()]))
        elif part.startswith("!"):
            out.append((part[1:], "!exists", []))
        else:
            out.append((part, "exists", []))
    return out


def matches(labels: dict[str, str], selector: list[tuple[str, str, list[str]]]) -> bool:
    for key, op, values in selector:
        have = labels.get(key)
        if op == "=" and have != values[0]:
            return False
        if op == "!=" and have == values[0]:
            return False
        if op == "in" and have not in values:
            return False
        if op == "notin" and have in values:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!exists" and key in labels:
            return False
    return True


def field_matches(obj: dict[str, Any], text: str | None) -> bool:
    if not text:
        return True
    for part in text.split(","):
        neg = "!=" in part
        k, v = part.split("!=" if neg else "=", 1)
        cur: Any = obj
        for p in k.replace("==", "").split("."):
            cur = cur.get(p) if isinstance(cur, dict) else None
        if (str(cur) == v.lstrip("=")) == neg:
            return False
    return True


# ---------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    emu: Emulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else ~40 ms per response (delayed ACK)

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    # -- plumbing

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fault(self, code: int, retry_after: int | None) -> None:
        reason = {429: "TooManyRequests", 500: "InternalError", 502: "BadGateway",
                  503: "ServiceUnavailable", 401: "Unauthorized"}.get(code, "InternalError")
        data = json.dumps(ApiError(code, reason, f"injected: {reason}").status()).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        emu = self.emu
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        raw = self._body()
        ctype = (self.headers.get("Content-Type") or "").split(";")[0]
        with emu.lock:
            emu.requests.append({"method": method, "path": url.path, "query": query,
                                 "content_type": ctype, "body": raw.decode("utf-8", "replace")})
        try:
            if self.headers.get("Authorization") != f"Bearer {emu.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            fault = emu.fault_for(method, url.path)
            if fault is not None:
                return self._fault(*fault)
            self._route(method, url.path, query, raw, ctype)
        except ApiError as exc:
            self._send(exc.code, exc.status())
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _route(self, method: str, path: str, q: dict[str, str], raw: bytes, ctype: str) -> None:
        emu = self.emu
        if path.rstrip("/") == "/version":
            return self._send(200, {"major": "1", "minor": "34", "gitVersion": "v1.34.0-emulator",
                                    "platform": "linux/amd64"})
        if path in ("/healthz", "/readyz", "/livez"):
            return self._send(200, b"ok", "text/plain")
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["apis"] and method == "GET":  # discovery: the API groups
            gvs = sorted({gv for gv, _p in RESOURCES if "/" in gv})
            return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": gv.split("/")[0],
                 "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                 "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}}
                for gv in gvs]})
        if parts[0] == "apis" and len(parts) == 3 and method == "GET":  # a group's resources
            gv = f"{parts[1]}/{parts[2]}"
            if not any(g == gv for g, _p in RESOURCES):
                raise ApiError(404, "NotFound", "the server could not find the requested "
                               "resource")
            return self._send(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                    "groupVersion": gv, "resources": [
                {"name": plural, "singularName": "", "namespaced": namespaced, "kind": kind,
                 "verbs": ["create", "delete", "deletecollection", "get", "list", "patch",
                           "update", "watch"]}
                for (g, plural), (kind, namespaced) in sorted(RESOURCES.items()) if g == gv]})
        if parts[0] == "api" and len(parts) >= 2:
            gv, rest = parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if gv == "authorization.k8s.io/v1" and rest == ["selfsubjectaccessreviews"]:
            body = json.loads(raw or b"{}")
            attrs = body.get("spec", {}).get("resourceAttributes", {})
            res = attrs.get("resource", "")
            if attrs.get("subresource"):
                res += "/" + attrs["subresource"]
            ok = emu.allowed(attrs.get("verb", ""), res, attrs.get("namespace"))
            body.update({"apiVersion": "authorization.k8s.io/v1",
                         "kind": "SelfSubjectAccessReview",
                         "status": {"allowed": ok, **({} if ok else {
                             "reason": "denied by the emulator's RBAC rules"})}})
            return self._send(201, body)
        ns = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        elif rest and rest[0] == "namespaces":
            pass
        if not rest or (gv, rest[0]) not in RESOURCES:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        namespaced = RESOURCES[(gv, plural)][1]
        if name and sub == "proxy" and plural == "services":
            if not emu.allowed("get", "services/proxy", ns):
                raise ApiError(403, "Forbidden", "services/proxy is forbidden")
            code, body = emu.proxy(ns, name, "/".join(rest[3:]))
            return self._send(code, body)
        verb = {"GET": "get" if name else ("watch" if q.get("watch") in ("true", "1") else
                                           "list"),
                "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        resource = plural + (f"/{sub}" if sub else "")
        if not emu.allowed(verb, resource, ns if namespaced else None):
            what = f'{resource} "{name}"' if name else resource
            raise ApiError(403, "Forbidden",
                           f'{what} is forbidden: User "cockpit" cannot {verb} resource '
                           f'"{resource}" in API group "{gv.rpartition("/")[0]}"'
                           + (f' in the namespace "{ns}"' if ns else ""))
        if sub == "log":
            return self._logs(ns, name or "", q)
        if method == "GET" and not name:
            if verb == "watch":
                return self._watch(gv, plural, ns if namespaced else None, q)
            return self._list(gv, plural, ns if namespaced else None, q)
        if method == "GET":
            obj = emu.get(gv, plural, ns, name or "")
            if obj is None:
                raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
            return self._send(200, obj)
        if method == "POST":
            return self._send(201, emu.create(gv, plural, ns, json.loads(raw)))
        if method == "PUT":
            obj = json.loads(raw)
            if sub == "status":
                current = emu.get(gv, plural, ns, name or "") or {}
                obj = {**current, "status": obj.get("status")}
            return self._send(200, emu.update(gv, plural, ns, obj, check_rv=True))
        if method == "DELETE":
            # DeleteOptions (query or body): an unknown propagationPolicy is refused like the
            # API server's ValidateDeleteOptions; Orphan leaves the dependents, without their
            # ownerReferences; Foreground and Background both delete them (by the garbage
            # collector) - the emulator does not keep the owner until they are gone
            opts = json.loads(raw) if raw.strip() else {}
            policy = q.get("propagationPolicy") or opts.get("propagationPolicy")
            if policy is not None and policy not in ("Foreground", "Background", "Orphan"):
                raise ApiError(422, "Invalid", 'DeleteOptions.meta.k8s.io "" is invalid: '
                               f'propagationPolicy: Unsupported value: "{policy}": supported '
                               'values: "Foreground", "Background", "Orphan"')
            return self._send(200, emu.delete(gv, plural, ns, name or "",
                                              orphan=policy == "Orphan"))
        if method == "PATCH":
            return self._patch(gv, plural, ns, name or "", q, raw, ctype)
        raise ApiError(405, "MethodNotAllowed", "method not allowed")

    def _patch(self, gv: str, plural: str, ns: str, name: str, q: dict[str, str], raw: bytes,
               ctype: str) -> None:
        emu = self.emu
        if ctype == "application/apply-patch+yaml":
            if not q.get("fieldManager"):
                raise ApiError(400, "BadRequest",
                               "PATCH requests with apply content type require fieldManager")
            body = yaml.safe_load(raw)
            if q.get("fieldValidation") == "Strict" and plural in STRICT_KINDS:
                _strict(body)
            obj, created = emu.apply(gv, plural, ns, name, body, q["fieldManager"],
                                     force=q.get("force") in ("true", "True", "1"))
            return self._send(201 if created else 200, obj)
        current = emu.get(gv, plural, ns, name)
        if current is None:
            raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
        patch = json.loads(raw)
        if ctype == "application/json-patch+json":
            new = json_patch(current, patch)
        elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            new = merge_patch(current, patch)
        else:
            raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {ctype}")
        new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self._send(200, emu.update(gv, plural, ns, new))

    def _list(self, gv: str, plural: str, ns: str | None, q: dict[str, str]) -> None:
        emu = self.emu
        sel = parse_selector(q.get("labelSelector"))
        items = [o for o in emu.list(gv, plural, ns)
                 if matches(o["metadata"].get("labels") or {}, sel)
                 and field_matches(o, q.get("fieldSelector"))]
        kind = RESOURCES[(gv, plural)][0]
        self._send(200, {"apiVersion": gv, "kind": kind + "List", "items": items,
                         "metadata": {"resourceVersion": str(emu.last_rv)}})

    def _watch(self, gv: str, plural: str, ns: str | None, q: dict[str, str]) -> None:
        emu = self.emu
        sel = parse_selector(q.get("labelSelector"))
        deadline = time.monotonic() + float(q.get("timeoutSeconds") or 1800)
        key = f"{gv}|{plural}"

        def wanted(obj: dict[str, Any]) -> bool:
            return ((ns is None or obj["metadata"].get("namespace") == ns)
                    and matches(obj["metadata"].get("labels") or {}, sel)
                    and field_matches(obj, q.get("fieldSelector")))

        self._start_chunked("application/json")
        rv = q.get("resourceVersion")
        with emu.lock:
            if rv and rv != "0":
                start = next((i for i, h in enumerate(emu.history) if h[0] > int(rv)),
                             len(emu.history))
                initial: list[tuple[str, dict[str, Any]]] = []
            else:
                start = len(emu.history)
                initial = [("ADDED", o) for o in emu.list(gv, plural, ns) if wanted(o)]
        try:
            for typ, obj in initial:
                self._chunk(json.dumps({"type": typ, "object": obj}).encode() + b"\n")
            idx = start
            while time.monotonic() < deadline and not emu.closing:
                with emu.cond:
                    if idx >= len(emu.history):
                        emu.cond.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
                    batch = emu.history[idx:]
                    idx = len(emu.history)
                for _, k, typ, obj in batch:
                    if k == key and wanted(obj):
                        self._chunk(json.dumps({"type": typ, "object": obj}).encode() + b"\n")
            self._end_chunked()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return

    def _logs(self, ns: str, name: str, q: dict[str, str]) -> None:
        emu = self.emu
        with emu.lock:
            pod = emu.objects.get(("v1", "pods", ns, name))
            if pod is None:
                raise ApiError(404, "NotFound", f'pods "{name}" not found')
            rt = emu.containers.get(pod["metadata"]["uid"])
            if rt is None or rt.instance == 0:
                raise ApiError(400, "BadRequest",
                               f'container "app" in pod "{name}" is waiting to start: '
                               "ContainerCreating")
            previous = q.get("previous") in ("true", "1")
            instance = rt.instance - 1 if previous else rt.instance
            if previous and instance < 1:
                raise ApiError(400, "BadRequest",
                               f'previous terminated container "app" in pod "{name}" not found')
        follow = q.get("follow") in ("true", "1") and not previous
        stamps = q.get("timestamps") in ("true", "1")
        since = float(q["sinceSeconds"]) if q.get("sinceSeconds") else None
        tail = int(q["tailLines"]) if q.get("tailLines") else None

        def render(items: list[tuple[float, str]]) -> bytes:
            return b"".join(((nano_iso(ts) + " ") if stamps else "").encode()
                            + line.encode() + b"\n" for ts, line in items)

        with emu.lock:
            lines = list(rt.logs.get(instance, []))
        if since is not None:
            lines = [x for x in lines if x[0] >= time.time() - since]
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        if not follow:
            return self._send(200, render(lines), "text/plain")
        self._start_chunked("text/plain")
        try:
            if lines:
                self._chunk(render(lines))
            sent = len(rt.logs.get(instance, []))
            started = time.monotonic()
            while not emu.closing:
                with emu.cond:
                    current = rt.logs.get(instance, [])
                    if len(current) <= sent:
                        if rt.gone or rt.instance != instance or (
                            rt.started_at is None and rt.instance == instance
                        ):
                            break
                        emu.cond.wait(timeout=0.2)
                        current = rt.logs.get(instance, [])
                    batch = current[sent:]
                    sent = len(current)
                if batch:
                    self._chunk(render(batch))
                if emu.log_stream_max_seconds is not None and \
                        time.monotonic() - started > emu.log_stream_max_seconds:
                    break
            self._end_chunked()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


def _validate(plural: str, name: str, obj: dict[str, Any]) -> None:
    """The API's validation of the fields the emulator's kinds check on create and update:
    a CronJob's schedule, a StatefulSet's selector matching its template's labels (422
    Invalid, the API's messages)."""
    if plural == "statefulsets":
        spec = obj.get("spec") or {}
        want = (spec.get("selector") or {}).get("matchLabels") or {}
        have = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not want or any(have.get(k) != v for k, v in want.items()):
            raise ApiError(422, "Invalid",
                           f'StatefulSet.apps "{name}" is invalid: spec.template.metadata.'
                           f"labels: Invalid value: {have}: `selector` does not match "
                           "template `labels`")
    if plural == "cronjobs":
        sched = (obj.get("spec") or {}).get("schedule", "")
        if not CRON.match(sched.strip()):
            raise ApiError(422, "Invalid",
                           f'CronJob.batch "{name}" is invalid: spec.schedule: Invalid value: '
                           f'"{sched}": unparseable cron expression')


def _strict(body: dict[str, Any]) -> None:
    """fieldValidation=Strict: a field the API's OpenAPI schema does not declare (or a value
    of the wrong type) is a 400, as the API server answers; checked with kubernetes-validate
    (strict, the newest schemas it carries)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(body, kubernetes_validate.latest_version(), strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = exc.json_path.lstrip("$")
        raise ApiError(400, "BadRequest",
                       f"{body.get('kind')} in version \"{body.get('apiVersion')}\" cannot be "
                       f"handled as a {body.get('kind')}: strict decoding error: {where} "
                       f"{exc.message}") from None


def pods_of(emu: Emulator, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    return emu.list("v1", "pods", namespace, labels)
