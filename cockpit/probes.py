"""Probes every provider reuses: HTTP health, the health gate, DNS, TLS, HTTP→HTTPS redirect.

Each probe returns a value (never raises for a failed check) so gates, `status` and `domain`
can show *why* something is unhealthy: the status code, the error, the certificate's issuer
and expiry as read from the live handshake.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from cockpit.events import Emit, HealthSample, Message
from cockpit.models import DnsInfo, TlsInfo


def http_health(
    url: str, host_header: str | None = None, timeout: float = 5.0,
    verify: bool | str | ssl.SSLContext = True, connect_to: tuple[str, int] | None = None,
) -> HealthSample:
    """One GET; ok when 2xx. `host_header` sets Host (and SNI for https);
    `connect_to` dials that address instead of resolving the URL's host (the edge's address).
    `verify` is True (system trust), False, a CA bundle path, or an SSLContext (reuse one
    across a gate's samples: loading a CA bundle costs more than the request)."""
    import httpx

    parts = urlsplit(url)
    headers = {"Host": host_header} if host_header else {}
    extensions: dict[str, Any] = {}
    target = url
    if host_header and parts.scheme == "https":
        extensions["sni_hostname"] = host_header
    if connect_to:
        target = parts._replace(netloc=f"{connect_to[0]}:{connect_to[1]}").geturl()
        if parts.scheme == "https" and "sni_hostname" not in extensions:
            extensions["sni_hostname"] = parts.hostname
    started = time.monotonic()
    try:
        with httpx.Client(verify=_ssl_context(verify) if parts.scheme == "https" else True,
                          timeout=timeout, follow_redirects=False) as client:
            request = client.build_request("GET", target, headers=headers, extensions=extensions)
            response = client.send(request)
        ms = round((time.monotonic() - started) * 1000, 1)
        ok = 200 <= response.status_code < 300
        return HealthSample(ok=ok, status=response.status_code, latency_ms=ms, url=url,
                            error="" if ok else f"HTTP {response.status_code}")
    except Exception as exc:  # httpx.HTTPError, ssl errors, OSError
        ms = round((time.monotonic() - started) * 1000, 1)
        return HealthSample(ok=False, status=None, latency_ms=ms, url=url,
                            error=f"{type(exc).__name__}: {exc}"[:300])


def _ssl_context(verify: bool | str | ssl.SSLContext) -> ssl.SSLContext | bool:
    if verify is False or isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return ssl.create_default_context()


def wait_healthy(
    sample_fn: Callable[[], HealthSample], count: int, interval: float, deadline: float,
    emit: Emit | None = None, retry_interval: float = 0.05, *,
    start_period: float = 5.0, fail_streak: int = 5,
) -> tuple[bool, list[HealthSample]]:
    """The health gate (cockpit.gate) over a probe: `count` consecutive 2xx samples, one every
    `interval` seconds, within `deadline` seconds, failing fast on `fail_streak` 5xx in a row
    after `start_period`. Returns (passed, every sample taken, as the probe answered them)."""
    from cockpit import gate

    taken: list[HealthSample] = []

    def sample(_timeout: float) -> gate.Sample:
        health = sample_fn()
        taken.append(health)
        if emit is not None:
            emit(health)
        return gate.Sample.of(health)

    policy = gate.Policy(count=count, interval=interval, deadline=deadline, poll=retry_interval,
                         start_period=start_period, fail_streak=fail_streak)
    try:
        gate.run(sample, policy)
    except gate.GateError:
        return False, taken
    return True, taken


def describe_failure(samples: list[HealthSample]) -> str:
    """One line on why a gate failed: the last error and how the samples went."""
    from cockpit import gate

    return gate.describe(samples)


def check_dns(name: str, expected: list[str] | str | None = None,
              resolver: str | None = None, timeout: float = 3.0) -> DnsInfo:
    """A/AAAA/CNAME of `name` from `resolver` ("host:port"; None: the system's)."""
    import dns.exception
    import dns.resolver

    want = [expected] if isinstance(expected, str) else list(expected or [])
    res = dns.resolver.Resolver(configure=resolver is None)
    if resolver:
        host, _, port = resolver.rpartition(":")
        res.nameservers = [host or resolver]
        res.port = int(port) if port and host else 53
    res.lifetime = timeout
    records: dict[str, list[str]] = {}
    error = None
    for rtype in ("A", "AAAA", "CNAME"):
        try:
            answer = res.resolve(name, rtype, raise_on_no_answer=False)
            values = sorted(r.to_text().rstrip(".") for r in answer) if answer.rrset else []
            if values:
                records[rtype] = values
        except dns.resolver.NXDOMAIN:
            error = f"{name} does not exist (NXDOMAIN)"
            break
        except (dns.exception.DNSException, OSError) as exc:
            error = f"{rtype} lookup failed: {type(exc).__name__}: {exc}"
    addresses = records.get("A", []) + records.get("AAAA", [])
    ok = bool(addresses) and (not want or bool(set(addresses) & set(want)))
    if ok:
        error = None
    elif addresses:
        error = f"{name} points at {', '.join(addresses)}, expected {', '.join(want)}"
    elif error is None:
        error = f"{name} has no A or AAAA record"
    return DnsInfo(ok=ok, name=name, records=records, expected=want, error=error)


def check_tls(host: str, port: int, server_name: str, ca_file: str | None = None,
              timeout: float = 5.0) -> TlsInfo:
    """Certificate status from the live handshake: issuer, names, not-after, days left.

    `ok` means the chain verifies (against `ca_file`, or the system's trust) for
    `server_name`. The details are read even when verification fails, to say why."""
    verified_error = None
    try:
        ctx = ssl.create_default_context(cafile=ca_file) if ca_file else \
            ssl.create_default_context()
        der = _handshake(host, port, server_name, ctx, timeout)
    except ssl.SSLCertVerificationError as exc:
        verified_error = f"certificate does not verify: {exc.verify_message or exc}"
        der = None
    except (OSError, ssl.SSLError) as exc:
        return TlsInfo(ok=False, error=f"TLS handshake with {host}:{port} failed: {exc}")
    if der is None:
        try:
            loose = ssl.create_default_context()
            loose.check_hostname = False
            loose.verify_mode = ssl.CERT_NONE
            der = _handshake(host, port, server_name, loose, timeout)
        except (OSError, ssl.SSLError) as exc:
            return TlsInfo(ok=False, error=f"TLS handshake with {host}:{port} failed: {exc}")
    info = _describe_cert(der)
    info.ok = verified_error is None
    info.error = verified_error
    return info


def _handshake(host: str, port: int, server_name: str, ctx: ssl.SSLContext,
               timeout: float) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server sent no certificate")
    return der


def _describe_cert(der: bytes) -> TlsInfo:
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID, NameOID

    cert = x509.load_der_x509_certificate(der)
    cn = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    issuer = cn[0].value if cn else cert.issuer.rfc4514_string()
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        names = [str(n) for n in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        pass
    not_after = cert.not_valid_after_utc.timestamp()
    days_left = int((not_after - time.time()) // 86400)
    return TlsInfo(ok=False, issuer=str(issuer), names=names, not_after=not_after,
                   days_left=days_left)


def check_redirect(http_url: str, host: str | None = None, timeout: float = 5.0) -> bool:
    """True when a plain-HTTP request is redirected (3xx) to an https:// location."""
    import httpx

    headers = {"Host": host} if host else {}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.get(http_url, headers=headers)
    except httpx.HTTPError:
        return False
    location = response.headers.get("location", "")
    return 300 <= response.status_code < 400 and location.startswith("https://")


def note(emit: Emit | None, text: str, level: str = "info", env: str | None = None) -> None:
    if emit is not None:
        emit(Message(text, level=level, env=env))
