"""The approvals list (command palette → Approvals): plans for protected environments wait for a
person, who types the environment's name to approve one; bound, single use, recorded."""

from __future__ import annotations

import pytest
from helpers import run_command, settle

from cockpit import plans

pytestmark = pytest.mark.anyio

IMAGE = "memory/hello@sha256:" + "a" * 64


async def test_a_person_approves_a_prod_plan_from_the_approvals_list(app):
    from cockpit.screens.approvals import ApprovalsScreen

    ctx = app.session.ctx
    prod = plans.make(ctx, "deploy", "prod", lambda e: None, image=IMAGE, client="agent 1")
    plans.make(ctx, "deploy", "staging", lambda e: None, image=IMAGE)  # needs no approval
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await run_command(pilot, "approvals")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ApprovalsScreen)
        assert [p.plan_id for p in screen.plans] == [prod.plan_id]
        detail = str(screen.query_one("#plan-detail").render())
        assert prod.plan_id in detail and "step" in detail
        await pilot.press("a")
        await pilot.pause()
        for key in "staging":  # the wrong name: refused
            await pilot.press(key)
        await pilot.press("enter")
        await settle(pilot)
        assert plans.approval_status(ctx, prod.plan_id)["approved"] is False
        await pilot.press("a")
        await pilot.pause()
        for key in "prod":
            await pilot.press(key)
        await pilot.press("enter")
        await settle(pilot)
        status = plans.approval_status(ctx, prod.plan_id)
        assert status["approved"] is True and status["ready"] is True
        assert screen.approvals[prod.plan_id]["approved"] is True
    entries = [(a["command"], a["result"]) for a in ctx.store.audit_log(limit=20)]
    assert ("approve", "refused") in entries and ("approve", "ok") in entries


def test_approvals_snapshot(snap_compare, app, no_blink, monkeypatch):
    """The approvals list with one prod plan selected (fixed clock, plan id and operator)."""
    from tests.tui_snapshots import SIZE

    monkeypatch.setattr(plans._random, "token_hex", lambda n: "0a1b2c3d4e5f")
    plans.make(app.session.ctx, "deploy", "prod", lambda e: None, image=IMAGE, client="agent 1")

    async def run_before(pilot) -> None:
        await settle(pilot)
        await run_command(pilot, "approvals")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
