"""A rollback from the TUI onto another schema head: the confirmation shows the schema check
(the database's head now, the head the target recorded, the migrations in between) and goes on
only once the person ticks the box that accepts it (the TUI's `--accept-schema`); without it
nothing changes. Same heads roll back as before."""

from __future__ import annotations

import pytest
from cockpit.screens.run import RunScreen
from cockpit.screens.widgets.confirmation import ConfirmChange
from helpers import ask_rollback, finish_run, settle, wait_run
from memory_provider import TARGETS
from textual.widgets import Button, Checkbox, Input, Static

pytestmark = pytest.mark.anyio


def _text(screen) -> str:
    return " ".join(str(s.render()) for s in screen.query(Static))


async def test_the_confirmation_shows_the_schema_check_and_needs_acceptance(schema_app):
    app = schema_app
    async with app.run_test(size=(120, 40)) as pilot:
        await ask_rollback(pilot, "1")
        confirm = app.screen
        assert isinstance(confirm, ConfirmChange) and confirm.accept
        rows = {what: (old, new) for what, old, new in confirm.changes}
        assert rows["schema"] == ("alembic 9f8e7d6c5b4a", "alembic 7e8f9a0b1c2d")
        shown = _text(confirm)
        assert "2 migration(s) applied since that release" in shown
        assert "3d4e5f6a7b8c (add pinned)" in shown and "9f8e7d6c5b4a (index tags)" in shown
        assert "does not undo migrations" in shown
        go = confirm.query_one("#go", Button)
        assert go.disabled and app.focused is confirm.query_one("#accept", Checkbox)
        await pilot.click("#go")  # disabled: nothing happens
        await pilot.pause()
        assert app.screen is confirm and not confirm.accepted
        await pilot.press("escape")  # without acceptance: nothing changes
        await settle(pilot)
        assert not isinstance(app.screen, (ConfirmChange, RunScreen))
        assert TARGETS["memory/hello-staging"].current.id.startswith("r003")
        assert not [a for a in app.session.audit_log("staging") if a["command"] == "rollback"]


async def test_ticking_the_box_rolls_back_onto_the_schema(schema_app):
    app = schema_app
    async with app.run_test(size=(120, 40)) as pilot:
        await ask_rollback(pilot, "1")
        confirm = app.screen
        await pilot.press("space")  # tick: focus moves to Go
        await pilot.pause()
        assert confirm.accepted and not confirm.query_one("#go", Button).disabled
        assert app.focused is confirm.query_one("#go", Button)
        await pilot.press("enter")
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen) and run.accept_schema
        panel = await finish_run(pilot)
        assert panel.error is None, panel.error
        target = TARGETS["memory/hello-staging"].current
        assert target.id.startswith("r002")
        # a rollback undoes no migration: the database keeps the head r003 left
        assert target.meta["schema_db"]["head"] == "9f8e7d6c5b4a"
        assert target.meta["schema"]["head"] == "7e8f9a0b1c2d"


async def test_prod_needs_the_typed_name_and_the_acceptance(schema_app):
    app = schema_app
    async with app.run_test(size=(120, 40)) as pilot:
        await ask_rollback(pilot, "2")
        confirm = app.screen
        assert isinstance(confirm, ConfirmChange) and confirm.protected and confirm.accept
        typed = confirm.query_one("#typed", Input)
        typed.focus()
        await pilot.press(*"prod", "enter")  # the name alone is not enough
        await pilot.pause()
        assert app.screen is confirm and confirm.query_one("#go", Button).disabled
        confirm.query_one("#accept", Checkbox).focus()
        await pilot.press("space")
        await pilot.pause()
        assert app.focused is typed and not confirm.query_one("#go", Button).disabled
        await pilot.press("enter")
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen) and run.typed == "prod" and run.accept_schema
        panel = await wait_run(pilot)
        assert panel.error is None, panel.error
        assert TARGETS["memory/hello-prod"].current.id.startswith("r001")


async def test_the_same_head_asks_nothing_more(schema_app):
    app = schema_app
    staging = TARGETS["memory/hello-staging"]
    staging.releases[1].meta = {**staging.releases[1].meta,
                                "schema": staging.releases[0].meta["schema"]}
    async with app.run_test(size=(120, 40)) as pilot:
        await ask_rollback(pilot, "1")
        confirm = app.screen
        assert isinstance(confirm, ConfirmChange) and confirm.accept is None
        assert not confirm.query("#accept") and not confirm.warnings
        await pilot.press("enter")
        await pilot.pause()
        panel = await finish_run(pilot)
        assert panel.error is None, panel.error
        assert staging.current.id.startswith("r002")


def test_the_session_refuses_another_head_without_acceptance(schema_app):
    from cockpit.errors import Refused

    session = schema_app.session
    staging = TARGETS["memory/hello-staging"]
    with pytest.raises(Refused) as refused:
        session.rollback("staging", lambda event: None, to=staging.releases[1].id)
    assert refused.value.exit_code == 5 and "3d4e5f6a7b8c" in refused.value.what
    assert staging.current.id.startswith("r003")
    done = session.rollback("staging", lambda event: None, to=staging.releases[1].id,
                            accept_schema=True)
    assert done.id.startswith("r002") and staging.current.id.startswith("r002")
