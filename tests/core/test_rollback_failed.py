"""`cockpit rollback ENV --to ID` where ID is a release whose deploy failed (its release command
exited non-zero: it never served) is refused before the deploy lock is taken, with the truth
(it never served, and why) and the releases a rollback can go to; on the in-memory target
(tests/contract/memory.py), the same pipeline every provider runs."""

from __future__ import annotations

import pytest

from cockpit import pipeline
from cockpit.errors import UsageError
from cockpit.events import StepScope
from cockpit.release_phase import ReleaseCommandFailed
from tests.contract.conftest import contract  # noqa: F401 (the fixture)
from tests.contract.helpers import Events, deploy, image
from tests.contract.memory import MemoryProvider

pytestmark = pytest.mark.parametrize("contract", ["inmemory"], indirect=True)


def _failing_release_command(monkeypatch) -> None:
    from cockpit.release_phase import failure

    def apply(self, plan, emit):
        with StepScope(emit, "release_command", "release command: alembic upgrade head",
                       env=plan.env):
            raise failure(plan.release.id, 1, ["ModuleNotFoundError: No module named 'app'"],
                          None, where="memory target")

    monkeypatch.setattr(MemoryProvider, "apply", apply)


def test_rollback_to_a_release_whose_release_command_failed_says_it_never_served(
        contract, monkeypatch):  # noqa: F811
    first = deploy(contract, contract.env, 1)
    second = deploy(contract, contract.env, 2)
    with monkeypatch.context() as m:
        _failing_release_command(m)
        with pytest.raises(ReleaseCommandFailed):
            pipeline.deploy(contract.ctx, contract.env, Events(),
                            image=image(contract, 1).replace("1" * 64, "3" * 64))
    failed = next(r for r in contract.ctx.store.releases(contract.env, limit=10)
                  if r.status == "failed")
    assert failed.meta["failed_step"] == "release_command"

    def no_lock(*args, **kwargs):
        raise AssertionError("the deploy lock was taken")

    monkeypatch.setattr(pipeline, "deploy_lock", no_lock)
    with pytest.raises(UsageError) as err:
        pipeline.rollback(contract.ctx, contract.env, Events(), to=failed.id)
    what = err.value.what
    assert what.startswith(f"release {failed.id} never served: its release command failed")
    assert f"it can roll back to {first.id} (" in what
    assert second.id not in what  # it serves: not a rollback target
    assert "no longer kept" not in what and "last 5" not in what
    assert err.value.hint == f"cockpit rollback {contract.env} --to {first.id}"
    assert pipeline.live(contract.ctx, contract.env).current.id == second.id


def test_a_failed_release_without_a_recorded_step_is_refused_too(contract):  # noqa: F811
    only = deploy(contract, contract.env, 1)
    old = pipeline.make_release(contract.ctx, contract.ctx.config.env(contract.env),
                                image(contract, 2), image(contract, 2).split("@")[1])
    old.status = "failed"  # recorded before cockpit kept the failed step
    contract.ctx.store.save_release(old)
    with pytest.raises(UsageError) as err:
        pipeline.rollback(contract.ctx, contract.env, Events(), to=old.id)
    assert err.value.what == (f"release {old.id} failed its deploy; no release it can roll "
                              "back to is kept on the target")
    assert pipeline.live(contract.ctx, contract.env).current.id == only.id
