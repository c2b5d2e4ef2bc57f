"""The dashboard shows the recorded history: uptime over 24 h and 7 d, p50/p95 latency, open
incidents and a 24-hour timeline with deploy markers (snapshot at 120x40, fixed clock, over the
TUI tests' in-memory provider)."""

from __future__ import annotations

import pytest

from tests.tui.conftest import hello_aside, make_context, project  # noqa: F401 (fixtures)
from tests.tui_snapshots import SIZE, T0, ready


def seed_history(path) -> None:  # noqa: ANN001
    """A week of samples every 10 minutes (ok, 20-60 ms) and, on staging, an outage 6 h ago
    (40 min, a resolved incident) and a down incident open for the last 20 minutes."""
    ctx = make_context(path)
    store = ctx.store
    for env in ("staging", "prod"):
        for n in range(7 * 144):
            ts = T0 - 7 * 86400 + n * 600
            outage = env == "staging" and (T0 - 6 * 3600 <= ts < T0 - 6 * 3600 + 2400
                                           or ts >= T0 - 1200)
            store.add_sample(env, not outage, None if outage else 200,
                             None if outage else 20.0 + (n % 5) * 10, ts=ts)
    done = store.open_incident("staging", "down", "3 health probes in a row failed; last: "
                               "HTTP 502", at=T0 - 6 * 3600)
    store.update_incident(done, alerted_at=T0 - 6 * 3600, resolved_at=T0 - 6 * 3600 + 2400)
    store.open_incident("staging", "down", "3 health probes in a row failed; last: "
                        "ConnectError: refused", at=T0 - 1200)
    store.close()


@pytest.fixture
def history_app(project):  # noqa: ANN001, F811
    from cockpit.screens.app import CockpitApp

    from cockpit.session import Session

    seed_history(project)
    return CockpitApp(Session(project, ctx=make_context(project)), poll_interval=3600)


def test_dashboard_history(snap_compare, history_app, monkeypatch):
    monkeypatch.setenv("COCKPIT_OPERATOR", "ops@laptop")

    async def run_before(pilot) -> None:  # noqa: ANN001
        await ready(pilot)

    assert snap_compare(history_app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.anyio
async def test_panel_reads_history(history_app):
    async with history_app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        staging = history_app.screen.panels["staging"]
        text = staging.text("uptime")
        assert "uptime 24h " in text and "7d " in text and "p95 " in text
        line = staging.text("timeline")
        assert "incident #2 down open 20m" in line
        assert line.count("▲") == 3  # the seeded releases, an hour apart
        assert "█" in line
        assert "open incident" not in history_app.screen.panels["prod"].text("uptime")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
