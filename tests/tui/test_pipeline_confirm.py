"""Protected environments are confirmed before anything changes, reconciling an interrupted run
included: an unconfirmed deploy, promote or rollback of prod must not touch prod at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit import pipeline
from cockpit.errors import EXIT_REFUSED, Refused
from tests.recorder import Recorder
from tests.tui.conftest import make_context


@pytest.fixture
def interrupted(project: Path, monkeypatch: pytest.MonkeyPatch):
    """A context whose prod has an interrupted deploy, and the list of reconcile calls."""
    from memory_provider import MemoryProvider

    calls: list[str] = []
    monkeypatch.setattr(MemoryProvider, "reconcile",
                        lambda self, env, journal, emit: calls.append(env.name) or "undone")
    ctx = make_context(project)
    run_id = ctx.store.begin_run("prod", "deploy")
    return ctx, calls, run_id


@pytest.mark.parametrize("action", ["deploy", "promote", "rollback"])
def test_unconfirmed_prod_action_refuses_before_reconciling(interrupted, action: str) -> None:
    ctx, calls, run_id = interrupted
    with pytest.raises(Refused) as err:
        if action == "deploy":
            pipeline.deploy(ctx, "prod", Recorder(), image="registry/hello@sha256:" + "a" * 64)
        elif action == "promote":
            pipeline.promote(ctx, "staging", "prod", Recorder())
        else:
            pipeline.rollback(ctx, "prod", Recorder())
    assert err.value.exit_code == EXIT_REFUSED
    assert "--confirm prod" in (err.value.hint or "")
    assert calls == []
    assert [r.run_id for r in ctx.store.unfinished_runs("prod")] == [run_id]


def test_reconcile_of_prod_says_what_it_would_finish_and_needs_confirmation(interrupted) -> None:
    ctx, calls, run_id = interrupted
    with pytest.raises(Refused) as err:
        pipeline.reconcile(ctx, "prod", Recorder())
    assert f"deploy ({run_id})" in err.value.message
    assert calls == []
    ctx.options.confirm = "prod"
    said = pipeline.reconcile(ctx, "prod", Recorder())
    assert calls == ["prod"] and "undone" in said[0]
    assert ctx.store.unfinished_runs("prod") == []


def test_staging_reconciles_without_confirmation(project: Path, interrupted) -> None:
    ctx, calls, _ = interrupted
    ctx.store.begin_run("staging", "deploy")
    pipeline.reconcile(ctx, "staging", Recorder())
    assert calls == ["staging"]
