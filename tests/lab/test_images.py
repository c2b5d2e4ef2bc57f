"""The lab's per-stack images build real apps, and the machine's CA stays out of runtime images.

Real parts only: the images `scripts/lab up` builds (cockpit.lab.images), PyPI and the npm
registry reached through this machine's egress, and apps in tests/lab/apps built by
cockpit.build.build_image with `[app].build_args = build_args_for(Dockerfile)`, then run as
their non-root user and asked for a real page over HTTP.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.build import build_hint, build_image
from cockpit.config import loads
from cockpit.errors import ProviderError
from cockpit.generate import artifacts
from cockpit.lab import images
from cockpit.lab.images import build_args_for, image_ref

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(900)]

APPS = Path(__file__).resolve().parent / "apps"
PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", re.S)


def docker(*args: str, timeout: float = 300, check: bool = True) -> str:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:4])} failed: {res.stderr.strip()[-3000:]}")
    return res.stdout.strip()


@pytest.fixture(scope="module")
def lab_images(lab) -> dict[str, str]:  # noqa: ANN001
    return images.ensure_images()


def _certs(text: str) -> set[str]:
    """Certificate bodies (base64, whitespace removed) in a PEM bundle."""
    return {re.sub(r"\s+", "", body) for body in PEM.findall(text)}


@pytest.fixture(scope="module")
def machine_only_certs(lab_images: dict[str, str]) -> list[str]:
    """Certificates this machine trusts beyond Debian's own bundle (its egress CA)."""
    debian = docker("run", "--rm", "--network", "none", image_ref("runtime"),
                    "cat", "/etc/ssl/certs/ca-certificates.crt")
    extra = sorted(_certs(images.CA_BUNDLE.read_text()) - _certs(debian))
    if not extra:
        pytest.skip("this machine trusts no CA beyond Debian's bundle: nothing to keep out")
    return extra


