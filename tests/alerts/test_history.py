"""Health samples and incidents in the state store: they survive a reopen (a restart)."""

from __future__ import annotations

from cockpit.state import Store


def test_samples_and_incidents_survive_reopen(tmp_path):
    path = tmp_path / "state.db"
    store = Store(path, clock=lambda: 1000.0)
    store.add_sample("prod", True, 200, 12.5)
    store.add_sample("prod", False, None, 3000.0, error="ConnectError: refused", ts=1010.0)
    opened = store.open_incident("prod", "down", "no answer", {"url": "https://x.test/up"},
                                 at=1010.0)
    store.update_incident(opened, alerted_at=1011.0)
    store.close()

    again = Store(path)
    assert again.schema_version >= 3
    samples = again.samples("prod")
    assert [s["ok"] for s in samples] == [True, False]
    assert again.last_sample("prod")["error"] == "ConnectError: refused"
    [incident] = again.incidents("prod", open_only=True)
    assert incident["id"] == opened and incident["alerts"] == 1
    assert incident["detail"] == {"url": "https://x.test/up"}
    again.update_incident(opened, resolved_at=1100.0)
    assert again.incidents("prod", open_only=True) == []
    assert again.incidents("prod", since=1050.0)[0]["resolved_at"] == 1100.0
    assert again.prune_samples(1005.0) == 1


def test_health_summary_uptime_and_percentiles(tmp_path):
    from cockpit.watcher import health_summary, percentile

    store = Store(tmp_path / "state.db")
    now = 10 * 86400.0
    for i in range(10):  # the last day: 9 good of 10, latencies 10..90 ms
        store.add_sample("prod", i != 0, 200, 10.0 * i, ts=now - 3600 + i)
    store.add_sample("prod", False, None, None, ts=now - 3 * 86400)  # within the week
    store.add_sample("prod", False, None, None, ts=now - 9 * 86400)  # older: not counted
    store.open_incident("prod", "down", "no answer", at=now - 60)
    summary = health_summary(store, "prod", now)
    h = summary["health"]
    assert h["uptime_24h"] == 90.0 and h["uptime_7d"] == 81.8
    assert h["p50_ms"] == 50.0 and h["p95_ms"] == 90.0 and h["samples_24h"] == 10
    assert h["last_sample"]["ts"] == now - 3600 + 9
    assert [i["kind"] for i in summary["incidents"]] == ["down"]
    assert percentile([], 50) is None and percentile([5.0], 95) == 5.0


def test_timeline_cells_and_deploy_markers():
    from cockpit.screens.widgets.env_panel import timeline

    now = 100_000.0
    samples = [{"ts": now, "ok": True}, {"ts": now - 1800 * 10, "ok": False},
               {"ts": now - 1800 * 10 + 1, "ok": True}, {"ts": now - 1800 * 20, "ok": False}]
    incidents = [{"kind": "down", "opened_at": now - 1800 * 30, "resolved_at": now - 1800 * 28}]
    line = timeline(samples, incidents, [now - 1800 * 5], now).plain
    assert len(line) == 48
    assert line[-1] == "▁"  # a sample taken now is in the newest cell
    # a cell covers (start, end]: a time k half-hours ago opens the cell k from the right
    assert line[-10] == "▄" and line[-20] == "█" and line[-5] == "▲"
    assert line[-30:-27] == "███" and line[0] == "·"
