"""The alerts tests' app on the lab VPS: the hello app as `alrt`, one environment (staging)
behind the lab's edge, with its own ports and domain. Alert URLs go into the lab's keyring, so
the session holds the lab-wide keyring lock and removes the items it added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = "alrt"
PORT = 8730
ZONE = f"{APP}-{os.urandom(3).hex()}.test"
DOMAIN = f"staging.{ZONE}"


@dataclass
class AlertApp:
    lab: object
    app_dir: Path
    state_dir: Path
    image: str

    def env(self) -> dict[str, str]:
        e = dict(os.environ)
        e.update(self.lab.as_env())
        e["COCKPIT_STATE_DIR"] = str(self.state_dir)
        return e

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "cockpit", *args]

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 300,
            check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), cwd=self.app_dir, env=self.env(), input=stdin,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"cockpit {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def app_containers(self) -> list[str]:
        out = subprocess.run(["docker", "ps", "-q", "--filter", f"label=cockpit.app={APP}",
                              "--filter", "label=cockpit.env=staging"],
                             capture_output=True, text=True, check=True)
        return out.stdout.split()


def _clean_host() -> None:
    from tests.vps.conftest import LAB_HOME

    for flt in (f"label=cockpit.app={APP}", f"label=cockpit.watch={APP}-staging"):
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", flt],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    shutil.rmtree(LAB_HOME / ".cockpit" / "apps" / APP, ignore_errors=True)
    shutil.rmtree(LAB_HOME / ".cockpit" / "watch" / f"{APP}-staging", ignore_errors=True)


@pytest.fixture(scope="session")
def alert_app(lab, tmp_path_factory) -> Iterator[AlertApp]:
    """The app deployed to staging on the lab, once for the session."""
    import keyring
    from keyring.backends import SecretService

    from tests.conftest import _cockpit_items, keyring_lock

    with keyring_lock(lab):
        root = tmp_path_factory.mktemp("alerts")
        app_dir = root / "app"
        app_dir.mkdir()
        for name in ("Dockerfile", "app.py"):
            shutil.copy(REPO / "examples" / "hello-app" / name, app_dir / name)
        state = root / "state"
        state.mkdir()
        table = lab.vps_table("staging", PORT, domain=DOMAIN, drain_seconds=1.0,
                              stop_timeout=2, keep_releases=2, lock_ttl=30.0,
                              gate={"count": 2, "interval": 0.2, "timeout": 3.0,
                                    "deadline": 20.0})
        (app_dir / "cockpit.toml").write_text(
            f'[app]\nname = "{APP}"\nport = 8000\nhealth_path = "/up"\n'
            f'build_args = {{ BASE_IMAGE = "{lab.base_image}" }}\n\n{table}')
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = lab.dbus_session_bus_address
        backend = SecretService.Keyring()
        previous = keyring.get_keyring()
        keyring.set_keyring(backend)
        before = _cockpit_items(backend)
        _clean_host()
        image = subprocess.run(
            ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={lab.base_image}", "-t",
             f"{APP}:v1", str(app_dir)], capture_output=True, text=True, check=True
        ).stdout.strip().splitlines()[-1]
        app = AlertApp(lab, app_dir, state, image)
        app.cli("setup", "staging", "--yes", "--trust-host", lab.ssh_hostkey_sha256)
        app.cli("deploy", "staging", "--image", image, "--yes", "--trust-host",
                lab.ssh_hostkey_sha256)
        try:
            yield app
        finally:
            _clean_host()
            for service, name in _cockpit_items(backend) - before:
                try:
                    backend.delete_password(service, name)
                except Exception:
                    pass
            keyring.set_keyring(previous)
