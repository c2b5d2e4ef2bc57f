"""Rollback (image AND config) and promotion staging → prod (different apps, same digest)."""

from __future__ import annotations

import pytest

from cockpit import pipeline
from cockpit.errors import Refused

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = pytest.mark.timeout(60)
IMAGE_V3 = "registry.fly.io/shop@sha256:" + "3" * 64


def _running(emu, app="shop-staging"):
    machines = emu.active(app)
    return ({m.config["image"] for m in machines},
            {m.config["metadata"]["cockpit_release"] for m in machines},
            [m.config["env"] for m in machines])


def test_rollback_restores_the_previous_image_and_config(project, emu):
    ctx = project()
    r1 = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    ctx2 = project(extra='env = { FEATURE = "on" }')  # cockpit.toml changed
    r2 = pipeline.deploy(ctx2, "staging", Recorder(), image=IMAGE_V2)
    assert r2.config_hash != r1.config_hash
    assert all(e.get("FEATURE") == "on" for e in _running(emu)[2])

    back = pipeline.rollback(ctx2, "staging", Recorder())
    assert back.id == r1.id and back.status == "healthy"
    images, releases, envs = _running(emu)
    assert images == {IMAGE_V1} and releases == {r1.id}
    assert all("FEATURE" not in e for e in envs)  # the config came back too, not just the image
    assert {m.config["metadata"]["cockpit_config_hash"] for m in emu.active("shop-staging")} \
        == {r1.config_hash}
    assert ctx2.store.get_release("staging", r2.id).status == "rolled_back"
    assert pipeline.live(ctx2, "staging").current.id == r1.id
    assert emu.leases_held() == []


def test_rollback_to_a_chosen_release(project, emu):
    ctx = project()
    r1 = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V3)
    back = pipeline.rollback(ctx, "staging", Recorder(), to=r1.id)
    assert back.id == r1.id
    assert _running(emu)[:2] == ({IMAGE_V1}, {r1.id})


def test_rollback_with_no_earlier_release_is_refused(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    with pytest.raises(Refused):
        pipeline.rollback(ctx, "staging", Recorder())


def test_promote_staging_to_prod_runs_the_same_digest_in_another_app(project, emu):
    ctx = project()
    staged = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    prod = pipeline.promote(ctx, "staging", "prod", Recorder())
    assert prod.env == "prod" and prod.digest == staged.digest and prod.image == staged.image
    assert prod.promoted_from == f"staging/{staged.id}"
    machines = emu.active("shop-prod")
    assert len(machines) == 2 and {m.region for m in machines} == {"iad"}  # prod's own config
    assert {m.config["metadata"]["cockpit_digest"] for m in machines} == {staged.digest}
    assert {m.config["metadata"]["cockpit_env"] for m in machines} == {"prod"}
    env = emu.machine_env("shop-prod", machines[0].id)
    assert env["SECRET_KEY"] == "s3cr3t-value-for-prod"  # prod's secrets, not staging's
    assert len(emu.active("shop-staging")) == 2  # staging untouched


def test_promote_to_prod_needs_the_typed_confirmation(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    ctx.options.confirm = None
    with pytest.raises(Refused):
        pipeline.promote(ctx, "staging", "prod", Recorder())
    assert emu.apps.get("shop-prod") is None or emu.active("shop-prod") == []


def test_rollback_works_from_live_metadata_alone(project, emu, tmp_path):
    """Another operator, empty local store: the machines remember the release they replaced."""
    from cockpit.state import Store

    ctx = project()
    r1 = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    ctx.store = Store.open("shop", root=tmp_path / "elsewhere")
    rec = Recorder()
    back = pipeline.rollback(ctx, "staging", rec)
    assert back.id == r1.id
    assert _running(emu)[:2] == ({IMAGE_V1}, {r1.id})
    assert any("no recorded machine config" in e.text for e in rec.of("message"))
