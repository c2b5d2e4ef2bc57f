"""A read-only session (`Options.read_only`) is refused by the pipeline itself, before anything
reaches a target: every mutating entry point, protected environment or not."""

from __future__ import annotations

import pytest

from cockpit import config as config_mod
from cockpit import pipeline
from cockpit.errors import Refused
from cockpit.provider import Context, Options
from cockpit.secrets import SecretStore
from cockpit.state import Store

TOML = """\
[app]
name = "ro"

[environments.staging]
provider = "vps"
host = "192.0.2.1"
host_port = 8101

[environments.prod]
provider = "vps"
host = "192.0.2.1"
host_port = 8201
"""


@pytest.fixture
def ctx(tmp_path, tmp_state):
    (tmp_path / "cockpit.toml").write_text(TOML)
    cfg = config_mod.load(tmp_path / "cockpit.toml")
    store = Store.open("ro", root=tmp_state)
    yield Context(config=cfg, store=store, secrets=SecretStore("ro"),
                  options=Options(read_only=True, confirm="prod", yes=True))
    store.close()


CALLS = {
    "deploy": lambda c, e: pipeline.deploy(c, e, lambda ev: None, image="x@sha256:" + "1" * 64),
    "rollback": lambda c, e: pipeline.rollback(c, e, lambda ev: None, to="r1"),
    "setup": lambda c, e: pipeline.setup(c, e, lambda ev: None),
    "domain": lambda c, e: pipeline.configure_domain(c, e, "x.example", lambda ev: None),
    "lock release": lambda c, e: pipeline.release_lock(c, e, "someone"),
}


@pytest.mark.parametrize("env", ["staging", "prod"])
@pytest.mark.parametrize("action", sorted(CALLS))
def test_every_mutating_entry_point_refuses_in_a_read_only_session(ctx, env, action):
    with pytest.raises(Refused, match="read-only"):
        CALLS[action](ctx, env)
    assert ctx.store.runs() == []


def test_promote_and_reconcile_refuse_too(ctx):
    with pytest.raises(Refused, match="read-only"):
        pipeline.confirm(ctx, ctx.config.env("prod"), "promote")
    run_id = ctx.store.begin_run("staging", "deploy")
    with pytest.raises(Refused, match="read-only"):
        pipeline.reconcile(ctx, "staging", lambda ev: None)
    assert [r.run_id for r in ctx.store.unfinished_runs("staging")] == [run_id]
