"""Two renderers of the event stream: readable lines for humans, NDJSON for `--json`.

Every event, result and error is redacted before it is written, whatever the renderer.
The TUI is the third renderer (screens/); it consumes the same events.

What an app writes is shown, never obeyed: `inert()` turns every terminal control (C0 but tab,
DEL, C1, bidi overrides) into a visible mark and cuts a line past `LINE_LIMIT` characters, in the
human renderer and the TUI log view; the NDJSON renderer escapes DEL and C1 as JSON `\\u` escapes
(json already escapes C0), so a JSON line holds no raw control character and loses nothing.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections import deque
from typing import IO, Any

from cockpit.errors import CockpitError
from cockpit.events import (
    Event,
    HealthSample,
    LogLine,
    Message,
    PlanShown,
    Prompt,
    StepFailed,
    StepFinished,
    StepSkipped,
    StepStarted,
    WatchSample,
)
from cockpit.redaction import redact, redact_any

SHOWN_MEMORY = 200
"""Log lines per source the human renderer remembers having shown: an error whose `logs` are
the last of them (a failed release command's tail, at most 30 lines) does not print them again."""
LINE_LIMIT = 16 * 1024
"""Characters of one log line shown (CLI and TUI); the rest is replaced by a "… (N bytes cut)"
mark. A 1 MB line froze the logs screen for a minute on wrap; 16 Ki characters wrap in ~200 rows
of 80 columns."""


def _controls(keep_newline: bool) -> dict[int, str]:
    table: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20)}  # ␀ .. ␟, ␛ for ESC
    del table[0x09]  # tab is plain text
    if keep_newline:
        del table[0x0A]
    table[0x7F] = "␡"
    table.update({c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})  # C1: 8-bit CSI, OSC, ST...
    # bidi embeddings, overrides and isolates reorder what a reader sees; line/paragraph separators
    table.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                             0x2028, 0x2029)})
    return table


_ONE_LINE = _controls(keep_newline=False)
_MULTI_LINE = _controls(keep_newline=True)
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_JSON_RAW = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def inert(text: str, *, limit: int | None = LINE_LIMIT, newlines: bool = False) -> str:
    """`text` made safe to write to a terminal, every character still visible.

    C0 controls but tab become Unicode control pictures (ESC -> "␛", CR -> "␍", LF -> "␊"),
    DEL -> "␡", C1 controls -> "\\x9b"-style text, bidi overrides -> "\\u202e"-style text; a
    line longer than `limit` characters keeps its first `limit` and ends with
    "… (N bytes cut)" (N counted in UTF-8). `newlines=True` keeps line breaks (prose; CRLF
    becomes LF) and applies `limit` to each line. Redact before calling this: the cut could
    otherwise split a secret value the redactor would have recognised.
    """
    text = str(text)
    if newlines:
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        if limit is not None and len(text) > limit:
            text = "\n".join(_cut(part, limit) for part in text.split("\n"))
    else:
        text = _cut(text, limit)
    if _UNSAFE.search(text) is None:
        return text
    return text.translate(_MULTI_LINE if newlines else _ONE_LINE)


def _cut(line: str, limit: int | None) -> str:
    if limit is None or len(line) <= limit:
        return line
    cut = len(line[limit:].encode("utf-8", "surrogatepass"))
    return f"{line[:limit]} … ({cut} bytes cut)"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


class JsonRenderer:
    """One JSON object per line on stdout: events, then a final `result` or `error` object."""

    json = True

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def _write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(redact_any(obj), default=str, ensure_ascii=False)
        # json escapes C0 itself; DEL, C1 and bidi overrides only occur inside strings here
        line = _JSON_RAW.sub(_json_escape, line)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def emit(self, event: Event) -> None:
        self._write(event.to_dict())

    def result(self, data: Any, human: str | None = None) -> None:
        self._write({"type": "result", "ok": True, "data": data})

    def error(self, exc: CockpitError) -> None:
        self._write({"type": "error", "ok": False, **exc.to_dict()})

    def text(self, text: str) -> None:
        """Human-only prose is dropped in JSON mode (the result object carries the data)."""


