"""Local state: a SQLite store per app under platformdirs' state dir ($COCKPIT_STATE_DIR wins).

It is a cache and a record, not the truth (the target is): the release cache, the step journal of
every mutating command (so an interrupted run can be reconciled), an append-only audit log
(who, what, when, result), and a small key/value table for providers. The schema is versioned
and migrated on open. Nothing here ever holds a secret value: every text passes the redactor.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.models import Release
from cockpit.redaction import redact, redact_any

SCHEMA_VERSION = 2

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE releases (
        env TEXT NOT NULL, id TEXT NOT NULL, created_at REAL NOT NULL,
        status TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (env, id));
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, env TEXT NOT NULL, command TEXT NOT NULL,
        started_at REAL NOT NULL, finished_at REAL, status TEXT NOT NULL DEFAULT 'running',
        plan TEXT, who TEXT NOT NULL, pid INTEGER);
    CREATE TABLE journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
        ts REAL NOT NULL, step TEXT NOT NULL, status TEXT NOT NULL, detail TEXT NOT NULL);
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, who TEXT NOT NULL,
        command TEXT NOT NULL, env TEXT, result TEXT NOT NULL, detail TEXT NOT NULL);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    2: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE INDEX journal_run ON journal(run_id, seq);
    CREATE INDEX runs_env ON runs(env, status);
    """,
}


def state_root() -> Path:
    override = os.environ.get("COCKPIT_STATE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_state_path("cockpit"))


def whoami() -> str:
    """Who acts: $COCKPIT_OPERATOR when set (a CI job names itself, e.g. "ci@run-4711"),
    else user@host. Recorded on releases, runs, locks and the audit log."""
    named = os.environ.get("COCKPIT_OPERATOR", "").strip()
    if named:
        return named
    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass
class Run:
    run_id: str
    env: str
    command: str
    started_at: float
    status: str
    who: str
    pid: int | None
    plan: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Store:
    def __init__(self, path: Path, clock: Callable[[], float] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.clock = clock or time.time
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        os.chmod(self.path, 0o600)
        self._migrate()

    @classmethod
    def open(cls, app: str, root: Path | None = None, clock=None) -> Store:
        return cls((root or state_root()) / app / "state.db", clock=clock)

    @property
    def dir(self) -> Path:
        return self.path.parent

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ schema

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                from cockpit.errors import CockpitError

                raise CockpitError(
                    f"state store {self.path} has schema v{version}, newer than this cockpit "
                    f"(v{SCHEMA_VERSION})", hint="upgrade cockpit",
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                try:
                    self._db.executescript(
                        f"BEGIN IMMEDIATE;{_MIGRATIONS[target]};PRAGMA user_version = {target};"
                        "COMMIT;"
                    )
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _exec(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    # ------------------------------------------------------------------ releases

    def save_release(self, release: Release) -> None:
        data = json.dumps(redact_any(release.to_dict()), sort_keys=True)
        self._exec(
            "INSERT INTO releases(env, id, created_at, status, data) VALUES (?,?,?,?,?) "
            "ON CONFLICT(env, id) DO UPDATE SET status=excluded.status, data=excluded.data",
            (release.env, release.id, release.created_at, release.status, data),
        )

    def get_release(self, env: str, release_id: str) -> Release | None:
        row = self._exec("SELECT data, status FROM releases WHERE env=? AND id=?",
                         (env, release_id)).fetchone()
        if row is None:
            return None
        release = Release.from_dict(json.loads(row["data"]))
        release.status = row["status"]
        return release

    def releases(self, env: str, limit: int = 50) -> list[Release]:
        rows = self._exec(
            "SELECT data, status FROM releases WHERE env=? ORDER BY created_at DESC, id DESC "
            "LIMIT ?", (env, limit),
        ).fetchall()
        out = []
        for row in rows:
            release = Release.from_dict(json.loads(row["data"]))
            release.status = row["status"]
            out.append(release)
        return out

    def set_release_status(self, env: str, release_id: str, status: str) -> None:
        self._exec("UPDATE releases SET status=? WHERE env=? AND id=?", (status, env, release_id))

    # ------------------------------------------------------------------ journal

    def begin_run(self, env: str, command: str, plan: dict[str, Any] | None = None) -> str:
        run_id = uuid.uuid4().hex[:12]
        self._exec(
            "INSERT INTO runs(run_id, env, command, started_at, plan, who, pid) "
            "VALUES (?,?,?,?,?,?,?)",
            (run_id, env, command, self.clock(),
             json.dumps(redact_any(plan)) if plan is not None else None, whoami(), os.getpid()),
        )
        return run_id

    def journal(self, run_id: str, step: str, status: str, detail: str = "") -> None:
        self._exec(
            "INSERT INTO journal(run_id, ts, step, status, detail) VALUES (?,?,?,?,?)",
            (run_id, self.clock(), step, status, redact(detail)),
        )

    def finish_run(self, run_id: str, status: str) -> None:
        self._exec("UPDATE runs SET status=?, finished_at=? WHERE run_id=?",
                   (status, self.clock(), run_id))

    def _run(self, row: sqlite3.Row) -> Run:
        steps = [
            dict(r) for r in self._exec(
                "SELECT ts, step, status, detail FROM journal WHERE run_id=? ORDER BY seq",
                (row["run_id"],),
            ).fetchall()
        ]
        return Run(row["run_id"], row["env"], row["command"], row["started_at"], row["status"],
                   row["who"], row["pid"], json.loads(row["plan"]) if row["plan"] else None, steps)

    def unfinished_runs(self, env: str) -> list[Run]:
        rows = self._exec(
            "SELECT * FROM runs WHERE env=? AND status='running' ORDER BY started_at",
            (env,)).fetchall()
        return [self._run(r) for r in rows]

    def runs(self, env: str | None = None, limit: int = 20) -> list[Run]:
        if env:
            rows = self._exec("SELECT * FROM runs WHERE env=? ORDER BY started_at DESC LIMIT ?",
                              (env, limit)).fetchall()
        else:
            rows = self._exec("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?",
                              (limit,)).fetchall()
        return [self._run(r) for r in rows]

    # ------------------------------------------------------------------ audit

    def audit(self, command: str, env: str | None, result: str, detail: str = "",
              who: str | None = None) -> None:
        self._exec(
            "INSERT INTO audit(ts, who, command, env, result, detail) VALUES (?,?,?,?,?,?)",
            (self.clock(), who or whoami(), redact(command), env, result, redact(detail)),
        )

    def audit_log(self, env: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if env:
            rows = self._exec("SELECT * FROM audit WHERE env=? ORDER BY seq DESC LIMIT ?",
                              (env, limit)).fetchall()
        else:
            rows = self._exec("SELECT * FROM audit ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ key/value

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._exec("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        self._exec("INSERT INTO meta(key, value) VALUES (?,?) "
                   "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                   (key, json.dumps(redact_any(value))))
