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

SCHEMA_VERSION = 4

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
    3: """
    CREATE TABLE samples (
        env TEXT NOT NULL, ts REAL NOT NULL, ok INTEGER NOT NULL, status INTEGER,
        latency_ms REAL, error TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT 'watch');
    CREATE INDEX samples_env_ts ON samples(env, ts);
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY AUTOINCREMENT, env TEXT NOT NULL, kind TEXT NOT NULL,
        opened_at REAL NOT NULL, last_alert_at REAL, alerts INTEGER NOT NULL DEFAULT 0,
        resolved_at REAL, summary TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '{}');
    CREATE INDEX incidents_env ON incidents(env, resolved_at);
    """,
    4: """
    CREATE TABLE plans (
        plan_id TEXT PRIMARY KEY, env TEXT NOT NULL, action TEXT NOT NULL,
        created_at REAL NOT NULL, expires_at REAL NOT NULL, created_by TEXT NOT NULL,
        client TEXT, fingerprint TEXT NOT NULL, plan_hash TEXT NOT NULL, data TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'planned', applied_at REAL, applied_by TEXT,
        outcome TEXT NOT NULL DEFAULT '');
    CREATE INDEX plans_env ON plans(env, created_at);
    CREATE TABLE approvals (
        plan_id TEXT PRIMARY KEY REFERENCES plans(plan_id), plan_hash TEXT NOT NULL,
        approved_by TEXT NOT NULL, approved_at REAL NOT NULL, expires_at REAL NOT NULL,
        used_at REAL);
    ALTER TABLE audit ADD COLUMN client TEXT;
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
              who: str | None = None, client: str | None = None) -> None:
        """Append one entry; `client` names an agent's MCP client ("claude-ai 1.2")."""
        self._exec(
            "INSERT INTO audit(ts, who, command, env, result, detail, client) "
            "VALUES (?,?,?,?,?,?,?)",
            (self.clock(), who or whoami(), redact(command), env, result, redact(detail),
             redact(client) if client else None),
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

    # ------------------------------------------------------------------ health samples, incidents

    def add_sample(self, env: str, ok: bool, status: int | None, latency_ms: float | None,
                   error: str = "", source: str = "watch", ts: float | None = None) -> None:
        """One health probe of `env` (`latency_ms` in milliseconds; `ts` epoch seconds, default
        the store's clock). `source`: who probed ("watch", "dashboard")."""
        self._exec("INSERT INTO samples(env, ts, ok, status, latency_ms, error, source) "
                   "VALUES (?,?,?,?,?,?,?)",
                   (env, self.clock() if ts is None else ts, int(bool(ok)), status, latency_ms,
                    redact(error or "")[:300], source))

    def samples(self, env: str, since: float | None = None,
                limit: int = 20000) -> list[dict[str, Any]]:
        """Samples of `env` taken at or after `since` (epoch s), oldest first: dicts with ts,
        ok (bool), status, latency_ms, error, source."""
        rows = self._exec(
            "SELECT ts, ok, status, latency_ms, error, source FROM samples WHERE env=? AND ts>=? "
            "ORDER BY ts DESC LIMIT ?", (env, since or 0.0, limit)).fetchall()
        return [dict(r) | {"ok": bool(r["ok"])} for r in reversed(rows)]

    def sample_counts(self, env: str, since: float) -> tuple[int, int]:
        """(samples, ok samples) of `env` taken at or after `since` (epoch s), counted in
        SQLite (a week of dashboard samples is too many to read back)."""
        row = self._exec("SELECT count(*) AS n, coalesce(sum(ok), 0) AS good FROM samples "
                         "WHERE env=? AND ts>=?", (env, since)).fetchone()
        return int(row["n"]), int(row["good"])

    def last_sample(self, env: str) -> dict[str, Any] | None:
        row = self._exec("SELECT ts, ok, status, latency_ms, error, source FROM samples "
                         "WHERE env=? ORDER BY ts DESC LIMIT 1", (env,)).fetchone()
        return dict(row) | {"ok": bool(row["ok"])} if row else None

    def prune_samples(self, before: float) -> int:
        """Delete samples older than `before` (epoch s); returns how many."""
        return self._exec("DELETE FROM samples WHERE ts<?", (before,)).rowcount

    def open_incident(self, env: str, kind: str, summary: str,
                      detail: dict[str, Any] | None = None, at: float | None = None) -> int:
        """Record a new open incident; returns its id."""
        cur = self._exec(
            "INSERT INTO incidents(env, kind, opened_at, summary, detail) VALUES (?,?,?,?,?)",
            (env, kind, self.clock() if at is None else at, redact(summary),
             json.dumps(redact_any(detail or {}), sort_keys=True)))
        return int(cur.lastrowid)

    def update_incident(self, incident_id: int, *, summary: str | None = None,
                        detail: dict[str, Any] | None = None, alerted_at: float | None = None,
                        resolved_at: float | None = None) -> None:
        """Change an incident: a new summary/detail, one more alert sent at `alerted_at`, or
        resolved at `resolved_at` (epoch s)."""
        if summary is not None:
            self._exec("UPDATE incidents SET summary=? WHERE id=?", (redact(summary), incident_id))
        if detail is not None:
            self._exec("UPDATE incidents SET detail=? WHERE id=?",
                       (json.dumps(redact_any(detail), sort_keys=True), incident_id))
        if alerted_at is not None:
            self._exec("UPDATE incidents SET last_alert_at=?, alerts=alerts+1 WHERE id=?",
                       (alerted_at, incident_id))
        if resolved_at is not None:
            self._exec("UPDATE incidents SET resolved_at=? WHERE id=?",
                       (resolved_at, incident_id))

    def incidents(self, env: str | None = None, *, open_only: bool = False,
                  since: float | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Incidents, newest first: dicts with id, env, kind, opened_at, last_alert_at, alerts,
        resolved_at (None while open), summary, detail (a dict). `since`: those open at any
        time after it (epoch s)."""
        where, args = ["1=1"], []
        if env:
            where.append("env=?")
            args.append(env)
        if open_only:
            where.append("resolved_at IS NULL")
        if since is not None:
            where.append("(resolved_at IS NULL OR resolved_at>=?)")
            args.append(since)
        rows = self._exec(f"SELECT * FROM incidents WHERE {' AND '.join(where)} "
                          "ORDER BY opened_at DESC, id DESC LIMIT ?", (*args, limit)).fetchall()
        return [dict(r) | {"detail": json.loads(r["detail"] or "{}")} for r in rows]

    # ------------------------------------------------------------------ plans and approvals

    def save_plan(self, row: dict[str, Any]) -> None:
        """Insert a saved plan (`cockpit.plans.SavedPlan.row()`); its data is redacted JSON."""
        self._exec(
            "INSERT INTO plans(plan_id, env, action, created_at, expires_at, created_by, client,"
            " fingerprint, plan_hash, data) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (row["plan_id"], row["env"], row["action"], row["created_at"], row["expires_at"],
             row["created_by"], row.get("client"), row["fingerprint"], row["plan_hash"],
             json.dumps(redact_any(row["data"]), sort_keys=True)),
        )

    def get_plan(self, plan_id: str) -> dict[str, Any] | None:
        """The plans row as a dict (`data` decoded from JSON), or None."""
        row = self._exec("SELECT * FROM plans WHERE plan_id=?", (plan_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["data"] = json.loads(out["data"])
        return out

    def plans(self, env: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Saved plans, newest first, each with its approval (or None)."""
        where, args = ("WHERE env=?", (env,)) if env else ("", ())
        rows = self._exec(f"SELECT plan_id FROM plans {where} ORDER BY created_at DESC LIMIT ?",
                          (*args, limit)).fetchall()
        found = [self.get_plan(r["plan_id"]) for r in rows]
        return [p | {"approval": self.approval(p["plan_id"])} for p in found if p]

    def claim_plan(self, plan_id: str, who: str, approval_hash: str | None = None) -> str | None:
        """Mark a planned plan 'applying' in one IMMEDIATE transaction, consuming its approval
        when `approval_hash` is given (it must match, be unused and unexpired). Of two
        processes claiming at once exactly one gets None; the other gets the reason."""
        now = self.clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            reason = None
            try:
                row = self._db.execute("SELECT status FROM plans WHERE plan_id=?",
                                       (plan_id,)).fetchone()
                if row is None:
                    reason = "no such plan"
                elif row["status"] != "planned":
                    reason = f"the plan was already {row['status']}"
                elif approval_hash is not None and self._db.execute(
                        "UPDATE approvals SET used_at=? WHERE plan_id=? AND plan_hash=? "
                        "AND used_at IS NULL AND expires_at>?",
                        (now, plan_id, approval_hash, now)).rowcount != 1:
                    reason = "no valid approval (missing, used, expired or for another plan)"
                else:
                    self._db.execute("UPDATE plans SET status='applying', applied_at=?, "
                                     "applied_by=? WHERE plan_id=? AND status='planned'",
                                     (now, who, plan_id))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("ROLLBACK" if reason else "COMMIT")
            return reason

    def finish_plan(self, plan_id: str, status: str, outcome: str = "") -> None:
        """'applied' or 'failed' after a claimed run, with a one-line outcome."""
        self._exec("UPDATE plans SET status=?, outcome=? WHERE plan_id=?",
                   (status, redact(outcome), plan_id))

    def approve_plan(self, plan_id: str, plan_hash: str, who: str, expires_at: float) -> None:
        """Record a human's approval of this exact plan (its hash); a second one replaces an
        unused first one. Raises sqlite3.IntegrityError for an unknown plan."""
        self._exec(
            "INSERT INTO approvals(plan_id, plan_hash, approved_by, approved_at, expires_at) "
            "VALUES (?,?,?,?,?) ON CONFLICT(plan_id) DO UPDATE SET plan_hash=excluded.plan_hash,"
            " approved_by=excluded.approved_by, approved_at=excluded.approved_at,"
            " expires_at=excluded.expires_at WHERE approvals.used_at IS NULL",
            (plan_id, plan_hash, who, self.clock(), expires_at))

    def approval(self, plan_id: str) -> dict[str, Any] | None:
        """{plan_id, plan_hash, approved_by, approved_at, expires_at, used_at} or None."""
        row = self._exec("SELECT * FROM approvals WHERE plan_id=?", (plan_id,)).fetchone()
        return dict(row) if row else None
