"""The dashboard's environment panel: a line per accessory, only when the environment has any."""

from __future__ import annotations

import asyncio

from cockpit.screens.widgets.env_panel import EnvPanel
from textual.app import App

from cockpit.models import LiveState


class _Host(App):
    def compose(self):
        yield EnvPanel("staging", "vps", 1)


def _shown(extra: dict) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        app = _Host()
        async with app.run_test() as pilot:
            panel = app.query_one(EnvPanel)
            panel.show(LiveState(env="staging", provider="vps", extra=extra), None, None, 0.0)
            await pilot.pause()
            bottom = str(panel.query_one("#bottom").render())
            return panel.text("accessories"), bottom

    return asyncio.run(go())


def test_a_line_per_accessory_with_its_state_and_health():
    line, bottom = _shown({"accessories": [
        {"name": "postgres", "kind": "postgres", "state": "running", "health": "healthy"},
        {"name": "cache", "kind": "redis", "state": "exited", "health": "unhealthy"}]})
    assert line == "postgres postgres running healthy\ncache redis exited unhealthy"
    assert "cache redis exited unhealthy" in bottom


def test_no_accessory_line_without_accessories():
    line, bottom = _shown({})
    assert line == ""
    assert bottom.rstrip().endswith("lock: free")
