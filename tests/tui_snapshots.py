"""What makes a TUI snapshot over a real provider deterministic, shared by the Kubernetes and
Fly snapshot tests (tests/k8s/test_tui_snapshots.py, tests/fly/test_tui_snapshots.py).

- a fixed clock for cockpit (release ids, ages): `fixed_context(ctx, at=T0)`;
- a fixed operator identity (`COCKPIT_OPERATOR`, the same variable CI jobs use), instead of
  user@hostname, which differs between machines;
- no blinking cursor;
- the dashboard's measured latency pinned (`steady_latency`): the probe itself is real, its
  HTTP status and verdict are what the snapshot shows; only the milliseconds would wobble.

The fixtures `no_blink` and `steady_latency` are in tests/conftest.py. Also here, shared by
the TUI tests of every provider: the wizard on a copy of examples/hello-app (`hello_project`,
`wizard`), a deploy history (`history`), the dashboard app and its steps (`polled`,
`releases_shown`, `logs_shown`), and `ProviderScreens`, the snapshot tests a provider's test
module subclasses.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SIZE = (120, 40)
T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC, the fixed clock of every TUI test
OPERATOR = "ops@laptop"
LATENCY_MS = 12.0


def fixed_context(ctx, at: float = T0):
    """The same context (config, store, keyring) with cockpit's clock stopped at `at`."""
    return dataclasses.replace(ctx, clock=lambda: at)


def clean_lab_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wizard prefills the lab VPS when COCKPIT_LAB_* is exported; these tests want none."""
    for key in list(os.environ):
        if key.startswith("COCKPIT_LAB_"):
            monkeypatch.delenv(key)


def hello_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/hello-app with no cockpit.toml (the wizard's first run), and no lab
    variables to prefill it from."""
    import shutil

    clean_lab_env(monkeypatch)
    root = tmp_path / "hello"
    shutil.copytree(REPO / "examples" / "hello-app", root)
    return root


def wizard(root: Path):
    """The app on a project without cockpit.toml: it opens the wizard (fixed clock)."""
    from cockpit.screens.app import CockpitApp

    from cockpit.session import Session

    return CockpitApp(Session(root / "cockpit.toml", clock=lambda: T0), poll_interval=3600)


async def ready(pilot) -> None:
    """Workers done, messages handled, toasts gone: the frame to compare."""
    from tests.tui.helpers import settle

    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()


def history(ctx, first: str, second: str):
    """staging runs `first`, prod gets it promoted, staging moves on to `second` (an hour
    apart, on the fixed clock); the context returned reads it all an hour later."""
    from cockpit import pipeline
    from tests.recorder import Recorder

    pipeline.deploy(fixed_context(ctx, at=T0), "staging", Recorder(), image=first)
    pipeline.promote(fixed_context(ctx, at=T0 + 600), "staging", "prod", Recorder())
    pipeline.deploy(fixed_context(ctx, at=T0 + 3600), "staging", Recorder(), image=second)
    return fixed_context(ctx, at=T0 + 2 * 3600)


def dashboard_app(ctx):
    from cockpit.screens.app import CockpitApp

    from cockpit.session import Session

    return CockpitApp(Session(ctx.config.path, ctx=ctx), poll_interval=3600)


async def polled(pilot) -> None:
    """Every panel shows live state and a health sample (each env polls in its own worker)."""
    from tests.tui.helpers import settle, wait_until

    await settle(pilot)
    panels = pilot.app.screen.panels
    await wait_until(pilot, lambda: all(p.last_sample is not None for p in panels.values()),
                     tries=400)
    await ready(pilot)


async def releases_shown(pilot) -> None:
    """The dashboard polled, then `h`: staging's history listed."""
    from textual.widgets import DataTable

    from tests.tui.helpers import settle, wait_until

    await polled(pilot)
    await pilot.press("h")
    await settle(pilot)
    await wait_until(pilot, lambda: pilot.app.screen.query_one(DataTable).row_count >= 2)


async def logs_shown(pilot, lines: int) -> None:
    """The dashboard polled, then `l` until `lines` lines are in the view (a follow: its
    worker never completes, so no settle() after it)."""
    from tests.tui.helpers import wait_until

    await polled(pilot)
    await pilot.press("l")

    def count() -> int:
        view = getattr(pilot.app.screen, "view", None)
        return len(view.lines) if view is not None else 0

    await wait_until(pilot, lambda: count() >= lines, tries=400)
    await pilot.pause(0.2)


class ProviderScreens:
    """The dashboard, releases, rollback confirmation and logs snapshots of one provider's
    environments. A test module subclasses it (`class TestScreens(ProviderScreens)`) and gives
    a `deployed` fixture (a context after `history(...)`) and LOG_LINES, the lines its logs
    screen shows once everything logged has arrived."""

    LOG_LINES = 1

    def test_dashboard(self, snap_compare, deployed):
        assert snap_compare(dashboard_app(deployed), terminal_size=SIZE, run_before=polled)

    def test_releases(self, snap_compare, deployed):
        async def run_before(pilot):
            await releases_shown(pilot)
            await pilot.press("down")
            await ready(pilot)

        assert snap_compare(dashboard_app(deployed), terminal_size=SIZE, run_before=run_before)

    def test_rollback_confirmation(self, snap_compare, deployed):
        async def run_before(pilot):
            await releases_shown(pilot)
            await pilot.press("down", "r")
            await ready(pilot)

        assert snap_compare(dashboard_app(deployed), terminal_size=SIZE, run_before=run_before)

    def test_logs(self, snap_compare, deployed):
        async def run_before(pilot):
            await logs_shown(pilot, self.LOG_LINES)

        assert snap_compare(dashboard_app(deployed), terminal_size=SIZE, run_before=run_before)
