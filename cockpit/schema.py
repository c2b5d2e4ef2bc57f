"""Rollback knows the schema: each release records its schema head after its release command.

After a deploy's (or promote's) release command succeeded, the core asks the provider to run a
*probe* the same way it ran the release command (a one-off container of the new image with the
environment's secrets and network: `Provider.schema_head`) and records what the probe says in
`Release.meta["schema"]`, never a secret:

    {"tool": "django",  "head": {"app": "0003_x", ...}, "applied": ["app.0001_initial", ...]}
    {"tool": "alembic", "head": "abc123",              "applied": ["0a1b", "abc123"],
     "labels": {"abc123": "add tags"}}
    {"tool": "prisma",  "head": "20240102_add_tags",   "applied": ["20240101_init", ...]}

The tool is found in the release command's text (`manage.py migrate`, `flask db upgrade`,
`alembic upgrade`, `prisma migrate deploy`). A rollback compares the serving release's record
with the target's (`compare`): another head lists the migrations in between and is refused
(exit 5) unless `--accept-schema` is given; a missing record is said in the plan, never refused.
Pure functions: no I/O here (the provider runs the probe).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

TOOLS = ("django", "alembic", "prisma")
# Release.meta keys: "schema" is the head the release's own release command left; "schema_db"
# the database's head while it serves, when an accepted rollback put it on a newer schema
META_KEYS = ("schema", "schema_db")
MARK = "--- cockpit schema probe ---"  # separates the two parts of a probe's output
MAX_APPLIED = 500  # names kept per record (the newest)

_DJANGO = re.compile(r"(?P<pre>\S*(?:manage\.py|django-admin))\s+migrate\b.*$")
_FLASK = re.compile(r"(?P<pre>\S*flask\b.*?)\s+db\s+upgrade\b.*$")
_ALEMBIC = re.compile(r"(?P<pre>\S*alembic\b.*?)\s+upgrade\b.*$")
_PRISMA = re.compile(r"(?P<pre>\S*prisma)\s+migrate\s+deploy\b(?P<rest>.*)$")
_KEEP = re.compile(r"^(cd|export|\.|source)\s|^[A-Za-z_][A-Za-z0-9_]*=\S*$")


class SchemaProbeError(ValueError):
    """A probe's output could not be read as the tool's (the message says which tool and shows
    the first lines, which never hold secret values: they are migration listings)."""


@dataclass(frozen=True)
class Probe:
    """What to run in the one-off container: `command` (for `sh -c`) and the `tool` it asks."""

    tool: str  # django | alembic | prisma
    command: str


def detect(release_command: str | None) -> str | None:
    """The migration tool a release command runs: "django", "alembic" (Alembic or
    Flask-Migrate), "prisma", or None when it runs none of them."""
    probe = probe_for(release_command)
    return probe.tool if probe else None


def _segments(command: str) -> list[str]:
    return [s.strip() for s in re.split(r"\s*(?:&&|\|\||;|\n)\s*", command) if s.strip()]


def probe_for(release_command: str | None) -> Probe | None:
    """The read-only command that tells the schema head after `release_command` ran: the same
    program and options with `migrate` swapped for its listing (`showmigrations --plan`,
    `current` + `history`, `migrate status` + the migrations folder). Segments before it that
    set up the shell (`cd`, `export`, `VAR=...`) are kept; other commands are dropped. None when
    no known tool is in the command."""
    if not release_command:
        return None
    kept: list[str] = []
    for seg in _segments(release_command):
        m = _DJANGO.search(seg)
        if m:
            cmd = seg[:m.start()] + f"{m['pre']} showmigrations --plan"
            return Probe("django", " && ".join([*kept, cmd]))
        m = _FLASK.search(seg) or _ALEMBIC.search(seg)
        if m:
            base = seg[:m.start()] + m["pre"] + (" db" if m.re is _FLASK else "")
            cmd = f"{base} current && echo '{MARK}' && {base} history"
            return Probe("alembic", " && ".join([*kept, cmd]))
        m = _PRISMA.search(seg)
        if m:
            rest = m["rest"].strip()
            try:
                words = shlex.split(rest)
            except ValueError:
                words = rest.split()
            schema = "prisma/schema.prisma"
            for i, w in enumerate(words):
                if w == "--schema" and i + 1 < len(words):
                    schema = words[i + 1]
                elif w.startswith("--schema="):
                    schema = w.split("=", 1)[1]
            folder = posixpath.join(posixpath.dirname(schema) or ".", "migrations")
            cmd = (f"{seg[:m.start()]}{m['pre']} migrate status {rest}".rstrip()
                   + f"; echo '{MARK}'; ls -1 {shlex.quote(folder)}")
            return Probe("prisma", " && ".join([*kept, f"{{ {cmd}; }}"]) if kept else cmd)
        if _KEEP.match(seg):
            kept.append(seg)
    return None


# --------------------------------------------------------------------------- parsing


def _cap(names: list[str]) -> list[str]:
    return names[-MAX_APPLIED:]


def _sample(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()][:3]
    return " | ".join(lines)[:300] or "(no output)"


def parse_django(text: str) -> dict[str, Any]:
    """`manage.py showmigrations --plan` (lines `[X]  app.0001_initial`, `[ ]` not applied) or
    the per-app listing (`app` then ` [X] 0001_initial`) → {"tool": "django", "head":
    {app: last applied}, "applied": ["app.name", ...]} in the plan's order. Raises
    SchemaProbeError when no migration line is found."""
    applied: list[str] = []
    head: dict[str, str] = {}
    seen = False
    app: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        m = re.match(r"^\s*\[([ Xx-])\]\s+(\S+)", line)
        if m:
            seen = True
            name = m.group(2)
            if line.startswith(" ") and app is not None:
                label, mig = app, name  # the per-app listing
            elif "." in name:
                label, _, mig = name.partition(".")  # the plan: app.migration
            else:
                continue
            if m.group(1) in "Xx":
                applied.append(f"{label}.{mig}")
                head[label] = mig
            continue
        if line and not line.startswith(" ") and re.fullmatch(r"[A-Za-z_][\w]*", line):
            app = line  # the per-app listing's header
        elif line.strip() == "(no migrations)":
            seen = True
    if not seen:
        raise SchemaProbeError(f"django: no migration in the output of showmigrations: "
                               f"{_sample(text)}")
    return {"tool": "django", "head": head, "applied": _cap(applied)}


_HISTORY = re.compile(r"^(?P<down>\(.*?\)|\S+) -> (?P<up>[\w]+)(?: \([^)]*\))*, ?(?P<msg>.*)$")
_CURRENT = re.compile(r"^(?P<rev>[\w]+)(?: \((?:head|effective head|mergepoint|branchpoint)\))*$")


def parse_alembic(text: str) -> dict[str, Any]:
    """`alembic current` (or `flask db current`), the MARK line, then `alembic history` →
    {"tool": "alembic", "head": "rev" (several heads joined by ","; None on an empty
    database), "applied": [revisions from base to head], "labels": {rev: message}}.
    Raises SchemaProbeError when the current part has no revision line and the probe did not
    get past it (no MARK line): an empty current part before MARK is an empty database."""
    current_part, _, history_part = text.partition(MARK)
    revs: list[str] = []
    info = False
    for raw in current_part.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(("INFO", "DEBUG", "WARNING", "WARN ")) or line.startswith("["):
            info = True
            continue
        m = _CURRENT.match(line)
        if m:
            revs.append(m["rev"])
    if not revs and not info and MARK not in text:
        raise SchemaProbeError(f"alembic: no revision in the output of `current`: "
                               f"{_sample(current_part)}")
    parents: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for raw in history_part.splitlines():
        m = _HISTORY.match(raw.strip())
        if not m:
            continue
        down = m["down"].strip("()")
        parents[m["up"]] = [d.strip() for d in down.split(",")
                            if d.strip() and d.strip() != "<base>"]
        labels[m["up"]] = m["msg"].strip()
    order: list[str] = []
    seen: set[str] = set()

    def walk(rev: str) -> None:  # parents first: base → head
        stack = [(rev, False)]
        while stack:
            r, done = stack.pop()
            if done:
                order.append(r)
                continue
            if r in seen:
                continue
            seen.add(r)
            stack.append((r, True))
            for p in reversed(parents.get(r, [])):
                stack.append((p, False))

    for rev in revs:
        walk(rev)
    applied = _cap(order)
    return {"tool": "alembic", "head": ",".join(sorted(revs)) or None, "applied": applied,
            "labels": {r: labels[r] for r in applied if labels.get(r)}}


def parse_prisma(text: str) -> dict[str, Any]:
    """`prisma migrate status`, the MARK line, then the migrations folder's listing →
    {"tool": "prisma", "head": last applied folder (None when none), "applied": [...]}: the
    folders `migrate deploy` applied, less those status lists as not yet applied. Raises
    SchemaProbeError when the status part does not look like Prisma's."""
    status, _, listing = text.partition(MARK)
    if "migration" not in status.lower():
        raise SchemaProbeError(f"prisma: `migrate status` said nothing about migrations: "
                               f"{_sample(status)}")
    pending: set[str] = set()
    lines = status.splitlines()
    for i, line in enumerate(lines):
        if re.search(r"have not yet been applied", line):
            for nxt in lines[i + 1:]:
                if not nxt.strip():
                    if pending:
                        break
                    continue
                if " " in nxt.strip():
                    break
                pending.add(nxt.strip())
    names = sorted(n.strip() for n in listing.splitlines()
                   if n.strip() and not n.strip().endswith(".toml") and "/" not in n
                   and not n.startswith("ls:"))
    applied = [n for n in names if n not in pending]
    return {"tool": "prisma", "head": applied[-1] if applied else None,
            "applied": _cap(applied)}


