"""Kubernetes manifests, one file per environment: Deployment (readiness + liveness probes on
the health path, `maxUnavailable: 0`, non-root, read-only root filesystem), Service, Ingress
with cert-manager TLS, PodDisruptionBudget, HorizontalPodAutoscaler, and a Job running the
release command (migrations, schema creation) when there is one. Plain configuration
(`[app.env]` < `[environments.<env>.env]`) is in the container's env. Secrets are referenced
(`<app>-secrets`), never written: cockpit's Kubernetes provider creates that Secret from the
keyring.
"""

from __future__ import annotations

from cockpit.generate import EnvSpec, Spec
from cockpit.generate.yamlout import dump_all

IMAGE_PLACEHOLDER = "IMAGE"  # cockpit deploy sets the digest-pinned image


def namespace(spec: Spec, env: EnvSpec) -> str:
    return env.namespace or f"{spec.app}-{env.name}"


def host(spec: Spec, env: EnvSpec) -> str:
    return env.domain or f"{spec.app}-{env.name}.example.com"


def labels(spec: Spec, env: EnvSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": spec.app,
        "app.kubernetes.io/instance": f"{spec.app}-{env.name}",
        "app.kubernetes.io/managed-by": "cockpit",
    }


def container(spec: Spec, env: EnvSpec, image: str = IMAGE_PLACEHOLDER) -> dict:
    probe = {"httpGet": {"path": spec.health_path, "port": "http"}, "timeoutSeconds": 3}
    c: dict = {
        "name": "app",
        "image": image,
        "ports": [{"name": "http", "containerPort": spec.port}],
        "env": [{"name": "PORT", "value": str(spec.port)},
                *({"name": k, "value": v} for k, v in sorted({**spec.app_env, **env.env}.items())
                  if k != "PORT")],
        "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {
            **probe,
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 60},
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if spec.secrets:
        c["envFrom"] = [{"secretRef": {"name": f"{spec.app}-secrets", "optional": True}}]
    return c


def manifests(spec: Spec, env: EnvSpec) -> list[dict]:
    ns = namespace(spec, env)
    meta = {"name": spec.app, "namespace": ns, "labels": labels(spec, env)}
    selector = {
        "app.kubernetes.io/name": spec.app,
        "app.kubernetes.io/instance": f"{spec.app}-{env.name}",
    }
    replicas = max(env.replicas, 2 if env.protected else 1)
    pod_spec = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": 30,
        "containers": [container(spec, env)],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    docs: list[dict] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": replicas,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 300,
                "selector": {"matchLabels": selector},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                },
                "template": {"metadata": {"labels": labels(spec, env)}, "spec": pod_spec},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                **meta,
                "annotations": {
                    "cert-manager.io/cluster-issuer": "letsencrypt",
                    "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                },
            },
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": [host(spec, env)], "secretName": f"{spec.app}-tls"}],
                "rules": [
                    {
                        "host": host(spec, env),
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": spec.app, "port": {"name": "http"}}
                                    },
                                }
                            ]
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta,
            "spec": {
                "selector": {"matchLabels": selector},
                **({"minAvailable": 1} if replicas > 1 else {"maxUnavailable": 1}),
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.app},
                "minReplicas": replicas,
                "maxReplicas": max(replicas * 4, 4),
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        },
    ]
    release = spec.release_command
    if release:  # the release command, once per release: apply this Job and wait for it first
        job_container = {
            k: v
            for k, v in container(spec, env).items()
            if k not in ("readinessProbe", "livenessProbe", "startupProbe", "ports")
        }
        job_container["name"] = "release"
        job_container["command"] = ["sh", "-c", release]
        # a Job's template is immutable: `kubectl delete job <name> --ignore-not-found`
        # before applying a new image (cockpit deploy names one Job per release instead)
        job_labels = {"app.kubernetes.io/name": spec.app,  # not the Service's selector
                      "app.kubernetes.io/component": "release-command",
                      "app.kubernetes.io/managed-by": "cockpit"}
        docs.append(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {**meta, "name": f"{spec.app}-{env.name}-release",
                             "labels": job_labels},
                "spec": {
                    "backoffLimit": 0,
                    "activeDeadlineSeconds": 600,
                    "ttlSecondsAfterFinished": 3600,
                    "template": {
                        "metadata": {"labels": job_labels},
                        "spec": {
                            **pod_spec,
                            "restartPolicy": "Never",
                            "containers": [job_container],
                        },
                    },
                },
            }
        )
    return docs


def render_all(spec: Spec) -> list[tuple[str, str]]:
    out = []
    for env in spec.environments:
        head = (
            f"# Generated by `cockpit generate kubernetes` for environment {env.name!r}.\n"
            f"# `{IMAGE_PLACEHOLDER}` is replaced by cockpit deploy with the digest-pinned "
            "image.\n"
        )
        if spec.volumes:  # said, not silently left out
            head += ("# The app writes to " + ", ".join(sorted(spec.volumes.values()))
                     + ": these manifests mount no volume there (the root filesystem is\n"
                     "# read-only); use a database or add a PersistentVolumeClaim yourself.\n")
        out.append((f"deploy/kubernetes/{env.name}.yaml", head + dump_all(manifests(spec, env))))
    return out
