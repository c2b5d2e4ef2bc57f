"""What every provider's release phase shares: the error a failing `[app] release_command`
raises and the words it uses, so the VPS (a one-off container), Kubernetes (a Job) and Fly (a
release_command machine) say the same thing: which release, which exit status, the last output
line, and which release keeps serving. Nothing heavy is imported here.
"""

from __future__ import annotations

import re

from cockpit.errors import ProviderError

RELEASE_TAIL = 30  # output lines a failed release command reports
STEP = "release_command"  # the journal's step id on every provider
HINT = ("fix the command ([app] release_command in cockpit.toml) or the app, then deploy "
        "again; its output is above")
# What SQLAlchemy says when the URL's scheme does not fit it, and the fix (the URL of a Postgres
# accessory takes its scheme from `url_scheme`: cockpit.accessories.url)
_URL_HINTS = (
    ("sqlalchemy.dialects:postgres",  # NoSuchModuleError: SQLAlchemy 1.4+ has no `postgres`
     "SQLAlchemy refuses the postgres:// scheme: "),
    ("No module named 'psycopg2'",  # postgresql:// picks psycopg2, which is not installed
     "postgresql:// makes SQLAlchemy load psycopg2, which the image does not have: "),
)
SCHEME_FIX = ('set url_scheme = "postgresql+psycopg" (psycopg 3), "postgresql+asyncpg" or '
              '"postgresql" (psycopg2) in the [accessories.<name>] table of the Postgres '
              "accessory in cockpit.toml (`cockpit scan --fix` writes it from the app's "
              "dependencies), then deploy again")


HEADLINE_LIMIT = 300  # characters of the output line quoted in the error's headline
# A line that says what went wrong: a Python/Ruby/JS exception (`django.db.utils.ProgrammingError:
# ...`, `psycopg2.errors.UndefinedTable: ...`, `ActiveRecord::StatementInvalid: ...`,
# `Error: P1001: ...`), a tool's `error:`/`fatal:`/`panic:` line, or a database's `ERROR:` /
# `FATAL:` anywhere in the line (psql prints `psql:file.sql:3: ERROR:  relation ...`).
_TELLING = re.compile(
    r"^(?:(?:[A-Za-z_]\w*(?:\.|::))*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt)"
    r"|(?:[A-Za-z_]\w*(?:\.|::))+[A-Z]\w*"
    r"|[Ee]rror|[Ff]atal|[Pp]anic)(?:\[\w+\])?:"
    r"|\b(?:ERROR|FATAL|PANIC):")
# Lines a tool prints after its error that say nothing about it (never the headline)
_FOOTERS = re.compile(
    r"^\(Background on this error at: |^\[SQL: |^\[parameters: |^\(See full trace by running"
    r"|^Tasks: TOP => |^Node\.js v\d|^npm ERR! A complete log of this run"
    r"|^npm ERR! +/\S+-debug(?:-\d+)?\.log$")


def headline(logs: list[str]) -> str:
    """The output line a failed command's error quotes: the last line that looks like an
    exception or error (`_TELLING`: `SomethingError: ...`, `Exception: ...`, `error: ...`,
    `ERROR: ...`, `FATAL: ...`, `fatal: ...`) that is not a known footer (`_FOOTERS`, such as
    SQLAlchemy's `(Background on this error at: https://sqlalche.me/...)`), else the last
    non-empty line that is not a footer, else the last non-empty line, else "no output".
    Stripped, and cut to HEADLINE_LIMIT characters (`logs` keeps it whole)."""
    lines = [line.strip() for line in logs if line.strip()]
    said = [line for line in lines if not _FOOTERS.search(line)]
    pick = next((line for line in reversed(said) if _TELLING.search(line)), None)
    pick = pick or (said[-1] if said else lines[-1] if lines else "no output")
    return pick if len(pick) <= HEADLINE_LIMIT else pick[:HEADLINE_LIMIT - 1] + "…"


def hint_for(logs: list[str]) -> str:
    """The hint of a failed release command from its output: the URL scheme fix when
    SQLAlchemy refused the accessory's URL (`NoSuchModuleError ... sqlalchemy.dialects:postgres`,
    or `No module named 'psycopg2'` under SQLAlchemy), else HINT."""
    text = "\n".join(logs)
    for needle, why in _URL_HINTS:
        if needle in text and "sqlalchemy" in text.lower():
            return why + SCHEME_FIX
    return HINT


class ReleaseCommandFailed(ProviderError):
    """The release command exited non-zero (or ran out of time): nothing of the new release
    was started; `logs` is its output tail (at most RELEASE_TAIL lines, redacted), `status`
    its exit status (None when it never exited, e.g. a deadline)."""

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None,
                 logs: list[str] | None = None, status: int | None = None) -> None:
        super().__init__(what, where=where, hint=hint)
        self.logs = logs or []
        self.status = status

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "logs": self.logs, "exit_status": self.status}


def failure(release_id: str, status: int | None, logs: list[str], previous_id: str | None, *,
            where: str, why: str | None = None) -> ReleaseCommandFailed:
    """The error for a failed release command of `release_id`: `status` the exit status (None
    with `why` when it never exited), `logs` its last output lines (the headline quotes the
    most telling one: `headline`), `previous_id` the release that keeps serving (None: nothing
    serves yet)."""
    serving = (f"release {previous_id} keeps serving" if previous_id
               else "nothing serves yet")
    last = headline(logs)
    how = f"exited with status {status}" if status is not None else (why or "failed")
    return ReleaseCommandFailed(
        f"the release command of release {release_id} {how} ({last}); the new release was "
        f"not started and {serving}", where=where, hint=hint_for(logs),
        logs=list(logs[-RELEASE_TAIL:]),
        status=status)
