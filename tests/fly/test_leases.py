"""Leases: a conflict names its holder and changes nothing; every lease is released."""

from __future__ import annotations

import time

import pytest

from cockpit import pipeline
from cockpit.errors import LockHeld
from cockpit.events import StepStarted

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = pytest.mark.timeout(60)


def _anchor(emu) -> str:
    """The machine whose lease is the deploy lock: the oldest (created_at, then id)."""
    return min(emu.active("shop-staging"), key=lambda m: (m.created_at, m.id)).id


@pytest.mark.parametrize("which", ["anchor", "other"])
def test_lease_conflict_names_the_holder_and_changes_nothing(project, emu, which):
    """Another's lease on the anchor machine is the deploy lock (refused before any step);
    on another machine it stops the rolling update at that machine. Either way the message
    names the holder, its words and the machine, and no machine is changed."""
    ctx = project()
    first = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    anchor = _anchor(emu)
    target = anchor if which == "anchor" else next(
        m.id for m in emu.active("shop-staging") if m.id != anchor)
    emu.grab_lease("shop-staging", target, "alice@example.com",
                   description="cockpit deploy by alice@laptop")
    def changes():
        return [b for b in emu.bodies if not b[1].endswith("/lease")]

    posts_before = len(changes())
    with pytest.raises(LockHeld) as info:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    err = info.value
    assert "alice@example.com" in err.what and "cockpit deploy by alice@laptop" in err.what
    assert target in f"{err.what} {err.where}" and "shop-staging" in (err.where or "")
    assert "1970" not in err.what  # a lease tells its expiry, not its start
    assert len(changes()) == posts_before  # not one machine was updated
    assert {m.config["metadata"]["cockpit_release"] for m in emu.active("shop-staging")} == {
        first.id}
    assert emu.leases_held() == [("shop-staging", target, "alice@example.com")]


def test_live_state_shows_who_holds_the_lease(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    mid = emu.active("shop-staging")[0].id
    emu.grab_lease("shop-staging", mid, "alice@example.com", description="hotfix")
    state = pipeline.live(ctx, "staging")
    assert state.lock is not None and state.lock.holder == "alice@example.com"
    assert state.lock.command == "hotfix"


def test_interrupt_mid_rolling_deploy_releases_every_lease(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    second = sorted(m.id for m in emu.active("shop-staging"))[1]

    def interrupt(event):
        if isinstance(event, StepStarted) and event.step == f"update:{second}":
            assert emu.leases_held("shop-staging")  # held while working
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.deploy(ctx, "staging", interrupt, image=IMAGE_V2)
    assert emu.leases_held() == []
    runs = ctx.store.runs("staging")
    assert runs[0].status == "reconciled"
    # the next deploy is not blocked and converges every machine
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert {m.config["metadata"]["cockpit_release"] for m in emu.active("shop-staging")} == {
        release.id}


def test_leases_are_refreshed_while_held_and_released_on_exit(project, emu):
    from cockpit.providers.fly.leases import LeaseKeeper

    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    env = ctx.config.env("staging")
    api = pipeline.provider_for(ctx, env)._api(env)
    mid = emu.active("shop-staging")[0].id
    with LeaseKeeper(api, ttl=2, description="refresh test") as keeper:
        keeper.acquire(mid)
        first_expiry = emu.apps["shop-staging"].machines[mid].lease.expires_at
        time.sleep(2.6)  # past the first TTL: only a refresh keeps it
        lease = emu.apps["shop-staging"].machines[mid].lease
        assert lease is not None and lease.expires_at > first_expiry
        assert emu.leases_held() == [("shop-staging", mid, "ops@example.com")]
    assert emu.leases_held() == []


def test_real_sigint_during_a_machine_update_releases_every_lease(project, emu):
    """Ctrl-C as the terminal sends it: a SIGINT while the main thread waits on the API."""
    import os
    import signal
    import threading

    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    first = sorted(m.id for m in emu.active("shop-staging"))[0]
    emu.inject("POST", rf"/machines/{first}$", status=None, delay=1.0)  # a slow update
    updates_before = len(emu.bodies)

    def press_ctrl_c():
        for _ in range(400):
            if any(path.endswith(first) for _, path, _, _ in emu.bodies[updates_before:]):
                break
            time.sleep(0.01)
        time.sleep(0.1)  # the main thread is now blocked reading the slow response
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    finally:
        presser.join()
    assert emu.leases_held() == []
