"""The state store's plans and approvals: one claim wins, an approval is bound and single use."""

from __future__ import annotations

import threading

from cockpit.state import Store


def _plan(store: Store, plan_id: str = "p1", expires: float = 9e9) -> None:
    store.save_plan({"plan_id": plan_id, "env": "prod", "action": "deploy", "created_at": 1.0,
                     "expires_at": expires, "created_by": "me@here", "client": "test",
                     "fingerprint": "sha256:f", "plan_hash": "sha256:h", "data": {"a": 1}})


def test_two_stores_claim_one_plan_once(tmp_path):
    path = tmp_path / "state.db"
    stores = [Store(path) for _ in range(6)]
    _plan(stores[0])
    results: list[str | None] = []
    barrier = threading.Barrier(len(stores))

    def claim(store: Store) -> None:
        barrier.wait()
        results.append(store.claim_plan("p1", "me@here"))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(None) == 1
    assert all("already applying" in r for r in results if r)
    assert stores[1].get_plan("p1")["status"] == "applying"


def test_an_approval_is_bound_to_the_hash_single_use_and_expiring(tmp_path):
    store = Store(tmp_path / "state.db", clock=lambda: 100.0)
    _plan(store)
    assert "no valid approval" in store.claim_plan("p1", "x", approval_hash="sha256:h")
    store.approve_plan("p1", "sha256:other", "human@tty", expires_at=200.0)
    assert "no valid approval" in store.claim_plan("p1", "x", approval_hash="sha256:h")
    store.approve_plan("p1", "sha256:h", "human@tty", expires_at=50.0)  # already expired
    assert "no valid approval" in store.claim_plan("p1", "x", approval_hash="sha256:h")
    store.approve_plan("p1", "sha256:h", "human@tty", expires_at=200.0)
    assert store.claim_plan("p1", "x", approval_hash="sha256:h") is None
    assert store.approval("p1")["used_at"] == 100.0
    assert "already applying" in store.claim_plan("p1", "x", approval_hash="sha256:h")


def test_audit_entries_name_the_client(tmp_path):
    store = Store(tmp_path / "state.db")
    store.audit("mcp:status", None, "ok", "args 1234", client="claude-code 2.0")
    assert store.audit_log()[0]["client"] == "claude-code 2.0"
