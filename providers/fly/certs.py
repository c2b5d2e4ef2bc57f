"""Custom domains on Fly: the certificates API, the exact DNS records, then a TLS probe.

flyctl's cert output was unclear about AAAA values and the ACME CNAME (#48, #2477). Here every
record to create is listed with its type, name, value and purpose, and the certificate is
polled (check + read, with backoff) until issued or the deadline passes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cockpit.providers.fly.api import FlyApiError

from cockpit.events import Emit, Message, StepFinished, StepStarted
from cockpit.models import DnsInfo, DomainStatus, TlsInfo

if TYPE_CHECKING:
    from cockpit.config import Environment


def records(host: str, detail: dict[str, Any]) -> list[dict[str, str]]:
    req = detail.get("dns_requirements") or {}
    out: list[dict[str, str]] = []
    for ip in req.get("a") or []:
        out.append({"type": "A", "name": host, "value": ip, "purpose": "route traffic (IPv4)"})
    for ip in req.get("aaaa") or []:
        out.append({"type": "AAAA", "name": host, "value": ip,
                    "purpose": "route traffic (IPv6)"})
    if req.get("cname"):
        out.append({"type": "CNAME", "name": host, "value": req["cname"],
                    "purpose": "alternative to A+AAAA (not at a zone apex)"})
    acme = req.get("acme_challenge") or {}
    if acme.get("name"):
        out.append({"type": "CNAME", "name": acme["name"], "value": acme.get("target", ""),
                    "purpose": "ACME DNS-01 challenge (needed for wildcards; lets the cert be "
                               "issued before traffic moves)"})
    own = req.get("ownership") or {}
    if own.get("name"):
        out.append({"type": "TXT", "name": own["name"], "value": own.get("app_value", ""),
                    "purpose": "proves ownership when the domain points elsewhere"})
    return out


def _issued(detail: dict[str, Any]) -> bool:
    certs = detail.get("certificates") or []
    return any(c.get("status") == "active" and c.get("issued") for c in certs)


def configure(provider: Any, env: Environment, domain: str, emit: Emit) -> DomainStatus:
    s = env.settings
    api = provider._api(env)
    host = domain.lower().rstrip(".")
    provider._ensure_app(env, emit)
    provider._ensure_ips(env, emit)
    base = f"/apps/{s.app}/certificates"
    emit(StepStarted(step="cert", title=f"request a certificate for {host}", env=env.name))
    try:
        detail = api.request("POST", base + "/acme", op=f"add certificate {host}",
                             json={"hostname": host}, idempotent=True)
    except FlyApiError as exc:
        if exc.status not in (409, 422):
            raise
        detail = api.request("GET", f"{base}/{host}", op=f"read certificate {host}")
    emit(StepFinished(step="cert", detail="requested", env=env.name))
    status = DomainStatus(domain=host, records_to_create=records(host, detail),
                          status="issued" if _issued(detail) else "pending",
                          redirects_to_https=True)  # port 80 is `force_https` in our config
    lines = [f"  {r['type']:<5} {r['name']} → {r['value']}   ({r['purpose']})"
             for r in status.records_to_create]
    emit(Message(f"DNS records for {host}:\n" + "\n".join(lines), env=env.name))
    deadline = time.monotonic() + s.cert_timeout
    delay = 0.1
    emit(StepStarted(step="cert-wait", title=f"wait until the certificate for {host} is issued",
                     env=env.name))
    while not _issued(detail):
        if time.monotonic() >= deadline:
            errors = detail.get("validation_errors") or []
            for err in errors:
                emit(Message(f"{err.get('message')}: {err.get('remediation')}",
                             level="warning", env=env.name))
            emit(StepFinished(step="cert-wait", detail="still pending", env=env.name))
            status.status = "pending"
            return status
        provider.sleep(delay)
        delay = min(delay * 2, 5.0)
        api.request("POST", f"{base}/{host}/check", op=f"check certificate {host}",
                    idempotent=True)
        detail = api.request("GET", f"{base}/{host}", op=f"read certificate {host}")
    status.status = "issued"
    emit(StepFinished(step="cert-wait", detail="issued", env=env.name))
    if s.tls_probe:
        emit(StepStarted(step="tls", title=f"probe TLS on {host}", env=env.name))
        expected = [r["value"] for r in status.records_to_create if r["type"] in ("A", "AAAA")]
        status.dns, status.tls = _probe(env, host, expected)
        emit(StepFinished(step="tls", detail="ok" if status.tls.ok else
                          (status.tls.error or "failed"), env=env.name))
    return status


def _probe(env: Environment, host: str, expected: list[str]) -> tuple[DnsInfo | None, TlsInfo]:
    """The core probes: DNS must point at the app before the TLS handshake means anything.

    With `tls_probe_address` the handshake dials that address (SNI is still the domain), for
    a lab or a check before DNS moves."""
    from cockpit import probes

    s = env.settings
    if s.tls_probe_address:
        addr, _, port = s.tls_probe_address.rpartition(":")
        return None, probes.check_tls(addr, int(port), host, ca_file=s.tls_ca_file)
    dns = probes.check_dns(host, expected, resolver=s.dns_resolver)
    if not dns.ok:
        return dns, TlsInfo(ok=False, error=f"not reachable yet: {dns.error}")
    return dns, probes.check_tls(host, 443, host, ca_file=s.tls_ca_file)
