"""Accessories on Kubernetes: a Postgres or Redis StatefulSet per environment, in its namespace.

For every `[accessories.<name>]` without `external = true` (`cockpit.accessories.in_cluster`),
a deploy server-side-applies, before the release command's Job:

- a Secret `<app>-<env>-<name>-auth` holding the password generated once into the keyring
  (`cockpit.accessories.password`, the same item the VPS uses);
- a headless Service `<app>-<env>-<name>` (clusterIP None) on the kind's port: the pod's
  stable DNS name, reachable by that environment's app as `<app>-<env>-<name>.<namespace>.svc`;
- a StatefulSet `<app>-<env>-<name>`: one replica, the official image (or `image`), the kind's
  readiness probe (`pg_isready`, `redis-cli ping`: the VPS accessory's health commands), and a
  volumeClaimTemplate `data` (ReadWriteOnce, `storage`, default 1Gi) mounted on the image's data
  directory. The PersistentVolumeClaim `data-<app>-<env>-<name>-0` outlives the StatefulSet
  (persistentVolumeClaimRetentionPolicy Retain, the API's default).

and waits (at most the gate's deadline) until the StatefulSet reports `status.readyReplicas`
1 for its current spec. The app's URL (`DATABASE_URL` / `REDIS_URL`, or `env_var`) goes into
the release's immutable Secret, so the release command and the app both get it. Namespaces are
per environment (`KubernetesSettings.exclusive`), so staging's and prod's never meet.

Facts from the Kubernetes API docs: StatefulSet (apps/v1, "StatefulSets" concept page and API
reference: pods `<name>-<ordinal>`, claims `<template>-<name>-<ordinal>`, which only
`replicas`, `ordinals`, `template`, `updateStrategy`, `persistentVolumeClaimRetentionPolicy`
and `minReadySeconds` of the spec may change), headless Services ("Service", clusterIP None),
`kubectl rollout restart` (the `kubectl.kubernetes.io/restartedAt` pod template annotation).
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cockpit.providers.kubernetes import manifests as m
from cockpit.providers.vps.accessories import COMMAND, HEALTH_CMD

from cockpit import accessories as core
from cockpit.errors import ProviderError, UsageError
from cockpit.events import Emit, StepScope
from cockpit.redaction import redact

if TYPE_CHECKING:
    from cockpit.accessories import AccessoryConfig
    from cockpit.config import Environment

ROLE = "accessory"
DEFAULT_STORAGE = "1Gi"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
PGDATA = "/var/lib/postgresql/data/pgdata"  # a subfolder: a fresh volume's root has lost+found


def names(env: Environment) -> list[str]:
    """The accessories cockpit runs in env's namespace (sorted); [] off Kubernetes."""
    return sorted(n for n, acc in env.accessories.items() if core.in_cluster(env, acc))


def _pick(env: Environment, name: str | None) -> list[str]:
    """`[name]`, or every in-cluster accessory when None. Raises UsageError naming the known
    ones (and saying so when `name` is external)."""
    if name is None:
        return names(env)
    if name not in names(env):
        if name in env.accessories:
            raise UsageError(f"accessory {name!r} of {env.name} is external (external = true): "
                             "cockpit does not run it", hint="use your provider's tools")
        known = ", ".join(names(env)) or "none"
        raise UsageError(f"{env.name} has no accessory {name!r} (known: {known})",
                         hint="accessories are [accessories.<name>] tables in cockpit.toml")
    return [name]


def object_name(env: Environment, name: str) -> str:
    """`<app>-<env>-<name>`: the StatefulSet and its headless Service (an RFC 1123 label)."""
    return m.dns_name(f"{env.app.name}-{env.name}-{name}")


def secret_name(env: Environment, name: str) -> str:
    return m.dns_name(f"{env.app.name}-{env.name}-{name}-auth", 253)


def claim_name(env: Environment, name: str) -> str:
    """The PersistentVolumeClaim the StatefulSet controller makes for pod 0:
    `<volumeClaimTemplate name>-<statefulset>-<ordinal>`."""
    return f"data-{object_name(env, name)}-0"


