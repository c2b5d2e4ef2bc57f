"""The TUI's dashboard and releases screens over a Fly environment (emulator behind it)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from cockpit import pipeline
from tests.tui.helpers import settle
from tests.tui_snapshots import dashboard_app

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = [pytest.mark.timeout(60), pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
    ctx, _, second = deployed
    app = dashboard_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert second.id in await _text(pilot, "staging", second.id)
        assert "2/2 running" in await _text(pilot, "staging", "2/2 running")


async def test_releases_screen_lists_fly_releases_with_the_current_marked(deployed):
    from cockpit.screens.releases import ReleasesScreen

    ctx, first, second = deployed
    app = dashboard_app(ctx)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.open_releases("staging")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReleasesScreen)
        ids = [r.id for r in screen.releases]
        assert ids[:2] == [second.id, first.id]
        assert screen.current.id == second.id
        table = screen.query_one(DataTable)
        assert table.row_count >= 2
