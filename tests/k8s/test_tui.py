"""The TUI's dashboard, releases (keyboard rollback) and logs screens on a Kubernetes
environment, through the provider contract, against the API emulator."""

from __future__ import annotations

import pytest

from cockpit import pipeline

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = [pytest.mark.timeout(120), pytest.mark.anyio]
TICK = "registry.example.test/shop@sha256:" + "9" * 64


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def settle(pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.06)


async def wait_until(pilot, predicate, tries: int = 300) -> None:
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


def make_app(ctx):
    from cockpit.screens.app import CockpitApp
    from cockpit.screens.session import Session

    return CockpitApp(Session(ctx.config.path, ctx=ctx), poll_interval=3600)


async def test_dashboard_shows_the_kubernetes_environment(project, emulator):
    from textual.widgets import Static

    ctx = project()
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    app = make_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.screen.panels["staging"]
        text = " ".join(str(w.render()) for w in panel.query(Static))  # layout-agnostic
        assert release.id in text
        assert "2/2" in text
        assert "healthy" in text


async def test_keyboard_rollback_from_the_releases_screen(project, emulator):
    from cockpit.screens.releases import ReleasesScreen
    from cockpit.screens.run import RunScreen
    from cockpit.screens.widgets.run_panel import RunPanel
    from textual.widgets import DataTable

    ctx = project()
    first = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    app = make_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("1", "h")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReleasesScreen)
        await wait_until(pilot, lambda: screen.query_one(DataTable).row_count >= 2)
        await pilot.press("down", "r")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen)
        panel = run.query_one(RunPanel)
        await wait_until(pilot, lambda: not panel.running and panel.worker is not None)
        await settle(pilot)
        assert panel.error is None, panel.error
    d = emulator.get("apps/v1", "deployments", "shop-staging", "shop")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1
    assert pipeline.live(ctx, "staging").current.id == first.id


async def test_logs_screen_tails_the_pods(project, emulator):
    from cockpit.screens.logs import LogsScreen

    emulator.image(TICK, log_every=0.05)
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=TICK)
    app = make_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await wait_until(pilot, lambda: sum("tick" in r.text for r in screen.view.lines) >= 5)
        await pilot.press("escape")
        await pilot.pause()
