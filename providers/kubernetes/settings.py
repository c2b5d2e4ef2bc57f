"""`[environments.<name>]` keys of a Kubernetes environment (provider = "kubernetes")."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cockpit.provider import ProviderSettings


class KubernetesSettings(ProviderSettings):
    namespace: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        json_schema_extra={"expect": "a namespace name (RFC 1123 label)"},
    )
    kubeconfig: str | None = Field(
        None, json_schema_extra={"expect": "a kubeconfig path", "access": True}
    )
    context: str | None = Field(None, json_schema_extra={"expect": "a kubeconfig context name"})
    image_repository: str | None = Field(
        None, json_schema_extra={"expect": "a registry repository like registry:5000/app"}
    )
    ingress_class: str | None = Field(None, json_schema_extra={"expect": "an ingress class"})
    cert_issuer: str | None = Field(
        None, json_schema_extra={"expect": "a cert-manager ClusterIssuer name"}
    )
    cpu: str | None = Field(None, json_schema_extra={"expect": "a CPU quantity like \"250m\""})
    memory: str | None = Field(
        None, json_schema_extra={"expect": "a memory quantity like \"256Mi\""}
    )
    progress_deadline: int = Field(
        600, ge=1, le=3600, json_schema_extra={"expect": "seconds, 1-3600"}
    )
    revision_history: int = Field(
        10, ge=1, le=100, json_schema_extra={"expect": "an integer 1-100 (kept ReplicaSets)"}
    )
    service_port: int = Field(
        80, ge=1, le=65535, json_schema_extra={"expect": "an integer 1-65535"}
    )
    max_restarts: int = Field(
        0, ge=0, le=100,
        json_schema_extra={"expect": "an integer 0-100 (restarts tolerated by the gate)"},
    )
    health_url: str | None = Field(
        None, pattern=r"^https?://",
        json_schema_extra={"expect": "a URL for the gate (default: the API server's proxy)",
                           "access": True},
    )
    create_namespace: bool = Field(True, json_schema_extra={"expect": "true or false"})
    release_timeout: int = Field(
        600, ge=1, le=86400,
        json_schema_extra={"expect": "seconds the release command's Job may run "
                                     "(activeDeadlineSeconds)", "access": True},
    )
    lock_ttl: float = Field(
        900.0, gt=0, le=86400, json_schema_extra={"expect": "seconds", "access": True}
    )

    def exclusive(self, app: str, env: str) -> dict[str, tuple[str, Any]]:
        return {"namespace": ("namespace", f"{self.context or ''}/{self.namespace}")}

    DOCS = {
        "namespace": ("The namespace the environment's Deployment, Service and Secrets live in.",
                      "Namespace"),
        "kubeconfig": ("The kubeconfig file cockpit reads (relative to cockpit.toml; default "
                       "$KUBECONFIG or ~/.kube/config).", "Kubeconfig path"),
        "context": ("The kubeconfig context to use (default: its current context).",
                    "Kubeconfig context"),
        "image_repository": ("The registry repository images are pushed to and the cluster "
                             "pulls from.", "Image repository (registry/app)"),
        "ingress_class": ("The ingress class of the Ingress made for the domain.",
                          "Ingress class"),
        "cert_issuer": ("The cert-manager ClusterIssuer that issues the domain's certificate.",
                        "Certificate issuer"),
        "cpu": ("The CPU request and limit of each pod.", "CPU per pod (e.g. 250m)"),
        "memory": ("The memory request and limit of each pod.", "Memory per pod (e.g. 256Mi)"),
        "progress_deadline": ("Seconds the Deployment may take to make progress before the "
                              "rollout counts as failed.", "Progress deadline (seconds)"),
        "revision_history": ("How many old ReplicaSets (releases to roll back to) are kept.",
                             "Releases kept"),
        "service_port": ("The port the Service listens on.", "Service port"),
        "max_restarts": ("Container restarts the gate tolerates before it fails the release.",
                         "Restarts tolerated by the gate"),
        "health_url": ("A URL the gate probes instead of the API server's service proxy.",
                       "Health URL for the gate"),
        "create_namespace": ("Whether `cockpit setup` creates the namespace when it is missing.",
                             "Create the namespace?"),
        "lock_ttl": ("Seconds the deploy lock (a Lease) lives without renewal.",
                     "Deploy lock TTL (seconds)"),
        "release_timeout": ("Seconds the release command's Job may run before it fails "
                            "(activeDeadlineSeconds).", "Release command timeout (seconds)"),
    }
