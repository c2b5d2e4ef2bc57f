"""Custom domains: exact DNS records to create, then polling until the cert is issued."""

from __future__ import annotations

import pytest

from cockpit import pipeline
from cockpit.events import Message

from .conftest import Recorder

pytestmark = pytest.mark.timeout(60)


def test_domain_shows_exact_dns_records_and_waits_until_issued(project, emu):
    ctx = project()
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    rec = Recorder()
    status = provider.configure_domain(env, "shop.example.com", rec)
    assert status.status == "issued"
    app = emu.apps["shop-staging"]
    v4 = [i["ip"] for i in app.ips if "." in i["ip"]]
    v6 = [i["ip"] for i in app.ips if ":" in i["ip"]]
    assert v4 and v6  # addresses were allocated so A and AAAA have values
    got = {(r["type"], r["name"], r["value"]) for r in status.records_to_create}
    assert ("A", "shop.example.com", v4[0]) in got
    assert ("AAAA", "shop.example.com", v6[0]) in got
    assert ("CNAME", "shop.example.com", "shop-staging.fly.dev") in got
    assert ("CNAME", "_acme-challenge.shop.example.com",
            f"shop.example.com.{app.id[:6]}.flydns.net") in got
    assert ("TXT", "_fly-ownership.shop.example.com", f"app-{app.id}") in got
    assert all(r["purpose"] for r in status.records_to_create)
    shown = [e.text for e in rec.of("message") if isinstance(e, Message)]
    assert any("AAAA" in t and v6[0] in t and "_acme-challenge" in t for t in shown)
    assert "shop.example.com" in app.certs and app.certs["shop.example.com"]["issued"]


def test_domain_still_pending_reports_what_to_fix(project, emu):
    emu.cert_issue_after = 10_000
    ctx = project(cert_timeout=0.5)
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    rec = Recorder()
    status = provider.configure_domain(env, "shop.example.com", rec)
    assert status.status == "pending"
    assert len(status.records_to_create) == 5
    warnings = [e.text for e in rec.of("message") if e.level == "warning"]
    assert any("no A/AAAA or CNAME record" in w and "create the DNS records" in w
               for w in warnings)


def test_status_lists_certificates(project, emu):
    from .conftest import IMAGE_V1

    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    provider.configure_domain(env, "shop.example.com", Recorder())
    status = provider.status(env)
    assert status["certificates"] == [{"hostname": "shop.example.com", "status": "active"}]
    assert status["regions"] == ["ams", "iad"]
    assert all(m["health"] == "healthy" and m["checks"] for m in status["machines"])
    assert status["current"] and status["lock"] is None
    ctx2 = project(extra='domain = "shop.example.com"')
    tls = pipeline.live(ctx2, "staging").tls
    assert tls is not None and tls.ok and tls.names == ["shop.example.com"]
    assert tls.days_left is not None and tls.days_left >= 88


@pytest.fixture
def tls_server(tmp_path):
    """A loopback TLS server presenting a certificate for shop.example.com."""
    import datetime
    import socket
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Fly CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("shop.example.com")]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{sock.getsockname()[1]}", str(cert_file)
    stop.set()
    thread.join(timeout=2)
    sock.close()


def test_issued_certificate_is_checked_with_the_core_tls_probe(project, emu, tls_server):
    address, ca_file = tls_server
    ctx = project(tls_probe=True,
                  extra=f'tls_probe_address = "{address}"\ntls_ca_file = "{ca_file}"')
    env = ctx.config.env("staging")
    status = pipeline.provider_for(ctx, env).configure_domain(env, "shop.example.com",
                                                              Recorder())
    assert status.status == "issued"
    assert status.tls is not None and status.tls.ok, status.tls
    assert status.tls.names == ["shop.example.com"] and status.tls.issuer == "Test Fly CA"
