"""Deploy, promote and rollback, live: confirm what changes, then the checklist and the log.

Protected environments (prod) need their name typed before anything starts; the typed name is
passed to the pipeline as the confirmation, exactly like `--confirm prod` on the CLI. A rollback
onto another schema head shows the schema check (both heads, the migrations in between) and
needs its box ticked, which is passed on as `--accept-schema` is on the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cockpit.screens.base import CockpitScreen
from cockpit.screens.messages import RunFinished
from cockpit.screens.widgets.run_panel import RunPanel
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header

if TYPE_CHECKING:
    from cockpit.screens.app import CockpitApp

    from cockpit.models import Release


class RunScreen(CockpitScreen):
    TITLE = "Run"
    BINDINGS = [
        Binding("escape", "back", "Back", id="run.back", tooltip="only once the run has ended"),
        Binding("l", "logs", "Logs", id="run.logs", tooltip="live tail of the environment"),
    ]

    def __init__(self, action: str, env: str, *, src: str | None = None, to: str | None = None,
                 typed: str | None = None, accept_schema: bool = False,
                 name: str | None = None) -> None:
        super().__init__()
        self.action = action
        self.name_of = name  # the accessory of a backup
        self.env = env
        self.src = src
        self.to = to
        self.typed = typed
        self.accept_schema = accept_schema

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield RunPanel(id="run")
        yield Footer()

    @property
    def title_text(self) -> str:
        if self.action == "promote":
            return f"Promote {self.src} → {self.env}"
        if self.action == "rollback":
            return f"Roll back {self.env} to {self.to}"
        if self.action == "accessories":
            return f"Accessories of {self.env}"
        if self.action == "backup":
            return f"Back up {self.name_of} of {self.env}"
        if self.action == "restore":
            return f"Restore {self.name_of} of {self.env} from {self.to}"
        return f"Deploy {self.env}"

    def on_mount(self) -> None:
        self.sub_title = self.title_text
        session = self.session
        action, env, src, to, typed = self.action, self.env, self.src, self.to, self.typed
        accept_schema = self.accept_schema
        name = self.name_of

        def body(emit):
            if action == "accessories":
                return _accessories(session, env, emit)
            if action == "backup":
                return _backup(session, env, name, emit)
            if action == "restore":
                return _restore(session, env, name, to, emit, typed)
            if action == "promote":
                return session.promote(src, env, emit, typed=typed)
            if action == "rollback":
                return session.rollback(env, emit, to=to, typed=typed,
                                        accept_schema=accept_schema)
            return session.deploy(env, emit, typed=typed)

        done = {"accessories": f"read the accessories of {env}",
                "backup": f"backup of {name} ({env}) verified by a restore",
                "restore": f"{name} of {env} restored from backup {to}"}.get(action)
        worker = self.query_one(RunPanel).start(self.title_text, body, self.title_text,
                                                done_text=done)
        self.app.running = worker  # type: ignore[attr-defined]

    def on_run_finished(self, message: RunFinished) -> None:
        if message.error is None:
            self.notify(f"{self.title_text}: done", severity="information")

    def action_back(self) -> None:
        if self.query_one(RunPanel).running:
            self.notify("the run is still going; q stops it and quits", severity="warning")
            return
        self.app.pop_screen()

    def action_logs(self) -> None:
        self.app.open_logs(self.env)  # type: ignore[attr-defined]


def _accessories(session: Any, env: str, emit: Callable[[Any], None]) -> None:
    """`cockpit accessories status ENV` in the run's log: one line per accessory."""
    from cockpit.events import Message

    for a in session.accessories(env):
        where = f"URL from the keyring as {a['env_var']}" if a.get("external") else \
            f"{a.get('container', '')} volume {a.get('volume', '')}".strip()
        emit(Message(f"{a['name']}: {a['kind']} {a['state']} {a['health']} · {where}",
                     env=env))


def _backup(session: Any, env: str, name: str | None, emit: Callable[[Any], None]) -> Any:
    """`cockpit backup ENV NAME`: the record in the run's log; a backup that did not verify
    fails the run (the CLI exits 1)."""
    from cockpit.errors import ProviderError
    from cockpit.events import Message

    record = session.backup(env, name, emit)
    if not record.verified:
        raise ProviderError(f"backup {record.id} of {name} failed verification: "
                            f"{record.verify.get('error')}", where=str(record.file))
    tables = ", ".join(f"{k} {v}" for k, v in sorted(record.counts.items())) or "no tables"
    emit(Message(f"backup {record.id} ({record.size} bytes) verified by a restore: {tables}; "
                 f"{record.file}", env=env))
    return None


