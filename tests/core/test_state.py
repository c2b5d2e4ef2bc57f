"""The local store: versioned schema, release cache, journal, append-only audit, no secrets."""

from __future__ import annotations

import sqlite3

import pytest

from cockpit.models import Release
from cockpit.redaction import MASK, REDACTOR
from cockpit.state import SCHEMA_VERSION, Store


def release(rid: str, at: float, status: str = "healthy") -> Release:
    return Release(id=rid, app="hello", env="staging", image="img", digest="sha256:" + "a" * 64,
                   config_hash="sha256:c", created_at=at, status=status)


def test_schema_is_created_at_the_current_version(tmp_path):
    store = Store.open("hello", tmp_path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.path == tmp_path / "hello" / "state.db"
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"


def test_an_old_schema_is_migrated_on_open(tmp_path):
    path = tmp_path / "hello" / "state.db"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE releases (env TEXT NOT NULL, id TEXT NOT NULL, created_at REAL NOT NULL,"
        " status TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (env, id));"
        "CREATE TABLE runs (run_id TEXT PRIMARY KEY, env TEXT NOT NULL, command TEXT NOT NULL,"
        " started_at REAL NOT NULL, finished_at REAL, status TEXT NOT NULL DEFAULT 'running',"
        " plan TEXT, who TEXT NOT NULL, pid INTEGER);"
        "CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL,"
        " ts REAL NOT NULL, step TEXT NOT NULL, status TEXT NOT NULL, detail TEXT NOT NULL);"
        "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL,"
        " who TEXT NOT NULL, command TEXT NOT NULL, env TEXT, result TEXT NOT NULL,"
        " detail TEXT NOT NULL);"
        "INSERT INTO audit(ts, who, command, env, result, detail) "
        " VALUES (1, 'me', 'deploy', 'staging', 'ok', 'kept');"
        "PRAGMA user_version = 1;"
    )
    db.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.audit_log()[0]["detail"] == "kept"
    store.set_meta("k", {"v": 1})
    assert store.get_meta("k") == {"v": 1}


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(Exception, match="newer than this cockpit"):
        Store(path)


def test_releases_newest_first_and_status_updates(tmp_path):
    store = Store.open("hello", tmp_path)
    store.save_release(release("r1", 1.0))
    store.save_release(release("r2", 2.0, "pending"))
    store.set_release_status("staging", "r2", "failed")
    assert [r.id for r in store.releases("staging")] == ["r2", "r1"]
    assert store.get_release("staging", "r2").status == "failed"
    assert store.get_release("staging", "nope") is None


def test_journal_keeps_unfinished_runs_until_finished(tmp_path):
    store = Store.open("hello", tmp_path)
    run = store.begin_run("staging", "deploy", {"steps": ["a"]})
    store.journal(run, "lock", "started", "taking the lock")
    store.journal(run, "lock", "finished")
    (unfinished,) = store.unfinished_runs("staging")
    assert unfinished.plan == {"steps": ["a"]}
    assert [(s["step"], s["status"]) for s in unfinished.steps] == [
        ("lock", "started"), ("lock", "finished")]
    store.finish_run(run, "ok")
    assert store.unfinished_runs("staging") == []


def test_audit_log_is_append_only(tmp_path):
    store = Store.open("hello", tmp_path)
    store.audit("deploy", "staging", "ok", "release r1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store._exec("UPDATE audit SET result='changed'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store._exec("DELETE FROM audit")
    (entry,) = store.audit_log("staging")
    assert entry["command"] == "deploy" and entry["result"] == "ok" and "@" in entry["who"]


def test_known_secret_values_never_reach_the_store(tmp_path):
    secret = "hunter2-very-secret"
    REDACTOR.add(secret)
    try:
        store = Store.open("hello", tmp_path)
        run = store.begin_run("staging", "deploy", {"note": f"with {secret}"})
        store.journal(run, "env", "failed", f"remote said {secret}")
        store.audit("deploy", "staging", "failed", f"stderr: {secret}")
        store.set_meta("x", secret)
        r = release("r1", 1.0)
        r.meta = {"echo": secret}
        store.save_release(r)
        store.close()
        for file in (tmp_path / "hello").iterdir():
            assert secret.encode() not in file.read_bytes(), file
        store = Store.open("hello", tmp_path)
        assert MASK in store.audit_log()[0]["detail"]
    finally:
        REDACTOR.clear()


def test_the_operator_is_user_at_host_unless_a_ci_job_names_itself(monkeypatch):
    import socket

    from cockpit.state import whoami

    monkeypatch.delenv("COCKPIT_OPERATOR", raising=False)
    assert whoami().endswith("@" + socket.gethostname())
    monkeypatch.setenv("COCKPIT_OPERATOR", "ci@run-4711")
    assert whoami() == "ci@run-4711"
    monkeypatch.setenv("COCKPIT_OPERATOR", "  ")
    assert whoami().endswith("@" + socket.gethostname())