PARSERS = {"django": parse_django, "alembic": parse_alembic, "prisma": parse_prisma}


def parse(tool: str, text: str) -> dict[str, Any]:
    """The record (see the module) from a probe's output for `tool`; SchemaProbeError when
    the output is not the tool's, ValueError for an unknown tool."""
    if tool not in PARSERS:
        raise ValueError(f"unknown migration tool {tool!r} (known: {', '.join(TOOLS)})")
    return PARSERS[tool](text)


# --------------------------------------------------------------------------- comparing


@dataclass
class SchemaCheck:
    """What serving `target` instead of `current` means for the schema.

    `state`: "same" (equal heads), "differs" (other heads: `refuse` is True and `newer` lists
    the migrations the database has that the target's code does not know, `older` those the
    target had that the current one does not), "unknown" (a release has no record: notes say
    so, never refused), "none" (no migration tool in either record)."""

    state: str
    notes: list[str] = field(default_factory=list)
    newer: list[str] = field(default_factory=list)
    older: list[str] = field(default_factory=list)

    @property
    def refuse(self) -> bool:
        return self.state == "differs"

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "notes": list(self.notes), "newer": list(self.newer),
                "older": list(self.older)}


def _names(rec: dict[str, Any]) -> list[str]:
    applied = rec.get("applied")
    if isinstance(applied, list):
        return [str(a) for a in applied]
    head = rec.get("head")
    if isinstance(head, dict):
        return [f"{k}.{v}" for k, v in sorted(head.items())]
    return [str(head)] if head else []


