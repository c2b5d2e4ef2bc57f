"""KubernetesProvider's setup operations: module functions taking the provider first (the class in
__init__.py delegates to them, the way the VPS provider's class does)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cockpit.providers.kubernetes import manifests as m

from cockpit.errors import ProviderError
from cockpit.events import (
    Emit,
    Message,
    StepFailed,
    StepFinished,
    StepSkipped,
)
from cockpit.models import (
    DomainStatus,
    Finding,
    TlsInfo,
)

if TYPE_CHECKING:

    from cockpit.config import Environment

from cockpit.providers.kubernetes.flow import _parse_time, _tls_probe


def preflight(provider, env: Environment) -> list[Finding]:
    from cockpit.providers.kubernetes.kube import ApiFailure

    s = env.settings
    where = f"{s.context or 'current-context'}/{s.namespace}"
    findings: list[Finding] = []
    try:
        kube = provider.kube(env)
    except ProviderError as exc:
        return [Finding("k8s.kubeconfig", "error", exc.what, where=s.kubeconfig, fix=exc.hint)]
    try:
        version = kube.version()
        findings.append(Finding("k8s.reachable", "info",
                                f"the API server of context {s.context or 'current-context'}"
                                f" answers (Kubernetes {version.get('gitVersion', '?')})",
                                where=kube.host))
    except ApiFailure as exc:
        return [*findings, Finding("k8s.reachable", "error", exc.what, where=where,
                                   fix=exc.hint)]
    try:
        exists = kube.namespace_exists()
    except ApiFailure as exc:
        if exc.status != 403:
            return [*findings, Finding("k8s.namespace", "error", exc.what, where=where)]
        exists = None
    if exists is False:
        allowed, _ = kube.can("create", "", "namespaces")
        if allowed and s.create_namespace:
            findings.append(Finding("k8s.namespace", "info",
                                    f"namespace {s.namespace!r} does not exist; setup and "
                                    "deploy will create it", where=where))
        else:
            findings.append(Finding(
                "k8s.namespace", "error",
                f"namespace {s.namespace!r} does not exist and cockpit may not create it",
                where=where,
                fix=f"ask a cluster admin: kubectl create namespace {s.namespace}"))
    for verb, group, resource, sub in m.access_checks(env):
        allowed, reason = kube.can(verb, group, resource, sub, namespace=s.namespace)
        if not allowed:
            res = resource + (f"/{sub}" if sub else "")
            api = f"{group}/" if group else ""
            findings.append(Finding(
                f"k8s.rbac.{res.replace('/', '.')}.{verb}", "error",
                f"not allowed to {verb} {api}{res} in namespace {s.namespace!r}"
                + (f" ({reason})" if reason else ""),
                where=where,
                fix=f"kubectl create role cockpit --verb={verb} --resource={resource}"
                    f"{'.' + group if group else ''} -n {s.namespace} (and bind it to the "
                    "kubeconfig user)"))
    if not any(f.severity == "error" for f in findings):
        findings.append(Finding("k8s.rights", "info",
                                "rights for deployments, services, secrets, pods/log, "
                                "leases" + (", ingresses" if env.domain else "") + " granted",
                                where=where))
    if env.domain and not s.cert_issuer:
        findings.append(Finding("k8s.tls", "warning",
                                f"domain {env.domain} has no cert-manager issuer: the "
                                "Ingress will serve without TLS", where=where,
                                fix="set cert_issuer = \"<ClusterIssuer>\" in the environment"))
    return findings


def setup(provider, env: Environment, emit: Emit) -> list[Finding]:
    kube = provider.kube(env)
    if kube.namespace_exists():
        emit(StepSkipped(step="namespace", reason="exists", env=env.name))
        return []
    with provider._stage(emit, env, "namespace", f"namespace {env.settings.namespace}") as out:
        if not env.settings.create_namespace:
            raise ProviderError(f"namespace {env.settings.namespace!r} does not exist",
                                where=kube.where,
                                hint=f"kubectl create namespace {env.settings.namespace}")
        kube.apply(m.namespace(env))
        out["detail"] = "created"
    return []


def configure_domain(provider, env: Environment, domain: str, emit: Emit) -> DomainStatus:
    kube = provider.kube(env)
    if not kube.namespace_exists():
        provider.setup(env, emit)
    with provider._stage(emit, env, "ingress", f"ingress for {domain}"):
        ing = kube.apply(m.ingress(env, domain))
    status = DomainStatus(domain=domain)

    def records() -> list[dict[str, Any]]:
        fresh = kube.get("read ingress", kube.net.read_namespaced_ingress, m.app_name(env),
                         kube.namespace) or ing
        lb = ((fresh.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        status.records_to_create = [
            {"type": "A", "name": domain, "value": e["ip"]} if e.get("ip") else
            {"type": "CNAME", "name": domain, "value": e["hostname"]}
            for e in lb if e.get("ip") or e.get("hostname")]
        return lb

    lb = records()
    if not env.settings.cert_issuer:
        status.status = "unknown"
        emit(Message(f"no cert_issuer set: {domain} is served without TLS", level="warning",
                     env=env.name))
        return status
    timer = provider._step(emit, env, "certificate", "cert-manager certificate")
    deadline = time.monotonic() + min(env.gate.deadline, 30)
    tls = provider._certificate(env)
    while (tls is None or (not tls.ok and not tls.error)) and time.monotonic() < deadline:
        time.sleep(0.2)
        tls = provider._certificate(env)
    status.tls = tls
    if tls is not None and tls.ok:
        status.status = "issued"
        emit(StepFinished(step="certificate", detail=f"ready, {tls.days_left} days left",
                          env=env.name, seconds=timer.seconds()))
    elif tls is not None and tls.error:
        status.status = "failed" if "failed" in tls.error.lower() else "pending"
        emit(StepFailed(step="certificate", error=tls.error, env=env.name))
    else:
        status.status = "pending"
        emit(StepFinished(step="certificate", detail="pending", env=env.name,
                          seconds=timer.seconds()))
    lb = records() or lb  # the ingress controller fills its address in meanwhile
    address = next((e.get("ip") or e.get("hostname") for e in lb), None)
    probed = _tls_probe(address, domain, env.common.acme_ca_root)
    if probed is not None:
        status.tls = probed
    return status


def _ingress(provider, env: Environment) -> dict[str, Any] | None:
    """The environment's Ingress when cockpit made it (never someone else's)."""
    from cockpit.providers.kubernetes.kube import ApiFailure

    kube = provider.kube(env)
    try:
        ing = kube.get("read ingress", kube.net.read_namespaced_ingress, m.app_name(env),
                       kube.namespace)
    except ApiFailure:
        return None
    labels = ((ing or {}).get("metadata") or {}).get("labels") or {}
    return ing if labels.get("app.kubernetes.io/managed-by") == "cockpit" else None


def _certificate(provider, env: Environment) -> TlsInfo | None:
    """cert-manager's Certificate for the Ingress TLS secret (ingress-shim names it so)."""
    from cockpit.providers.kubernetes.kube import ApiFailure

    kube = provider.kube(env)
    try:
        cert = kube.get("read certificate", kube.custom.get_namespaced_custom_object,
                        "cert-manager.io", "v1", kube.namespace, "certificates",
                        m.tls_secret_name(env))
    except ApiFailure as exc:
        return TlsInfo(ok=False, error=f"cannot read the Certificate: {exc.what}")
    if cert is None:
        return None
    st = cert.get("status") or {}
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    not_after = _parse_time(st.get("notAfter"))
    days = int((not_after - time.time()) // 86400) if not_after else None
    issuer = ((cert.get("spec") or {}).get("issuerRef") or {}).get("name")
    names = list((cert.get("spec") or {}).get("dnsNames") or [])
    if ready and ready.get("status") == "True":
        return TlsInfo(ok=True, issuer=issuer, names=names, not_after=not_after,
                       days_left=days)
    reason = ready.get("reason") if ready else None
    error = None
    if ready and reason not in (None, "DoesNotExist", "InProgress", "Issuing"):
        error = f"{reason}: {ready.get('message', '')}"
    return TlsInfo(ok=False, issuer=issuer, names=names, not_after=not_after,
                   days_left=days, error=error)
