"""SVG snapshots of every screen at 120x40, deterministic: fixed clock, seeded memory target,
no notifications, no blinking cursor. Files: snapshots/tui/test_snapshots/*.svg.

Update with `pytest tests/tui/test_snapshots.py --snapshot-update`, then look at each SVG."""

from __future__ import annotations

import pytest
from helpers import (
    SECRET,
    ask_rollback,
    check_domain,
    click,
    decide_changes,
    leave_scan,
    open_logs,
    open_releases,
    promote_in_wizard,
    run_review,
    settle,
    type_into,
    wait_run,
    wait_until,
    walk_past_secrets,
    walk_to_secrets,
)

from tests.tui_snapshots import SIZE, ready


@pytest.fixture(autouse=True)
def _no_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import Input

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(Input, "cursor_blink", False)


def _snap(snap_compare, app, *steps) -> bool:
    """Compare `app`'s frame after `steps` (each `async step(pilot)`, run once the dashboard
    settled) with its SVG; without steps, the first frame."""

    async def run_before(pilot) -> None:
        if steps:
            await settle(pilot)
        for step in steps:
            await step(pilot)
        await ready(pilot)

    return snap_compare(app, terminal_size=SIZE, run_before=run_before)


def snapshot_test(fixture: str, *steps):
    """A snapshot test of the app from `fixture` (app: the dashboard, wizard_app: the wizard)
    after `steps`; its SVG is named after the name it is bound to."""

    def test(snap_compare, request) -> None:
        assert _snap(snap_compare, request.getfixturevalue(fixture), *steps)

    return test


def keys(*pressed: str):
    """A step: press these keys, then let the app handle them."""

    async def step(pilot) -> None:
        await pilot.press(*pressed)
        await pilot.pause()

    return step


async def _rollback_to_finished(pilot) -> None:
    await ask_rollback(pilot)
    await pilot.press("enter")
    await pilot.pause()
    await wait_run(pilot)


async def _memory_provider_checked(pilot) -> None:
    await leave_scan(pilot)
    await click(pilot, "#provider-vps")  # shows what a VPS needs
    await pilot.pause()
    await click(pilot, "#provider-memory")
    await click(pilot, "#check")
    await wait_until(pilot, lambda: pilot.app.screen.checked is not None)


async def _secret_typed(pilot) -> None:
    await walk_to_secrets(pilot)
    await type_into(pilot, "#secret-staging-SECRET_KEY", SECRET)


async def _domain_checked(pilot) -> None:
    await walk_past_secrets(pilot, pages=1)
    await check_domain(pilot)


async def _plan_reviewed(pilot) -> None:
    await walk_past_secrets(pilot, pages=2)
    await run_review(pilot, "#plan")


async def _deployed_and_promoted(pilot) -> None:
    await walk_past_secrets(pilot, pages=2)
    await run_review(pilot, "#deploy")
    await promote_in_wizard(pilot)


# --------------------------------------------------------------------------- the dashboard

test_dashboard = snapshot_test("app")
test_help_overlay = snapshot_test("app", keys("question_mark"))
test_logs_filtered = snapshot_test("app", open_logs, keys("slash", *"error", "enter"))
test_logs_timestamps_and_wrap = snapshot_test("app", open_logs, keys("t", "w"))
test_releases = snapshot_test("app", open_releases, keys("down"))
test_rollback_confirmation_for_prod = snapshot_test(
    "app", lambda pilot: ask_rollback(pilot, "2"), keys(*"pro"))
test_rollback_progress_finished = snapshot_test("app", _rollback_to_finished)
# onto another schema head: both heads, the migrations in between, the box to tick
test_rollback_confirmation_schema = snapshot_test("schema_app", ask_rollback)


def test_rollback_watched(snap_compare, app, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run screen after a rollback whose 2 s watch window passed: the window's row shows
    the 5xx ratio and p95 against their limits (the memory target answers 200 in 12 ms)."""
    monkeypatch.setenv("COCKPIT_WATCH_SECONDS", "2")
    assert _snap(snap_compare, app, _rollback_to_finished)
test_promote_confirmation = snapshot_test("app", keys("p"))


def test_error_panel(snap_compare, app):
    from memory_provider import TARGETS

    TARGETS["memory/hello-staging"].current.status = "failed"

    async def error_shown(pilot) -> None:
        from cockpit.screens.widgets.error import ErrorScreen

        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ErrorScreen))

    assert _snap(snap_compare, app, keys("p"), keys(*"prod", "enter"), error_shown)


# --------------------------------------------------------------------------- the wizard

test_wizard_scan = snapshot_test("wizard_app")
test_wizard_provider_checked = snapshot_test("wizard_app", _memory_provider_checked)
test_wizard_secrets_typed_masked = snapshot_test("wizard_app", _secret_typed)
test_wizard_domain_checked = snapshot_test("wizard_app", _domain_checked)
test_wizard_review_plan = snapshot_test("wizard_app", _plan_reviewed)
test_wizard_promoted = snapshot_test("wizard_app", _deployed_and_promoted)


# The scan step of an app with fixable findings and no Dockerfile (flask-debug, copied): the
# first fix's diff to accept or skip; after accepting the fixes, the Dockerfile shown before it
# is written; after every decision, what was written and skipped.


async def _fixes_accepted(pilot) -> None:
    screen = pilot.app.screen
    while screen.changes.stage == "fixes":
        await pilot.press("a")
        await pilot.pause()


async def _all_decided(pilot) -> None:
    await _fixes_accepted(pilot)
    await decide_changes(pilot, "a")


test_wizard_scan_fix_diff = snapshot_test("flask_debug_wizard")
test_wizard_scan_generate_dockerfile = snapshot_test("flask_debug_wizard", _fixes_accepted)
test_wizard_scan_changes_written = snapshot_test("flask_debug_wizard", _all_decided)


def test_broken_config(snap_compare, tmp_path, tmp_state):
    from cockpit.screens.app import CockpitApp

    from cockpit.session import Session

    (tmp_path / "cockpit.toml").write_text('[app]\nname = "x"\nport = "80a"\n')
    app = CockpitApp(Session(tmp_path / "cockpit.toml"))
    assert _snap(snap_compare, app)