class HumanRenderer:
    """Readable progress on stderr with rich (a live spinner on the running step when stderr is a
    terminal, plain lines otherwise), results on stdout."""

    json = False

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.console = _console(self.err)
        self.out_console = _console(self.out)
        self._lock = threading.RLock()
        self._running: dict[str, str] = {}
        self._status = None
        self._boot: dict[str | None, Any] = {}  # env -> cockpit.gate.BootWait of its gate
        # source -> the last SHOWN_MEMORY log lines shown from it, so an error's `logs` that
        # were just printed as they came (a release command's output) are not printed again
        self._shown: dict[str, deque[str]] = {}

    def _line(self, markup: str, console=None) -> None:
        """`markup` is ours; every user-supplied piece in it went through `_e` first."""
        from rich.text import Text

        with self._lock:
            (console or self.console).print(Text.from_markup(markup))

    def _spin(self) -> None:
        if not self.console.is_terminal:
            return
        title = next(reversed(self._running.values()), None) if self._running else None
        if title is None:
            if self._status is not None:
                self._status.stop()
                self._status = None
        elif self._status is None:
            self._status = self.console.status(redact(title))
            self._status.start()
        else:
            self._status.update(redact(title))

    def emit(self, event: Event) -> None:
        with self._lock:
            self._emit(event)

    def _boot_line(self, key: str | None) -> None:
        """Show what the gate of `key`'s environment still holds (its app never answered)."""
        wait = self._boot.pop(key, None)
        line = wait.flush() if wait is not None else None
        if line:
            env = f"[dim]{_e('[' + key + ']')}[/] " if key else ""
            self._line(f"{env}  health [red]fail[/] {_e(line)}")

    def _emit(self, event: Event) -> None:
        env = f"[dim]{_e('[' + event.env + ']')}[/] " if getattr(event, "env", None) else ""
        if isinstance(event, StepStarted | StepFinished | StepFailed | StepSkipped):
            self._boot_line(getattr(event, "env", None))  # a gate's step ends, or another starts
        if isinstance(event, StepStarted):
            self._running[event.step] = event.title
            self._line(f"{env}[cyan]▸[/] {_e(event.title)}")
            self._spin()
        elif isinstance(event, StepFinished | StepFailed | StepSkipped):
            self._running.pop(event.step, None)
            self._spin()
            if isinstance(event, StepFinished):
                took = f" [dim]({event.seconds:.1f}s)[/]" if event.seconds is not None else ""
                detail = f": {_e(event.detail)}" if event.detail else ""
                self._line(f"{env}[green]✓[/] {_e(event.step)}{detail}{took}")
            elif isinstance(event, StepFailed):
                self._line(f"{env}[red]✗[/] {_e(event.step)}: {_e(event.error)}")
            else:
                self._line(f"{env}[yellow]–[/] {_e(event.step)} skipped: {_e(event.reason)}")
        elif isinstance(event, LogLine):
            self._shown.setdefault(event.source, deque(maxlen=SHOWN_MEMORY)).append(event.line)
            self._line(f"[dim]{_e(event.source)} |[/] {_log(event.line)}")
        elif isinstance(event, HealthSample):
            from cockpit.gate import BootWait

            said, show = self._boot.setdefault(event.env, BootWait()).feed(event)
            if said:
                self._line(f"{env}  health [dim]{_e(said)}[/]")
            if not show:
                return
            mark = "[green]ok[/]" if event.ok else "[red]fail[/]"
            status = event.status if event.status is not None else event.error
            latency = f" {event.latency_ms:.0f}ms" if event.latency_ms is not None else ""
            self._line(f"{env}  health {mark} {_e(str(status))}{latency}")
        elif isinstance(event, WatchSample):
            if event.final or not event.ok or event.n % 10 == 1:  # every 10 s, and the verdict
                self._line(f"{env}  {_e(watch_line(event))}")
        elif isinstance(event, Message):
            prefix = {"warning": "[yellow]warning:[/] ", "error": "[red]error:[/] "}.get(
                event.level, "")
            self._line(f"{env}{prefix}{_e(event.text)}")
        elif isinstance(event, Prompt):
            self._line(f"{env}[bold]?[/] {_e(event.question)}")
        elif isinstance(event, PlanShown):
            self._line(f"[bold]Plan: {_e(event.action)} {_e(event.env)}[/]")
            for i, step in enumerate(event.steps, 1):
                mark = " [yellow](destructive)[/]" if step.get("destructive") else ""
                detail = f" [dim]— {_e(step['detail'])}[/]" if step.get("detail") else ""
                self._line(f"  {i:>2}. {_e(step['title'])}{mark}{detail}")

    def close(self) -> None:
        with self._lock:
            for key in list(self._boot):
                self._boot_line(key)
            self._running.clear()
            self._spin()

    def result(self, data: Any, human: str | None = None) -> None:
        self.close()
        if human is not None:
            self._line(_e(human), self.out_console)

    def error(self, exc: CockpitError) -> None:
        self.close()
        self._line(f"[red]error:[/] {_e(exc.message)}")
        logs = list(getattr(exc, "logs", None) or [])
        above = next((source for source, shown in self._shown.items()
                      if logs and list(shown)[-len(logs):] == logs), None)
        if above is not None:  # just printed as it ran: --json's error still carries them
            self._line(f"its output is above (the lines marked \"{_e(above)} |\")")
        elif logs:
            self._line("last log lines:")
            for line in exc.logs:
                self._line(f"  {_log(line)}")
        if exc.hint:
            self._line(f"hint: {_e(exc.hint)}")

    def text(self, text: str) -> None:
        self._line(_e(text), self.out_console)


def _console(stream: IO[str]):
    from rich.console import Console

    terminal = stream.isatty()
    return Console(file=stream, highlight=False, soft_wrap=True, force_terminal=terminal,
                   no_color=not terminal)


def _e(text: str) -> str:
    """User text (titles, errors, prose): redacted, never read as markup, terminal controls shown
    inert (its own line breaks kept)."""
    from rich.markup import escape

    return escape(inert(redact(str(text)), newlines=True))


def _log(line: str) -> str:
    """One log line: redacted, one line on screen, bounded, inert, never read as markup."""
    from rich.markup import escape

    return escape(inert(redact(str(line))))


Renderer = JsonRenderer | HumanRenderer


def make(json_mode: bool) -> Renderer:
    return JsonRenderer() if json_mode else HumanRenderer()


def watch_line(event: WatchSample) -> str:
    """One line for a watch window sample: time left, 5xx and p95 against their limits."""
    p95 = f"{event.p95_ms:.0f} ms" if event.p95_ms is not None else "-"
    head = ("watch ok" if event.ok else "watch BREACH") if event.final else \
        f"watch {event.seconds_left:.0f}s left"
    text = (f"{head} · 5xx {event.errors_5xx}/{event.requests} = {event.ratio:.1%} "
            f"(max {event.max_5xx_ratio:.1%}) · p95 {p95} (max {event.max_p95_ms:.0f} ms)")
    if event.restarts:
        text += f" · {event.restarts} restart(s)"
    return text + (f": {event.reason}" if event.reason else "")
