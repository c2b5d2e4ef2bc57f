"""Pure builders of the objects cockpit sends to Kubernetes (no I/O, no client import).

Like Kamal's commands/, building is separate from sending: tests compare these dicts exactly and
validate every one with kubernetes-validate; the provider only ships them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cockpit.config import Environment
    from cockpit.models import Release

FIELD_MANAGER = "cockpit"
CONTAINER = "app"
CHANGE_CAUSE = "kubernetes.io/change-cause"
REVISION = "deployment.kubernetes.io/revision"
RELEASE_ANNOTATION = "cockpit.dev/release"  # the release record (no secret values) per revision
GATE_ANNOTATION = "cockpit.dev/gate"  # on a ReplicaSet: passed | failed
GATE_REASON_ANNOTATION = "cockpit.dev/gate-reason"
# on a ReplicaSet: the release's schema record (cockpit.schema) after its release command, and
# the database's head while it serves after an accepted rollback (Release.meta schema/schema_db)
SCHEMA_ANNOTATION = "cockpit.dev/schema"
SCHEMA_DB_ANNOTATION = "cockpit.dev/schema-db"
ROLE_LABEL = "cockpit.dev/role"
MANAGED = {"app.kubernetes.io/managed-by": "cockpit"}
CERT_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"


def app_name(env: Environment) -> str:
    return env.app.name


def selector(env: Environment) -> dict[str, str]:
    """Immutable Deployment selector: the app and the environment, never the release."""
    return {"app": env.app.name, "env": env.name}


def label_value(text: str) -> str:
    """A valid label value (≤63 chars, alphanumeric ends, [-_.A-Za-z0-9] inside)."""
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    return value.strip("-_.") or "none"


def dns_name(text: str, limit: int = 63) -> str:
    """An RFC 1123 name; long inputs keep a hash suffix so distinct inputs stay distinct."""
    value = re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-")
    if len(value) > limit:
        suffix = hashlib.sha256(text.encode()).hexdigest()[:8]
        value = value[: limit - 9].rstrip("-") + "-" + suffix
    return value or "x"


def short_digest(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def release_labels(env: Environment, release: Release) -> dict[str, str]:
    return {**selector(env), "release": label_value(release.id),
            "digest": label_value(short_digest(release.digest) or "none")}


def secret_name(env: Environment, release_id: str) -> str:
    """One immutable Secret per release, so a rollback brings back the values it ran with."""
    return dns_name(f"{env.app.name}-{release_id}", 253)


def tls_secret_name(env: Environment) -> str:
    return dns_name(f"{env.app.name}-tls")


def lease_name(env: Environment) -> str:
    return dns_name(f"cockpit-{env.app.name}-lock")


def change_cause(release: Release, action: str = "deploy") -> str:
    what = f"cockpit {action} release {release.id} (image {short_digest(release.digest)})"
    if release.promoted_from:
        what += f" promoted from {release.promoted_from}"
    return what


def release_record(release: Release) -> str:
    """The release as stored on its ReplicaSet's template: names and digests, never values."""
    data = release.to_dict()
    for key in ("status", "meta"):
        data.pop(key, None)
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------- objects


def namespace(env: Environment) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": env.settings.namespace, "labels": dict(MANAGED)}}


def secret(env: Environment, release: Release, values: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": secret_name(env, release.id), "namespace": env.settings.namespace,
                     "labels": {**selector(env), "release": label_value(release.id),
                                ROLE_LABEL: "release-secrets", **MANAGED}},
        "type": "Opaque",
        "immutable": True,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(values.items())},
    }


def _probe(env: Environment, *, liveness: bool) -> dict[str, Any]:
    probe: dict[str, Any] = {
        "httpGet": {"path": env.app.health_path, "port": "http"},
        "timeoutSeconds": max(1, int(env.gate.timeout)),
        "periodSeconds": 10 if liveness else 2,
        "failureThreshold": 3,
    }
    if liveness:
        probe["initialDelaySeconds"] = 10
    return probe


def deployment(env: Environment, release: Release, *, with_secret: bool) -> dict[str, Any]:
    s = env.settings
    labels = release_labels(env, release)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": release.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": env.app.port, "protocol": "TCP"}],
        # plain configuration ([app.env] < [environments.*.env]) in the pod template, so a
        # rollback (an undo to an earlier ReplicaSet) brings back the values it ran with
        "env": [*({"name": k, "value": v} for k, v in env.plain_env.items()),
                {"name": "PORT", "value": str(env.app.port)},
                {"name": "COCKPIT_ENV", "value": env.name},
                {"name": "COCKPIT_RELEASE", "value": release.id}],
        "readinessProbe": _probe(env, liveness=False),
        "livenessProbe": _probe(env, liveness=True),
    }
    if with_secret:
        container["envFrom"] = [{"secretRef": {"name": secret_name(env, release.id)}}]
    resources: dict[str, dict[str, str]] = {}
    if s.cpu:
        resources.setdefault("requests", {})["cpu"] = s.cpu
    if s.memory:
        resources.setdefault("requests", {})["memory"] = s.memory
        resources.setdefault("limits", {})["memory"] = s.memory
    if resources:
        container["resources"] = resources
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app_name(env), "namespace": s.namespace,
                     "labels": {**selector(env), **MANAGED},
                     "annotations": {CHANGE_CAUSE: change_cause(release)}},
        "spec": {
            "replicas": env.common.replicas,
            "revisionHistoryLimit": s.revision_history,
            "progressDeadlineSeconds": s.progress_deadline,
            "selector": {"matchLabels": selector(env)},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels,
                             "annotations": {RELEASE_ANNOTATION: release_record(release)}},
                "spec": {"containers": [container],
                         "terminationGracePeriodSeconds": 30},
            },
        },
    }


