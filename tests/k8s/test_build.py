"""`build`: the docker SDK builds the app and pushes it to `image_repository` (the lab registry);
the release is pinned by the digest the registry answered, and that is what the Deployment runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cockpit import config as config_mod
from cockpit import pipeline
from cockpit.provider import Context, Options
from cockpit.secrets import SecretStore
from cockpit.state import Store

from .conftest import Recorder

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello-app"


def test_build_pushes_to_the_registry_and_deploy_pins_the_digest(lab, emulator, tmp_path,
                                                                 tmp_state, os_keyring):
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    repo = f"{lab.registry}/cockpit-k8s-test/hello"
    path = tmp_path / "cockpit.toml"
    path.write_text(textwrap.dedent(f"""\
        [app]
        name = "hello"
        context = "{HELLO}"
        port = 8000
        build_args = {{ BASE_IMAGE = "{lab.base_image}" }}

        [environments.staging]
        provider = "kubernetes"
        kubeconfig = "{kubeconfig}"
        namespace = "hello-staging"
        image_repository = "{repo}"
        gate = {{ count = 2, interval = 0.05, deadline = 10 }}
        """))
    cfg = config_mod.load(path)
    ctx = Context(config=cfg, store=Store.open("hello", root=tmp_state),
                  secrets=SecretStore("hello"), options=Options(yes=True))
    rec = Recorder()
    release = pipeline.deploy(ctx, "staging", rec)  # no image=: the provider builds and pushes
    assert release.image.startswith(f"{repo}@sha256:")
    assert release.digest == release.image.split("@", 1)[1]
    d = emulator.get("apps/v1", "deployments", "hello-staging", "hello")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == release.image
    assert [e.step for e in rec.of("step_finished")][:2] == ["build", "push"]
    ctx.store.close()
