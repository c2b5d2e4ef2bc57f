"""The TUI's dashboard, releases (keyboard rollback) and logs screens on a Kubernetes
environment, through the provider contract, against the API emulator."""

from __future__ import annotations

import pytest

from cockpit import pipeline
from tests.tui.helpers import ask_rollback, finish_run, settle, wait_until
from tests.tui_snapshots import dashboard_app

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = [pytest.mark.timeout(120), pytest.mark.anyio]
TICK = "registry.example.test/shop@sha256:" + "9" * 64


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_dashboard_shows_the_kubernetes_environment(project, emulator):
    from textual.widgets import Static

    ctx = project()
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    app = dashboard_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.screen.panels["staging"]
        text = " ".join(str(w.render()) for w in panel.query(Static))  # layout-agnostic
        assert release.id in text
        assert "2/2" in text
        assert "healthy" in text


async def test_keyboard_rollback_from_the_releases_screen(project, emulator):
    ctx = project()
    first = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    app = dashboard_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await ask_rollback(pilot, "1", rows=2)  # asserts a ReleasesScreen with 2+ rows
        await pilot.press("enter")
        await pilot.pause()
        panel = await finish_run(pilot)  # asserts a RunScreen
        assert panel.error is None, panel.error
    d = emulator.get("apps/v1", "deployments", "shop-staging", "shop")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1
    assert pipeline.live(ctx, "staging").current.id == first.id


async def test_logs_screen_tails_the_pods(project, emulator):
    from cockpit.screens.logs import LogsScreen

    emulator.image(TICK, log_every=0.05)
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=TICK)
    app = dashboard_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await wait_until(pilot, lambda: sum("tick" in r.text for r in screen.view.lines) >= 5)
        await pilot.press("escape")
        await pilot.pause()
