"""Fixtures for the VPS provider on the lab: a project (hello-app under its own app name and
ports), its state dir, secrets in the lab's keyring, prebuilt images, contexts, a load loop.

The lab "VPS" is this machine's sshd as the `deploy` user driving the same Docker Engine; the
edge (Caddy) and the switch (HAProxy) are started by the provider's setup as `deploy`.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = "zdt"
SECRETS = {"staging": "stg-Secret-Value-7731", "prod": "prd-Secret-Value-9902"}
PORTS = {"staging": 8300, "prod": 8400}
def _home_of(user: str) -> Path:
    import pwd

    try:
        return Path(pwd.getpwnam(user).pw_dir)
    except KeyError:
        return Path("/home") / user


LAB_HOME = _home_of("deploy")  # the lab's VPS user (cockpit.lab.vps.USER)
# Fresh domain names each session: Pebble's issuing root changes when the lab restarts, and a
# certificate Caddy stored for an old name would chain to the old root.
ZONE = f"{APP}-{os.urandom(3).hex()}.test"


def domain(env: str) -> str:
    return f"{env}.{ZONE}"


def toml_for(lab, *, gate_deadline: float = 8.0) -> str:
    envs = []
    for name, port in PORTS.items():
        envs.append("\n" + lab.vps_table(
            name, port, domain=domain(name), drain_seconds=5.0, stop_timeout=5, keep_releases=3,
            lock_ttl=6.0,
            gate={"count": 3, "interval": 0.2, "timeout": 3.0, "deadline": gate_deadline}))
    envs.append("\n" + lab.vps_table(
        "bare", 8800, network="bridge", edge_ca=False, keep_releases=1,
        gate={"count": 2, "interval": 0.2, "timeout": 3.0, "deadline": 20.0}))
    return f"""[app]
name = "{APP}"
port = 8000
health_path = "/up"
build_args = {{ BASE_IMAGE = "{lab.base_image}" }}
{''.join(envs)}
[secrets]
staging = ["SECRET_KEY"]
prod = ["SECRET_KEY"]
"""


@dataclass
class Project:
    lab: object
    root: Path
    app_dir: Path
    state_dir: Path
    images: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)  # everything cockpit printed or emitted
    _store: object = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.app_dir / "cockpit.toml"

    def env(self) -> dict[str, str]:
        e = dict(os.environ)
        e.update(self.lab.as_env())
        e["COCKPIT_STATE_DIR"] = str(self.state_dir)
        return e

    def cli(self, *args: str, timeout: float = 180, check: bool = False
            ) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=self.app_dir,
                              env=self.env(), capture_output=True, text=True, timeout=timeout)
        self.outputs += [proc.stdout, proc.stderr]
        if check and proc.returncode != 0:
            raise AssertionError(f"cockpit {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def ctx(self, **options):
        from cockpit import config
        from cockpit.provider import Context, Options
        from cockpit.secrets import SecretStore
        from cockpit.state import Store

        cfg = config.load(self.config_path)
        opts = Options(trust_host=[self.lab.ssh_hostkey_sha256], **options)
        if self._store is not None:  # one open connection at a time
            self._store.close()
        self._store = Store.open(APP)
        return Context(config=cfg, store=self._store, secrets=SecretStore(APP), options=opts)

    def collect(self):
        """An emitter that keeps every event's text (for the secrets check)."""
        import json

        def emit(event) -> None:
            self.outputs.append(json.dumps(event.to_dict(), default=str))

        return emit


