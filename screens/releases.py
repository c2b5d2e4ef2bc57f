"""Release history of an environment; select one and press `r` to roll back to it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cockpit.screens.base import CockpitScreen, env_bindings
from cockpit.screens.widgets.env_panel import age
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

STATUS_STYLE = {"healthy": "green", "failed": "red", "rolled_back": "yellow",
                "superseded": "dim", "pending": "yellow"}


@dataclass
class ReleasesLoaded(Message):
    env: str
    releases: list[Any]
    current: Any


class ReleasesScreen(CockpitScreen):
    TITLE = "Releases"
    BINDINGS = [
        Binding("escape", "back", "Back", id="releases.back"),
        Binding("r", "rollback", "Roll back", id="releases.rollback",
                tooltip="serve the selected release again"),
        Binding("l", "logs", "Logs", id="releases.logs"),
        Binding("ctrl+r", "reload", "Reload", id="releases.reload"),
        *env_bindings(),
    ]

    def __init__(self, env: str) -> None:
        super().__init__()
        self.env = env
        self.releases: list[Any] = []
        self.current: Any = None

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Static("", id="status")
        table: DataTable = DataTable(id="releases-table", cursor_type="row", zebra_stripes=True)
        table.add_column("", key="mark", width=1)
        table.add_column("release", key="id")
        table.add_column("time (UTC)", key="time")
        table.add_column("age", key="age")
        table.add_column("image", key="digest")
        table.add_column("who", key="who")
        table.add_column("status", key="status")
        table.add_column("from", key="from")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.env}"
        self.query_one(DataTable).focus()
        self.load()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.load()

    def load(self) -> None:
        session, env = self.session, self.env
        self.query_one("#status", Static).update(Text(f"{env} · reading live state…", "dim"))

        def fetch() -> None:
            from cockpit import pipeline

            try:
                live = pipeline.live(session.ctx, env)
            except ImportError:  # pragma: no cover - the pipeline is part of the core
                live = session.live(env)
            self.post_message(ReleasesLoaded(env, session.releases(env, live), live.current))

        self.run_worker(fetch, thread=True, exclusive=True, exit_on_error=False, group="releases",
                        name=f"releases:{env}", description=f"release history of {env}")

    def on_releases_loaded(self, message: ReleasesLoaded) -> None:
        if message.env != self.env:
            return
        self.releases, self.current = message.releases, message.current
        table = self.query_one(DataTable)
        now = self.session.now()
        with self.app.batch_update():
            table.clear()
            for release in message.releases:
                is_current = self.current is not None and release.id == self.current.id
                table.add_row(
                    Text("▶", style="bold green") if is_current else "",
                    Text(release.id, style="bold" if is_current else ""),
                    time.strftime("%Y-%m-%d %H:%M", time.gmtime(release.created_at)),
                    age(now - release.created_at),
                    release.short_digest or "-",
                    release.created_by or "-",
                    Text(release.status, style=STATUS_STYLE.get(release.status, "")),
                    release.promoted_from or "",
                    key=release.id,
                )
        count = len(message.releases)
        serving = self.current.id if self.current else "nothing"
        self.query_one("#status", Static).update(Text.assemble(
            (self.env, "bold"), (" · ", "dim"), f"{count} releases", (" · serving ", "dim"),
            (serving, "bold green"), (" · select one and press r to roll back", "dim")))

    def selected(self) -> Any:
        table = self.query_one(DataTable)
        if not self.releases or table.cursor_row < 0:
            return None
        row_key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key
        return next((r for r in self.releases if r.id == row_key.value), None)

    def action_rollback(self) -> None:
        from cockpit.screens.run import confirm_then_run

        target = self.selected()
        if target is None:
            self.notify("no release selected", severity="warning")
            return
        if self.current is not None and target.id == self.current.id:
            self.notify(f"{target.id} already serves {self.env}", severity="warning")
            return
        confirm_then_run(self.app, "rollback", self.env, to=target,  # type: ignore[arg-type]
                         current=self.current)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_logs(self) -> None:
        self.app.open_logs(self.env)  # type: ignore[attr-defined]

    def action_reload(self) -> None:
        self.load()

    def action_switch_env(self, number: int) -> None:
        env = self.env_for_number(number)
        if env and env != self.env:
            self.env = env
            self.sub_title = env
            self.load()

    def show_env(self, env: str) -> None:
        self.env = env
        self.sub_title = env
        self.load()