def _label(rec: dict[str, Any], name: str) -> str:
    label = (rec.get("labels") or {}).get(name)
    return f"{name} ({label})" if label else name


def head_text(rec: dict[str, Any] | None) -> str:
    """One line for a record's head: "django: app 0003_x, auth 0012_y", "alembic abc123"."""
    if not rec:
        return "not recorded"
    head = rec.get("head")
    if isinstance(head, dict):
        inner = ", ".join(f"{k} {v}" for k, v in sorted(head.items())) or "no migration applied"
        return f"{rec.get('tool')}: {inner}"
    return f"{rec.get('tool')} {head or '(no migration applied)'}"


def short(rec: dict[str, Any] | None) -> str:
    """A record's head in a table cell: the last applied migration ("notes.0002_note_pinned",
    an Alembic revision, a Prisma folder), "-" when not recorded; at most 32 characters."""
    if not rec:
        return "-"
    applied = rec.get("applied")
    text = str(applied[-1]) if isinstance(applied, list) and applied else head_text(rec)
    return text if len(text) <= 32 else text[:31] + "…"


def database_head(release: Any) -> dict[str, Any] | None:
    """The database's schema record while `release` serves: `meta["schema_db"]` (left by an
    accepted rollback onto it) or else its own `meta["schema"]`; None when not recorded."""
    if release is None:
        return None
    return release.meta.get("schema_db") or release.meta.get("schema") or None