def host(env: Environment, name: str) -> str:
    """The accessory's DNS name inside the cluster (its headless Service)."""
    return f"{object_name(env, name)}.{env.settings.namespace}.svc"


def labels(env: Environment, name: str) -> dict[str, str]:
    """Labels of the accessory's objects and pod: never `app`/`env` (the app's Service
    selects those), so the app's Service and gate never see the accessory's pod."""
    return {"cockpit.dev/app": m.label_value(env.app.name),
            "cockpit.dev/env": m.label_value(env.name),
            "cockpit.dev/accessory": m.label_value(name), m.ROLE_LABEL: ROLE}


def url(env: Environment, name: str, password: str) -> str:
    """The URL the app gets (`cockpit.accessories.url` with the in-cluster host)."""
    return core.url(env.app.name, name, env.accessories[name], password, host=host(env, name))


# --------------------------------------------------------------------------- objects (pure)


def auth_secret(env: Environment, name: str, password: str) -> dict[str, Any]:
    """The Secret with the accessory's password (key PASSWORD), read by its pod only."""
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret_name(env, name), "namespace": env.settings.namespace,
                         "labels": {**labels(env, name), **m.MANAGED}},
            "type": "Opaque",
            "data": {"PASSWORD": base64.b64encode(password.encode()).decode()}}


def headless_service(env: Environment, name: str) -> dict[str, Any]:
    acc = env.accessories[name]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": object_name(env, name), "namespace": env.settings.namespace,
                         "labels": {**labels(env, name), **m.MANAGED}},
            "spec": {"clusterIP": "None", "selector": labels(env, name),
                     "ports": [{"name": acc.kind, "port": acc.spec.port,
                                "targetPort": acc.kind, "protocol": "TCP"}]}}


def _container(env: Environment, name: str, acc: AccessoryConfig) -> dict[str, Any]:
    password = {"valueFrom": {"secretKeyRef": {"name": secret_name(env, name),
                                               "key": "PASSWORD"}}}
    if acc.kind == "postgres":
        variables = [{"name": "POSTGRES_USER", "value": core.db_user(env.app.name)},
                     {"name": "POSTGRES_DB", "value": core.database(env.app.name, acc)},
                     {"name": "POSTGRES_PASSWORD", **password},
                     {"name": "PGDATA", "value": PGDATA}]
    else:
        variables = [{"name": "REDIS_PASSWORD", **password}]
    container: dict[str, Any] = {
        "name": acc.kind, "image": acc.image_ref, "imagePullPolicy": "IfNotPresent",
        "env": variables,
        "ports": [{"name": acc.kind, "containerPort": acc.spec.port, "protocol": "TCP"}],
        "readinessProbe": {"exec": {"command": ["sh", "-c", HEALTH_CMD[acc.kind]]},
                           "periodSeconds": 5, "timeoutSeconds": 5, "failureThreshold": 3},
        "volumeMounts": [{"name": "data", "mountPath": acc.spec.data_dir}],
    }
    if COMMAND[acc.kind]:
        container["command"] = list(COMMAND[acc.kind])
    return container


def statefulset(env: Environment, name: str) -> dict[str, Any]:
    """The accessory's StatefulSet: one replica, OrderedReady, its volumeClaimTemplate
    `data` (`storage`, default 1Gi) kept when the StatefulSet goes."""
    acc = env.accessories[name]
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": object_name(env, name), "namespace": env.settings.namespace,
                     "labels": {**labels(env, name), **m.MANAGED}},
        "spec": {
            "serviceName": object_name(env, name),
            "replicas": 1,
            "selector": {"matchLabels": labels(env, name)},
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain",
                                                     "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": labels(env, name)},
                "spec": {"containers": [_container(env, name, acc)],
                         "terminationGracePeriodSeconds": 30},
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data", "labels": labels(env, name)},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {
                             "storage": acc.storage or DEFAULT_STORAGE}}},
            }],
        },
    }


