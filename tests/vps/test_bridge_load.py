"""The VPS flow on Docker's default bridge network (the provider's default; the other flow tests
run on network = "host"), under a load loop through the edge: new releases and a rollback with
0 failed requests, the gate probing the new container on its own bridge address. And the host's
hygiene around it: images cockpit pulled for releases no longer kept are pruned (never one in
use, never one that was on the host before), what cockpit creates on the host is 0700/0600, and
a deploy refuses when the host has less free disk than `min_free_mb`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vps.conftest import LAB_HOME, REPO, LoadLoop

APP = "hostbr"
ZONE = f"{APP}-{os.urandom(3).hex()}.test"
DOMAIN = f"staging.{ZONE}"


def _clean() -> None:
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=cockpit.app={APP}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    shutil.rmtree(LAB_HOME / ".cockpit" / "apps" / APP, ignore_errors=True)


def _docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)


class Bridge:
    def __init__(self, lab, root: Path, port: int) -> None:  # noqa: ANN001
        self.lab, self.dir, self.port = lab, root / APP, port
        self.state = root / "state"
        self.state.mkdir()
        self.dir.mkdir()
        for f in ("Dockerfile", "app.py"):
            shutil.copy(REPO / "examples" / "hello-app" / f, self.dir / f)
        self.refs: dict[str, str] = {}
        self.write()

    def write(self, **extra: object) -> None:
        table = self.lab.vps_table(
            "staging", self.port, network="bridge", domain=DOMAIN, drain_seconds=5.0,
            stop_timeout=5, keep_releases=1,
            gate={"count": 3, "interval": 0.2, "timeout": 3.0, "deadline": 20.0}, **extra)
        (self.dir / "cockpit.toml").write_text(
            f'[app]\nname = "{APP}"\nport = 8000\nhealth_path = "/up"\n\n{table}\n'
            "[secrets]\nstaging = []\n")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.lab.as_env(), "COCKPIT_STATE_DIR": str(self.state)}
        proc = subprocess.run([sys.executable, "-m", "cockpit", *args, "--trust-host",
                               self.lab.ssh_hostkey_sha256], cwd=self.dir, env=env,
                              capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"cockpit {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def status(self) -> dict:
        proc = self.cli("status", "staging", "--json", check=False)
        return json.loads(proc.stdout.splitlines()[-1])["data"]["environments"]["staging"]


class SwitchLoad(LoadLoop):
    """The load loop of tests/vps, sent to the environment's switch frontend (HAProxy on the
    host's 127.0.0.1:host_port, Host = the domain, a new connection per request) rather than
    through the edge: the lab's edge is shared by every test session on the machine, and
    another session's setup may restart it; the switch is what a deploy changes."""

    def __init__(self, lab, port: int) -> None:  # noqa: ANN001
        super().__init__(lab, DOMAIN)
        self.port = port

    def _one(self) -> None:
        import socket
        import time

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                s.sendall(f"GET / HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n"
                          .encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        except OSError as exc:
            self.failures.append(f"{time.time():.3f} {type(exc).__name__}: {exc}")
            return
        head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
        status = head.split(" ", 2)[1] if " " in head else "?"
        if status != "200":
            self.failures.append(f"{time.time():.3f} HTTP {status}")
            return
        self.ok += 1
        for line in head.split("\r\n"):
            if line.lower().startswith("x-release:"):
                rid = line.split(":", 1)[1].strip()
                self.releases[rid] = self.releases.get(rid, 0) + 1


def _pushed_and_forgotten(lab, app_dir: Path, version: str) -> str:  # noqa: ANN001
    """Build hello-app v<version>, push it to the lab registry, and drop the registry's
    reference locally (the image stays under its local tag): the lab host, which shares this
    Docker Engine, then has to pull it by digest, as a real host does. Labelled with this
    run's zone, so no other test's container (the same hello-app build) uses the same image."""
    local = f"{APP}-test:v{version}"
    subprocess.run(["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={lab.base_image}",
                    "--build-arg", f"HELLO_VERSION={version}", "--label", f"test-zone={ZONE}",
                    "-t", local, str(app_dir)],
                   check=True, capture_output=True)
    remote = f"{lab.registry}/{APP}:v{version}"
    _docker("tag", local, remote)
    push = _docker("push", remote)
    assert push.returncode == 0, push.stderr
    digest = _docker("image", "inspect", "--format", "{{range .RepoDigests}}{{.}} {{end}}",
                     remote).stdout.split()
    ref = next(d for d in digest if d.startswith(f"{lab.registry}/{APP}@"))
    _docker("rmi", remote)
    assert _docker("image", "inspect", ref).returncode != 0  # the host must pull it
    return ref


@pytest.fixture(scope="module")
def bridge(lab, tmp_path_factory):  # noqa: ANN001
    from cockpit.providers.vps import ports
    from cockpit.providers.vps.ssh import SshTransport

    from tests.conftest import keyring_lock

    root = tmp_path_factory.mktemp("bridge")
    t = SshTransport(host=lab.ssh_host, port=lab.ssh_port, user=lab.ssh_user,
                     identity_file=lab.ssh_key, known_hosts=root / "known_hosts",
                     trusted=[lab.ssh_hostkey_sha256], user_known_hosts=root / "ukh")
    try:  # a free host port on the lab host, reserved for this app
        port = ports.reserve_free(t, f"{LAB_HOME}/.cockpit", APP, {"staging": 8651},
                                  "tests@bridge")["staging"]
    finally:
        t.close()
    b = Bridge(lab, root, port)
    _clean()
    with keyring_lock(lab):
        try:
            b.cli("setup", "staging")
            for v in ("1", "2", "3"):
                b.refs[v] = _pushed_and_forgotten(lab, b.dir, v)
            b.cli("deploy", "staging", "--image", b.refs["1"], "--no-watch")
            yield b
        finally:
            _clean()
            for v in ("1", "2", "3"):
                _docker("rmi", f"{APP}-test:v{v}")
                if v in b.refs:
                    _docker("rmi", b.refs[v])


def test_bridge_deploys_and_rollback_under_load_drop_nothing(bridge, lab):  # noqa: ANN001
    first = bridge.status()["current"]["id"]
    with SwitchLoad(lab, bridge.port) as load:
        bridge.cli("deploy", "staging", "--image", bridge.refs["2"], "--no-watch")
        second = bridge.status()["current"]["id"]
        bridge.cli("deploy", "staging", "--image", bridge.refs["3"], "--no-watch")
        third = bridge.status()["current"]["id"]
        bridge.cli("rollback", "staging", "--to", second, "--no-watch")
    assert load.failures == [], load.failures[:5]
    assert load.ok > 20
    assert {second, third} <= set(load.releases), load.releases
    assert bridge.status()["current"]["id"] == second
    assert first not in (second, third)


def test_the_bridge_container_was_gated_on_its_own_address(bridge):
    proc = bridge.cli("deploy", "staging", "--image", bridge.refs["3"], "--no-watch")
    out = proc.stdout + proc.stderr
    assert "(container 172." in out or "(container 10." in out or "(container 192." in out, out
    inspect = _docker("inspect", "--format", "{{.HostConfig.NetworkMode}}",
                      bridge.status()["instances"][0]["name"]).stdout.strip()
    assert inspect in ("default", "bridge")


def test_images_of_releases_no_longer_kept_are_pruned_never_one_in_use(bridge):
    # keep_releases = 1: the serving release and one stopped one keep their images
    env = bridge.status()
    kept = {i["image"] for i in env["instances"]}
    assert len(env["instances"]) == 2
    for v, ref in bridge.refs.items():
        present = _docker("image", "inspect", ref).returncode == 0
        in_use = ref.split("@", 1)[1] in kept
        assert present == in_use, (v, ref, present, kept)
    # the image under its own local tag (there before cockpit) is never removed
    for v in bridge.refs:
        assert _docker("image", "inspect", f"{APP}-test:v{v}").returncode == 0


def test_what_cockpit_creates_on_the_host_is_the_ssh_users_alone(bridge):
    home = LAB_HOME / ".cockpit"
    paths = [home, home / "apps", home / "ports.json", home / "ports.json.lock",
             home / "switch" / "envs" / f"{APP}-staging.cfg"]
    for base in (home / "apps" / APP,):
        paths += [base, *base.rglob("*")]
    loose = [f"{oct(p.stat().st_mode & 0o777)} {p}" for p in paths
             if p.exists() and p.stat().st_mode & 0o077]
    assert loose == []
    assert (home / "apps" / APP / "staging" / "releases").stat().st_mode & 0o777 == 0o700


def test_a_deploy_refuses_when_the_host_is_short_of_disk(bridge):
    serving = bridge.status()["current"]["id"]
    bridge.write(min_free_mb=10**9)
    try:
        proc = bridge.cli("deploy", "staging", "--image", bridge.refs["1"], "--json",
                          check=False)
    finally:
        bridge.write()
    assert proc.returncode == 5, proc.stdout[-2000:]
    err = json.loads(proc.stdout.splitlines()[-1])
    text = json.dumps(err)
    assert "MB free" in text and "min_free_mb" in text
    assert bridge.status()["current"]["id"] == serving
