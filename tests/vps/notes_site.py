"""The notes app (tests/accessories/notes_app) on the lab VPS, driven through the CLI: its
cockpit.toml, its image, a `Site` that runs `cockpit` in its folder with the lab's variables
and a private state dir, and the clean-up of everything an app left on the lab. Shared by
tests/vps/test_exec.py and tests/vps/test_remove.py (import it as `tests.vps.notes_site`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.stateful_lab import (
    delete_keyring_items,
    docker,
    forget_ports,
    remove_app,
    remove_images,
)

NOTES = Path(__file__).resolve().parents[1] / "accessories" / "notes_app"


def notes_toml(lab, app: str, ports: dict[str, int], domains: dict[str, str] | None = None,
               secrets: bool = True, redis: bool = False) -> str:
    """cockpit.toml of the notes app with a Postgres accessory (and with `redis` a Redis one
    named cache), an app volume, and (with `secrets`) a SECRET_KEY on staging; one VPS
    environment per `ports` entry (name: host port), with `domains`' domain when given."""
    from cockpit.lab.images import image_ref

    envs = "".join(
        "\n" + lab.vps_table(name, port, network="bridge", keep_releases=2, drain_seconds=1.0,
                             stop_timeout=2, domain=(domains or {}).get(name),
                             gate={"count": 2, "interval": 0.2, "timeout": 5.0,
                                   "deadline": 60.0})
        for name, port in ports.items())
    cache = (f'\n[accessories.cache]\nkind = "redis"\nversion = "7.0"\n'
             f'image = "{image_ref("redis")}"\n') if redis else ""
    return f"""[app]
name = "{app}"
port = 8000
health_path = "/up"
release_command = "python3 /app/migrate.py"

[app.volumes]
data = "/app/data"
{envs}
[accessories.postgres]
version = "15"
image = "{image_ref('postgres')}"
{cache}
[secrets]
staging = [{'"SECRET_KEY"' if secrets else ''}]
"""


def build_notes(app_dir: Path, tag: str) -> None:
    """Copy the notes app into `app_dir` and build it as image `tag` (lab build args)."""
    from cockpit.lab.images import build_args_for

    for name in ("app.py", "migrate.py", "requirements.txt", "Dockerfile"):
        (app_dir / name).write_text((NOTES / name).read_text())
    build = ["docker", "build", "-q"]
    for k, v in build_args_for(app_dir / "Dockerfile").items():
        build += ["--build-arg", f"{k}={v}"]
    subprocess.run([*build, "-t", tag, str(app_dir)], capture_output=True, text=True,
                   check=True, env={**os.environ, "DOCKER_BUILDKIT": "0"}, timeout=900)


class Site:
    """One app folder driven through the CLI with the lab's variables and a private state."""

    def __init__(self, lab, app_dir: Path, state: Path) -> None:
        self.lab, self.dir = lab, app_dir
        self.env = {**os.environ, **lab.as_env(), "COCKPIT_STATE_DIR": str(state)}
        self.outputs: list[str] = []

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 600
                 ) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=self.dir,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              input=stdin if stdin is not None else "")
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def ok(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        proc = self(*args, stdin=stdin)
        assert proc.returncode == 0, (f"cockpit {' '.join(args)} exited {proc.returncode}\n"
                                      f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def clean_up(self, app: str, ports: dict[str, int], backend) -> None:
        """What `app` may have left on the lab after `cockpit remove`: its containers,
        volumes and networks (remove_app), its port claims, its keyring items (`backend`),
        its release images and the `<app>:test` image."""
        remove_app(app, ports)
        forget_ports(self.dir, self.env, app)
        delete_keyring_items(backend, app)
        remove_images(app)
        docker("rmi", f"{app}:test", check=False)
