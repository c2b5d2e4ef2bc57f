"""Releases: history per environment; select one, `r`, confirm what changes, watch it roll back."""

from __future__ import annotations

import pytest
from cockpit.screens.run import RunScreen
from cockpit.screens.widgets.confirmation import ConfirmChange
from helpers import ask_rollback, finish_run, open_releases, settle, wait_run
from memory_provider import TARGETS

pytestmark = pytest.mark.anyio


async def test_releases_list_history_newest_first_with_the_serving_one_marked(app):
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_releases(pilot, "1")  # asserts a ReleasesScreen with rows
        assert [r.id[:4] for r in screen.releases] == ["r003", "r002", "r001"]
        assert screen.current.id.startswith("r003")


async def test_rollback_staging_from_the_releases_screen(app):
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ask_rollback(pilot, "1")
        confirm = app.screen
        assert isinstance(confirm, ConfirmChange)
        rows = {what: (old, new) for what, old, new in confirm.changes}
        assert rows["release"][0].startswith("r003") and rows["release"][1].startswith("r002")
        assert rows["image"][0] != rows["image"][1]
        assert rows["config"][0] != rows["config"][1]
        assert rows["secrets"][0] != rows["secrets"][1]
        await pilot.press("enter")
        await pilot.pause()
        run = app.screen
        panel = await finish_run(pilot)  # asserts a RunScreen
        assert panel.error is None, panel.error
        target = TARGETS["memory/hello-staging"]
        assert target.current.id.startswith("r002")
        assert set(run.query_one("#checklist").states().values()) == {"done"}
        audit = app.session.audit_log("staging")
        assert audit[0]["command"] == "rollback" and audit[0]["result"] == "ok"
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and screen.current.id.startswith("r002")


async def test_rollback_of_prod_needs_the_typed_name(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await ask_rollback(pilot, "2")
        confirm = app.screen
        assert isinstance(confirm, ConfirmChange) and confirm.protected
        await pilot.press("enter")  # nothing typed: refused, still asking
        await pilot.pause()
        assert app.screen is confirm
        await pilot.press(*"prod", "enter")
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen) and run.typed == "prod"
        panel = await wait_run(pilot)
        assert panel.error is None, panel.error
        assert TARGETS["memory/hello-prod"].current.id.startswith("r001")


async def test_escape_cancels_a_rollback(app):
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ask_rollback(pilot, "1")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert TARGETS["memory/hello-staging"].current.id.startswith("r003")
