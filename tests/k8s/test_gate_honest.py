"""The one gate on Kubernetes: a release answering 500 fails fast; an API error during the gate
(401, 5xx) undoes the release, and when the undo fails too the run is left for reconcile, which
finishes it; the client survives a 429 storm and stray 5xx answers from the API server."""

from __future__ import annotations

import pytest

from cockpit import config as config_mod
from cockpit import pipeline
from cockpit.errors import EXIT_FAILED, CockpitError, GateFailed
from cockpit.provider import Context, Options
from cockpit.secrets import SecretStore
from cockpit.state import Store
from tests.conftest import closing_contexts

from .conftest import IMAGE_V1, IMAGE_V2, SECRET_PROD, SECRET_STAGING, Recorder, write_project

pytestmark = pytest.mark.timeout(120)
BAD = "registry.example.test/shop@sha256:" + "5" * 64


@pytest.fixture
def project(tmp_path, emulator, tmp_state, monkeypatch):
    """conftest's `project` with the secrets from the environment (the CI mode) instead of the
    lab's keyring: these tests are about the gate and the API, not the keyring."""
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "1")
    monkeypatch.setenv("COCKPIT_SECRETS_DIGEST_KEY", "k" * 64)
    monkeypatch.setenv("COCKPIT_SECRET_STAGING_SECRET_KEY", SECRET_STAGING)
    monkeypatch.setenv("COCKPIT_SECRET_PROD_SECRET_KEY", SECRET_PROD)
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    with closing_contexts() as made:
        def factory(**kw) -> Context:
            cfg = config_mod.load(write_project(tmp_path, kubeconfig, **kw))
            ctx = Context(config=cfg, store=Store.open("shop", root=tmp_state),
                          secrets=SecretStore("shop"), options=Options(confirm="prod", yes=True))
            made.append(ctx)
            return ctx

        yield factory


def image_of(emulator) -> str:
    d = emulator.get("apps/v1", "deployments", "shop-staging", "shop")
    return d["spec"]["template"]["spec"]["containers"][0]["image"]


def test_a_release_answering_500_on_every_probe_fails_fast_not_at_the_deadline(
        project, emulator):
    ctx = project(deadline=60)  # the 60 s deadline is not what ends this gate
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.image(BAD, proxy_status=500)  # ready and live, but users get 500s
    with pytest.raises(GateFailed) as info:
        pipeline.deploy(ctx, "staging", Recorder(), image=BAD)
    err = info.value
    assert "answered 500" in err.what and "start period" in err.what
    assert err.reason == "5xx" and err.samples and err.samples[-1].status == 500
    assert f"rolled back to release {good.id}" in err.what
    assert image_of(emulator) == IMAGE_V1


def test_an_api_error_during_the_gate_undoes_the_release(project, emulator):
    ctx = project()
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.inject("GET", r"/namespaces/shop-staging/pods$", status=401, times=1000)
    with pytest.raises(CockpitError) as info:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    err = info.value
    assert not isinstance(err, GateFailed) and err.exit_code == EXIT_FAILED
    assert "the gate could not finish" in err.what and "401" in err.what
    assert f"undone, back to release {good.id}" in err.what
    emulator.wait_for(lambda: image_of(emulator) == IMAGE_V1)
    assert ctx.store.unfinished_runs("staging") == []  # undone: nothing left to finish


def test_when_the_undo_fails_too_the_run_is_left_for_reconcile_which_finishes_it(
        project, emulator):
    ctx = project()
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.image(BAD, proxy_status=500)
    # the API refuses reading pods (the gate) and the undo's patch of the Deployment; the
    # deploy's own apply (the first PATCH) goes through
    emulator.inject("GET", r"/namespaces/shop-staging/pods$", status=401, times=1000)
    emulator.inject("PATCH", r"/namespaces/shop-staging/deployments/shop$", status=503,
                    times=1000, after=1)
    with pytest.raises(CockpitError) as info:
        pipeline.deploy(ctx, "staging", Recorder(), image=BAD)
    err = info.value
    assert err.exit_code == EXIT_FAILED and "the undo failed too" in err.what
    (run,) = ctx.store.unfinished_runs("staging")
    assert any(step["step"] == "unfinished" for step in run.steps)
    assert image_of(emulator) == BAD  # not undone yet, and not claimed to be

    emulator.faults.clear()  # the API answers again
    said = pipeline.reconcile(ctx, "staging", Recorder())
    assert len(said) == 1 and f"rolled back to release {good.id}" in said[0]
    assert ctx.store.unfinished_runs("staging") == []
    emulator.wait_for(lambda: image_of(emulator) == IMAGE_V1)


def test_a_429_storm_and_stray_5xx_from_the_api_server_are_survived(project, emulator):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.inject("GET", r"/deployments/shop$", status=429, times=4)
    emulator.stray_5xx(every=5, methods=("GET",))
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert release.status == "healthy" and emulator.strays
    assert image_of(emulator) == IMAGE_V2


def test_the_client_honours_retry_after_and_gives_up_clearly(project, emulator):
    from cockpit.providers.kubernetes.kube import ApiFailure

    ctx = project()
    env = ctx.config.env("staging")
    kube = pipeline.provider_for(ctx, env).kube(env)
    slept: list[float] = []
    kube.sleep = slept.append
    emulator.inject("GET", r"/api/v1/namespaces/shop-staging$", status=429, times=3,
                    retry_after=2)
    assert kube.namespace_exists() is False
    assert slept == [2.0, 2.0, 2.0]
    slept.clear()
    emulator.inject("GET", r"/api/v1/namespaces/shop-staging$", status=503, times=2)
    assert kube.namespace_exists() is False
    assert slept == [0.2, 0.4]  # 5xx on a read: capped exponential backoff
    slept.clear()
    emulator.inject("GET", r"/api/v1/namespaces/shop-staging$", status=429, times=100)
    with pytest.raises(ApiFailure) as info:
        kube.namespace_exists()
    assert info.value.status == 429 and "rate limited" in info.value.what
    slept.clear()
    emulator.inject("POST", r"/api/v1/namespaces$", status=503, times=1)
    with pytest.raises(ApiFailure) as info:  # a create is not retried on 5xx, and says so
        kube.call("create namespace", kube.core.create_namespace,
                  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    assert "may have taken effect" in info.value.what and slept == []
