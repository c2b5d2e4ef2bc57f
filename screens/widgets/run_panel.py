"""A mutating run, live: the step checklist, the gate's latency sparkline, the watch window
counting down after the switch (live 5xx ratio and p95 against their limits), and the app's log.

The run itself executes in a thread worker owned by this widget; the worker's `emit` posts
each core event as a message (log lines go through a `LinePump` in batches). On failure the
app's one handler shows the cause; this panel only marks the checklist and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cockpit.screens.messages import CoreEvent, RunFinished
from cockpit.screens.widgets.checklist import Checklist
from cockpit.screens.widgets.log_view import LinePump, LogView
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static
from textual.worker import Worker, WorkerState

from cockpit.events import Event, HealthSample, LogLine, Message, PlanShown, WatchSample

RunBody = Callable[[Callable[[Event], None]], Any]


class RunPanel(Vertical):
    DEFAULT_CSS = """
    RunPanel { height: 1fr; }
    RunPanel > #run-title { height: 1; text-style: bold; padding: 0 1; }
    RunPanel > Checklist { height: auto; max-height: 14; border: round $panel-lighten-2;
                           padding: 0 1; }
    RunPanel > #gate { height: 1; padding: 0 1; }
    RunPanel > Sparkline { height: 1; margin: 0 1; }
    RunPanel > #watch { height: 1; padding: 0 1; display: none; }
    RunPanel > #run-result { height: auto; padding: 0 1; }
    RunPanel > LogView { height: 1fr; min-height: 5; border: round $panel-lighten-2; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pump = LinePump()
        self.samples: list[float] = []
        self.ok_count = 0
        self.worker: Worker | None = None
        self.name_of_run = ""
        self.result: Any = None
        self.error: BaseException | None = None
        self.done_text: str | None = None
        self._settled = True  # the last run's outcome (result or error) has been recorded

    def compose(self) -> ComposeResult:
        yield Static("", id="run-title")
        yield Checklist(id="checklist")
        yield Static("", id="gate")
        yield Sparkline([], id="gate-latency")
        yield Static("", id="watch")
        yield Static("", id="run-result")
        log = LogView(max_lines=20_000, id="run-log")
        log.border_title = "app log"
        yield log

    def on_mount(self) -> None:
        self.set_interval(0.05, self._drain)

    @property
    def running(self) -> bool:
        """True from `start` until the run's outcome is recorded here (`result` or `error`):
        the thread can finish before its state change reaches this panel, and a caller that
        sees "not running" reads the outcome next."""
        return self.worker is not None and not self._settled

    def start(self, title: str, body: RunBody, description: str,
              done_text: str | None = None) -> Worker:
        """Run `body(emit)` in a thread worker; its events drive this panel."""
        self.query_one("#run-title", Static).update(title)
        self.query_one(Checklist).reset()
        self.query_one("#run-result", Static).update("")
        self.query_one("#watch", Static).display = False
        self.result = self.error = None
        self._settled = False
        self.name_of_run = description
        self.done_text = done_text
        pump = self.pump

        def emit(event: Event) -> None:
            if isinstance(event, LogLine):
                pump.append((event.ts, event.source, event.line))
            else:
                self.post_message(CoreEvent(event, run=description))

        self.worker = self.run_worker(lambda: body(emit), thread=True, exclusive=True,
                                      exit_on_error=False, group="run", name=description,
                                      description=description)
        return self.worker

    def _drain(self) -> None:
        items = self.pump.drain()
        if items:
            self.query_one(LogView).feed(items)

    @on(CoreEvent)
    def _core_event(self, message: CoreEvent) -> None:
        message.stop()
        event = message.event
        if isinstance(event, HealthSample):
            self.samples.append(event.latency_ms or 0.0)
            self.ok_count = self.ok_count + 1 if event.ok else 0
            self.query_one("#gate-latency", Sparkline).data = self.samples[-60:]
            status = f"{event.status}" if event.status is not None else event.error or "no answer"
            self.query_one("#gate", Static).update(Text.assemble(
                ("gate ", "dim"), ("● ", "green" if event.ok else "red"), status,
                (f" · {self.ok_count} in a row", "dim")))
        elif isinstance(event, WatchSample):
            watch = self.query_one("#watch", Static)
            watch.display = True
            watch.update(watch_text(event))
        elif isinstance(event, Message):
            self.query_one(LogView).feed([(None, "cockpit", event.text)])
        elif isinstance(event, PlanShown):
            self.query_one(Checklist).apply(event)
        else:
            self.query_one(Checklist).apply(event)

    @on(Worker.StateChanged)
    def _state(self, event: Worker.StateChanged) -> None:
        if event.worker is not self.worker:
            return
        self._drain()
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self._settled = True
        if event.state == WorkerState.SUCCESS:
            self.result = event.worker.result
            self.query_one("#run-result", Static).update(
                Text.assemble(("✓ ", "bold green"),
                              self.done_text or _describe_result(self.result)))
            self.post_message(RunFinished(self.name_of_run, release=self.result))
        elif event.state == WorkerState.ERROR:
            from cockpit.screens.widgets.error import summary

            self.error = event.worker.error
            why = summary(self.error) if self.error else "failed"
            self.query_one(Checklist).fail_running(why)
            self.query_one("#run-result", Static).update(
                Text.assemble(("✗ ", "bold red"), why))
            self.app.worker_failed(event.worker)  # type: ignore[attr-defined]
            self.post_message(RunFinished(self.name_of_run, error=self.error))


BAR = 20  # cells of the watch window's countdown bar


def watch_text(event: WatchSample) -> Text:
    """One row for the watch window: a countdown bar and time left (or the verdict), the 5xx
    ratio with its counts and limit, the p95 with its limit, restarts when there were any;
    red where a limit is crossed."""
    ratio_bad = event.ratio > event.max_5xx_ratio
    p95_bad = event.p95_ms is not None and event.p95_ms > event.max_p95_ms
    if event.final:
        head = (("✓ ", "bold green"), (f"passed {event.seconds:g}s", "green")) if event.ok \
            else (("✗ ", "bold red"), ("breach", "bold red"))
    else:
        done = round(BAR * (1 - event.seconds_left / event.seconds)) if event.seconds else BAR
        head = (("━" * done, "cyan"), ("━" * (BAR - done), "grey35"),
                (f" {event.seconds_left:.0f}s left", ""))
    p95 = f"{event.p95_ms:.0f} ms" if event.p95_ms is not None else "-"
    parts: list[Any] = [("watch ", "dim"), *head,
                        ("  5xx ", "dim"),
                        (f"{event.errors_5xx}/{event.requests} = {event.ratio:.1%}",
                         "bold red" if ratio_bad else ""),
                        (f" (≤ {event.max_5xx_ratio:.1%})", "dim"),
                        ("  p95 ", "dim"), (p95, "bold red" if p95_bad else ""),
                        (f" (≤ {event.max_p95_ms:.0f} ms)", "dim")]
    if event.restarts:
        parts.append((f"  {event.restarts} restart(s)", "bold red"))
    return Text.assemble(*parts)


def _describe_result(result: Any) -> str:
    release_id = getattr(result, "id", None)
    if release_id is None:
        return "done"
    return (f"release {release_id} · {getattr(result, 'status', '')} · "
            f"{getattr(result, 'short_digest', '')}")