def clean_host(app: str = APP) -> None:
    """Remove an app's containers and its directory from the lab VPS (a clean first deploy)."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=cockpit.app={app}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    shutil.rmtree(LAB_HOME / ".cockpit" / "apps" / app, ignore_errors=True)


def _build(tag: str, lab, app_dir: Path, **args: str) -> str:
    cmd = ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={lab.base_image}"]
    for k, v in args.items():
        cmd += ["--build-arg", f"{k}={v}"]
    out = subprocess.run([*cmd, "-t", tag, str(app_dir)], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def project(lab, tmp_path_factory) -> Iterator[Project]:
    """The hello app on the lab VPS for the whole session; its SECRET_KEY items live in the
    lab's keyring for as long, so the session holds the lab-wide keyring lock (another test
    run would otherwise clean them up under it)."""
    from tests.conftest import keyring_lock

    with keyring_lock(lab):
        yield from _project(lab, tmp_path_factory)


def _project(lab, tmp_path_factory) -> Iterator[Project]:  # noqa: ANN001
    import keyring
    from keyring.backends import SecretService

    root = tmp_path_factory.mktemp("vps")
    app_dir = root / "app"
    app_dir.mkdir()
    for name in ("Dockerfile", "app.py"):
        shutil.copy(REPO / "examples" / "hello-app" / name, app_dir / name)
    state = root / "state"
    state.mkdir()
    old_state = os.environ.get("COCKPIT_STATE_DIR")
    os.environ["COCKPIT_STATE_DIR"] = str(state)
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = lab.dbus_session_bus_address
    previous = keyring.get_keyring()
    keyring.set_keyring(SecretService.Keyring())
    (app_dir / "cockpit.toml").write_text(toml_for(lab))
    clean_host()
    p = Project(lab=lab, root=root, app_dir=app_dir, state_dir=state)
    from cockpit.secrets import SecretStore

    store = SecretStore(APP)
    cfg = p.ctx().config
    for env, value in SECRETS.items():
        store.set(cfg.env(env), "SECRET_KEY", value)
    p.images["v1"] = _build(f"{APP}:v1", lab, app_dir, HELLO_VERSION="1")
    p.images["v2"] = _build(f"{APP}:v2", lab, app_dir, HELLO_VERSION="2")
    p.images["v3"] = _build(f"{APP}:v3", lab, app_dir, HELLO_VERSION="3")
    p.images["broken"] = _build(f"{APP}:broken", lab, app_dir, HELLO_BROKEN="1")
    yield p
    clean_host()
    keyring.set_keyring(previous)
    if old_state is None:
        os.environ.pop("COCKPIT_STATE_DIR", None)
    else:
        os.environ["COCKPIT_STATE_DIR"] = old_state


# --------------------------------------------------------------------------- load loop


class LoadLoop:
    """Sequential HTTPS requests through the edge (loopback only, SNI = the domain), each on a
    new connection; bounded in count and time. Records every outcome and which release
    answered (the app's X-Release header)."""

    def __init__(self, lab, domain: str, *, max_requests: int = 40000,
                 max_seconds: float = 240.0) -> None:
        self.host = "127.0.0.1"
        self.port = lab.https_port
        self.domain = domain
        self.ctx = ssl.create_default_context(cafile=lab.acme_issuer_root)
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.ok = 0
        self.failures: list[str] = []
        self.releases: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _one(self) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=5) as raw, \
                    self.ctx.wrap_socket(raw, server_hostname=self.domain) as s:
                s.sendall(f"GET / HTTP/1.1\r\nHost: {self.domain}\r\nConnection: close\r\n\r\n"
                          .encode())
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except (OSError, ssl.SSLError) as exc:
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

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        n = 0
        while not self._stop.is_set() and n < self.max_requests and time.monotonic() < end:
            self._one()
            n += 1

    def __enter__(self) -> LoadLoop:
        self._thread.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.3)
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def total(self) -> int:
        return self.ok + len(self.failures)


@pytest.fixture
def ready(project):
    """Both environments set up and staging serving a release."""
    from cockpit import pipeline

    for env in ("staging", "prod"):
        project.cli("setup", env, "--confirm", env, "--trust-host", project.lab.ssh_hostkey_sha256,
                    check=True)
    if pipeline.live(project.ctx(), "staging").current is None:
        pipeline.deploy(project.ctx(), "staging", project.collect(), image=project.images["v1"])
    return project


@pytest.fixture
def load_loop(project):
    def make(env: str = "staging", **kw) -> LoadLoop:
        return LoadLoop(project.lab, domain(env), **kw)

    return make
