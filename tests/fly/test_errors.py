"""API failures become clear errors naming app, machine and operation; only idempotent calls
are retried; the token never shows up anywhere."""

from __future__ import annotations

import sqlite3

import pytest
from cockpit.providers.fly.api import FlyApi, FlyApiError, WaitTimeout

from cockpit import pipeline
from cockpit.errors import GateFailed, ProviderError

from .conftest import IMAGE_BAD, IMAGE_V1, IMAGE_V2, OTHER_TOKEN, TOKEN, Recorder
from .emulator import User

pytestmark = pytest.mark.timeout(60)


def _api(emu, token=TOKEN, **kw):
    return FlyApi(emu.api_url, emu.logs_url, token, app="shop-staging", sleep=lambda s: None, **kw)


def test_get_is_retried_on_5xx(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emu.inject("GET", r"/machines$", status=503, times=2)
    assert len(pipeline.live(ctx, "staging").instances) == 2
    statuses = [s for m, p, s in emu.calls if m == "GET" and p.endswith("/machines")]
    assert statuses[-3:] == [503, 503, 200]


def test_machine_update_is_not_retried_and_the_error_names_app_machine_operation(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    first = sorted(m.id for m in emu.active("shop-staging"))[0]
    emu.inject("POST", rf"/machines/{first}$", status=503, times=5,
               body={"error": "flyd is unavailable", "status": "unknown"})
    with pytest.raises(ProviderError) as info:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    err = info.value
    assert "update machine" in err.what and "flyd is unavailable" in err.what
    assert err.where == f"fly app shop-staging machine {first}"
    posts = [c for c in emu.calls if c[0] == "POST" and c[1].endswith(f"/machines/{first}")]
    assert len(posts) == 1
    assert emu.leases_held() == []


def test_not_found_and_wait_timeout_are_clear(emu):
    emu.create_app("shop-staging", "acme")
    api = _api(emu)
    with pytest.raises(FlyApiError) as info:
        api.get_machine("d8e7f6")
    assert info.value.status == 404 and "read machine: not found" in info.value.what
    assert info.value.where == "fly app shop-staging machine d8e7f6"
    m = api.request("POST", api.m(), op="create", json={
        "config": {"image": IMAGE_V1}, "skip_launch": True})
    with pytest.raises(WaitTimeout) as info:
        api.wait(m["id"], "started", timeout=1)
    assert info.value.status == 408 and m["id"] in info.value.where
    api.close()


def test_timeouts_retry_reads_but_not_writes(emu):
    emu.create_app("shop-staging", "acme")
    api = _api(emu, timeout=0.5)
    emu.inject("GET", r"/apps/shop-staging$", status=None, delay=1.5)
    assert api.get_app()["name"] == "shop-staging"  # the retry got through
    emu.inject("POST", r"/machines$", status=None, delay=1.5)
    with pytest.raises(FlyApiError) as info:
        api.request("POST", api.m(), op="create machine", json={"config": {"image": IMAGE_V1}})
    assert "not retried" in info.value.what and info.value.status == 0
    api.close()


def test_unprocessable_request_is_reported_with_the_api_message(emu):
    emu.create_app("shop-staging", "acme")
    api = _api(emu)
    with pytest.raises(FlyApiError) as info:
        api.request("POST", api.m(), op="create machine", json={"config": {}})
    assert info.value.status == 422 and "config.image is required" in info.value.what
    api.close()


def test_flyv1_macaroon_tokens_are_sent_with_their_scheme(emu):
    emu.tokens["fm2_macaroon-abc"] = User("ci@example.com", {"acme"})
    emu.create_app("shop-staging", "acme")
    api = _api(emu, token="fm2_macaroon-abc")
    assert api._client.headers["authorization"] == "FlyV1 fm2_macaroon-abc"
    assert api.get_app()["name"] == "shop-staging"
    api.close()


def test_preflight_reports_token_app_and_org(project, emu):
    ctx = project()
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    findings = {f.id: f for f in provider.preflight(env)}
    assert findings["fly.token"].severity == "info"
    assert findings["fly.app"].severity == "info" and "does not exist yet" in findings[
        "fly.app"].message
    emu.tokens[TOKEN] = User("ops@example.com", {"elsewhere"})
    findings = {f.id: f for f in provider.preflight(env)}
    assert findings["fly.org"].severity == "error" and "acme" in findings["fly.org"].message
    emu.tokens.pop(TOKEN)
    findings = {f.id: f for f in provider.preflight(env)}
    assert findings["fly.token"].severity == "error" and "rejected the token" in findings[
        "fly.token"].message


def test_setup_creates_the_app_and_addresses_idempotently(project, emu):
    ctx = project()
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    provider.setup(env, Recorder())
    provider.setup(env, Recorder())
    app = emu.apps["shop-staging"]
    assert app.org == "acme" and len(app.ips) == 2


def test_missing_token_says_how_to_store_one(project, emu, os_keyring):
    ctx = project()
    env = ctx.config.env("staging")
    os_keyring.pop(("cockpit:" + env.secret_scope, "FLY_API_TOKEN"))
    with pytest.raises(ProviderError) as info:
        pipeline.provider_for(ctx, env).live(env)
    assert "cockpit secrets set staging FLY_API_TOKEN" in info.value.hint


def test_env_var_token_is_the_ci_fallback(project, emu, os_keyring, monkeypatch):
    ctx = project()
    env = ctx.config.env("staging")
    os_keyring.pop(("cockpit:" + env.secret_scope, "FLY_API_TOKEN"))
    monkeypatch.setenv("FLY_API_TOKEN", OTHER_TOKEN)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    assert len(emu.active("shop-staging")) == 2


def test_the_token_never_appears_in_events_store_or_errors(project, emu, tmp_path):
    ctx = project(deadline=1.0)
    rec = Recorder()
    pipeline.deploy(ctx, "staging", rec, image=IMAGE_V1)
    errors = []
    with pytest.raises(GateFailed) as info:
        pipeline.deploy(ctx, "staging", rec, image=IMAGE_BAD)
    errors.append(info.value)
    emu.add_log("shop-staging", "m1", "iad", f"oops, printed {TOKEN}")
    lines = list(pipeline.provider_for(ctx, ctx.config.env("staging")).logs(
        ctx.config.env("staging"), follow=False))
    emu.inject("GET", r"/machines$", status=500, times=10,
               body={"error": f"echoing your header Bearer {TOKEN}"})
    with pytest.raises(ProviderError) as info2:
        pipeline.live(ctx, "staging")
    errors.append(info2.value)
    blob = rec.text() + "".join(str(e) + repr(e.to_dict()) for e in errors)
    blob += "".join(ln.line for ln in lines)
    assert TOKEN not in blob
    assert "••••" in blob  # the echoed token was masked, not silently dropped
    db = sqlite3.connect(ctx.store.path)
    dump = "\n".join(db.iterdump())
    assert TOKEN not in dump and "s3cr3t-value" not in dump
    for f in (tmp_path / "state").rglob("*"):
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes()
