"""`cockpit.alerts.notify`, the hook the pipeline and the watch window call: it reads the
environment's alert URLs from the real keyring, says which release, and never raises."""

from __future__ import annotations

import pytest

from tests.alerts.sinks import WebhookSink

TOML = """\
[app]
name = "alrtunit"
port = 8000
health_path = "/up"

[environments.staging]
provider = "vps"
host = "203.0.113.10"
domain = "staging.alrtunit.test"
"""


@pytest.fixture
def ctx(tmp_path, tmp_state, os_keyring):  # noqa: ANN001
    from cockpit import config
    from cockpit.provider import Context
    from cockpit.secrets import SecretStore
    from cockpit.state import Store

    (tmp_path / "cockpit.toml").write_text(TOML)
    cfg = config.load(tmp_path / "cockpit.toml")
    return Context(config=cfg, store=Store.open(cfg.app.name), secrets=SecretStore("alrtunit"),
                   clock=lambda: 1_800_000_000.0)


def test_notify_sends_deploy_events_with_the_release(ctx):
    from cockpit import alerts
    from cockpit.models import Release

    assert alerts.notify(ctx, "staging", "deploy_started") == \
        {"sent": [], "failed": [], "error": None}  # no URL: nothing to do
    ctx.store.save_release(Release(id="r007-abc", app="alrtunit", env="staging", image="x",
                                   digest="sha256:" + "ab" * 32, config_hash="c",
                                   created_at=1_799_999_000.0, status="healthy"))
    store = alerts.AlertStore(ctx.secrets)
    env = ctx.config.env("staging")
    with WebhookSink() as hook:
        target = store.add(env, hook.url)
        assert store.add(env, hook.url) == target  # the same URL is kept once
        result = alerts.notify(ctx, "staging", "rolled_back",
                               what="the watch window saw 5xx 12% > 5%", since=1_799_999_900.0)
        assert result == {"sent": [target.id], "failed": [], "error": None}
        [msg] = hook.received
        assert msg["title"] == "[cockpit] alrtunit · staging: rolled back"
        body = msg["message"]
        assert "What: the watch window saw 5xx 12% > 5%" in body
        assert "Last release: r007-abc (abababababab)" in body
        assert "URL: https://staging.alrtunit.test" in body
        assert "Next: cockpit releases staging" in body
    # the sink is gone: a failed delivery is reported, never raised
    failed = alerts.notify(ctx, "staging", "deploy_finished")
    assert failed["sent"] == []
    assert failed["failed"] == [{"id": target.id, "name": f"json://127.0.0.1:{hook.port}"}]
    assert [a["command"] for a in ctx.store.audit_log("staging")][:2] == \
        ["alert deploy_finished", "alert rolled_back"]
    assert store.remove(env, target.id) and not store.remove(env, target.id)
