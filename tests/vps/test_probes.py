"""The core probes every provider reuses: the gate's counting, TLS read from a live handshake
(a local TLS server with a throwaway certificate), DNS through a configured resolver."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading

import pytest

from cockpit.events import HealthSample
from cockpit.probes import check_dns, check_tls, describe_failure, wait_healthy


def _samples(*oks: bool):
    it = iter(oks)

    def fn() -> HealthSample:
        ok = next(it)
        return HealthSample(ok=ok, status=200 if ok else 503, latency_ms=1.0,
                            error="" if ok else "HTTP 503")

    return fn


def test_gate_needs_n_consecutive_successes():
    ok, samples = wait_healthy(_samples(True, False, True, True, True), 3, 0.001, 5)
    assert ok and len(samples) == 5


def test_gate_fails_at_its_deadline_and_says_why():
    ok, samples = wait_healthy(_samples(*([False] * 1000)), 3, 0.01, 0.05)
    assert not ok and 1 <= len(samples) < 1000
    assert "503" in describe_failure(samples) and "last failure: HTTP 503" in \
        describe_failure(samples)


@pytest.fixture
def tls_server(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Probe Test CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=10))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("probe.test")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    pem = tmp_path / "cert.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile = tmp_path / "key.pem"
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem, keyfile)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], str(pem)
    stop.set()
    thread.join(timeout=2)
    listener.close()


def test_tls_details_come_from_the_live_handshake(tls_server):
    port, ca = tls_server
    info = check_tls("127.0.0.1", port, "probe.test", ca_file=ca)
    assert info.ok and info.issuer == "Probe Test CA" and info.names == ["probe.test"]
    assert info.days_left in (9, 10)


def test_an_untrusted_certificate_is_not_ok_but_still_described(tls_server):
    port, _ = tls_server
    info = check_tls("127.0.0.1", port, "probe.test")
    assert not info.ok and "does not verify" in info.error
    assert info.issuer == "Probe Test CA" and info.days_left is not None


def test_tls_to_a_closed_port_says_so():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    info = check_tls("127.0.0.1", port, "x.test", timeout=1)
    assert not info.ok and "handshake" in info.error


@pytest.mark.lab
def test_dns_through_the_labs_resolver(lab):
    good = check_dns("anything.zdt.test", "127.0.0.1", lab.dns)
    assert good.ok and good.records["A"] == ["127.0.0.1"]
    wrong = check_dns("anything.zdt.test", "127.0.0.2", lab.dns)
    assert not wrong.ok and "expected 127.0.0.2" in wrong.error