def _restore(session: Any, env: str, name: str | None, ref: str | None,
             emit: Callable[[Any], None], typed: str | None) -> None:
    """`cockpit restore ENV NAME --from REF`: where the data went, in the run's log."""
    from cockpit.events import Message

    done = session.restore(env, name, ref, emit, typed=typed)
    emit(Message(f"restored backup {done['backup']} into volume {done['volume']}; the "
                 f"previous volume {done['previous_volume']} is kept (cockpit accessories "
                 f"drop-volume {env} {name} --volume {done['previous_volume']} removes it)",
                 env=env))


def confirm_restore(app: CockpitApp, env_name: str, name: str) -> None:
    """Restore accessory `name` of `env_name` from its newest verified backup, once the
    person confirmed (a protected environment: its name typed)."""
    from cockpit.screens.widgets.confirmation import ConfirmChange

    from cockpit import accessories as core

    env = app.session.env(env_name)
    if core.in_cluster(env, env.accessories[name]):
        app.notify(f"restoring {name} in the cluster is not there yet; `cockpit backups "
                   f"{env_name} {name}` lists its verified backups in the backups claim",
                   severity="warning")
        return
    backup = app.session.newest_backup(env_name, name)
    if backup is None:
        app.notify(f"no verified backup of {name} in {env_name} on this machine yet; "
                   f"'Backup {env_name} {name}' makes one", severity="warning")
        return

    def go(typed: str | None) -> None:
        if typed is None:
            return
        app.push_screen(RunScreen("restore", env_name, name=name, to=backup.id,
                                  typed=typed or None))

    app.push_screen(ConfirmChange(
        f"Restore {name} of {env_name} from backup {backup.id}?",
        [("accessory", name, name), ("data", "what the volume holds now",
                                     f"backup {backup.id} ({backup.size} bytes)")],
        env_name, env.protected,
        ["The backup is restored into a fresh volume and the accessory switches to it; the "
         "volume in use now is kept until you drop it."]), go)


# --------------------------------------------------------------------------- confirmation


def confirm_then_run(app: CockpitApp, action: str, env_name: str, *, to: Release | None = None,
                     current: Release | None = None) -> None:
    from cockpit.screens.widgets.confirmation import ConfirmChange

    env = app.session.env(env_name)
    warnings: list[str] = []
    accept: str | None = None
    if action == "rollback" and to is not None:
        changes = rollback_changes(current, to)
        title = f"Roll back {env_name} to {to.id}?"
        notes = ["The release is served again through the health gate; the result goes to the "
                 "audit log."] + watch_notes(env, current.id if current else None)
        check = app.session.schema_check(env_name, to, current)
        changes += schema_rows(check, current, to)
        warnings = schema_warnings(check)
        if check.refuse:
            accept = "Accept this schema, roll back anyway (space · --accept-schema)"
    else:
        changes = [("environment", env_name, env_name),
                   ("release", current.id if current else "none", "a new build of the app")]
        title = f"Deploy to {env_name}?"
        notes = ["Builds the image, ships it, and switches traffic only after the health gate."
                 ] + watch_notes(env, current.id if current else None)

    confirm = ConfirmChange(title, changes, env_name, env.protected, notes, warnings=warnings,
                            accept=accept)

    def go(typed: str | None) -> None:
        if typed is None:
            return
        app.push_screen(RunScreen(action, env_name, to=to.id if to else None,
                                  typed=typed or None,
                                  accept_schema=bool(accept) and confirm.accepted))

    app.push_screen(confirm, go)


def schema_rows(check: Any, current: Release | None,
                target: Release) -> list[tuple[str, str, str]]:
    """The confirmation's "schema" row: the database's head now (`cockpit.schema.database_head`
    of the serving release) → the head `target` recorded; none for an app without migrations
    (`check.state` "none")."""
    from cockpit import schema

    if check.state == "none":
        return []
    return [("schema", schema.head_text(schema.database_head(current)),
             schema.head_text(target.meta.get("schema")))]


