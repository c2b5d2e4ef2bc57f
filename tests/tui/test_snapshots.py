"""SVG snapshots of every screen at 120x40, deterministic: fixed clock, seeded memory target,
no notifications, no blinking cursor. Files: snapshots/tui/test_snapshots/*.svg.

Update with `pytest tests/tui/test_snapshots.py --snapshot-update`, then look at each SVG."""

from __future__ import annotations

import pytest
from helpers import SECRET, click, settle, type_into, type_secrets, wait_until, walk_to_secrets

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _no_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import Input

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(Input, "cursor_blink", False)


async def _ready(pilot) -> None:
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()


def test_dashboard(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=_ready)


def test_help_overlay(snap_compare, app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await _ready(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_logs_filtered(snap_compare, app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        await wait_until(pilot, lambda: len(pilot.app.screen.view.lines) == 30)
        await pilot.press("slash", *"error", "enter")
        await _ready(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_logs_timestamps_and_wrap(snap_compare, app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        await wait_until(pilot, lambda: len(pilot.app.screen.view.lines) == 30)
        await pilot.press("t", "w")
        await _ready(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_releases(snap_compare, app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        await pilot.press("down")
        await _ready(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_rollback_confirmation_for_prod(snap_compare, app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("2", "h")
        await settle(pilot)
        await pilot.press("down", "r")
        await pilot.pause()
        await pilot.press(*"pro")
        await _ready(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_rollback_progress_finished(snap_compare, app):
    async def run_before(pilot):
        from cockpit.screens.widgets.run_panel import RunPanel

        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        await pilot.press("down", "r")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        panel = pilot.app.screen.query_one(RunPanel)
        await wait_until(pilot, lambda: panel.worker is not None and not panel.running)
        await _ready(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_promote_confirmation(snap_compare, app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("p")
        await _ready(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_error_panel(snap_compare, app):
    from memory_provider import TARGETS

    TARGETS["memory/hello-staging"].current.status = "failed"

    async def run_before(pilot):
        from cockpit.screens.widgets.error import ErrorScreen

        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press(*"prod", "enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ErrorScreen))
        await _ready(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


# --------------------------------------------------------------------------- the wizard


def test_wizard_scan(snap_compare, wizard_app):
    assert snap_compare(wizard_app, terminal_size=SIZE, run_before=_ready)


def test_wizard_provider_checked(snap_compare, wizard_app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await click(pilot, "#provider-vps")  # shows what a VPS needs
        await pilot.pause()
        await click(pilot, "#provider-memory")
        await click(pilot, "#check")
        await wait_until(pilot, lambda: pilot.app.screen.checked is not None)
        await _ready(pilot)

    assert snap_compare(wizard_app, terminal_size=SIZE, run_before=run_before)


def test_wizard_secrets_typed_masked(snap_compare, wizard_app):
    async def run_before(pilot):
        await settle(pilot)
        await walk_to_secrets(pilot)
        await type_into(pilot, "#secret-staging-SECRET_KEY", SECRET)
        await _ready(pilot)

    assert snap_compare(wizard_app, terminal_size=SIZE, run_before=run_before)


def test_wizard_domain_checked(snap_compare, wizard_app):
    async def run_before(pilot):
        await settle(pilot)
        await walk_to_secrets(pilot)
        await type_secrets(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_into(pilot, "#domain-staging", "staging.hello.test")
        await click(pilot, "#domain-check-staging")
        await wait_until(pilot, lambda: pilot.app.screen.query_one("#domain-steps-staging")
                         .states().get("tls") == "done")
        await _ready(pilot)

    assert snap_compare(wizard_app, terminal_size=SIZE, run_before=run_before)


def test_wizard_review_plan(snap_compare, wizard_app):
    async def run_before(pilot):
        from cockpit.screens.widgets.run_panel import RunPanel

        await settle(pilot)
        await walk_to_secrets(pilot)
        await type_secrets(pilot)
        await pilot.press("ctrl+n", "ctrl+n")
        await pilot.pause()
        await click(pilot, "#plan")
        panel = pilot.app.screen.query_one("#review-run", RunPanel)
        await wait_until(pilot, lambda: panel.worker is not None and not panel.running)
        await _ready(pilot)

    assert snap_compare(wizard_app, terminal_size=SIZE, run_before=run_before)


def test_wizard_promoted(snap_compare, wizard_app):
    async def run_before(pilot):
        from cockpit.screens.widgets.run_panel import RunPanel

        await settle(pilot)
        await walk_to_secrets(pilot)
        await type_secrets(pilot)
        await pilot.press("ctrl+n", "ctrl+n")
        await pilot.pause()
        await click(pilot, "#deploy")
        panel = pilot.app.screen.query_one("#review-run", RunPanel)
        await wait_until(pilot, lambda: panel.worker is not None and not panel.running)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_into(pilot, "#typed", "prod")
        await click(pilot, "#promote-go")
        panel = pilot.app.screen.query_one("#promote-run", RunPanel)
        await wait_until(pilot, lambda: panel.worker is not None and not panel.running)
        await _ready(pilot)

    assert snap_compare(wizard_app, terminal_size=SIZE, run_before=run_before)


def test_broken_config(snap_compare, tmp_path, tmp_state):
    from cockpit.screens.app import CockpitApp
    from cockpit.screens.session import Session

    (tmp_path / "cockpit.toml").write_text('[app]\nname = "x"\nport = "80a"\n')
    app = CockpitApp(Session(tmp_path / "cockpit.toml"))
    assert snap_compare(app, terminal_size=SIZE, run_before=_ready)
