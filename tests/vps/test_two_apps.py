"""Two apps on one VPS host (issue 12's "done when"): two copies of examples/hello-app under
distinct app names, initialised with `cockpit init --lab` one after the other, both deploy to
the lab VPS and each serves its own release. Around it, the incident that found the hole: a
third app given the first one's port by hand is refused by setup (naming the owner), a slot
port something else answers on is refused before anything starts (its gate would have been
answered by the other process), and a serving container that crashed and restarted is
reported unhealthy by `cockpit status`.

Real parts only: the CLI in fresh processes, the lab's sshd, Docker, Caddy, HAProxy, Pebble.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.vps.conftest import LAB_HOME, REPO

APPS = ("duo-a", "duo-b")  # fixed names: a rerun reuses their ports and edge sites


def _clean(app: str) -> None:
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=cockpit.app={app}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    shutil.rmtree(LAB_HOME / ".cockpit" / "apps" / app, ignore_errors=True)


class App:
    def __init__(self, lab, root: Path, name: str, state: Path) -> None:  # noqa: ANN001
        self.lab, self.name, self.state = lab, name, state
        self.dir = root / name
        self.dir.mkdir()
        for f in ("Dockerfile", "app.py"):
            shutil.copy(REPO / "examples" / "hello-app" / f, self.dir / f)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.lab.as_env(), "COCKPIT_STATE_DIR": str(self.state)}
        proc = subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=self.dir, env=env,
                              capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"cockpit {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def result(self, *args: str, check: bool = True) -> tuple[int, dict]:
        proc = self.cli(*args, "--json", check=check)
        last = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        return proc.returncode, last[-1] if last else {}

    def toml(self) -> str:
        return (self.dir / "cockpit.toml").read_text()

    def host_port(self, env: str = "staging") -> int:
        table = self.toml().split(f"[environments.{env}]", 1)[1]
        return int(re.search(r"^host_port = (\d+)", table, re.M).group(1))

    @property
    def domain(self) -> str:
        return f"staging.{self.name}.test"

    def get(self, path: str = "/") -> tuple[int, dict[str, str], str]:
        """GET through the edge (HTTPS, SNI and Host = the staging domain)."""
        ctx = ssl.create_default_context(cafile=self.lab.acme_issuer_root)
        with socket.create_connection(("127.0.0.1", self.lab.https_port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname=self.domain) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.domain}\r\nConnection: close\r\n\r\n"
                      .encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        return int(lines[0].split(" ")[1]), headers, body


@pytest.fixture(scope="module")
def apps(lab, tmp_path_factory):  # noqa: ANN001
    """duo-a and duo-b, initialised one after the other, set up and deployed on staging."""
    from tests.conftest import keyring_lock

    root = tmp_path_factory.mktemp("two-apps")
    state = root / "state"
    state.mkdir()
    made = [App(lab, root, name, state) for name in APPS]
    for a in made:
        _clean(a.name)
    with keyring_lock(lab):  # deploys read the keyring (the digest key)
        try:
            for a in made:  # one after the other, before either is set up
                a.cli("init", "--lab", "--name", a.name)
            for a in made:
                a.cli("setup", "staging", "--trust-host", lab.ssh_hostkey_sha256)
                a.cli("deploy", "staging", "--trust-host", lab.ssh_hostkey_sha256)
            yield made
        finally:
            for a in made:
                _clean(a.name)
            _clean("duo-c")


def test_init_gives_the_second_app_other_ports(apps):
    a, b = apps
    ports = {a.host_port("staging"), a.host_port("prod"), b.host_port("staging"),
             b.host_port("prod")}
    assert len(ports) == 4
    taken = [p + d for p in ports for d in (0, 1, 2)]
    assert len(set(taken)) == 12  # no slot of one is another's port
    registry = json.loads((LAB_HOME / ".cockpit" / "ports.json").read_text())["claims"]
    for app in apps:
        claim = registry[f"{app.name}/staging"]
        assert claim["ports"][0] == app.host_port("staging")
        assert claim["status"] == "set up"
        assert app.domain in claim["names"]


def test_each_app_serves_its_own_release(apps):
    releases = {}
    for app in apps:
        _, status = app.result("status", "staging")
        current = status["data"]["environments"]["staging"]["current"]
        code, headers, body = app.get("/")
        assert code == 200 and "hello from hello-app" in body
        assert headers["x-release"] == current["id"]
        releases[app.name] = current["id"]
        inst = [i for i in status["data"]["environments"]["staging"]["instances"]
                if i["serving"]]
        assert len(inst) == 1 and inst[0]["state"] == "running"
        assert inst[0]["name"].startswith(f"{app.name}-staging-")
    assert len(set(releases.values())) == 2


def test_setup_refuses_a_port_another_app_owns_and_names_it(apps, lab):  # noqa: ANN001
    a, _ = apps
    c = App(lab, a.dir.parent, "duo-c", a.state)
    c.cli("init", "--lab", "--name", "duo-c")
    text = re.sub(r"^host_port = \d+", f"host_port = {a.host_port('staging')}", c.toml(),
                  count=1, flags=re.M)
    (c.dir / "cockpit.toml").write_text(text)
    code, err = c.result("setup", "staging", "--trust-host", lab.ssh_hostkey_sha256,
                         check=False)
    assert code == 5, err
    message = json.dumps(err)
    assert "'duo-a'" in message and "'staging'" in message
    assert str(a.host_port("staging")) in message
    # nothing of duo-c was set up, and duo-a still serves
    assert not (LAB_HOME / ".cockpit" / "switch" / "envs" / "duo-c-staging.cfg").exists() or \
        str(a.host_port("staging")) not in \
        (LAB_HOME / ".cockpit" / "switch" / "envs" / "duo-c-staging.cfg").read_text()
    assert a.get("/up")[0] == 200


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def test_a_slot_port_another_process_answers_on_is_refused_before_anything_starts(apps):
    _, b = apps
    _, before = b.result("status", "staging")
    serving = before["data"]["environments"]["staging"]["current"]["id"]
    active = before["data"]["environments"]["staging"]["extra"]["active_slot"]
    free_port = b.host_port() + (2 if active == "blue" else 1)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        code, err = b.result("deploy", "staging", "--trust-host",
                             b.lab.ssh_hostkey_sha256, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 5, err
    assert f"port {free_port}" in json.dumps(err) and "already answers" in json.dumps(err)
    _, after = b.result("status", "staging")
    env = after["data"]["environments"]["staging"]
    assert env["current"]["id"] == serving  # the old release keeps serving, nothing started
    assert sum(1 for i in env["instances"] if i["state"] == "running") == 1
    code, headers, _ = b.get("/")
    assert code == 200 and headers["x-release"] == serving


def test_status_calls_a_crashed_and_restarted_serving_container_unhealthy(apps, monkeypatch):
    _, b = apps
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(b.state))
    _, before = b.result("status", "staging")
    name = next(i["name"] for i in before["data"]["environments"]["staging"]["instances"]
                if i["serving"])
    kill = ("import os\nfor p in os.listdir('/proc'):\n    if p.isdigit() and p != '1':\n"
            "        try:\n            c = open(f'/proc/{p}/cmdline', 'rb').read()\n"
            "        except OSError:\n            continue\n"
            "        if c.endswith(b'/app/app.py\\0'):\n            os.kill(int(p), 9)\n")
    subprocess.run(["docker", "exec", name, "python3", "-c", kill], capture_output=True,
                   timeout=30)
    # docker restarts it (restart policy): until then it is restarting or exited, afterwards
    # it has a restart count; either way the serving container is not healthy
    import time

    end = time.monotonic() + 60  # bounded wait for Docker to see the exit (not a timing test)
    while True:
        inspect = subprocess.run(["docker", "inspect", "--format",
                                  "{{.RestartCount}} {{.State.Status}}", name],
                                 capture_output=True, text=True).stdout.split()
        if inspect[0] != "0" or inspect[1] != "running" or time.monotonic() > end:
            break
        time.sleep(0.2)
    assert inspect[0] != "0" or inspect[1] != "running", inspect
    proc = b.cli("status", "staging", check=False)
    assert proc.returncode == 1, proc.stdout
    assert "UNHEALTHY" in proc.stdout and name in proc.stdout
    _, after = b.result("status", "staging", check=False)
    inst = [i for i in after["data"]["environments"]["staging"]["instances"] if i["serving"]]
    assert inst and inst[0]["health"] == "unhealthy"
    # the dashboard's health sample too, though the edge may answer 200 again by now
    from types import SimpleNamespace

    from cockpit.providers.vps import flow

    from cockpit import config

    env = config.load(b.dir / "cockpit.toml").env("staging")
    ctx = SimpleNamespace(options=SimpleNamespace(trust_host=[b.lab.ssh_hostkey_sha256],
                                                  ask=None))
    host = flow.make_host(ctx, env, {})
    try:
        sample = flow.health(SimpleNamespace(host=lambda _env: host), env)
    finally:
        host.t.close()
    assert sample is not None and not sample.ok
    assert name in sample.error and "restart" in sample.error


def test_a_release_that_crashes_after_its_gate_is_switched_back(apps, lab):  # noqa: ANN001
    """The new container answers its pre-switch gate, then crashes and is restarted by Docker
    while the post-switch gate runs: the edge may get 200s again from the restarted process,
    but the container restarted since it started, so traffic goes back to the old release.
    Timing: a life of 6 s; each gate takes 4 s at least (5 answers 1 s apart), so the
    pre-switch gate passes in the first life (if the app starts within 2 s) and the
    post-switch gate cannot finish before the first crash."""
    _, b = apps
    crash = b.dir.parent / "crash"
    crash.mkdir(exist_ok=True)
    shutil.copy(b.dir / "app.py", crash / "app.py")
    (crash / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY app.py /app/app.py\nUSER 65534:65534\n"
        'CMD ["sh", "-c", "python3 /app/app.py & sleep 6; exit 1"]\n')
    tag = f"duo-crash:{os.getpid()}"
    subprocess.run(["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={lab.base_image}",
                    "-t", tag, str(crash)], check=True, capture_output=True)
    text = b.toml()
    staging, rest = text.split("[environments.staging.gate]", 1)
    gate, after = rest.split("\n\n", 1) if "\n\n" in rest else (rest, "")
    (b.dir / "cockpit.toml").write_text(
        staging + "[environments.staging.gate]\ncount = 5\ninterval = 1.0\ndeadline = 40.0\n\n"
        + after)
    try:
        _, before = b.result("status", "staging", check=False)
        serving = before["data"]["environments"]["staging"]["current"]["id"]
        code, err = b.result("deploy", "staging", "--image", tag, "--no-watch", "--trust-host",
                             lab.ssh_hostkey_sha256, check=False)
    finally:
        (b.dir / "cockpit.toml").write_text(text)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    assert code == 3, err
    assert "switched back" in json.dumps(err), err
    _, after_status = b.result("status", "staging", check=False)
    env = after_status["data"]["environments"]["staging"]
    assert env["current"]["id"] == serving
    assert b.get("/")[1]["x-release"] == serving