RELEASE_CONTAINER = "release"


def release_job_name(env: Environment, release_id: str) -> str:
    """`<app>-<env>-release-<release id>`: one Job per release and environment (≤63 chars, a
    label value: the API server copies it into the pods' `job-name` label)."""
    return dns_name(f"{env.app.name}-{env.name}-release-{release_id}")


def schema_job_name(env: Environment, release_id: str) -> str:
    """`<app>-<env>-schema-<release id>`: the Job that reads a release's schema head."""
    return dns_name(f"{env.app.name}-{env.name}-schema-{release_id}")


def release_job(env: Environment, release: Release, *, with_secret: bool,
                deadline: int, command: str | None = None, name: str | None = None,
                role: str = "release-command") -> dict[str, Any]:
    """The Job that runs `[app] release_command` once for `release`: the release's image and
    env (its Secret through envFrom, the plain env, PORT), `sh -c <command>`, no retries
    (backoffLimit 0, restartPolicy Never), at most `deadline` seconds (activeDeadlineSeconds).
    Its pods carry no `app`/`env` labels, so the Service never routes to them.
    `command`, `name` and `role` (the `cockpit.dev/role` label) make another one-off Job of
    the same shape: the schema probe (`schema_job_name`, role "schema-probe")."""
    container = deployment(env, release, with_secret=with_secret)["spec"]["template"]["spec"][
        "containers"][0]
    for key in ("readinessProbe", "livenessProbe", "ports"):
        container.pop(key, None)
    container["name"] = RELEASE_CONTAINER
    container["command"] = ["sh", "-c", command if command is not None
                            else env.release_command or ""]
    labels = {"cockpit.dev/app": label_value(env.app.name), "cockpit.dev/env": label_value(
        env.name), ROLE_LABEL: role, "release": label_value(release.id)}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name or release_job_name(env, release.id),
                     "namespace": env.settings.namespace, "labels": {**labels, **MANAGED},
                     "annotations": {RELEASE_ANNOTATION: release_record(release)}},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", "containers": [container],
                         "terminationGracePeriodSeconds": 30},
            },
        },
    }


def service(env: Environment) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": app_name(env), "namespace": env.settings.namespace,
                     "labels": {**selector(env), **MANAGED}},
        "spec": {"type": "ClusterIP", "selector": selector(env),
                 "ports": [{"name": "http", "port": env.settings.service_port,
                            "targetPort": "http", "protocol": "TCP"}]},
    }


def ingress(env: Environment, domain: str) -> dict[str, Any]:
    s = env.settings
    annotations: dict[str, str] = {}
    spec: dict[str, Any] = {
        "rules": [{"host": domain, "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": app_name(env), "port": {"name": "http"}}}}]}}],
    }
    if s.ingress_class:
        spec["ingressClassName"] = s.ingress_class
    if s.cert_issuer:
        annotations[CERT_ISSUER_ANNOTATION] = s.cert_issuer
        annotations["nginx.ingress.kubernetes.io/ssl-redirect"] = "true"
        spec["tls"] = [{"hosts": [domain], "secretName": tls_secret_name(env)}]
    meta: dict[str, Any] = {"name": app_name(env), "namespace": s.namespace,
                            "labels": {**selector(env), **MANAGED}}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
            "spec": spec}


def micro_time(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease(env: Environment, holder: str, ttl: float, now: float, *, command: str, pid: int,
          acquired: float | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": lease_name(env), "namespace": env.settings.namespace,
                     "labels": {**selector(env), **MANAGED},
                     "annotations": {"cockpit.dev/command": command, "cockpit.dev/pid": str(pid)}},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": max(1, int(ttl)),
                 "acquireTime": micro_time(acquired if acquired is not None else now),
                 "renewTime": micro_time(now)},
    }


def access_checks(env: Environment) -> list[tuple[str, str, str, str | None]]:
    """(verb, API group, resource, subresource) the provider needs in the namespace."""
    checks = [
        ("patch", "apps", "deployments", None), ("get", "apps", "deployments", None),
        ("list", "apps", "replicasets", None), ("patch", "apps", "replicasets", None),
        ("patch", "", "services", None),
        ("patch", "", "secrets", None), ("get", "", "secrets", None),
        ("list", "", "secrets", None), ("delete", "", "secrets", None),
        ("list", "", "pods", None), ("watch", "", "pods", None), ("get", "", "pods", "log"),
        ("get", "", "services", "proxy"), ("list", "", "events", None),
        ("get", "coordination.k8s.io", "leases", None),
        ("create", "coordination.k8s.io", "leases", None),
        ("update", "coordination.k8s.io", "leases", None),
        ("delete", "coordination.k8s.io", "leases", None),
    ]
    if env.domain:
        checks.append(("patch", "networking.k8s.io", "ingresses", None))
    if env.release_command:  # the release command's Job (providers/kubernetes/release.py)
        checks += [("patch", "batch", "jobs", None), ("get", "batch", "jobs", None),
                   ("list", "batch", "jobs", None), ("delete", "batch", "jobs", None)]
    from cockpit.providers.kubernetes import accessories  # the StatefulSets of accessories

    checks += accessories.access_checks(env)
    return checks
