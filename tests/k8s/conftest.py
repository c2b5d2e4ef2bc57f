"""Fixtures for the Kubernetes provider: the API emulator on loopback, a project, a context.

The provider reaches the emulator only through a real kubeconfig file (server URL + bearer
token), through the real `kubernetes` client. Secret values live in the real OS keyring
(gnome-keyring on the lab's D-Bus session, the `os_keyring` fixture), which removes what a
test stored when it ends.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cockpit import config as config_mod
from cockpit.provider import Context, Options
from cockpit.secrets import SecretStore
from cockpit.state import Store
from tests.conftest import closing_contexts
from tests.recorder import Recorder  # noqa: F401 (re-exported for the tests here)

from .emulator import Emulator

REPO = "registry.example.test/shop"
IMAGE_V1 = f"{REPO}@sha256:" + "1" * 64
IMAGE_V2 = f"{REPO}@sha256:" + "2" * 64
IMAGE_V3 = f"{REPO}@sha256:" + "3" * 64
IMAGE_CRASH = f"{REPO}@sha256:" + "c" * 64
IMAGE_UNHEALTHY = f"{REPO}@sha256:" + "d" * 64
IMAGE_LEAKY = f"{REPO}@sha256:" + "e" * 64
SECRET_STAGING = "stg-s3cr3t-7f3a9c2e-value"
SECRET_PROD = "prod-s3cr3t-1b2c3d4e-value"


@pytest.fixture
def emulator():
    emu = Emulator()
    emu.image(IMAGE_CRASH, crash=True,
              crash_logs=["Traceback (most recent call last):",
                          "KeyError: 'DATABASE_URL' is not set"])
    emu.image(IMAGE_UNHEALTHY, health_status=503, logs=["listening, but the db is down"])
    emu.image(IMAGE_LEAKY, log_env=["SECRET_KEY"], log_every=0.05)
    with emu:
        yield emu


def write_project(root: Path, kubeconfig: Path, *, deadline: float = 10.0, replicas: int = 2,
                  progress_deadline: int = 600, domain: bool = False, extra: str = "",
                  context: str = "emulator") -> Path:
    text = textwrap.dedent(f"""\
        [app]
        name = "shop"
        port = 8000
        health_path = "/up"

        [environments.staging]
        provider = "kubernetes"
        kubeconfig = "{kubeconfig}"
        context = "{context}"
        namespace = "shop-staging"
        replicas = {replicas}
        progress_deadline = {progress_deadline}
        cpu = "100m"
        memory = "128Mi"
        {'domain = "staging.shop.example.test"' if domain else ''}
        {'cert_issuer = "letsencrypt"' if domain else ''}
        {'ingress_class = "nginx"' if domain else ''}
        gate = {{ count = 3, interval = 0.05, deadline = {deadline} }}
        {extra}

        [environments.prod]
        provider = "kubernetes"
        kubeconfig = "{kubeconfig}"
        context = "emulator"
        namespace = "shop-prod"
        replicas = {replicas}
        gate = {{ count = 3, interval = 0.05, deadline = {deadline} }}

        [secrets]
        staging = ["SECRET_KEY"]
        prod = ["SECRET_KEY"]
        """)
    path = root / "cockpit.toml"
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path, emulator, os_keyring, tmp_state):
    """A context factory: `project()` or `project(deadline=3, progress_deadline=1)`."""
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    with closing_contexts() as made:
        def factory(**kw) -> Context:
            path = write_project(tmp_path, kubeconfig, **kw)
            cfg = config_mod.load(path)
            ctx = Context(config=cfg, store=Store.open("shop", root=tmp_state),
                          secrets=SecretStore("shop"), options=Options(confirm="prod", yes=True))
            ctx.secrets.set(cfg.env("staging"), "SECRET_KEY", SECRET_STAGING)
            ctx.secrets.set(cfg.env("prod"), "SECRET_KEY", SECRET_PROD)
            made.append(ctx)
            return ctx

        yield factory
