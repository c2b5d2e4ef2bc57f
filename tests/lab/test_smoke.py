"""The lab's parts really answer: each test talks to one real part the way Cockpit will."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from cockpit.lab._proc import free_port, port_bindable, spawn, stop_pid

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]


def _docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout.strip()


def _http_get(url: str, timeout: float = 1.0) -> tuple[int, bytes] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except OSError:
        return None


def _poll(fn, seconds: float, interval: float = 0.2):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + seconds
    while True:
        result = fn()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def test_lab_env_names_every_part(lab) -> None:  # noqa: ANN001
    out = subprocess.run(
        [sys.executable, "-m", "cockpit.lab", "env"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout
    exported = dict(shlex.split(line)[1].split("=", 1) for line in out.splitlines())
    for name in (
        "DOCKER_HOST",
        "DBUS_SESSION_BUS_ADDRESS",
        "COCKPIT_LAB_DIR",
        "COCKPIT_LAB_SSH_HOST",
        "COCKPIT_LAB_SSH_PORT",
        "COCKPIT_LAB_SSH_USER",
        "COCKPIT_LAB_SSH_KEY",
        "COCKPIT_LAB_SSH_HOSTKEY_SHA256",
        "COCKPIT_LAB_REGISTRY",
        "COCKPIT_LAB_BASE_IMAGE",
        "COCKPIT_LAB_CADDY_ADMIN",
        "COCKPIT_LAB_HTTP_PORT",
        "COCKPIT_LAB_HTTPS_PORT",
        "COCKPIT_LAB_ACME_CA",
        "COCKPIT_LAB_ACME_CA_ROOT",
        "COCKPIT_LAB_ACME_ISSUER_ROOT",
        "COCKPIT_LAB_DNS",
    ):
        assert exported.get(name), name
    assert exported == lab.as_env()
    for path in ("COCKPIT_LAB_SSH_KEY", "COCKPIT_LAB_ACME_CA_ROOT", "COCKPIT_LAB_ACME_ISSUER_ROOT"):
        assert Path(exported[path]).is_file(), path
    assert os.stat(exported["COCKPIT_LAB_SSH_KEY"]).st_mode & 0o077 == 0


def test_base_image_container_serves_http_on_loopback(lab) -> None:  # noqa: ANN001
    port = free_port(set())
    name = f"cockpit-smoke-http-{uuid.uuid4().hex[:8]}"
    _docker(
        "run",
        "-d",
        "--rm",
        "--network",
        "host",
        "--name",
        name,
        lab.base_image,
        "python3",
        "-m",
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
    )
    try:
        got = _poll(lambda: _http_get(f"http://127.0.0.1:{port}/"), 30)
        assert got is not None, _docker("logs", name, check=False)
        assert got[0] == 200
    finally:
        _docker("rm", "-f", name, check=False)


def test_docker_build_from_base_image_with_run_step(lab, tmp_path: Path) -> None:  # noqa: ANN001
    import docker

    (tmp_path / "Dockerfile").write_text(
        'ARG BASE\nFROM ${BASE}\nRUN echo built > /built.txt\nCMD ["cat", "/built.txt"]\n'
    )
    client = docker.from_env()
    tag = f"cockpit-smoke/build:{uuid.uuid4().hex[:8]}"
    image, _ = client.images.build(
        path=str(tmp_path),
        tag=tag,
        buildargs={"BASE": lab.base_image},
        network_mode="none",
        rm=True,
    )
    try:
        out = client.containers.run(tag, network_mode="none", remove=True)
        assert out.strip() == b"built"
    finally:
        client.images.remove(image.id, force=True)


def test_registry_push_then_pull_by_digest(lab, tmp_path: Path) -> None:  # noqa: ANN001
    repo = f"{lab.registry}/cockpit-smoke"
    tag = uuid.uuid4().hex[:8]
    _docker("tag", lab.base_image, f"{repo}:{tag}")
    _docker("push", f"{repo}:{tag}", timeout=300)
    digests = json.loads(
        _docker("image", "inspect", "--format", "{{json .RepoDigests}}", f"{repo}:{tag}")
    )
    digest_ref = next(d for d in digests if d.startswith(repo + "@sha256:"))
    _docker("rmi", f"{repo}:{tag}")
    if digest_ref in _docker("image", "ls", "--digests", "--format", "{{.Repository}}@{{.Digest}}"):
        _docker("rmi", digest_ref, check=False)
    _docker("pull", digest_ref, timeout=300)
    assert _docker("image", "inspect", "--format", "{{.Id}}", digest_ref) == _docker(
        "image", "inspect", "--format", "{{.Id}}", lab.base_image
    )
    _docker("rmi", digest_ref, check=False)


def test_ssh_to_lab_vps_runs_docker_ps_with_strict_host_key(lab) -> None:  # noqa: ANN001
    fp = subprocess.run(
        ["ssh-keygen", "-lf", lab.ssh_known_hosts], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert fp == lab.ssh_hostkey_sha256
    res = subprocess.run(
        [
            "ssh",
            "-p",
            str(lab.ssh_port),
            "-i",
            lab.ssh_key,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={lab.ssh_known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            f"{lab.ssh_user}@{lab.ssh_host}",
            "docker",
            "ps",
            "--format",
            "{{.ID}}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 0, res.stderr


def test_paramiko_reaches_lab_vps_with_pinned_host_key(lab) -> None:  # noqa: ANN001
    import base64
    import hashlib

    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(lab.ssh_known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        lab.ssh_host,
        port=lab.ssh_port,
        username=lab.ssh_user,
        key_filename=lab.ssh_key,
        look_for_keys=False,
        allow_agent=False,
        timeout=20,
    )
    try:
        key = client.get_transport().get_remote_server_key()
        digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode()
        fp = "SHA256:" + digest.rstrip("=")
        assert fp == lab.ssh_hostkey_sha256
        _, stdout, _ = client.exec_command("id -nG")
        assert "docker" in stdout.read().decode().split()
    finally:
        client.close()


def test_keyring_roundtrip_goes_through_secretservice(keyring_backend) -> None:  # noqa: ANN001
    import keyring
    from keyring.backends import SecretService

    service = f"cockpit:lab-smoke:{uuid.uuid4().hex[:8]}"
    keyring.set_password(service, "TOKEN", "s3cr3t-value")
    try:
        assert keyring.get_password(service, "TOKEN") == "s3cr3t-value"
        assert isinstance(keyring.get_keyring(), SecretService.Keyring)
    finally:
        keyring.delete_password(service, "TOKEN")
    assert keyring.get_password(service, "TOKEN") is None


def test_challtestsrv_dns_answers_loopback_and_no_ipv6(lab) -> None:  # noqa: ANN001
    import dns.resolver

    host, port = lab.dns.rsplit(":", 1)
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [host]
    r.port = int(port)
    assert [a.to_text() for a in r.resolve("anything.test", "A")] == ["127.0.0.1"]
    with pytest.raises(dns.resolver.NoAnswer):
        r.resolve("anything.test", "AAAA")


def test_haproxy_binary_checks_a_config(lab, tmp_path: Path) -> None:  # noqa: ANN001
    cfg = tmp_path / "haproxy.cfg"
    port = free_port(set())
    cfg.write_text(
        f"global\n  stats socket {tmp_path}/admin.sock mode 600 level admin\n"
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
        f"frontend f\n  bind 127.0.0.1:{port}\n  default_backend b\n"
        "backend b\n  server blue 127.0.0.1:1 disabled\n"
    )
    res = subprocess.run([lab.haproxy_bin, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr + res.stdout


@contextlib.contextmanager
def _acme_for_edge(lab, tmp_path: Path):  # noqa: ANN001, ANN202
    """(acme_ca, issuer_root, http_port, https_port) for a throwaway Caddy.

    The lab's Pebble validates on the lab's edge ports; when a VPS test session's Caddy holds
    them, a private Pebble (same API cert, same DNS) validates on free ports instead, so this
    test never skips and never disturbs that session.
    """
    if port_bindable(lab.http_port) and port_bindable(lab.https_port):
        yield lab.acme_ca, lab.acme_issuer_root, lab.http_port, lab.https_port
        return
    from cockpit.lab import acme

    p = acme.paths(Path(lab.lab_dir))
    used: set[int] = set()
    for _ in range(4):
        used.add(free_port(used))
    http, https, api, mgmt = sorted(used)
    config = tmp_path / "pebble.json"
    config.write_text(json.dumps(acme.pebble_config(p, api, mgmt, http, https)))
    log = tmp_path / "pebble.log"
    proc = spawn(["pebble", "-config", str(config), "-dnsserver", lab.dns], log,
                 env=acme.PEBBLE_ENV)
    ctx = ssl.create_default_context(cafile=lab.acme_ca_root)

    def root() -> bytes | None:
        try:
            url = f"https://127.0.0.1:{mgmt}/roots/0"
            with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
                return resp.read()
        except OSError:
            return None

    try:
        pem = _poll(root, 30)
        assert pem, log.read_text()[-2000:]
        issuer = tmp_path / "issuer-root.pem"
        issuer.write_bytes(pem)
        yield f"https://127.0.0.1:{api}/dir", str(issuer), http, https
    finally:
        stop_pid(proc.pid)


@pytest.mark.slow
def test_pebble_issues_a_certificate_through_caddy(lab, tmp_path: Path) -> None:  # noqa: ANN001
    """Caddy gets a real cert for smoke.test from Pebble over http-01/tls-alpn-01; it verifies."""
    with _acme_for_edge(lab, tmp_path) as (acme_ca, issuer_root, http_port, https_port):
        _caddy_gets_certificate(lab, tmp_path, acme_ca, issuer_root, http_port, https_port)


def _caddy_gets_certificate(
    lab,
    tmp_path: Path,
    acme_ca: str,
    issuer_root: str,  # noqa: ANN001
    http_port: int,
    https_port: int,
) -> None:
    admin = free_port({http_port, https_port})
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(f"""{{
    admin 127.0.0.1:{admin}
    http_port {http_port}
    https_port {https_port}
    acme_ca {acme_ca}
    acme_ca_root {lab.acme_ca_root}
    email smoke@cockpit.test
    skip_install_trust
    storage file_system {tmp_path / "data"}
}}
smoke.test {{
    respond "smoke ok"
}}
""")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    log = tmp_path / "caddy.log"
    proc = spawn(
        [lab.caddy_bin, "run", "--config", str(caddyfile), "--adapter", "caddyfile"], log, env=env
    )
    try:
        answered = _poll(lambda: _http_get(f"http://127.0.0.1:{admin}/config/"), 30)
        assert answered and answered[0] == 200, log.read_text()[-3000:]
        assert "smoke.test" in answered[1].decode()

        ctx = ssl.create_default_context(cafile=issuer_root)

        def handshake() -> dict | None:
            try:
                with socket.create_connection(("127.0.0.1", https_port), timeout=2) as raw:
                    with ctx.wrap_socket(raw, server_hostname="smoke.test") as tls:
                        return tls.getpeercert()
            except (OSError, ssl.SSLError):
                return None

        cert = _poll(handshake, 90, interval=0.5)
        assert cert, "no verified TLS handshake for smoke.test:\n" + log.read_text()[-4000:]
        assert ("DNS", "smoke.test") in cert["subjectAltName"]
    finally:
        stop_pid(proc.pid)


def test_lab_status_reports_every_part_up(lab) -> None:  # noqa: ANN001
    res = subprocess.run(
        [sys.executable, "-m", "cockpit.lab", "status", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    parts = json.loads(res.stdout)
    assert {name for name, part in parts.items() if not part["up"]} == set()
    assert res.returncode == 0
    assert parts["vps"]["address"] == f"{lab.ssh_user}@{lab.ssh_host}:{lab.ssh_port}"
