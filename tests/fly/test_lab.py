"""With real lab parts: the token and secrets in gnome-keyring, the image built by the core
builder and pushed to the lab registry, then deployed to the emulator by digest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cockpit import config as config_mod
from cockpit import pipeline
from cockpit.provider import Context, Options
from cockpit.secrets import SecretStore
from cockpit.state import Store

from .conftest import TOKEN, Recorder, write_project

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(300)]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-app"


def test_build_push_and_deploy_with_the_os_keyring(lab, keyring_backend, emu, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FLY_API_TOKEN", raising=False)
    root = tmp_path / "app"
    shutil.copytree(EXAMPLE, root)
    path = write_project(root, emu, count=1, extra=f'registry = "{lab.registry}"')
    text = path.read_text().replace(
        'health_path = "/up"',
        f'health_path = "/up"\ndockerfile = "Dockerfile"\n'
        f'build_args = {{ BASE_IMAGE = "{lab.base_image}" }}')
    path.write_text(text)
    cfg = config_mod.load(path)
    ctx = Context(config=cfg, store=Store.open("shop"), secrets=SecretStore("shop"),
                  options=Options(confirm="prod", yes=True))
    env = cfg.env("staging")
    ctx.secrets.set(env, "FLY_API_TOKEN", TOKEN)
    ctx.secrets.set(env, "SECRET_KEY", "lab-secret-value")
    try:
        release = pipeline.deploy(ctx, "staging", Recorder())
        assert release.image.startswith(f"{lab.registry}/shop-staging@sha256:")
        assert release.digest == release.image.split("@", 1)[1]
        machines = emu.active("shop-staging")
        assert [m.config["image"] for m in machines] == [release.image]
        assert emu.machine_env("shop-staging", machines[0].id)["SECRET_KEY"] == \
            "lab-secret-value"
    finally:
        ctx.secrets.unset(env, "FLY_API_TOKEN")
        ctx.secrets.unset(env, "SECRET_KEY")
        ctx.store.close()
