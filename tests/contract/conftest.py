"""The contract suite's targets: one fixture, `contract`, parametrized over providers.

Each parameter yields a `Contract`: a Context on a fresh project whose `staging` and `prod`
(protected) environments use that provider, and the names of those environments. Providers:
`inmemory` (tests/contract/memory.py), `kubernetes` (the API emulator, tests/k8s/emulator.py)
and `fly` (the Machines API emulator, tests/fly/emulator.py). Secrets come from
`COCKPIT_SECRET_<ENV>_<NAME>` variables (the CI mode), so the suite needs no keyring.

Hook for more guardrail cases (gate semantics, 429 storms): take the `contract` fixture; it
gives `ctx`, `env` ("staging"), `prod` ("prod"), `kind` and, for emulated targets, `emulator`.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cockpit import config as config_mod
from cockpit import plugins
from cockpit.provider import Context, Options
from cockpit.secrets import SecretStore
from cockpit.state import Store
from tests.vps.conftest import project, ready  # noqa: F401 (the lab's VPS fixtures)

SECRET = {"staging": "stg-contract-5e1f0a9b", "prod": "prod-contract-7c2d4e6f"}
FLY_TOKEN = "fo1_cockpit-test-token-7f3a9c2e"  # the Fly emulator's user (tests/fly)
KINDS = ["inmemory", "kubernetes", "fly",
         pytest.param("vps", marks=[pytest.mark.lab, pytest.mark.slow])]


@dataclass
class Contract:
    kind: str
    ctx: Context
    env: str = "staging"
    prod: str = "prod"
    emulator: Any = None
    root: Path | None = None
    project: Any = None  # the lab's VPS project (tests/vps/conftest.py)
    extra: dict[str, Any] = field(default_factory=dict)

    def fresh_ctx(self, **options: Any) -> Context:
        """A second context on the same project (another invocation). On the VPS it replaces
        `ctx` (the lab project keeps one store open at a time)."""
        if self.project is not None:
            self.ctx = self.project.ctx(**options)
            return self.ctx
        cfg = config_mod.load(self.ctx.config.path)
        return Context(config=cfg, store=self.ctx.store, secrets=SecretStore(cfg.app.name),
                       options=Options(**options))


def register_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(plugins._targets(), "inmemory", "tests.contract.memory:MemoryProvider")


def _env_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "1")
    monkeypatch.setenv("COCKPIT_SECRETS_DIGEST_KEY", "contract-digest-key-0123456789abcdef")
    for env, value in SECRET.items():
        monkeypatch.setenv(f"COCKPIT_SECRET_{env.upper()}_SECRET_KEY", value)
        monkeypatch.setenv(f"COCKPIT_SECRET_{env.upper()}_FLY_API_TOKEN", FLY_TOKEN)


def _write(root: Path, kind: str, emulator: Any) -> Path:
    def env_table(env: str) -> str:
        if kind == "inmemory":
            return f'provider = "inmemory"\ntarget = "contract-{root.name}"\nlock_ttl = 30'
        if kind == "kubernetes":
            kubeconfig = emulator.write_kubeconfig(root / "kubeconfig")
            return (f'provider = "kubernetes"\nkubeconfig = "{kubeconfig}"\n'
                    f'context = "emulator"\nnamespace = "shop-{env}"\nlock_ttl = 30')
        return (f'provider = "fly"\napp = "shop-{env}"\norg = "acme"\nregions = ["iad"]\n'
                f'api_url = "{emulator.api_url}"\nlogs_url = "{emulator.logs_url}"\n'
                'lease_ttl = 30\nswap_wait = 0.0\ntls_probe = false')

    text = textwrap.dedent("""\
        [app]
        name = "shop"
        port = 8000
        health_path = "/up"

        [app.env]
        LOG_LEVEL = "info"
        """)
    for env in ("staging", "prod"):
        text += f"\n[environments.{env}]\n{env_table(env)}\n"
        text += "gate = { count = 2, interval = 0.05, deadline = 10 }\n"
    text += '\n[secrets]\nstaging = ["SECRET_KEY"]\nprod = ["SECRET_KEY"]\n'
    path = root / "cockpit.toml"
    path.write_text(text)
    return path


@pytest.fixture(params=KINDS)
def contract(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    kind = request.param
    if kind == "vps":
        project = request.getfixturevalue("ready")  # the lab's VPS, staging serving
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
        yield Contract(kind="vps", ctx=project.ctx(), project=project, root=project.root)
        from cockpit.providers.vps import lock

        from cockpit.pipeline import provider_for

        ctx = project.ctx()
        for name in ("staging", "prod"):  # leave no lock behind for the next test
            env = ctx.config.env(name)
            lock.release(provider_for(ctx, env).host(env))
        return
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("COCKPIT_OPERATOR", raising=False)
    _env_secrets(monkeypatch)
    register_memory(monkeypatch)
    emulator = None
    stack = []
    if kind == "kubernetes":
        from tests.k8s.emulator import Emulator

        emulator = Emulator()
        stack.append(emulator)
        emulator.__enter__()
    elif kind == "fly":
        from tests.fly.conftest import new_emulator

        emulator = new_emulator()
        stack.append(emulator)
        emulator.__enter__()
    path = _write(tmp_path, kind, emulator)
    cfg = config_mod.load(path)
    ctx = Context(config=cfg, store=Store.open("shop", root=tmp_path / "state"),
                  secrets=SecretStore("shop"), options=Options(yes=True))
    try:
        yield Contract(kind=kind, ctx=ctx, emulator=emulator, root=tmp_path)
    finally:
        for provider in getattr(ctx, "_providers", {}).values():
            provider.close()
            for api in getattr(provider, "_apis", {}).values():
                api.close()
        ctx.store.close()
        for emu in stack:
            emu.__exit__(None, None, None)