def access_checks(env: Environment) -> list[tuple[str, str, str, str | None]]:
    """(verb, API group, resource, subresource) the accessories need in the namespace."""
    if not names(env):
        return []
    return [("patch", "apps", "statefulsets", None), ("get", "apps", "statefulsets", None),
            ("get", "", "persistentvolumeclaims", None), ("get", "", "services", None)]


# --------------------------------------------------------------------------- operations


def ensure(provider, env: Environment, emit: Emit) -> dict[str, str]:
    """Apply every in-cluster accessory's Secret, headless Service and StatefulSet (server-side
    apply, strict field validation) and wait until each is ready, at most the gate's deadline
    (seconds). Returns {env_var: URL} for the release's Secret (secret values: registered with
    the redactor). Raises ProviderError naming the accessory with its pod's state and last
    log lines when it is not ready in time, ApiFailure when the API refuses, SecretStoreError
    when the keyring cannot give the password."""
    from cockpit.redaction import REDACTOR

    which = names(env)
    if not which:
        return {}
    kube = provider.kube(env)
    urls: dict[str, str] = {}
    with StepScope(emit, "accessories", f"accessories {', '.join(which)} (statefulsets)",
                   env.name) as scope:
        for name in which:
            password = core.password(provider.ctx.secrets, env, name)
            REDACTOR.add(password)  # and its base64 form, as the Secret's data carries it
            REDACTOR.add(base64.b64encode(password.encode()).decode())
            kube.apply(auth_secret(env, name, password), strict=True)
            kube.apply(headless_service(env, name), strict=True)
            kube.apply(statefulset(env, name), strict=True)
            urls[env.accessories[name].url_var] = url(env, name, password)
        deadline = time.monotonic() + env.gate.deadline
        for name in which:
            _wait_ready(provider, env, name, deadline)
        scope.detail = ", ".join(f"{n} ready ({claim_name(env, n)})" for n in which)
    for value in urls.values():
        REDACTOR.add(value)
    return urls


def _ready(sts: dict[str, Any] | None) -> bool:
    """The StatefulSet's pod is ready on its current spec (apps/v1 StatefulSetStatus:
    observedGeneration, readyReplicas, updateRevision == currentRevision)."""
    if not sts:
        return False
    st = sts.get("status") or {}
    return (st.get("observedGeneration", 0) >= sts["metadata"].get("generation", 1)
            and (st.get("readyReplicas") or 0) >= (sts["spec"].get("replicas") or 1)
            and (st.get("updatedReplicas") or 0) >= (sts["spec"].get("replicas") or 1)
            and st.get("updateRevision") == st.get("currentRevision"))


def _read(provider, env: Environment, name: str) -> dict[str, Any] | None:
    kube = provider.kube(env)
    obj = object_name(env, name)
    return kube.get(f"read statefulset {obj}", kube.apps.read_namespaced_stateful_set, obj,
                    kube.namespace)


def _pod(provider, env: Environment, name: str) -> dict[str, Any] | None:
    kube = provider.kube(env)
    pod = f"{object_name(env, name)}-0"
    return kube.get(f"read pod {pod}", kube.core.read_namespaced_pod, pod, kube.namespace)


def _wait_ready(provider, env: Environment, name: str, deadline: float) -> None:
    poll = max(0.05, min(env.gate.interval, 1.0))
    while True:
        if _ready(_read(provider, env, name)):
            return
        if time.monotonic() > deadline:
            break
        time.sleep(poll)
    pod = _pod(provider, env, name)
    state = _pod_state(pod)
    tail = [line for _, line in logs(provider, env, name, 5)] if pod else []
    kube = provider.kube(env)
    raise ProviderError(
        f"accessory {name} ({object_name(env, name)}) is not ready after "
        f"{env.gate.deadline:.0f} s: pod {state}"
        + (f"; last lines: {' | '.join(tail)}" if tail else ""),
        where=f"{kube.where} statefulset {object_name(env, name)} step accessories",
        hint=f"cockpit accessories status {env.name} {name}; a pending claim needs a default "
             "StorageClass in the cluster")


