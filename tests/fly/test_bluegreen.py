"""bluegreen: green is gated before it serves; on failure only green is destroyed."""

from __future__ import annotations

import pytest

from cockpit import pipeline
from cockpit.errors import GateFailed
from cockpit.events import StepStarted

from .conftest import IMAGE_BAD, IMAGE_V1, IMAGE_V2, Recorder

pytestmark = pytest.mark.timeout(60)


def _serving_history(emu, app, since):
    return [ids for name, ids in emu.serving_log[since:] if name == app]


def test_bluegreen_replaces_blue_with_gated_green(project, emu):
    ctx = project(strategy="bluegreen")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    blue = {m.id for m in emu.active("shop-staging")}
    mark = len(emu.serving_log)
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    machines = emu.active("shop-staging")
    assert len(machines) == 2 and not ({m.id for m in machines} & blue)
    assert {m.config["image"] for m in machines} == {IMAGE_V2}
    assert all(not m.cordoned and "cockpit_slot" not in m.config["metadata"] for m in machines)
    assert {m.config["metadata"]["cockpit_release"] for m in machines} == {release.id}
    assert all(emu.apps["shop-staging"].machines[b].state == "destroyed" for b in blue)
    history = _serving_history(emu, "shop-staging", mark)
    assert all(len(ids) >= 2 for ids in history)  # never fewer than `count` serving
    assert max(len(ids) for ids in history) == 4  # green serves before blue is cordoned
    assert emu.leases_held() == []


def test_bluegreen_failing_green_is_destroyed_and_blue_keeps_serving(project, emu):
    ctx = project(strategy="bluegreen", deadline=1.0)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    blue = sorted(m.id for m in emu.active("shop-staging"))
    mark = len(emu.serving_log)
    with pytest.raises(GateFailed) as info:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_BAD)
    assert "db down" in info.value.what
    assert sorted(m.id for m in emu.active("shop-staging")) == blue  # no zombies
    green = [m for m in emu.apps["shop-staging"].machines.values() if m.id not in blue]
    assert len(green) == 2 and all(m.state == "destroyed" for m in green)
    assert all(tuple(blue) == ids for ids in _serving_history(emu, "shop-staging", mark))
    assert emu.leases_held() == []


def test_bluegreen_interrupted_destroys_green_and_releases_leases(project, emu):
    ctx = project(strategy="bluegreen")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    blue = sorted(m.id for m in emu.active("shop-staging"))

    def interrupt(event):
        if isinstance(event, StepStarted) and event.step.startswith("gate:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.deploy(ctx, "staging", interrupt, image=IMAGE_V2)
    assert sorted(m.id for m in emu.active("shop-staging")) == blue
    assert emu.serving("shop-staging") == blue
    assert emu.leases_held() == []


def test_reconcile_removes_green_left_by_a_killed_run(project, emu):
    """A run killed hard (no finally) leaves cordoned green machines; the next run removes them."""
    ctx = project(strategy="bluegreen")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    api = provider._api(env)
    zombie = api.request("POST", api.m(), op="create", json={
        "config": {"image": IMAGE_V2, "metadata": {"cockpit_slot": "green"}},
        "skip_service_registration": True, "region": "iad"})
    assert any("leftover green" in d for d in pipeline.live(ctx, "staging").drift)
    account = provider.reconcile(env, [], Recorder())
    assert zombie["id"] in account
    assert zombie["id"] not in {m.id for m in emu.active("shop-staging")}


def test_blue_that_cannot_be_destroyed_does_not_fail_a_served_release(project, emu):
    ctx = project(strategy="bluegreen")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    blue = sorted(m.id for m in emu.active("shop-staging"))
    emu.inject("DELETE", rf"/machines/{blue[0]}$", status=500, times=4)  # 1 + 3 retries
    rec = Recorder()
    release = pipeline.deploy(ctx, "staging", rec, image=IMAGE_V2)
    assert release.status == "healthy"
    assert any(f"blue machine {blue[0]} was not destroyed" in e.text for e in rec.of("message"))
    assert blue[0] not in emu.serving("shop-staging")
    assert emu.leases_held() == []
    env = ctx.config.env("staging")
    account = pipeline.provider_for(ctx, env).reconcile(env, [], Recorder())
    assert blue[0] in account
    assert blue[0] not in {m.id for m in emu.active("shop-staging")}