def after_rollback(current: Any, target: Any) -> dict[str, Any]:
    """`target.meta` for serving it again: a rollback never undoes migrations, so the
    database keeps `current`'s head; recorded as `schema_db` when it is not target's own."""
    meta = {k: v for k, v in target.meta.items() if k != "schema_db"}
    db = database_head(current)
    own = meta.get("schema")
    if db and not (own and own.get("tool") == db.get("tool")
                   and own.get("head") == db.get("head")):
        meta["schema_db"] = db
    return meta


def compare(current: Any, target: Any) -> SchemaCheck:
    """Compare the database's schema record while the serving release (`current`) serves
    (`database_head`) with the head the rollback's `target` recorded (Release objects, or
    their schema record dicts, or None). Returns SchemaCheck with the plan's notes; the
    migrations in between are named from the two records."""
    cur = database_head(current) if hasattr(current, "meta") else current
    tgt = target.meta.get("schema") if hasattr(target, "meta") else target
    cur_id = getattr(current, "id", "the serving release")
    tgt_id = getattr(target, "id", "the target release")
    if current is None:
        return SchemaCheck("unknown", ["schema: nothing serves now; no schema to compare"])
    if not cur and not tgt:
        return SchemaCheck("none", [
            f"schema: no schema head recorded for release {cur_id} or {tgt_id} (no known "
            "migration tool in the release command, or recorded before this version): "
            "not checked"])
    if not cur or not tgt:
        which = cur_id if not cur else tgt_id
        return SchemaCheck("unknown", [
            f"schema: release {which} has no recorded schema head, so this rollback cannot "
            f"tell whether the schema differs (serving: {head_text(cur)}; target: "
            f"{head_text(tgt)}); check the migrations yourself"])
    if cur.get("tool") != tgt.get("tool"):
        return SchemaCheck("differs", [
            f"schema: release {cur_id} records {cur.get('tool')} migrations and release "
            f"{tgt_id} records {tgt.get('tool')}: the schema differs"],
            newer=_names(cur), older=_names(tgt))
    if cur.get("head") == tgt.get("head"):
        return SchemaCheck("same", [f"schema: unchanged ({head_text(cur)})"])
    cur_names, tgt_names = _names(cur), _names(tgt)
    newer = [_label(cur, n) for n in cur_names if n not in set(tgt_names)]
    older = [_label(tgt, n) for n in tgt_names if n not in set(cur_names)]
    if isinstance(cur.get("head"), dict) and not cur.get("applied"):
        ch, th = cur.get("head") or {}, tgt.get("head") or {}
        newer = [f"{a}: {th.get(a) or 'none'} → {ch.get(a) or 'none'}"
                 for a in sorted(set(ch) | set(th)) if ch.get(a) != th.get(a)]
        older = []
    notes = [f"schema: release {tgt_id} was recorded at {head_text(tgt)}; the database is at "
             f"{head_text(cur)} (serving release {cur_id})"]
    if newer:
        notes.append(f"schema: {len(newer)} migration(s) applied since release {tgt_id}, which "
                     f"its code does not know: {', '.join(newer)}")
    if older:
        notes.append(f"schema: {len(older)} migration(s) release {tgt_id} had that the "
                     f"serving release does not: {', '.join(older)}")
    return SchemaCheck("differs", notes, newer=newer, older=older)


