"""Fixtures for the Fly provider: a live emulator on loopback, a project, a context.

The provider reaches the emulator only through `api_url` / `logs_url` in cockpit.toml. The token
and secret values live in the real OS keyring (gnome-keyring on the lab's D-Bus session, the
`os_keyring` fixture), which removes what a test stored when it ends.
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

from .emulator import FlyEmulator, User

TOKEN = "fo1_cockpit-test-token-7f3a9c2e"
OTHER_TOKEN = "fo1_other-operator-token-1b2c3d"
IMAGE_V1 = "registry.fly.io/shop@sha256:" + "1" * 64
IMAGE_V2 = "registry.fly.io/shop@sha256:" + "2" * 64
IMAGE_BAD = "registry.fly.io/shop@sha256:" + "b" * 64
IMAGE_CRASH = "registry.fly.io/shop@sha256:" + "c" * 64


def new_emulator(seed: str | None = None) -> FlyEmulator:
    """The tests' emulator: two users of org acme, a failing and a crashing image."""
    emulator = FlyEmulator(tokens={
        TOKEN: User("ops@example.com", {"acme"}),
        OTHER_TOKEN: User("alice@example.com", {"acme"}),
    }, seed=seed)
    emulator.fail_images[IMAGE_BAD] = "HTTP GET /up: 500 Internal Server Error: db down"
    emulator.crash_images[IMAGE_CRASH] = 3
    return emulator


@pytest.fixture
def emu():
    with new_emulator() as emulator:
        yield emulator


def write_project(root: Path, emu: FlyEmulator, *, strategy: str = "rolling", count: int = 2,
                  deadline: float = 10.0, extra: str = "",
                  cert_timeout: float = 10.0, tls_probe: bool = False,
                  gate: str = "count = 1", swap_wait: float = 0.0) -> Path:
    """`gate`: more keys of both environments' gate table (one passing read by default, so
    the emulator tests stay fast; tests/fly/test_gate_honest.py covers count). `swap_wait`:
    0 in tests; the benchmark uses Fly's default."""
    gate = f"deadline = {deadline}" + (f", {gate}" if gate else "")
    text = textwrap.dedent(f"""\
        [app]
        name = "shop"
        port = 8080
        health_path = "/up"

        [environments.staging]
        provider = "fly"
        app = "shop-staging"
        org = "acme"
        regions = ["iad", "ams"]
        replicas = {count}
        strategy = "{strategy}"
        api_url = "{emu.api_url}"
        logs_url = "{emu.logs_url}"
        lease_ttl = 6
        swap_wait = {swap_wait}
        cert_timeout = {cert_timeout}
        tls_probe = {str(tls_probe).lower()}
        gate = {{ {gate} }}
        {extra}

        [environments.prod]
        provider = "fly"
        app = "shop-prod"
        org = "acme"
        regions = ["iad"]
        replicas = {count}
        strategy = "{strategy}"
        api_url = "{emu.api_url}"
        logs_url = "{emu.logs_url}"
        tls_probe = false
        swap_wait = {swap_wait}
        gate = {{ {gate} }}

        [secrets]
        staging = ["SECRET_KEY"]
        prod = ["SECRET_KEY"]
        """)
    path = root / "cockpit.toml"
    path.write_text(text)
    return path


def make_ctx(root: Path, emu: FlyEmulator, **kw) -> Context:
    path = write_project(root, emu, **kw)
    cfg = config_mod.load(path)
    ctx = Context(config=cfg, store=Store.open("shop", root=root / "state"),
                  secrets=SecretStore("shop"), options=Options(confirm="prod", yes=True))
    for env in cfg.environments.values():
        ctx.secrets.set(env, "FLY_API_TOKEN", TOKEN)
        ctx.secrets.set(env, "SECRET_KEY", f"s3cr3t-value-for-{env.name}")
    return ctx


@pytest.fixture
def project(tmp_path, emu, os_keyring, monkeypatch):
    """A context factory: `project()` or `project(strategy="bluegreen", count=3)`."""
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FLY_API_TOKEN", raising=False)
    with closing_contexts() as made:
        def factory(**kw) -> Context:
            ctx = make_ctx(tmp_path, emu, **kw)
            made.append(ctx)
            return ctx

        yield factory
