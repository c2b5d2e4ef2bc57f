"""Live tail of an environment: every instance, prefixed; filter, pause, follow, wrap,
timestamps, save. A thread reads the provider's stream into a `LinePump`; a 50 ms timer moves
whatever arrived into the widget in one batch, so input stays responsive at any rate."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from cockpit.screens.base import CockpitScreen, env_bindings
from cockpit.screens.widgets.log_view import LinePump, LogView
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

Source = Callable[[], Iterable[object]]
CHECK_EVERY = 1000
DRAIN_SECONDS = 0.05


def pump_lines(source: Iterable[object], pump: LinePump, cancelled: Callable[[], bool]) -> int:
    """Move a stream into the pump. Items are LogLine-like objects, or lists of (ts, source,
    text) tuples from sources that batch themselves (the benchmark). Every line is in the
    pump as soon as it is read; cancellation and back-pressure are checked every
    `CHECK_EVERY` lines (and on every batch)."""
    stream = iter(source)
    try:
        return _pump(stream, pump, cancelled)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # a provider's stream stops its readers (SSH channels, watches) here


def _pump(stream: Iterator[object], pump: LinePump, cancelled: Callable[[], bool]) -> int:
    count = 0
    since_check = 0
    append = pump.append
    for item in stream:
        if isinstance(item, list):
            pump.put(item)
            count += len(item)
            since_check = CHECK_EVERY
        else:
            append((getattr(item, "ts", None), getattr(item, "source", ""),
                    getattr(item, "line", "")))
            count += 1
            since_check += 1
        if since_check >= CHECK_EVERY:
            since_check = 0
            if cancelled():
                break
            pump.wait_for_room()
    return count


class LogsScreen(CockpitScreen):
    TITLE = "Logs"
    BINDINGS = [
        Binding("escape", "back", "Back", id="logs.back"),
        Binding("slash", "filter", "Filter", key_display="/", id="logs.filter",
                tooltip="show only lines matching a regex"),
        Binding("p", "pause", "Pause", id="logs.pause", tooltip="freeze the view; lines keep "
                "arriving into the buffer"),
        Binding("f", "follow", "Follow", id="logs.follow"),
        Binding("g,home", "top", "Top", key_display="g", id="logs.top"),
        Binding("G,end", "bottom", "Bottom", key_display="G", id="logs.bottom"),
        Binding("w", "wrap", "Wrap", id="logs.wrap"),
        Binding("t", "timestamps", "Timestamps", id="logs.timestamps"),
        Binding("s", "save", "Save", id="logs.save", tooltip="write the shown lines to a file"),
        *env_bindings(),
    ]

    def __init__(self, env: str, *, source: Source | None = None, max_lines: int = 100_000,
                 tail: int | None = 200) -> None:
        super().__init__()
        self.env = env
        self.source = source
        self.tail = tail
        self.max_lines = max_lines
        self.pump = LinePump()

    def compose(self) -> ComposeResult:
        yield Static("", id="status")
        yield LogView(max_lines=self.max_lines, id="log")
        yield Input(placeholder="regex filter (enter applies, empty clears, esc closes)",
                    id="filter")
        yield Footer()

    @property
    def view(self) -> LogView:
        return self.query_one("#log", LogView)

    def on_mount(self) -> None:
        self.view.focus()
        self._drainer = self.set_interval(DRAIN_SECONDS, self.drain)
        self.start_tail()
        self._status()

    def on_unmount(self) -> None:
        self.pump.close()
        self.workers.cancel_group(self, "tail")

    def start_tail(self) -> None:
        pump = self.pump
        env, tail = self.env, self.tail
        source = self.source
        session = self.session if source is None else None

        def read() -> None:
            # The stream is consumed on a daemon thread: a provider stream that blocks while
            # no line arrives must never keep the worker (and the app's exit) waiting.
            worker = get_current_worker()
            stop = threading.Event()
            failed: list[BaseException] = []
            done = threading.Event()

            def stopped() -> bool:
                return worker.is_cancelled or pump.closed or stop.is_set()

            def consume() -> None:
                try:
                    stream: Iterable[object] = source() if source else session.logs(
                        env, follow=True, tail=tail, stop=stop)
                    pump_lines(stream, pump, stopped)
                except BaseException as exc:  # handed to the worker: the error panel shows it
                    failed.append(exc)
                finally:
                    done.set()

            threading.Thread(target=consume, daemon=True, name=f"logs:{env}").start()
            while not done.wait(0.1):
                if worker.is_cancelled or pump.closed:
                    stop.set()
                    return
            if failed:
                raise failed[0]

        self.run_worker(read, thread=True, exclusive=True, exit_on_error=False, group="tail",
                        name=f"tail:{env}", description=f"logs of {env}")

    def drain(self) -> None:
        items = self.pump.drain()
        if items:
            self.view.feed(items)

    # ------------------------------------------------------------------ status

    def _status(self) -> None:
        view = self.view
        mode = "paused" if view.paused else ("following" if view.follow else "scrolled")
        parts = [
            (f"{self.env}", "bold"), (" · ", "dim"),
            (mode, "yellow" if view.paused else "green" if view.follow else ""),
            (" · ", "dim"), f"{len(view.visible_lines):,} lines",
        ]
        if view.pending_count:
            parts += [(" · ", "dim"), (f"{view.pending_count:,} new while paused", "yellow")]
        if view.dropped:
            parts += [(" · ", "dim"), (f"{view.dropped:,} oldest dropped", "dim")]
        if view.filter_pattern:
            parts += [(" · filter ", "dim"), (f"/{view.filter_pattern}/", "bold magenta")]
        parts += [(" · wrap ", "dim"), ("on" if view.wrap else "off"),
                  (" · timestamps ", "dim"), ("on" if view.timestamps else "off")]
        self.query_one("#status", Static).update(Text.assemble(*parts))

    def on_log_view_changed(self, _message: LogView.Changed) -> None:
        self._status()

    # ------------------------------------------------------------------ keys

    def action_back(self) -> None:
        filt = self.query_one("#filter", Input)
        if filt.has_class("visible"):
            filt.remove_class("visible")
            self.view.focus()
            return
        self.app.pop_screen()

    def action_filter(self) -> None:
        filt = self.query_one("#filter", Input)
        filt.add_class("visible")
        filt.value = self.view.filter_pattern or ""
        filt.focus()

    @on(Input.Submitted, "#filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        try:
            self.view.set_filter(event.value or None)
        except re.error as exc:
            self.notify(f"not a valid regex: {exc}", severity="error")
            return
        event.input.remove_class("visible")
        self.view.focus()
        self._status()

    def action_pause(self) -> None:
        self.view.paused = not self.view.paused

    def action_follow(self) -> None:
        self.view.paused = False
        self.view.go_bottom()

    def action_top(self) -> None:
        self.view.go_top()

    def action_bottom(self) -> None:
        self.view.go_bottom()

    def action_wrap(self) -> None:
        self.view.wrap = not self.view.wrap

    def action_timestamps(self) -> None:
        self.view.timestamps = not self.view.timestamps

    def action_save(self) -> None:
        from cockpit.screens.widgets.prompt import Ask

        default = f"{self.env}-logs.txt"

        def chosen(name: str | None) -> None:
            if name:
                self._save(Path(name).expanduser())

        self.app.push_screen(Ask("Save the shown lines to:", default), chosen)

    def _save(self, path: Path) -> None:
        count = self.view.save(path)
        self.notify(f"saved {count:,} lines to {path}")

    def action_switch_env(self, number: int) -> None:
        env = self.env_for_number(number)
        if env and env != self.env:
            self.app.pop_screen()
            self.app.open_logs(env)  # type: ignore[attr-defined]
