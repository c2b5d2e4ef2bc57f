"""Helpers for the lab tests of apps with accessories (tests/accessories/test_vps.py,
tests/schema/test_vps.py, tests/corpus/test_stateful.py): run the CLI as a user would, talk to
the app through the lab's edge, and remove everything an app left on the lab.

Everything here acts on one app name: its containers (label `cockpit.app`), its accessories
(label `cockpit.accessory-app`), their volumes and networks, its directory on the lab VPS, its
claims in the host's port registry, its keyring items (`cockpit:<app>:<env>`) and the images a
deploy built for it. Nothing of another app is touched.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlencode

from tests.vps.conftest import clean_host


def docker(*args: str, check: bool = True, timeout: float = 900) -> str:
    """`docker <args>`'s stdout, stripped; with `check` a non-zero exit raises AssertionError
    with its stderr."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr}")
    return proc.stdout.strip()


class CLI:
    """`python -m cockpit ...` in an app's folder with the lab's variables and a private state
    dir (`state`); every output is kept in `outputs` (for the no-secret-in-output checks)."""

    def __init__(self, lab, app_dir: Path, state: Path, **extra_env: str) -> None:
        self.lab = lab
        self.dir = app_dir
        self.env = {**os.environ, **lab.as_env(), "COCKPIT_STATE_DIR": str(state), **extra_env}
        self.outputs: list[str] = []

    def __call__(self, *args: str, timeout: float = 900, stdin: str | None = None
                 ) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=self.dir,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              input=stdin)
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def ok(self, *args: str, timeout: float = 900, stdin: str | None = None
           ) -> subprocess.CompletedProcess:
        """Like calling it, but a non-zero exit fails with the output's tail."""
        proc = self(*args, timeout=timeout, stdin=stdin)
        assert proc.returncode == 0, (f"cockpit {' '.join(args)} exited {proc.returncode}\n"
                                      f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc


def result(proc: subprocess.CompletedProcess) -> dict:
    """The last JSON object a `--json` command printed (its result or its error)."""
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])


def events(proc: subprocess.CompletedProcess) -> list[dict]:
    """Every JSON object a `--json` command printed, in order."""
    return [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]


def remove_app(app: str, envs: Iterable[str] = ("staging", "prod")) -> None:
    """Remove what `app` left on the lab: release containers and its directory on the host,
    accessory containers, their volumes (label cockpit.app) and the environments' networks."""
    clean_host(app)
    ids = docker("ps", "-aq", "--filter", f"label=cockpit.accessory-app={app}", check=False)
    if ids:
        docker("rm", "-f", *ids.split(), check=False)
    vols = docker("volume", "ls", "-q", "--filter", f"label=cockpit.app={app}", check=False)
    if vols:
        docker("volume", "rm", "-f", *vols.split(), check=False)
    for env in envs:
        docker("network", "rm", f"cockpit-{app}-{env}", check=False)


def remove_images(app: str) -> None:
    """The images deploys built for `app` (`<app>:latest`, `<registry>/<app>:<tag>`)."""
    refs = docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).split()
    mine = [r for r in refs if r.rpartition(":")[0].rpartition("/")[2] == app]
    if mine:
        docker("rmi", "-f", *mine, check=False)


def forget_ports(app_dir: Path, environ: dict[str, str], app: str, env: str = "staging"
                 ) -> None:
    """Drop `app`'s claims from the lab host's port registry (`cockpit init` or `cockpit
    setup` made them), reached through environment `env` of `app_dir`/cockpit.toml with the
    process environment `environ` (the lab's variables; CLI.env)."""
    code = ("from cockpit.cli._common import load_context; import argparse; "
            "from cockpit.pipeline import provider_for; "
            "from cockpit.providers.vps import ports; "
            f"ctx = load_context(argparse.Namespace()); e = ctx.config.env({env!r}); "
            f"h = provider_for(ctx, e).host(e); ports.forget(h.t, h.layout.root, {app!r})")
    subprocess.run([sys.executable, "-c", code], cwd=app_dir, env=environ,
                   capture_output=True, timeout=120)


def delete_keyring_items(backend, app: str) -> None:
    """Delete every keyring item of `app` (service `cockpit:<app>:<env>`): accessory
    passwords, secrets. Call it while holding tests.conftest.keyring_lock."""
    from tests.conftest import _cockpit_items

    for service, name in _cockpit_items(backend):
        if service.startswith(f"cockpit:{app}:"):
            try:
                backend.delete_password(service, name)
            except Exception:  # noqa: BLE001 - already gone
                pass


def edge_request(lab, domain: str, method: str, path: str, form: dict | None = None,
                 timeout: float = 15) -> tuple[int, str]:
    """One HTTPS request through the lab's edge (127.0.0.1:<https_port>, SNI and Host =
    `domain`, verified against Pebble's issuing root); `form` is sent urlencoded. Returns
    (status, body text)."""
    ctx = ssl.create_default_context(cafile=lab.acme_issuer_root)
    raw = socket.create_connection(("127.0.0.1", lab.https_port), timeout=timeout)
    conn = http.client.HTTPSConnection(domain, lab.https_port, timeout=timeout)
    conn.sock = ctx.wrap_socket(raw, server_hostname=domain)
    headers = {"Host": domain, "User-Agent": "cockpit-stateful-test"}
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()
