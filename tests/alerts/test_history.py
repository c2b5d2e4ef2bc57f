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
