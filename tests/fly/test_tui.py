"""The TUI's dashboard and releases screens over a Fly environment (emulator behind it)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from cockpit import pipeline

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = [pytest.mark.timeout(60), pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _settle(pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.06)


@pytest.fixture
def deployed(project):
    ctx = project()
    first = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    second = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    return ctx, first, second


async def _text(pilot, env: str, want: str, tries: int = 200) -> str:
    """A panel's rendered text once it shows `want` (live state loads in a worker)."""
    text = ""
    for _ in range(tries):
        try:
            panel = pilot.app.screen.panels[env]
            text = "\n".join(str(w.render()) for w in panel.query(Static))
        except (AttributeError, KeyError):
            text = ""
        if want in text:
            return text
        await pilot.pause(0.05)
    return text


async def test_dashboard_shows_the_fly_environment_from_live_state(deployed):
    from cockpit.screens.app import CockpitApp
    from cockpit.screens.session import Session

    ctx, _, second = deployed
    app = CockpitApp(Session(ctx.config.path, ctx=ctx), poll_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(pilot)
        assert second.id in await _text(pilot, "staging", second.id)
        assert "2/2 running" in await _text(pilot, "staging", "2/2 running")


async def test_releases_screen_lists_fly_releases_with_the_current_marked(deployed):
    from cockpit.screens.app import CockpitApp
    from cockpit.screens.releases import ReleasesScreen
    from cockpit.screens.session import Session

    ctx, first, second = deployed
    app = CockpitApp(Session(ctx.config.path, ctx=ctx), poll_interval=3600)
    async with app.run_test(size=(140, 40)) as pilot:
        await _settle(pilot)
        app.open_releases("staging")
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReleasesScreen)
        ids = [r.id for r in screen.releases]
        assert ids[:2] == [second.id, first.id]
        assert screen.current.id == second.id
        table = screen.query_one(DataTable)
        assert table.row_count >= 2