def _pod_state(pod: dict[str, Any] | None) -> str:
    if pod is None:
        return "missing"
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "waiting" in state:
            return state["waiting"].get("reason") or "waiting"
        if "terminated" in state:
            return "exited"
        if cs.get("ready"):
            return "ready"
        return "running, not ready"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"unschedulable ({cond.get('message') or cond.get('reason')})"
    return (status.get("phase") or "pending").lower()


def status(provider, env: Environment) -> list[dict[str, Any]]:
    """One dict per in-cluster accessory, the VPS status's shape: name, kind, version, image,
    container (the pod), state (running, missing, or the pod's waiting reason), health
    (healthy, starting, unhealthy, none), volume (the PersistentVolumeClaim and its phase),
    network (the namespace), env_var, started_at, drift (the StatefulSet's image differs
    from cockpit.toml: the next deploy rolls it)."""
    kube = provider.kube(env)
    out = []
    for name in names(env):
        acc = env.accessories[name]
        sts = _read(provider, env, name)
        pod = _pod(provider, env, name) if sts else None
        pvc = kube.get(f"read persistentvolumeclaim {claim_name(env, name)}",
                       kube.core.read_namespaced_persistent_volume_claim,
                       claim_name(env, name), kube.namespace)
        state = _pod_state(pod) if sts else "missing"
        health = ("healthy" if state == "ready" else "none" if state == "missing"
                  else "starting" if state in ("running, not ready", "pending",
                                               "ContainerCreating") else "unhealthy")
        image = ((((sts or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
                 ).get("containers", [{}])[0].get("image") if sts else None
        started = None
        for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
            started = ((cs.get("state") or {}).get("running") or {}).get("startedAt")
        out.append({
            "name": name, "kind": acc.kind, "version": acc.tag, "image": acc.image_ref,
            "container": f"{object_name(env, name)}-0",
            "state": "running" if state == "ready" else state, "health": health,
            "volume": claim_name(env, name) + (
                f" ({(pvc.get('status') or {}).get('phase', 'Pending')})" if pvc else
                " (none)"),
            "network": env.settings.namespace, "env_var": acc.url_var,
            "started_at": started, "drift": bool(image and image != acc.image_ref),
        })
    return out


def logs(provider, env: Environment, name: str | None, tail: int) -> list[tuple[str, str]]:
    """The last `tail` lines of each accessory's pod (all when `name` is None), redacted:
    [(name, line)]. A pod that has not started gives no lines."""
    from cockpit.providers.kubernetes.kube import ApiFailure

    kube = provider.kube(env)
    out: list[tuple[str, str]] = []
    for n in _pick(env, name):
        try:
            text = kube.pod_log(f"{object_name(env, n)}-0", tail=tail,
                                container=env.accessories[n].kind)
        except ApiFailure:
            continue
        out += [(n, redact(line)) for line in text.splitlines()[-tail:]]
    return out


def restart(provider, env: Environment, name: str | None = None) -> list[str]:
    """`kubectl rollout restart` of the accessory's StatefulSet (all when `name` is None):
    a new `kubectl.kubernetes.io/restartedAt` on its pod template, then wait (the gate's
    deadline) until the new pod is ready. Returns the names restarted. Raises
    ProviderError when one is not deployed yet or not ready in time."""
    kube = provider.kube(env)
    which = _pick(env, name)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for n in which:
        if _read(provider, env, n) is None:
            raise ProviderError(f"accessory {n} of {env.name} is not on the cluster yet",
                                where=kube.where, hint=f"cockpit deploy {env.name}")
        kube.call(f"restart statefulset {object_name(env, n)}",
                  kube.apps.patch_namespaced_stateful_set, object_name(env, n),
                  kube.namespace,
                  {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}},
                  field_manager=m.FIELD_MANAGER,
                  _content_type="application/merge-patch+json")
    deadline = time.monotonic() + env.gate.deadline
    for n in which:
        _wait_ready(provider, env, n, deadline)
    return which
