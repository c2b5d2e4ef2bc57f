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


async def test_instances_count_the_serving_release_only(app, monkeypatch):
    """One replica and two stopped containers of earlier releases (a VPS keeps them for
    rollback) read `1/1 running`, not `1/3`; the stopped ones are named as kept."""
    from dataclasses import replace

    from memory_provider import MemoryProvider

    from cockpit.models import Instance

    live = MemoryProvider.live

    def vps_like(self, env):
        state = live(self, env)
        if state.current is None:
            return state
        older = [r for r in state.releases if r.id != state.current.id][:2]
        state.instances = [replace(state.instances[0], restarts=0)] + [
            Instance(id=f"old-{r.id}", name=f"{env.app.name}-{env.name}-{r.id}",
                     state="exited", release_id=r.id, health="unknown") for r in older]
        return state

    monkeypatch.setattr(MemoryProvider, "live", vps_like)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        instances = app.screen.panels["staging"].text("instances")
        assert instances.startswith("instances 1/1 running · restarts 0"), instances
        assert instances.endswith(" · 2 kept for rollback"), instances
