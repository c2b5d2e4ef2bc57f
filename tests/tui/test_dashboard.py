"""The dashboard shows every environment from live state and keeps input responsive."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

async def test_dashboard_shows_each_environment_from_live_state(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        panels = app.screen.panels
        assert list(panels) == ["staging", "prod"]
        release = panels["staging"].text("release")
        assert "r003-" in release and "1h ago" in release
        health = panels["staging"].text("health")
        assert "healthy" in health and "12 ms" in health
        instances = panels["prod"].text("instances")
        assert "2/2 running" in instances and "restarts 1" in instances
        tls = panels["prod"].text("tls")
        assert "89 days left" in tls
