"""Deploy and promote from the dashboard: confirmation, live checklist, guardrails, quitting."""

from __future__ import annotations

import pytest
from cockpit.screens.widgets.confirmation import Confirm, ConfirmChange
from cockpit.screens.widgets.error import ErrorScreen
from helpers import finish_run, settle, wait_until
from memory_provider import TARGETS

pytestmark = pytest.mark.anyio


async def test_deploy_staging_shows_the_checklist_and_the_app_log(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("1", "d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmChange) and not app.screen.protected
        await pilot.press("enter")
        await pilot.pause()
        panel = await finish_run(pilot)
        assert panel.error is None, panel.error
        states = panel.query_one("#checklist").states()
        assert list(states) == ["build", "ship", "start", "gate", "switch"]
        assert set(states.values()) == {"done"}
        texts = [r.text for r in panel.query_one("#run-log").lines]
        assert "gate: ok" in texts
        assert panel.samples == [12.0, 12.0, 12.0]
        assert TARGETS["memory/hello-staging"].current.id == panel.result.id


async def test_promote_shows_what_differs_and_needs_the_typed_name(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("1", "p")
        await pilot.pause()
        confirm = app.screen
        assert isinstance(confirm, ConfirmChange) and confirm.protected
        rows = {what: (old, new) for what, old, new in confirm.changes}
        assert rows["domain"] == ("staging.hello.test", "hello.test")
        assert rows["replicas"] == ("1", "2")
        assert rows["secret names"] == ("SECRET_KEY", "SECRET_KEY, DATABASE_URL")
        await pilot.press(*"prod", "enter")
        await pilot.pause()
        panel = await finish_run(pilot)
        assert panel.error is None, panel.error
        staging = TARGETS["memory/hello-staging"].current
        prod = TARGETS["memory/hello-prod"].current
        assert prod.digest == staging.digest and prod.promoted_from == f"staging/{staging.id}"


async def test_a_failed_run_shows_the_cause_in_an_error_panel(app):
    TARGETS["memory/hello-staging"].current.status = "failed"  # promote refuses unhealthy
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("1", "p")
        await pilot.pause()
        await pilot.press(*"prod", "enter")
        await pilot.pause()
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        text = str(app.screen.query_one("#error-text").render())
        assert "did not pass its health gate" in text and "what to do" in text
        assert "Traceback" not in text


async def test_quitting_mid_run_asks_first(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.running = type("Busy", (), {"is_finished": False, "description": "Deploy staging"})()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert "Deploy staging" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, Confirm) and app.is_running


async def test_quitting_mid_deploy_stops_it_and_closes_the_journal(app):
    import threading

    target = TARGETS["memory/hello-staging"]
    target.hold = threading.Event()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("1", "d")
        await pilot.pause()
        await pilot.press("enter")  # go
        await wait_until(pilot, target.step_started.is_set)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        target.hold.set()  # the step in flight ends; the next event stops the run
        await wait_until(pilot, lambda: not app.is_running)
    store = app.session.ctx.store
    assert store.unfinished_runs("staging") == []
    last = store.audit_log("staging")[0]
    assert last["command"] == "deploy" and last["result"] != "ok"
    assert "quitting" in last["detail"]
    assert app.return_code == 130


async def test_a_question_from_the_core_is_asked_in_a_modal_and_answered(app):
    """E.g. the VPS provider asking to trust an unknown SSH host key, from a worker thread."""
    answers: list[bool] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.run_worker(lambda: answers.append(app.session._ask("Trust SHA256:abc for vps?")),
                       thread=True)
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
        assert "SHA256:abc" in app.screen.question
        await pilot.press("y")
        await wait_until(pilot, lambda: answers == [True])
