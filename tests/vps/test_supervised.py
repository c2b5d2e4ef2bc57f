"""The edge (Caddy) and the switch (HAProxy) are supervised containers on the lab host's Docker
engine: killed with SIGKILL, they come back by themselves and the apps answer through the edge
again with no cockpit command; their admin interfaces are unix sockets of their own users, and
the edge runs as a uid that cannot read the env files.

Two tests interrupt the lab's shared edge or engine for every session on the machine, so they
run only with COCKPIT_LAB_DISRUPTIVE=1: a restart of the Docker engine (a reboot's stand-in), and
moving a host from the old unsupervised daemons to the containers.

This module keeps its own app (`sup`) without secrets (the secrets digest key comes from
COCKPIT_SECRETS_DIGEST_KEY), so it needs no keyring lock.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.vps.conftest import LAB_HOME, REPO, _build

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(300)]

APP = "sup"
PORT = 9870
ZONE = f"{APP}-{os.urandom(3).hex()}.test"
DOMAIN = f"staging.{ZONE}"
EDGE, SWITCH = "cockpit-edge", "cockpit-switch"
EDGE_UID = 62019
BUDGET = 15.0  # seconds the apps may take to answer through the edge again
disruptive = pytest.mark.skipif(
    os.environ.get("COCKPIT_LAB_DISRUPTIVE") != "1",
    reason="interrupts the lab's shared edge or engine for everyone: COCKPIT_LAB_DISRUPTIVE=1")


class App:
    def __init__(self, lab, root: Path) -> None:
        self.lab, self.root = lab, root
        self.dir = root / "app"
        self.release = ""

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.lab.as_env(), "COCKPIT_STATE_DIR": str(self.root / "state"),
                "COCKPIT_SECRETS_DIGEST_KEY": "sup-test-digest-key-0123456789abcdef"}

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=self.dir,
                              env=self.env(), capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise AssertionError(f"cockpit {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc


def _clean() -> None:
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=cockpit.app={APP}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    shutil.rmtree(LAB_HOME / ".cockpit" / "apps" / APP, ignore_errors=True)


@pytest.fixture(scope="module")
def app(lab, tmp_path_factory):
    root = tmp_path_factory.mktemp("supervised")
    a = App(lab, root)
    a.dir.mkdir()
    (root / "state").mkdir()
    for name in ("Dockerfile", "app.py"):
        shutil.copy(REPO / "examples" / "hello-app" / name, a.dir / name)
    table = lab.vps_table("staging", PORT, domain=DOMAIN, keep_releases=2, drain_seconds=1.0,
                          stop_timeout=2, gate={"count": 2, "interval": 0.2, "timeout": 3.0,
                                                "deadline": 30.0})
    (a.dir / "cockpit.toml").write_text(
        f'[app]\nname = "{APP}"\nport = 8000\nhealth_path = "/up"\n'
        f'build_args = {{ BASE_IMAGE = "{lab.base_image}" }}\n\n{table}')
    _clean()
    image = _build(f"{APP}:v1", lab, a.dir, HELLO_VERSION="1")
    a.cli("setup", "staging", "--trust-host", lab.ssh_hostkey_sha256)
    out = a.cli("deploy", "staging", "--image", image, "--no-watch", "--json").stdout
    a.release = json.loads(out.strip().splitlines()[-1])["data"]["release"]["id"]
    yield a
    _clean()


def _through_edge(lab) -> tuple[int | None, str]:
    """(HTTP status, X-Release) of GET / through the edge with the app's domain, or (None, why)."""
    ctx = ssl.create_default_context(cafile=lab.acme_issuer_root)
    try:
        with socket.create_connection(("127.0.0.1", lab.https_port), timeout=3) as raw, \
                ctx.wrap_socket(raw, server_hostname=DOMAIN) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except (OSError, ssl.SSLError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    status = int(head[0].split()[1]) if len(head[0].split()) > 1 else None
    release = next((h.split(":", 1)[1].strip() for h in head
                    if h.lower().startswith("x-release:")), "")
    return status, release


def _answers_again(lab, release: str, budget: float = BUDGET) -> list[str]:
    """Poll the edge until it serves `release` (polling, not timing: [] when it did within the
    budget; else what it answered)."""
    seen: list[str] = []
    end = time.monotonic() + budget
    while time.monotonic() < end:
        status, got = _through_edge(lab)
        if status == 200 and got == release:
            return []
        seen.append(f"{status} {got}")
        time.sleep(0.2)
    return seen[-5:]


def _inspect(name: str) -> dict:
    out = subprocess.run(["docker", "inspect", "--type", "container", name], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)[0]


def _listener_uids(port: int) -> set[int]:
    uids = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                uids.add(int(cols[7]))
    return uids


def test_edge_and_switch_are_supervised_containers_with_their_own_users(app, lab):
    deploy = pwd.getpwnam(lab.ssh_user)
    edge, switch = _inspect(EDGE), _inspect(SWITCH)
    for c in (edge, switch):
        assert c["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert c["HostConfig"]["NetworkMode"] == "host"
        assert c["State"]["Running"]
    assert edge["Config"]["User"] == f"{EDGE_UID}:{EDGE_UID}" != str(deploy.pw_uid)
    assert switch["Config"]["User"] == f"{deploy.pw_uid}:{deploy.pw_gid}"
    assert [m["Source"] for m in edge["Mounts"]] == [str(LAB_HOME / ".cockpit" / "edge")]
    assert _answers_again(lab, app.release) == []


def test_admin_interfaces_are_unix_sockets_of_their_own_users(app, lab):
    import stat

    deploy = pwd.getpwnam(lab.ssh_user)
    sock = LAB_HOME / ".cockpit" / "switch" / "admin.sock"
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == deploy.pw_uid
    edge_sock = LAB_HOME / ".cockpit" / "edge" / "data" / "admin.sock"
    st = os.stat(edge_sock)  # the test runs as root; no other user can even reach the folder
    assert stat.S_ISSOCK(st.st_mode) and st.st_uid == EDGE_UID
    assert stat.S_IMODE(st.st_mode) & 0o022 == 0  # nobody else may connect
    assert stat.S_IMODE(os.stat(edge_sock.parent).st_mode) == 0o700
    edge_admin = int(lab.caddy_admin.rsplit(":", 1)[1])
    for port in (edge_admin, 9901):  # the old TCP admin ports: not ours any more
        assert not {EDGE_UID, deploy.pw_uid} & _listener_uids(port), port
    caddyfile = (LAB_HOME / ".cockpit" / "edge" / "Caddyfile").read_text()
    assert f"admin unix/{edge_sock}" in caddyfile
    assert "ipv4@" not in (LAB_HOME / ".cockpit" / "switch" / "haproxy.cfg").read_text()


def test_the_edge_cannot_read_an_env_file(app):
    releases = LAB_HOME / ".cockpit" / "apps" / APP / "staging" / "releases"
    env_file = next(releases.glob("*.env"))
    assert os.stat(env_file).st_mode & 0o077 == 0
    as_edge = subprocess.run(["setpriv", f"--reuid={EDGE_UID}", f"--regid={EDGE_UID}",
                              "--clear-groups", "cat", str(env_file)],
                             capture_output=True, text=True)
    assert as_edge.returncode != 0 and "Permission denied" in as_edge.stderr
    inside = subprocess.run(["docker", "exec", EDGE, "cat", str(env_file)], capture_output=True,
                            text=True)
    assert inside.returncode != 0  # not even mounted in the edge's container


def test_a_config_the_edge_refuses_is_not_left_for_its_next_restart(app, lab, tmp_path):
    """The edge loads its files again whenever its container restarts: a site Caddy refused
    (here: a CA root that holds no certificate) is taken back off the disk, and the edge keeps
    serving everyone else, before and after a restart."""
    bad_root = tmp_path / "not-a-ca.pem"
    bad_root.write_text("this is no certificate\n")
    text = (app.dir / "cockpit.toml").read_text()
    bad = lab.vps_table("bad", PORT + 40, domain=f"bad.{ZONE}", acme_ca_root=str(bad_root))
    bad = "\n".join(ln for ln in bad.splitlines() if not ln.startswith("acme_ca_root = ")
                    or str(bad_root) in ln)  # vps_table writes the lab's; keep only ours
    (app.dir / "cockpit.toml").write_text(text + "\n" + bad + "\n")
    site = LAB_HOME / ".cockpit" / "edge" / "sites" / f"{APP}-bad.caddy"
    try:
        proc = subprocess.run([sys.executable, "-m", "cockpit", "setup", "bad", "--json"],
                              cwd=app.dir, env=app.env(), capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 1, proc.stdout[-2000:]
        assert "Caddy refused the new config (the previous files are back" in proc.stdout
        assert not site.exists()
        assert _answers_again(lab, app.release) == []
        subprocess.run(["docker", "restart", "--time", "5", EDGE], check=True,
                       capture_output=True, timeout=60)
        assert _answers_again(lab, app.release) == []
    finally:
        (app.dir / "cockpit.toml").write_text(text)
        site.unlink(missing_ok=True)
        (LAB_HOME / ".cockpit" / "switch" / "envs" / f"{APP}-bad.cfg").unlink(missing_ok=True)


def test_an_image_the_host_cannot_get_is_named_with_what_to_do(app):
    text = (app.dir / "cockpit.toml").read_text()
    (app.dir / "cockpit.toml").write_text(
        text.replace("[environments.staging]\n",
                     '[environments.staging]\nedge_image = "127.0.0.1:9/nothing:here"\n'))
    try:
        proc = subprocess.run([sys.executable, "-m", "cockpit", "setup", "staging", "--json"],
                              cwd=app.dir, env=app.env(), capture_output=True, text=True,
                              timeout=300)
    finally:
        (app.dir / "cockpit.toml").write_text(text)
    error = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 1 and error["type"] == "error"
    assert "the host cannot get the image 127.0.0.1:9/nothing:here" in error["error"]
    assert "edge_image / switch_image" in error["hint"]
    assert _inspect(EDGE)["State"]["Running"]  # nothing was touched


def _kill9(name: str) -> None:
    pid = _inspect(name)["State"]["Pid"]
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for p in [pid, *map(int, children)]:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_sigkilled_edge_and_switch_come_back_by_themselves(app, lab):
    before = {n: _inspect(n)["State"]["StartedAt"] for n in (EDGE, SWITCH)}
    _kill9(SWITCH)
    _kill9(EDGE)
    assert _answers_again(lab, app.release) == []  # no cockpit command ran
    after = {n: _inspect(n)["State"] for n in (EDGE, SWITCH)}
    # both started again (by their restart policy; on a shared lab another session's setup may
    # have got there first, so the restart count is not asserted)
    assert all(after[n]["Running"] and after[n]["StartedAt"] > before[n] for n in before)


@disruptive
def test_docker_engine_restart_brings_the_edge_and_switch_back(app, lab):
    """A reboot's stand-in: stop the lab's dockerd and start it again the way the lab does."""
    from cockpit.lab import engine
    from cockpit.lab._proc import State, locked, stop_pid

    root = Path(lab.lab_dir)
    with locked(root):
        state = State(root)
        pid = state.alive("dockerd")
        if not pid:
            pytest.skip("the lab did not start this dockerd; it will not stop someone else's")
        stop_pid(pid, timeout=60)
        assert not engine.ping()
        engine.ensure_engine(state)
        state.save()
    assert _answers_again(lab, app.release) == []  # no cockpit command ran


@disruptive
def test_setup_moves_a_host_from_the_old_daemons_to_the_containers(app, lab):
    """A host an older cockpit set up: Caddy (`caddy start`) and HAProxy (`haproxy -D`) run as
    the SSH user with pidfiles. `cockpit setup` stops them, starts the containers from the same
    files, and the same release keeps serving; a second setup changes nothing."""
    deploy = pwd.getpwnam(lab.ssh_user)
    edge_dir, switch_dir = LAB_HOME / ".cockpit" / "edge", LAB_HOME / ".cockpit" / "switch"
    as_deploy = ["setpriv", f"--reuid={deploy.pw_uid}", f"--regid={deploy.pw_gid}",
                 "--init-groups"]
    env = {"HOME": str(LAB_HOME), "PATH": os.environ["PATH"]}
    # the old switch beside the container (SO_REUSEPORT, same user), then the container goes
    subprocess.run([*as_deploy, lab.haproxy_bin, "-D", "-p", str(switch_dir / "haproxy.pid"),
                    "-f", str(switch_dir / "haproxy.cfg"), "-f", str(switch_dir / "envs")],
                   check=True, env=env, capture_output=True, timeout=30)
    old_pids = _pids(switch_dir / "haproxy.pid")
    subprocess.run(["docker", "rm", "-f", SWITCH, EDGE], check=True, capture_output=True)
    old = (edge_dir / "Caddyfile").read_text().replace(
        f"admin unix/{edge_dir}/data/admin.sock", "admin 127.0.0.1:" + str(_free_port()))
    (edge_dir / "Caddyfile").write_text(old)
    for path in [edge_dir / "data", *(edge_dir / "data").rglob("*")]:
        os.lchown(path, deploy.pw_uid, deploy.pw_gid)
    subprocess.run([*as_deploy, lab.caddy_bin, "start", "--config", str(edge_dir / "Caddyfile"),
                    "--adapter", "caddyfile", "--pidfile", str(edge_dir / "caddy.pid")],
                   check=True, env=env, capture_output=True, timeout=60)
    old_pids += _pids(edge_dir / "caddy.pid")
    try:
        assert _answers_again(lab, app.release) == []  # the old daemons serve
        out = app.cli("setup", "staging").stdout
        # On the shared lab another session's setup may move the host first; either way:
        if "moved from" not in out:
            assert "HAProxy running in cockpit-switch" in out, out
        for pid in old_pids:
            assert not Path(f"/proc/{pid}").exists(), f"old daemon {pid} still runs"
        assert not (edge_dir / "caddy.pid").exists() and not (switch_dir / "haproxy.pid").exists()
        assert _inspect(EDGE)["State"]["Running"] and _inspect(SWITCH)["State"]["Running"]
        assert os.stat(edge_dir / "data").st_uid == EDGE_UID
        assert _answers_again(lab, app.release) == []
        again = app.cli("setup", "staging").stdout
        assert "HAProxy running in cockpit-switch" in again and "Caddy running" in again
        assert "moved from" not in again
    finally:
        if not _inspect_ok(EDGE) or not _inspect_ok(SWITCH):
            app.cli("setup", "staging")  # never leave the lab without its edge


def _pids(pidfile: Path) -> list[int]:
    try:
        return [int(p) for p in pidfile.read_text().split()]
    except FileNotFoundError:  # another session's setup moved it already
        return []


def _inspect_ok(name: str) -> bool:
    return subprocess.run(["docker", "inspect", "--type", "container", name],
                          capture_output=True).returncode == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
