"""Guardrails on every provider: a protected environment is confirmed before any change, a lost
lock stops a run before its switch, rollback restores image + env + secrets digest, reconcile
takes the lock, every setting is documented, and logs are masked in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit import pipeline
from cockpit.errors import LockHeld, Refused
from cockpit.plugins import provider_class
from tests.contract.conftest import SECRET
from tests.contract.helpers import Events, deploy, image

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


def _serving(contract, env):
    current = pipeline.live(contract.ctx, env).current
    return current.id if current else None


def test_protected_environment_is_refused_before_anything_changes(contract):
    before = _serving(contract, contract.prod)
    for action in (lambda c: deploy(contract, contract.prod, 1, ctx=c),
                   lambda c: pipeline.setup(c, contract.prod, Events())):
        with pytest.raises(Refused) as refused:
            action(contract.fresh_ctx())
        assert refused.value.exit_code == 5 and "--confirm prod" in (refused.value.hint or "")
    assert _serving(contract, contract.prod) == before
    if contract.kind == "inmemory":
        from tests.contract.memory import target_for

        assert target_for(contract.ctx.config.env("prod")).changes == 0


def test_reconcile_of_a_protected_environment_is_refused_and_takes_the_lock(contract):
    ctx = contract.ctx
    run = ctx.store.begin_run(contract.prod, "deploy", None)
    ctx.store.journal(run, "switch", "started", "switch")
    with pytest.raises(Refused):
        pipeline.reconcile(contract.fresh_ctx(), contract.prod, Events())
    ctx = contract.ctx
    assert [r.run_id for r in ctx.store.unfinished_runs(contract.prod)] == [run]
    if contract.kind == "fly":
        return  # an app without machines has nothing to lease (see providers/fly/leases.py)
    from cockpit import lock as core
    from cockpit.pipeline import provider_for

    env = ctx.config.env(contract.prod)
    store = provider_for(ctx, env).lock_store(env)
    store.acquire(core.Holder("erin@ci", "e" * 32, "ci", 7, "deploy"), 600, None)
    try:
        with pytest.raises(LockHeld):  # someone else's run in progress is left alone
            pipeline.reconcile(contract.fresh_ctx(confirm="prod"), contract.prod, Events())
        assert [r.run_id for r in contract.ctx.store.unfinished_runs(contract.prod)] == [run]
    finally:
        store.release(None)
    said = pipeline.reconcile(contract.fresh_ctx(confirm="prod"), contract.prod, Events())
    assert said and not contract.ctx.store.unfinished_runs(contract.prod)


def test_a_lost_lock_stops_the_run_before_the_switch(contract):
    if contract.kind != "inmemory":
        pytest.skip("the memory target can hand the lock to another operator mid-run")
    from cockpit.lock import LockLost
    from tests.contract.memory import target_for

    first = deploy(contract, contract.env, 1)
    target = target_for(contract.ctx.config.env(contract.env))
    target.steal_at = "switch"
    events = Events()
    with pytest.raises(LockLost):
        pipeline.deploy(contract.ctx, contract.env, events, image=image(contract, 2))
    assert target.serving == first.id  # never switched
    assert "switch" not in events.steps()
    assert target.lock[0].operator == "mallory@elsewhere"  # the new holder's lock is kept


def test_a_lock_taken_between_refreshes_is_caught_before_the_switch(contract, monkeypatch):
    """No refresh ran since the lock was taken away: the run proves its lock on the target
    before the plan's destructive steps, and stops."""
    if contract.kind != "inmemory":
        pytest.skip("the memory target can hand the lock to another operator mid-run")
    from cockpit import lock as core
    from cockpit.lock import LockLost
    from tests.contract.memory import target_for

    monkeypatch.setattr(core, "VERIFY_WITHIN", 0.0)
    first = deploy(contract, contract.env, 1)
    target = target_for(contract.ctx.config.env(contract.env))
    target.steal_at, target.steal_quietly = "switch", True
    with pytest.raises(LockLost):
        pipeline.deploy(contract.ctx, contract.env, Events(), image=image(contract, 2))
    assert target.serving == first.id


def test_rollback_restores_image_env_and_secrets_digest(contract):
    if contract.kind == "fly":
        pytest.skip("covered by tests/fly/test_rollback.py against the emulator")
    first = deploy(contract, contract.env, 1)
    second = deploy(contract, contract.env, 2)
    assert second.digest != first.digest
    back = pipeline.rollback(contract.ctx, contract.env, Events(), to=first.id)
    current = pipeline.live(contract.ctx, contract.env).current
    assert back.id == first.id and current.id == first.id
    assert (current.digest, current.config_hash, current.secrets_digest) == (
        first.digest, first.config_hash, first.secrets_digest)


def test_every_setting_has_a_description_and_a_prompt(contract):
    model = provider_class(contract.ctx.config.env(contract.env).provider).settings_model
    missing = [d.key for d in model.key_docs() if not (d.description and d.prompt)]
    assert missing == []


def test_logs_are_masked_in_a_fresh_process(contract, tmp_path):
    if contract.kind != "inmemory":
        pytest.skip("tests/k8s/test_logs.py and tests/fly/test_logs.py run the emulators' apps")
    dist = tmp_path / "site" / "contract_provider-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: contract-provider\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[cockpit.providers.v1]\ninmemory = tests.contract.memory:MemoryProvider\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    out = subprocess.run([sys.executable, "-m", "cockpit", "logs", contract.env, "--config",
                          str(contract.ctx.config.path)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "booting with SECRET_KEY=" in out.stdout
    assert SECRET["staging"] not in out.stdout + out.stderr
