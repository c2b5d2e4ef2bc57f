"""Secrets: staged from the keyring through the secrets API, versioned, shown as digests."""

from __future__ import annotations

import pytest

from cockpit import pipeline

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = pytest.mark.timeout(60)


def _machine_bodies(emu, app):
    return [(body, nonce) for method, path, body, nonce in emu.bodies
            if path.startswith(f"/v1/apps/{app}/machines") and not path.endswith("/lease")]


def test_deploy_stages_secrets_and_passes_min_secrets_version(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    app = emu.apps["shop-staging"]
    assert app.secrets_version == 1 and set(app.secrets) == {"SECRET_KEY"}
    bodies = _machine_bodies(emu, "shop-staging")
    assert bodies and all(b.get("min_secrets_version") == 1 for b, _ in bodies)
    for m in emu.active("shop-staging"):
        assert emu.machine_env("shop-staging", m.id)["SECRET_KEY"] == "s3cr3t-value-for-staging"
        assert m.config["metadata"]["cockpit_secrets_version"] == "1"
        assert "s3cr3t" not in str(m.config)  # values never in machine config or metadata


def test_unchanged_secrets_are_not_staged_again(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert emu.apps["shop-staging"].secrets_version == 1


def test_changed_secret_is_staged_with_a_new_version_then_deployed(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    env = ctx.config.env("staging")
    ctx.secrets.set(env, "SECRET_KEY", "rotated-value-2")
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    assert emu.apps["shop-staging"].secrets_version == 2
    assert release.secrets_digest
    for m in emu.active("shop-staging"):
        assert emu.machine_env("shop-staging", m.id)["SECRET_KEY"] == "rotated-value-2"
        assert m.config["metadata"]["cockpit_secrets_version"] == "2"


def test_secret_status_shows_names_digests_and_staged_or_deployed(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    rows = provider.secret_status(env)
    assert [(r["name"], r["status"]) for r in rows] == [("SECRET_KEY", "deployed")]
    assert rows[0]["digest"] and "value" not in rows[0]
    version = provider.set_secrets(env, {"SECRET_KEY": "staged-not-deployed"})
    assert version == 2
    assert [r["status"] for r in provider.secret_status(env)] == ["staged"]
    provider.unset_secrets(env, ["SECRET_KEY"])
    assert provider.secret_status(env) == []
    assert emu.apps["shop-staging"].secrets_version == 3


def test_local_secrets_version_ahead_of_the_app_is_resynced(project, emu):
    """flyctl's min-version got out of sync (#4576); here the deploy notices and restages."""
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    env = ctx.config.env("staging")
    ctx.store.set_meta("fly:shop-staging:secrets", {
        "version": 99, "digest": ctx.secrets.digest(env)})
    rec = Recorder()
    pipeline.deploy(ctx, "staging", rec, image=IMAGE_V2)
    assert any("secrets version 99 is not on shop-staging" in e.text
               for e in rec.of("message"))
    assert emu.apps["shop-staging"].secrets_version == 2
    assert {m.config["metadata"]["cockpit_secrets_version"]
            for m in emu.active("shop-staging")} == {"2"}


def test_min_secrets_version_the_app_lacks_is_a_clear_error(project, emu):
    from cockpit.errors import ProviderError

    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    env = ctx.config.env("staging")
    api = pipeline.provider_for(ctx, env)._api(env)
    mid = emu.active("shop-staging")[0].id
    with pytest.raises(ProviderError) as info:
        api.request("POST", api.m(mid), op="update machine", machine=mid,
                    json={"config": {"image": IMAGE_V2}, "min_secrets_version": 99})
    assert "secrets version 99" in info.value.what and "update machine" in info.value.what
    assert info.value.where == f"fly app shop-staging machine {mid}"
