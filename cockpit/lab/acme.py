"""ACME: Pebble (a real ACME server) and pebble-challtestsrv (its DNS, and ours).

Pebble serves its API over TLS, so the lab makes a small CA and a leaf for 127.0.0.1 /
localhost / pebble; clients (Caddy's `acme_ca_root`, httpx) trust that CA
(`COCKPIT_LAB_ACME_CA_ROOT`). Certificates Pebble issues chain to a different root that Pebble
generates at every start; the lab saves it (`COCKPIT_LAB_ACME_ISSUER_ROOT`) so probes can verify
what the edge serves. Pebble validates http-01 / tls-alpn-01 on the edge's ports, resolving
names through challtestsrv, which answers 127.0.0.1 for every name (no AAAA).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import ssl
import urllib.request
from pathlib import Path

from ._proc import LabError, State, port_open, spawn, stop_pid, wait_for

# Pebble validates for real (no always-valid), answers without its random sleeps, and does not
# reject nonces at random: fast and deterministic, still a real ACME exchange.
PEBBLE_ENV = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0",
              "PEBBLE_VA_ALWAYS_VALID": "0"}


def pebble_config(p: dict[str, Path], api: int, mgmt: int, http: int, https: int) -> dict:
    """Pebble's config: loopback API and management ports, the lab's TLS key pair, and the
    ports it validates http-01 and tls-alpn-01 challenges on."""
    return {
        "pebble": {
            "listenAddress": f"127.0.0.1:{api}",
            "managementListenAddress": f"127.0.0.1:{mgmt}",
            "certificate": str(p["cert"]),
            "privateKey": str(p["key"]),
            "httpPort": http,
            "tlsPort": https,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }


def paths(root: Path) -> dict[str, Path]:
    d = root / "acme"
    return {
        "dir": d,
        "ca": d / "api-ca.pem",
        "ca_key": d / "api-ca.key",
        "cert": d / "api-cert.pem",
        "key": d / "api-key.pem",
        "config": d / "pebble-config.json",
        "issuer_root": d / "issuer-root.pem",
        "pebble_log": root / "pebble.log",
        "cts_log": root / "challtestsrv.log",
    }


def make_api_certs(p: dict[str, Path]) -> None:
    """A throwaway CA plus a leaf for Pebble's API (made once, kept in the lab dir)."""
    if all(p[k].exists() for k in ("ca", "cert", "key")):
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cockpit lab ACME API CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName("pebble"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    p["dir"].mkdir(parents=True, exist_ok=True)
    p["ca_key"].write_bytes(
        ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    p["key"].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    for k in ("ca_key", "key"):
        os.chmod(p[k], 0o600)
    p["cert"].write_bytes(leaf.public_bytes(pem))
    p["ca"].write_bytes(ca.public_bytes(pem))


def _ctx(p: dict[str, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(p["ca"]))


def _get(url: str, p: dict[str, Path], timeout: float = 2) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=_ctx(p)) as resp:
            return resp.read() if resp.status == 200 else None
    except OSError:
        return None


def ensure(state: State, ports: dict[str, int]) -> dict[str, object]:
    for tool in ("pebble", "pebble-challtestsrv"):
        if not shutil.which(tool):
            raise LabError(f"{tool} not found: install the Debian package pebble")
    p = paths(state.root)
    make_api_certs(p)
    dns, cts_mgmt = ports["dns"], ports["challtestsrv_mgmt"]
    api, mgmt = ports["pebble"], ports["pebble_mgmt"]
    http, https = ports["http"], ports["https"]

    want = {"dns": dns, "mgmt": cts_mgmt}
    pid = state.alive("challtestsrv")
    cts_changed = False
    if not (
        pid
        and all(state.procs["challtestsrv"].get(k) == v for k, v in want.items())
        and port_open(cts_mgmt)
    ):
        if pid:
            stop_pid(pid)
        proc = spawn(
            [
                "pebble-challtestsrv",
                "-dns01",
                f"127.0.0.1:{dns}",
                "-management",
                f"127.0.0.1:{cts_mgmt}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ],
            p["cts_log"],
        )
        state.record("challtestsrv", proc.pid, **want)
        wait_for(
            lambda: port_open(cts_mgmt) and port_open(dns),
            "pebble-challtestsrv",
            timeout=20,
            log=p["cts_log"],
            proc=proc,
        )
        cts_changed = True

    want = {"api": api, "mgmt": mgmt, "http": http, "https": https, "dns": dns}
    pid = state.alive("pebble")
    if cts_changed or not (
        pid
        and all(state.procs["pebble"].get(k) == v for k, v in want.items())
        and _get(f"https://127.0.0.1:{api}/dir", p)
    ):
        if pid:
            stop_pid(pid)
        p["config"].write_text(json.dumps(pebble_config(p, api, mgmt, http, https), indent=2))
        proc = spawn(
            ["pebble", "-config", str(p["config"]), "-dnsserver", f"127.0.0.1:{dns}"],
            p["pebble_log"],
            env=PEBBLE_ENV,
        )
        state.record("pebble", proc.pid, **want)
        wait_for(
            lambda: _get(f"https://127.0.0.1:{api}/dir", p) is not None,
            "pebble",
            timeout=20,
            log=p["pebble_log"],
            proc=proc,
        )
        pid = proc.pid
        p["issuer_root"].unlink(missing_ok=True)
    root = _get(f"https://127.0.0.1:{mgmt}/roots/0", p, timeout=5)
    if not root or b"BEGIN CERTIFICATE" not in root:
        raise LabError(
            f"pebble's issuing root not served at https://127.0.0.1:{mgmt}/roots/0; "
            f"see {p['pebble_log']}"
        )
    if not p["issuer_root"].exists() or p["issuer_root"].read_bytes() != root:
        p["issuer_root"].write_bytes(root)
    return {
        "up": True,
        "address": f"https://127.0.0.1:{api}/dir",
        "pid": pid,
        "dns": f"127.0.0.1:{dns}",
        "dns_pid": state.alive("challtestsrv"),
        "ca_root": str(p["ca"]),
        "issuer_root": str(p["issuer_root"]),
        "management": f"https://127.0.0.1:{mgmt}",
        "challtestsrv": f"http://127.0.0.1:{cts_mgmt}",
    }