def schema_warnings(check: Any) -> list[str]:
    """What the confirmation says about the schema (`cockpit.schema.SchemaCheck`): for another
    head, the migrations in between and that a rollback undoes none; for a missing record, that
    it cannot tell. Nothing when the heads are the same or no migration tool is known."""
    if check.state == "differs":
        lines = []
        if check.newer:
            lines.append(f"⚠ {len(check.newer)} migration(s) applied since that release, which "
                         f"its code does not know: {', '.join(check.newer)}")
        if check.older:
            lines.append(f"⚠ {len(check.older)} migration(s) that release had and the serving "
                         f"one does not: {', '.join(check.older)}")
        if not lines:
            lines.append("⚠ the schema heads differ")
        return lines + ["A rollback does not undo migrations: the old code runs on this schema."]
    if check.state == "unknown":
        return [n.removeprefix("schema: ") for n in check.notes]
    return []


def watch_notes(env: Any, back_to: str | None) -> list[str]:
    """What the watch window after the switch will do, as a confirmation note; none when it is
    off (`seconds = 0`)."""
    from cockpit.watch import resolve_limits

    limits = resolve_limits(env, None)
    if limits.seconds <= 0:
        return []
    target = f"release {back_to}" if back_to else "the release serving now"
    return [f"Then a {limits.seconds:g} s watch window: more than {limits.max_5xx_ratio:.0%} "
            f"5xx, a slow p95 or a restart switches back to {target} (--no-watch on the "
            "command line skips it)."]


def rollback_changes(current: Release | None, target: Release) -> list[tuple[str, str, str]]:
    def short(value: str | None) -> str:
        if not value:
            return "-"
        return value.split(":", 1)[-1][:12]

    return [
        ("release", current.id if current else "none", target.id),
        ("image", short(current.digest) if current else "-", short(target.digest)),
        ("config", short(current.config_hash) if current else "-", short(target.config_hash)),
        ("secrets", short(current.secrets_digest) if current else "-",
         short(target.secrets_digest)),
    ]


def promote_changes(app: CockpitApp, src: str, dst: str) -> list[tuple[str, str, str]]:
    """What differs between two environments' configuration (values, not secrets)."""
    session = app.session
    a, b = session.env(src), session.env(dst)
    rows: list[tuple[str, str, str]] = [("image", f"{src}'s current release", "same digest")]
    a_settings, b_settings = a.settings.model_dump(), b.settings.model_dump()
    for key in sorted(set(a_settings) | set(b_settings)):
        if a_settings.get(key) != b_settings.get(key):
            rows.append((key, _show(a_settings.get(key)), _show(b_settings.get(key))))
    a_common = a.common.model_dump(exclude={"provider"})
    b_common = b.common.model_dump(exclude={"provider"})
    for key in sorted(set(a_common) | set(b_common)):
        if a_common.get(key) != b_common.get(key):
            rows.append((key, _show(a_common.get(key)), _show(b_common.get(key))))
    if sorted(a.secret_names) != sorted(b.secret_names):
        rows.append(("secret names", ", ".join(a.secret_names) or "-",
                     ", ".join(b.secret_names) or "-"))
    else:
        rows.append(("secret names", ", ".join(a.secret_names) or "-",
                     f"same names, {dst}'s values"))
    return rows


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return "-" if value is None else str(value)


def confirm_promote(app: CockpitApp, src: str, dst: str) -> None:
    from cockpit.screens.widgets.confirmation import ConfirmChange

    env = app.session.env(dst)

    def go(typed: str | None) -> None:
        if typed is None:
            return
        app.push_screen(RunScreen("promote", dst, src=src, typed=typed or None))

    app.push_screen(ConfirmChange(
        f"Promote {src} → {dst}?", promote_changes(app, src, dst), dst, env.protected,
        [f"Ships the exact image {src} serves (it must have passed its gate); no rebuild.",
         *watch_notes(env, None)]), go)


def confirm_protected(app: CockpitApp, envs: list[str], action: str,
                      changes: Callable[[str], str], go: Callable[[dict[str, str]], None]) -> None:
    """Before `action` (setup, domain) changes the protected environments among `envs`: one
    ConfirmChange each, saying what would change (`changes(env)`, the pipeline's own text) and
    taking the typed name; then `go({env: typed name})`. Cancelling any of them stops it all.
    Unprotected environments are not asked; the pipeline still checks every name."""
    from cockpit.screens.widgets.confirmation import ConfirmChange

    typed: dict[str, str] = {}
    pending = [env for env in envs if app.session.env(env).protected]

    def ask_next() -> None:
        if not pending:
            go(typed)
            return
        env = pending.pop(0)

        def answered(value: str | None) -> None:
            if value is None:
                return
            typed[env] = value
            ask_next()

        app.push_screen(ConfirmChange(f"{action} {env}?", [], env, True,
                                      [f"{action} would {changes(env)}."]), answered)

    ask_next()
