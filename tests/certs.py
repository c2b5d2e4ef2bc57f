"""Self-signed certificates and a loopback TLS server for the TLS probe tests (VPS probes, Fly
certificates) and the stale-certificate test of the VPS edge."""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path


def self_signed(domain: str, issuer: str, days: int, *, ca: bool = False) -> tuple[bytes, bytes]:
    """(certificate PEM, PKCS8 key PEM) for `domain`, its own issuer named `issuer`, valid
    from a day ago for `days` days; `ca` marks it a CA so it can be its own trust anchor."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), False))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    cert = builder.sign(key, hashes.SHA256())
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@contextlib.contextmanager
def tls_server(folder: Path, domain: str, issuer: str, days: int) -> Iterator[tuple[int, str]]:
    """A loopback TLS server presenting a self-signed CA certificate for `domain`: yields
    (port, path of that certificate, to trust as the CA). Each client gets the handshake."""
    cert, key = self_signed(domain, issuer, days, ca=True)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert)
    key_file.write_bytes(key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
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
    try:
        yield listener.getsockname()[1], str(cert_file)
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
