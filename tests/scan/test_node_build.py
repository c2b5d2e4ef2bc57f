"""Generated Dockerfiles build on the lab's engine with the lab images standing in for the
official ones (`build_args_for`), and the container answers its health route and a real page
as uid 10001: a Go project with several cmd/ packages (stdlib only, no module download from
here) and a static site served by Caddy."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from cockpit.generate import artifacts

CASES = Path(__file__).parent / "cases"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def docker(*args: str, check: bool = True, timeout: float = 540) -> str:
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


def make_static(root: Path) -> None:
    root.mkdir()
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "about.html").write_text("<h1>about us</h1>\n")


@pytest.mark.parametrize(("app", "page", "text", "health"), [
    ("go-cmd-multi", "/", b"shop", "/healthz"),
    ("static-site", "/about.html", b"about us", "/health"),
])
def test_generated_dockerfile_builds_on_the_lab_and_serves(
        lab, tmp_path: Path, app: str, page: str, text: bytes, health: str) -> None:  # noqa: ANN001
    from cockpit.lab.images import build_args_for, ensure_images

    root = tmp_path / app
    if app == "static-site":
        make_static(root)
    else:
        shutil.copytree(CASES / app, root)
    for art in artifacts("dockerfile", root) + artifacts("dockerignore", root):
        (root / art.path).write_text(art.content)
    ensure_images()
    args = build_args_for(root / "Dockerfile")
    assert args  # every FROM is an ARG the lab maps
    tag = f"cockpit-test/node-eng-{uuid.uuid4().hex[:8]}:latest"
    name = f"cockpit-node-eng-{uuid.uuid4().hex[:8]}"
    port = free_port()
    build = [a for k, v in args.items() for a in ("--build-arg", f"{k}={v}")]
    try:
        docker("build", "-q", *build, "-t", tag, str(root))
        assert docker("image", "inspect", "-f", "{{.Config.User}}", tag) == "10001:10001"
        docker("run", "-d", "--name", name, "--network", "host", "-e", f"PORT={port}", tag)
        status = ""
        for _ in range(120):  # the HEALTHCHECK runs every 10 s; bounded by polls, not time
            status = docker("inspect", "-f", "{{.State.Health.Status}}", name)
            if status in ("healthy", "unhealthy"):
                break
            time.sleep(1)
        logs = docker("logs", name, check=False)
        assert status == "healthy", f"health status {status!r}; logs:\n{logs}"
        status_line, _, body = get(port, health).partition(b"\r\n\r\n")
        assert status_line.split(b"\r\n")[0].split()[1] == b"200"
        if app == "static-site":
            assert b"<h1>" not in body  # Caddy's own route, not the SPA fallback page
        status_line, _, body = get(port, page).partition(b"\r\n\r\n")
        assert status_line.split(b"\r\n")[0].split()[1] == b"200" and text in body
    finally:
        docker("rm", "-f", name, check=False)
        docker("rmi", "-f", tag, check=False)