def _needles(certs: list[str]) -> list[bytes]:
    """A 64-character base64 line from the middle of each certificate: it appears in any file
    that holds the certificate in PEM form, and in no other."""
    out = []
    for body in certs:
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        out.append(lines[len(lines) // 2].encode())
    return out


def _files_holding(image: str, needles: list[bytes], digest: str) -> list[str]:
    """Paths of regular files in `image`'s filesystem that contain any needle or whose sha256
    is `digest` (read from `docker export`, so no tool inside the image is trusted)."""
    cid = docker("create", image, "true")
    found: list[str] = []
    try:
        proc = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                fh = tar.extractfile(member)
                data = fh.read() if fh else b""
                if hashlib.sha256(data).hexdigest() == digest or any(n in data for n in needles):
                    found.append(member.name)
        assert proc.wait(timeout=120) == 0
    finally:
        docker("rm", "-f", cid, check=False)
    return found


# --- the images themselves ---------------------------------------------------------------------


def test_ensure_images_returns_every_image_and_reuses_them(lab_images: dict[str, str]) -> None:
    assert lab_images == {n: f"cockpit-lab/{n}:bookworm" for n in images.IMAGES}
    ids = {n: docker("image", "inspect", "-f", "{{.Id}}", ref) for n, ref in lab_images.items()}
    assert images.ensure_images() == lab_images
    assert {n: docker("image", "inspect", "-f", "{{.Id}}", r) for n, r in lab_images.items()} == ids
    for name, ref in lab_images.items():
        label = docker("image", "inspect", "-f",
                       '{{index .Config.Labels "' + images.LABEL + '"}}', ref)
        assert label == images.recipe_hash(name)


def test_a_failing_recipe_names_the_image_its_log_and_the_failing_step(
        lab_images: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cockpit.lab._proc import LabError, State

    broken = images.Recipe("broken-test", None, ("RUN echo lab-broken-step && false",))
    monkeypatch.setattr(images, "IMAGES", {"broken-test": broken})
    with pytest.raises(LabError) as err:
        images.ensure(State(tmp_path))
    message = str(err.value)
    assert "cockpit-lab/broken-test:bookworm failed" in message
    assert str(tmp_path / "images.log") in message and "lab-broken-step" in message
    missing = subprocess.run(["docker", "image", "inspect", "cockpit-lab/broken-test:bookworm"],
                             capture_output=True)
    assert missing.returncode != 0


def test_a_changed_ca_bundle_changes_only_the_build_images_recipes(tmp_path: Path) -> None:
    other = tmp_path / "ca.crt"
    other.write_text(images.CA_BUNDLE.read_text() + "\n")
    changed = {n for n in images.IMAGES
               if images.recipe_hash(n, other) != images.recipe_hash(n, images.CA_BUNDLE)}
    assert changed == set(images.BUILD_IMAGES) == {"python-build", "node-build", "golang"}


def test_build_images_reach_pypi_and_npm(lab_images: dict[str, str]) -> None:
    pip = docker("run", "--rm", image_ref("python-build"), "sh", "-c",
                 "python3 -m venv /tmp/v && /tmp/v/bin/pip download -q --no-deps -d /tmp/d "
                 "six==1.16.0 && ls /tmp/d")
    assert pip == "six-1.16.0-py2.py3-none-any.whl"
    assert docker("run", "--rm", image_ref("node-build"), "npm", "view", "left-pad@1.3.0",
                  "version") == "1.3.0"
    tools = docker("run", "--rm", image_ref("node-build"), "sh", "-c",
                   "node --version && pnpm --version && yarn --version && corepack --version")
    assert tools.splitlines()[0].startswith("v18.")
    assert re.fullmatch(r"go version go1\.\d+(\.\d+)? linux/\w+",
                        docker("run", "--rm", image_ref("golang"), "go", "version"))


@pytest.mark.parametrize(("name", "command", "expected"), [
    ("node", "id -u node && id -g node", "1000\n1000"),
    ("python", "python --version >/dev/null && ls /usr/lib/python3.*/EXTERNALLY-MANAGED "
               "2>/dev/null; echo pip-may-install", "pip-may-install"),
    ("caddy", "test -f /etc/caddy/Caddyfile && command -v wget && caddy version >/dev/null",
     "/usr/local/bin/wget"),
    ("golang", "go env GOTOOLCHAIN GOPATH", "local\n/go"),
    # the VPS switch runs `haproxy -W -db` from it, as the official image does
    ("haproxy", "command -v haproxy && haproxy -v | head -c 15", "/usr/local/sbin/haproxy\n"
                "HAProxy version"),
])
def test_lab_images_keep_what_dockerfiles_expect_of_the_official_ones(
        lab_images: dict[str, str], name: str, command: str, expected: str) -> None:
    assert docker("run", "--rm", "--network", "none", image_ref(name),
                  "sh", "-c", command) == expected


def test_without_the_machine_ca_pip_gets_a_certificate_error(lab_images: dict[str, str]) -> None:
    """Why the build images carry it: the runtime python image's pip cannot reach PyPI."""
    out = docker("run", "--rm", image_ref("python"), "sh", "-c",
                 "python3 -m venv /tmp/v && /tmp/v/bin/pip download --retries 0 --no-deps "
                 "-d /tmp/d six==1.16.0 2>&1; echo exit=$?")
    assert "CERTIFICATE_VERIFY_FAILED" in out
    assert out.rstrip().endswith("exit=1")


@pytest.mark.parametrize("name", images.RUNTIME_IMAGES)
def test_runtime_images_hold_none_of_the_machines_certificates(
        name: str, machine_only_certs: list[str]) -> None:
    digest = hashlib.sha256(images.CA_BUNDLE.read_bytes()).hexdigest()
    assert _files_holding(image_ref(name), _needles(machine_only_certs), digest) == []


def test_build_images_hold_the_machines_certificates(machine_only_certs: list[str]) -> None:
    """The positive control for the test above: the same search finds them where they are."""
    bundle = docker("run", "--rm", "--network", "none", image_ref("python-build"),
                    "cat", "/etc/ssl/certs/ca-certificates.crt")
    assert set(machine_only_certs) <= _certs(bundle)
    digest = hashlib.sha256(images.CA_BUNDLE.read_bytes()).hexdigest()
    found = _files_holding(image_ref("golang"), _needles(machine_only_certs), digest)
    assert "etc/ssl/certs/ca-certificates.crt" in found
    assert images.CA_IN_IMAGE.lstrip("/") in found


# --- real apps built on the lab ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status, resp.read().decode()
    except OSError:
        return None


class Built:
    def __init__(self, app: Path, tag: str, image_id: str, build_args: dict[str, str]) -> None:
        self.app, self.tag, self.image_id, self.build_args = app, tag, image_id, build_args


def _build(tmp: Path, source: str, dockerfile: str | None) -> Built:
    """Copy tests/lab/apps/<source>, write the generated Dockerfile (or `dockerfile`), and
    build it with cockpit.build.build_image and `[app].build_args = build_args_for(...)`."""
    app = tmp / source
    shutil.copytree(APPS / source, app)
    text = dockerfile if dockerfile is not None else artifacts("dockerfile", app)[0].content
    (app / "Dockerfile").write_text(text)
    for art in artifacts("dockerignore", app):
        (app / art.path).write_text(art.content)
    args = build_args_for(app / "Dockerfile")
    table = ", ".join(f'{k} = "{v}"' for k, v in args.items())
    config = loads(f'[app]\nname = "lab-{source}"\nbuild_args = {{ {table} }}\n',
                   app / "cockpit.toml")
    tag = f"cockpit-test/lab-{source}-{uuid.uuid4().hex[:8]}:latest"
    events: list[object] = []
    image_id, _ = build_image(config, events.append, tag=tag)
    return Built(app, tag, image_id, args)


@pytest.fixture
def run_app() -> Iterator:
    names: list[str] = []
    tags: list[str] = []

    def start(built: Built) -> tuple[str, int]:
        tags.append(built.tag)
        name = f"cockpit-lab-app-{uuid.uuid4().hex[:8]}"
        port = _free_port()
        docker("run", "-d", "--name", name, "--network", "host", "-e", f"PORT={port}",
               built.tag)
        names.append(name)
        return name, port

    yield start
    for name in names:
        docker("rm", "-f", name, check=False)
    for tag in tags:
        docker("rmi", "-f", tag, check=False)


def _serves(name: str, port: int, page: str, health: str = "/health") -> str:
    """Wait until the container answers `page` and docker calls it healthy; the page's body."""
    deadline = time.monotonic() + 120
    got, status = None, ""
    while time.monotonic() < deadline:
        got = got or _get(f"http://127.0.0.1:{port}{page}")
        status = docker("inspect", "-f", "{{.State.Health.Status}}", name)
        if got and status in ("healthy", "unhealthy"):
            break
        if docker("inspect", "-f", "{{.State.Running}}", name) != "true":
            break
        time.sleep(1)
    logs = docker("logs", name, check=False)
    assert got and got[0] == 200, f"{page} did not answer; logs:\n{logs}"
    assert status == "healthy", f"health {status!r}; logs:\n{logs}"
    assert _get(f"http://127.0.0.1:{port}{health}") is not None
    assert docker("exec", name, "id", "-u") == "10001"
    return got[1]


# A TEAM.md-convention Dockerfile (interface 1) for the Flask app: the lab images are proven on
# it whatever the generator writes today.
FLASK_CONVENTION = """\
ARG BUILD_IMAGE=python:3.12-slim
ARG BASE_IMAGE=python:3.12-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1
COPY requirements.txt ./
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -r requirements.txt
COPY . .

FROM ${BASE_IMAGE} AS runtime
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PORT=8000 PATH=/opt/venv/bin:$PATH
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
USER 10001:10001
HEALTHCHECK --interval=2s --timeout=5s --retries=3 CMD ["python3", "-c", \
  "import os,urllib.request as u; u.urlopen('http://127.0.0.1:'+os.environ['PORT']+'/health')"]
CMD ["sh", "-c", "exec gunicorn --bind 0.0.0.0:${PORT} app:app"]
"""


def test_a_flask_app_with_pinned_requirements_builds_and_serves_without_the_ca(
        lab_images: dict[str, str], tmp_path: Path, run_app,  # noqa: ANN001
        machine_only_certs: list[str]) -> None:
    built = _build(tmp_path, "flask", FLASK_CONVENTION)
    assert built.build_args == {"BUILD_IMAGE": image_ref("python-build"),
                                "BASE_IMAGE": image_ref("python")}
    name, port = run_app(built)
    assert "hello from flask as uid 10001" in _serves(name, port, "/")
    digest = hashlib.sha256(images.CA_BUNDLE.read_bytes()).hexdigest()
    assert _files_holding(built.tag, _needles(machine_only_certs), digest) == []


# The caddy image as a static site's runtime, with the admin endpoint off: the lab's app
# containers share the host network with the edge Caddy, whose admin API holds 127.0.0.1:2019.
CADDY_CONVENTION = r"""ARG BASE_IMAGE=busybox:1.36
ARG CADDY_IMAGE=caddy:2.8-alpine

FROM ${BASE_IMAGE} AS build
COPY index.html /site/index.html

FROM ${CADDY_IMAGE} AS runtime
ENV XDG_CONFIG_HOME=/tmp/caddy XDG_DATA_HOME=/tmp/caddy PORT=8080
RUN printf '{\n\tadmin off\n}\n' > /etc/caddy/Caddyfile \
    && printf ':{$PORT:8080} {\n\troot * /srv\n\trespond /health 200\n\tfile_server\n}\n' \
    >> /etc/caddy/Caddyfile
COPY --from=build /site /srv
USER 10001:10001
HEALTHCHECK --interval=2s --timeout=5s --retries=3 \
  CMD ["sh", "-c", "wget -q -O /dev/null http://127.0.0.1:${PORT}/health || exit 1"]
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
"""


def test_a_static_site_is_served_by_the_caddy_image_as_non_root(
        lab_images: dict[str, str], tmp_path: Path, run_app) -> None:  # noqa: ANN001
    built = _build(tmp_path, "static", CADDY_CONVENTION)
    assert built.build_args == {"BASE_IMAGE": image_ref("runtime"),
                                "CADDY_IMAGE": image_ref("caddy")}
    name, port = run_app(built)
    assert "hello from a static site" in _serves(name, port, "/")


@pytest.mark.parametrize(("source", "page", "text"), [
    ("flask", "/", "hello from flask as uid 10001"),
    ("express", "/", "hello from express as uid 10001"),
    ("gostd", "/", "hello from go as uid 10001"),
    ("static", "/", "hello from a static site"),
])
def test_the_generated_dockerfile_builds_on_the_lab_and_serves_as_non_root(
        lab_images: dict[str, str], tmp_path: Path, run_app,  # noqa: ANN001
        source: str, page: str, text: str, machine_only_certs: list[str]) -> None:
    built = _build(tmp_path, source, None)
    assert built.build_args, "the generated Dockerfile names no official image to replace"
    assert docker("image", "inspect", "-f", "{{.Config.User}}", built.tag) == "10001:10001"
    name, port = run_app(built)
    assert text in _serves(name, port, page)
    digest = hashlib.sha256(images.CA_BUNDLE.read_bytes()).hexdigest()
    assert _files_holding(built.tag, _needles(machine_only_certs), digest) == []


# --- build errors say what to set --------------------------------------------------------------


def test_an_official_image_that_cannot_be_pulled_names_the_arg_and_the_lab_fix(
        lab, tmp_path: Path) -> None:  # noqa: ANN001
    image = "python:3.12-slim"
    present = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
    if present.returncode == 0:
        pytest.skip(f"{image} is present here: nothing fails to pull")
    (tmp_path / "Dockerfile").write_text(
        f"ARG BASE_IMAGE={image}\nFROM ${{BASE_IMAGE}}\nCMD [\"true\"]\n")
    config = loads('[app]\nname = "offline"\n', tmp_path / "cockpit.toml")
    with pytest.raises(ProviderError) as err:
        build_image(config, lambda event: None, tag=f"cockpit-test/offline-{uuid.uuid4().hex[:8]}")
    hint = err.value.hint or ""
    assert image in hint and "ARG BASE_IMAGE" in hint
    assert "[app].build_args" in hint and "cockpit init --lab" in hint


def test_a_literal_from_and_a_tls_error_get_their_own_hints(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM node:20-slim\n")
    hint = build_hint("Get https://registry-1.docker.io/v2/: no such host",
                      ["Step 1/3 : FROM node:20-slim"], dockerfile, {})
    assert "node:20-slim" in hint and "make it an ARG" in hint
    tls = build_hint("The command '/bin/sh -c npm ci' returned a non-zero code: 1",
                     ["Step 5/9 : RUN npm ci", "npm ERR! code SELF_SIGNED_CERT_IN_CHAIN"],
                     dockerfile, {})
    assert "TLS certificate" in tls and "cockpit init --lab" in tls
    from_arg = build_hint("pull access denied", ["Step 3/9 : FROM ${BUILD_IMAGE} AS build"],
                          dockerfile, {"BUILD_IMAGE": "example/missing:1"})
    assert "example/missing:1 ([app].build_args)" in from_arg
