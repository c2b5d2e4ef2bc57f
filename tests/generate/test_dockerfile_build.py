"""The generated Dockerfile builds on the lab's engine with the lab's offline base image, and
the container answers its own HEALTHCHECK (docker reports it healthy) as a non-root user.

The app is stdlib-only by design (the base image has python3-minimal, no pip, no network), so
the generated Dockerfile has no install step to skip: nothing is faked.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from cockpit.generate import artifacts

REPO = Path(__file__).resolve().parent.parent.parent
SOURCES = {"clean-stdlib": REPO / "tests/scan/apps/clean-stdlib",
           "hello-app": REPO / "examples/hello-app"}
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def docker(*args: str, check: bool = True, timeout: float = 240) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_generated_dockerfile_builds_and_container_is_healthy(
        lab, tmp_path: Path, source: str) -> None:  # noqa: ANN001
    app = tmp_path / source
    shutil.copytree(SOURCES[source], app)
    (app / "Dockerfile").unlink(missing_ok=True)  # generate from the scan, not the example's own
    for art in artifacts("dockerfile", app) + artifacts("dockerignore", app):
        (app / art.path).write_text(art.content)
    tag = f"cockpit-test/generated-{uuid.uuid4().hex[:8]}:latest"
    name = f"cockpit-gen-{uuid.uuid4().hex[:8]}"
    port = free_port()
    try:
        from cockpit.lab.images import build_args_for

        args = [a for k, v in build_args_for(app / "Dockerfile").items()
                for a in ("--build-arg", f"{k}={v}")]
        docker("build", "-q", *args, "-t", tag, str(app))
        assert docker("image", "inspect", "-f", "{{.Config.User}}", tag) == "10001:10001"
        docker("run", "-d", "--name", name, "--network", "host", "-e", f"PORT={port}", tag)
        deadline = time.monotonic() + 90
        status = ""
        while time.monotonic() < deadline:
            status = docker("inspect", "-f", "{{.State.Health.Status}}", name)
            if status in ("healthy", "unhealthy"):
                break
            time.sleep(1)
        logs = docker("logs", name, check=False)
        assert status == "healthy", f"health status {status!r}; logs:\n{logs}"
        health = "/up" if source == "hello-app" else "/health"
        assert f"{health} HTTP/1.0".encode() in (app / "Dockerfile").read_bytes()
        assert get(port, health).startswith(b"HTTP/1.1 200")
        assert docker("exec", name, "id", "-u") == "10001"
    finally:
        docker("rm", "-f", name, check=False)
        docker("rmi", "-f", tag, check=False)
