"""The cockpit TUI: a thin App that owns the session, the keys every screen shares, the command
palette, the one handler for worker failures, and quitting safely mid-run.

`cockpit` with no arguments calls `run()`; nothing outside this package imports textual.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.screens.commands import CockpitCommands
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from cockpit.session import Session

if TYPE_CHECKING:
    from textual.screen import Screen

FIRST_FRAME_ENV = "COCKPIT_TUI_FIRST_FRAME"  # a file to write {t, heavy} to at the first frame
HEAVY_MODULES = ("kubernetes", "docker", "paramiko", "mcp", "apprise", "boto3", "minio")


class CockpitApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "cockpit"
    COMMANDS = App.COMMANDS | {CockpitCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help", tooltip="every key of this screen"),
        Binding("colon", "command_palette", "Commands", key_display=": ^p", id="app.palette",
                tooltip="deploy, promote, rollback, logs, switch environment, theme"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="asks first while a run is going"),
    ]

    def __init__(self, session: Session, *, wizard: bool = False, poll_interval: float = 5.0,
                 wizard_root: Path | None = None) -> None:
        super().__init__()
        self.session = session
        session.ask = self.ask_from_thread
        self.want_wizard = wizard
        self.poll_interval = poll_interval
        self.wizard_root = wizard_root
        self.current_env: str | None = None
        self.running: Worker | None = None  # the mutating run in progress, if any
        self._quitting = False

    # ------------------------------------------------------------------ start

    @property
    def configured(self) -> bool:
        return not self.want_wizard and self.session.configured

    def get_default_screen(self) -> Screen:
        """The dashboard once configured, else the wizard: the first screen is the real one
        (no blank default screen composed and resized first)."""
        if self.configured:
            from cockpit.errors import CockpitError

            try:
                self.session.peek()
            except CockpitError as exc:
                from cockpit.screens.widgets.error import BrokenConfigScreen

                return BrokenConfigScreen(exc)
            return self._dashboard()
        from cockpit.screens.wizard import WizardScreen

        self.want_wizard = True
        return WizardScreen(self.wizard_root or self._default_root())

    def on_mount(self) -> None:
        if os.environ.get(FIRST_FRAME_ENV):
            self.call_after_refresh(self._first_frame)

    def _first_frame(self) -> None:
        """bench/startup.py: note when the first frame is on screen (and what was imported by
        then), then leave."""
        import json
        import sys
        import time

        heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY_MODULES)
        Path(os.environ[FIRST_FRAME_ENV]).write_text(json.dumps(
            {"t": time.time(), "heavy": heavy, "screen": type(self.screen).__name__}))
        self.exit(0)

    def _default_root(self) -> Path:
        path = self.session.config_path
        if path is None:
            return Path.cwd()
        return path if path.is_dir() else path.parent

    def wizard_done(self) -> None:
        """The wizard wrote cockpit.toml: reload and show the dashboard."""
        self.want_wizard = False
        self.session.reload()
        # The wizard is the app's default screen (it cannot be switched away): stack on it.
        self.push_screen(self._dashboard())

    def _dashboard(self) -> Screen:
        from cockpit.screens.dashboard import DashboardScreen

        return DashboardScreen(poll_interval=self.poll_interval)

    # ------------------------------------------------------------------ navigation

    def open_dashboard(self) -> None:
        from cockpit.screens.dashboard import DashboardScreen

        while len(self.screen_stack) > 1 and not isinstance(self.screen, DashboardScreen):
            self.pop_screen()
        if not isinstance(self.screen, DashboardScreen):
            self.push_screen(self._dashboard())

    def switch_env(self, env: str) -> None:
        self.current_env = env
        handler = getattr(self.screen, "show_env", None)
        if handler is not None:
            handler(env)
        self.notify(f"environment: {env}", timeout=2)

    def open_logs(self, env: str) -> None:
        from cockpit.screens.logs import LogsScreen

        self.current_env = env
        self.push_screen(LogsScreen(env))

    def open_releases(self, env: str) -> None:
        from cockpit.screens.releases import ReleasesScreen

        self.current_env = env
        self.push_screen(ReleasesScreen(env))

    def start_deploy(self, env: str) -> None:
        from cockpit.screens.run import confirm_then_run

        confirm_then_run(self, "deploy", env)

    def show_accessories(self, env: str) -> None:
        from cockpit.screens.run import RunScreen

        self.push_screen(RunScreen("accessories", env))

    def start_backup(self, env: str, name: str) -> None:
        from cockpit.screens.run import RunScreen

        self.push_screen(RunScreen("backup", env, name=name))

    def start_restore(self, env: str, name: str) -> None:
        from cockpit.screens.run import confirm_restore

        confirm_restore(self, env, name)

    def start_promote(self, src: str, dst: str) -> None:
        from cockpit.screens.run import confirm_promote

        confirm_promote(self, src, dst)

    def ask_from_thread(self, question: str) -> bool:
        """A yes/no asked by the core from a worker thread (e.g. trust this SSH host key?)."""
        import threading

        from cockpit.screens.widgets.confirmation import Confirm

        done = threading.Event()
        answer = [False]

        def answered(yes: bool | None) -> None:
            answer[0] = bool(yes)
            done.set()

        self.call_from_thread(lambda: self.push_screen(Confirm(question), answered))
        done.wait(600)
        return answer[0]

    # ------------------------------------------------------------------ keys

    def action_help(self) -> None:
        from cockpit.screens.widgets.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        if self.running is None or self.running.is_finished:
            self.exit(0)
            return
        from cockpit.screens.widgets.confirmation import Confirm

        def answer(yes: bool | None) -> None:
            if yes:
                self._stop_then_exit()

        self.push_screen(Confirm(
            f"{self.running.description or 'A run'} is in progress.\n"
            "Quit? It stops at the next step and is recorded as interrupted.",
            yes="Stop and quit", no="Keep going"), answer)

    def _stop_then_exit(self) -> None:
        self._quitting = True
        self.session.cancel.set()
        self.notify("stopping at the next step…", timeout=10)
        waited = [0.0]

        def check() -> None:
            waited[0] += 0.1
            if self.running is None or self.running.is_finished or waited[0] > 30:
                self.session.close_open_runs()
                self.exit(130, return_code=130)

        self.set_interval(0.1, check)

    # ------------------------------------------------------------------ failures

    def worker_failed(self, worker: Worker) -> None:
        """The one place a failed worker becomes a notification and an error panel."""
        from cockpit.screens.widgets.error import ErrorScreen, summary

        error = worker.error
        if error is None or self._quitting:
            return
        title = worker.description or worker.name or "background work"
        self.notify(summary(error), title=f"{title} failed", severity="error", timeout=8)
        self.push_screen(ErrorScreen(f"{title} failed", error))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.worker_failed(event.worker)


def run(config_path: Path | None, *, interactive_init: bool = False) -> int:
    """Open the TUI: the wizard without a cockpit.toml (or when asked), else the dashboard."""
    session = Session(config_path)
    app = CockpitApp(session, wizard=interactive_init)
    result = app.run(headless=bool(os.environ.get(FIRST_FRAME_ENV)))
    return int(result or app.return_code or 0)
