"""The deploy lock on every provider: held, lost, expired, taken over, and a namesake on
another machine is not judged dead. Expiry is judged by the target's clock."""

from __future__ import annotations

import time

import pytest

from cockpit import lock as core
from cockpit import pipeline
from cockpit.errors import LockHeld, Refused
from cockpit.pipeline import provider_for
from tests.contract.helpers import Events, deploy

pytestmark = pytest.mark.timeout(120)


def _store(contract, env=None):
    ctx = contract.ctx
    e = ctx.config.env(env or contract.env)
    store = provider_for(ctx, e).lock_store(e)
    assert store is not None, f"{contract.kind} has a deploy lock"
    return store


def _other(operator="alice@laptop", token="a" * 32, pid=4242) -> core.Holder:
    return core.Holder(operator=operator, token=token, machine="laptop", pid=pid,
                       command="deploy")


def _ready(contract):
    """Fly leases a machine: give the environment one first."""
    if contract.kind == "fly":
        deploy(contract, contract.env, 1)


def test_a_held_lock_refuses_a_deploy_naming_its_holder_and_changes_nothing(contract):
    _ready(contract)
    store = _store(contract)
    store.acquire(_other(), 60, None)
    before = pipeline.live(contract.ctx, contract.env).current
    with pytest.raises(LockHeld) as held:
        deploy(contract, contract.env, 2)
    assert "alice@laptop" in held.value.what and "`deploy`" in held.value.what
    assert "cockpit lock release staging" in (held.value.hint or "")
    after = pipeline.live(contract.ctx, contract.env).current
    assert (after.id if after else None) == (before.id if before else None)
    assert store.read().holder.token == "a" * 32  # still alice's


def test_a_namesake_on_another_machine_is_not_judged_dead(contract, monkeypatch):
    """Same user@hostname and a pid that does not run here: the token decides, not the name."""
    _ready(contract)
    me = core.operator()
    store = _store(contract)
    store.acquire(_other(operator=me, token="b" * 32, pid=2 ** 22 + 7), 60, None)
    with pytest.raises(LockHeld):
        core.DeployLock(store, env=contract.env, command="deploy", emit=Events()).acquire()
    assert store.read().holder.token == "b" * 32


def test_a_killed_run_on_this_machine_is_recognised_by_its_token(contract):
    _ready(contract)
    store = _store(contract)
    dead = _other(operator=core.operator(), token="c" * 32, pid=2 ** 22 + 9)
    core._record_token(dead)
    path = core._tokens_dir() / dead.token
    path.write_text(str(2 ** 22 + 9))  # a pid that does not run
    store.acquire(dead, 60, None)
    events = Events()
    lock = core.DeployLock(store, env=contract.env, command="deploy", emit=events)
    lock.acquire()
    try:
        assert any("no longer runs" in m for m in events.messages())
        assert store.read().holder.token == lock.token
    finally:
        lock.release()
    assert store.read() is None


def test_an_expired_lock_is_taken_over_saying_whose_it_was(contract):
    _ready(contract)
    store = _store(contract)
    store.acquire(_other(operator="carol@ci"), 1, None)
    time.sleep(2.2)  # past its 1 s TTL on the target's clock
    held = store.read()
    assert held is None or held.expired  # Fly drops an expired lease; others show it expired
    events = Events()
    release = deploy(contract, contract.env, 2) if contract.kind != "fly" else None
    if contract.kind == "fly":
        lock = core.DeployLock(store, env=contract.env, command="deploy", emit=events)
        lock.acquire()
        lock.release()
    else:
        assert release.status == "healthy"


def test_a_lost_lock_stops_the_refresh_owner_before_its_next_step(contract):
    _ready(contract)
    store = _store(contract)
    lock = core.DeployLock(store, env=contract.env, command="deploy", emit=Events())
    lock.acquire()
    try:
        current = store.read()
        thief = _other(operator="mallory@elsewhere", token="d" * 32)
        if contract.kind == "fly":  # the lease expired on Fly and another took the machine
            from cockpit.providers.fly.leases import _describe

            contract.emulator.grab_lease("shop-staging", store._mid, "mallory@example.com",
                                         ttl=60, description=_describe(thief))
        else:  # taken over (as an expired-lock takeover does); read again if it was refreshed
            for _attempt in range(5):
                try:
                    store.acquire(thief, 60, current)
                    break
                except core.Conflict:
                    current = store.read()
        lock.refresh()
        assert lock.lost
        with pytest.raises(core.LockLost) as lost:
            lock.check()
        assert "mallory@elsewhere" in lost.value.what
    finally:
        lock.release()
    assert store.read().holder.token == "d" * 32  # the thief's lock is left alone


def test_the_lock_is_refreshed_while_held(contract):
    _ready(contract)
    store = _store(contract)
    lock = core.DeployLock(store, env=contract.env, command="deploy", emit=Events(), ttl=30)
    lock.acquire()
    try:
        first = store.read().expires_at
        time.sleep(1.1)
        lock.refresh()
        assert store.read().expires_at >= first
        assert not lock.lost
    finally:
        lock.release()


def test_lock_release_of_a_protected_environment_needs_its_name(contract):
    _ready(contract)
    if contract.kind == "fly":
        deploy(contract, contract.prod, 1, ctx=contract.fresh_ctx(confirm="prod"))
    store = _store(contract, contract.prod)
    store.acquire(_other(operator="dave@ci"), 600, None)
    with pytest.raises(Refused):
        pipeline.release_lock(contract.fresh_ctx(), contract.prod, "dave@ci")
    assert store.read() is not None  # nothing changed when refused
    pipeline.release_lock(contract.fresh_ctx(confirm="prod"), contract.prod, "dave@ci")
    assert store.read() is None


def test_expiry_is_judged_by_the_targets_clock_not_the_clients(contract, monkeypatch):
    """The client's clock runs an hour fast: a live lock is still live (the Kubernetes Lease is
    judged by the API server's Date header; the memory target's clock runs an hour behind)."""
    if contract.kind not in ("kubernetes", "inmemory"):
        pytest.skip("the VPS host's and Fly's clocks are the ones judging already")
    store = _store(contract)
    if contract.kind == "kubernetes":
        import types

        from cockpit.providers.kubernetes import lease

        fast = types.SimpleNamespace(time=lambda: time.time() + 3600)
        monkeypatch.setattr(lease, "time", fast)
    store.acquire(_other(operator="frank@laptop"), 60, None)
    held = store.read()
    assert not held.expired
    with pytest.raises(LockHeld):
        core.DeployLock(store, env=contract.env, command="deploy", emit=Events()).acquire()


def test_the_holder_is_the_operator_cockpit_operator_names(contract, monkeypatch):
    _ready(contract)
    monkeypatch.setenv("COCKPIT_OPERATOR", "ci@run-4711")
    store = _store(contract)
    lock = core.DeployLock(store, env=contract.env, command="deploy", emit=Events())
    lock.acquire()
    try:
        held = store.read()
        assert held.holder.operator == "ci@run-4711" and held.holder.token == lock.token
        assert held.info().holder == "ci@run-4711"
    finally:
        lock.release()
