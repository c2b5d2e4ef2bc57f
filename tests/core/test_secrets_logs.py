"""A fresh `cockpit logs` / `cockpit status` process masks the environment's secret values.

The redactor is process-wide and knows only values its own process read: before the fix, a
new `cockpit logs staging` process printed an app's logged secret in clear on Fly (and
Kubernetes), because nothing in that process had read the keyring. The CLI runs here as a user
runs it (a subprocess), against the Fly emulator, with the values in the real OS keyring.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cockpit import config as config_mod
from cockpit.secrets import SecretStore
from tests.conftest import closing_contexts
from tests.fly.conftest import TOKEN, new_emulator, write_project

pytestmark = pytest.mark.timeout(90)

VALUE = "s3cr3t-value-for-staging"


def _cockpit(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FLY_API_TOKEN", "COCKPIT_SECRETS_FROM_ENV", "PYTHON_KEYRING_BACKEND")}
    return subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def fly_project(tmp_path, os_keyring, monkeypatch):
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "state"))
    with new_emulator() as emu:
        path = write_project(tmp_path, emu)
        cfg = config_mod.load(path)
        store = SecretStore("shop")
        for env in cfg.environments.values():
            store.set(env, "FLY_API_TOKEN", TOKEN)
            store.set(env, "SECRET_KEY", f"s3cr3t-value-for-{env.name}")
        emu.create_app("shop-staging", "acme")
        yield emu, path


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_fresh_logs_process_masks_a_secret_the_app_logs(fly_project, tmp_path, json_flag):
    emu, path = fly_project
    emu.add_log("shop-staging", "m1", "iad", f"connecting with {VALUE} now")
    done = _cockpit("logs", "staging", "--config", str(path), *json_flag, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "connecting with" in done.stdout
    assert VALUE not in done.stdout + done.stderr
    assert "s3cr3t" not in done.stdout + done.stderr
    assert "••••" in done.stdout



def test_a_fresh_logs_process_masks_a_secret_a_kubernetes_pod_prints(k8s_project, tmp_path):
    from cockpit import pipeline
    from tests.k8s.conftest import IMAGE_LEAKY, SECRET_STAGING, Recorder

    ctx = k8s_project(replicas=1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_LEAKY)  # the pod prints SECRET_KEY
    done = _cockpit("logs", "staging", "--config", str(ctx.config.path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "config SECRET_KEY=••••" in done.stdout
    assert SECRET_STAGING not in done.stdout + done.stderr


@pytest.fixture
def k8s_project(tmp_path, os_keyring, tmp_state):
    from tests.k8s import conftest as k8s

    emu = k8s.Emulator()
    emu.image(k8s.IMAGE_LEAKY, log_env=["SECRET_KEY"], log_every=0.05)
    with emu:
        kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
        with closing_contexts() as made:
            def factory(**kw):
                path = k8s.write_project(tmp_path, kubeconfig, **kw)
                cfg = config_mod.load(path)
                ctx = k8s.Context(config=cfg, store=k8s.Store.open("shop", root=tmp_state),
                                  secrets=SecretStore("shop"),
                                  options=k8s.Options(confirm="prod", yes=True))
                ctx.secrets.set(cfg.env("staging"), "SECRET_KEY", k8s.SECRET_STAGING)
                ctx.secrets.set(cfg.env("prod"), "SECRET_KEY", k8s.SECRET_PROD)
                made.append(ctx)
                return ctx

            yield factory