def promotion(current: Any, release: Any, env: str) -> SchemaCheck:
    """What promoting `release` (a Release whose meta carries the head its release command left
    in the source environment) onto `env`, where `current` serves (None: nothing yet), means
    for env's schema. States: "pending" (`older` lists the migrations env's release command
    will apply), "same", "unknown" (a head is not recorded), "none" (no migration tool), and
    "differs" (`newer` lists migrations env's database has that the release's code does not
    know, e.g. a fix applied on prod only: refused like a rollback onto them). Heads without
    applied lists (a Django record from a probe without `--plan`) or histories at the
    MAX_APPLIED cap cannot say which side is ahead: listed, never refused."""
    db = database_head(current)
    rec = release.meta.get("schema") if hasattr(release, "meta") else release
    rid = getattr(release, "id", "the release")
    if not db and not rec:
        return SchemaCheck("none")
    if current is None:
        return SchemaCheck("unknown", [f"schema: nothing serves {env} yet; its release "
                                       f"command brings the database to {head_text(rec)}"])
    if not db or not rec:
        return SchemaCheck("unknown", [
            f"schema: {env}'s database head ({head_text(db)}) or release {rid}'s "
            f"({head_text(rec)}) is not recorded: which migrations it applies is not known"])
    if db.get("tool") == rec.get("tool") and db.get("head") == rec.get("head"):
        return SchemaCheck("same", [f"schema: {env} is at {head_text(db)} already: the release "
                                    "command applies no migration"])
    rec_names, db_names = _names(rec), _names(db)
    pending = [_label(rec, n) for n in rec_names if n not in set(db_names)]
    unknown = [_label(db, n) for n in db_names if n not in set(rec_names)]
    notes = [f"schema: {env} is at {head_text(db)}; release {rid} was migrated to "
             f"{head_text(rec)}"]
    if pending:
        notes.append(f"schema: the release command will apply {len(pending)} migration(s) on "
                     f"{env}: {', '.join(pending)}")
    comparable = (db.get("tool") == rec.get("tool") and bool(db.get("applied"))
                  and bool(rec.get("applied"))
                  and max(len(db_names), len(rec_names)) < MAX_APPLIED)
    if unknown and comparable:
        notes.append(f"schema: {env}'s database has {len(unknown)} migration(s) release {rid} "
                     f"does not know: {', '.join(unknown)}")
        return SchemaCheck("differs", notes, newer=unknown, older=pending)
    return SchemaCheck("pending", notes, older=pending)


def promotion_refusal(check: SchemaCheck, env: str, release_id: str) -> str:
    """The one-line reason a promote onto a database that is ahead is refused (exit 5)."""
    return (f"promote of release {release_id} to {env!r} refused: {env}'s database has "
            f"migrations its code does not know ({', '.join(check.newer)}); its release "
            "command will not undo them")


def refusal(check: SchemaCheck, env: str, target_id: str) -> str:
    """The one-line reason a rollback onto another schema is refused (exit 5)."""
    between = ", ".join(check.newer or check.older) or "the heads differ"
    return (f"rollback of {env!r} to release {target_id} refused: the schema moved on since "
            f"that release ({between}); its code may not work on this schema, and rolling back "
            f"does not undo migrations")
