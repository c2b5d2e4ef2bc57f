"""Two renderers of the event stream: readable lines for humans, NDJSON for `--json`.

Every event, result and error is redacted before it is written, whatever the renderer.
The TUI is the third renderer (screens/); it consumes the same events.
"""

from __future__ import annotations

import json
import sys
import threading
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
)
from cockpit.redaction import redact, redact_any


class JsonRenderer:
    """One JSON object per line on stdout: events, then a final `result` or `error` object."""

    json = True

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def _write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(redact_any(obj), default=str, ensure_ascii=False)
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
    """Readable progress on stderr, results on stdout; colour only on a terminal."""

    json = False

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.color = self.err.isatty()
        self._lock = threading.Lock()

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def _line(self, text: str, stream: IO[str] | None = None) -> None:
        with self._lock:
            (stream or self.err).write(redact(text) + "\n")
            (stream or self.err).flush()

    def emit(self, event: Event) -> None:
        env = f"[{event.env}] " if getattr(event, "env", None) else ""
        if isinstance(event, StepStarted):
            self._line(f"{env}{self._paint('▸', '36')} {event.title}")
        elif isinstance(event, StepFinished):
            took = f" ({event.seconds:.1f}s)" if event.seconds is not None else ""
            detail = f": {event.detail}" if event.detail else ""
            self._line(f"{env}{self._paint('✓', '32')} {event.step}{detail}{took}")
        elif isinstance(event, StepFailed):
            self._line(f"{env}{self._paint('✗', '31')} {event.step}: {event.error}")
        elif isinstance(event, StepSkipped):
            self._line(f"{env}{self._paint('–', '33')} {event.step} skipped: {event.reason}")
        elif isinstance(event, LogLine):
            self._line(f"{self._paint(event.source, '2')} | {event.line}")
        elif isinstance(event, HealthSample):
            mark = self._paint("ok", "32") if event.ok else self._paint("fail", "31")
            status = event.status if event.status is not None else event.error
            latency = f" {event.latency_ms:.0f}ms" if event.latency_ms is not None else ""
            self._line(f"{env}  health {mark} {status}{latency}")
        elif isinstance(event, Message):
            colour = {"warning": "33", "error": "31"}.get(event.level, "0")
            prefix = {"warning": "warning: ", "error": "error: "}.get(event.level, "")
            self._line(f"{env}{self._paint(prefix, colour)}{event.text}")
        elif isinstance(event, Prompt):
            self._line(f"{env}? {event.question}")
        elif isinstance(event, PlanShown):
            self._line(f"Plan: {event.action} {event.env}")
            for i, step in enumerate(event.steps, 1):
                mark = self._paint(" (destructive)", "33") if step.get("destructive") else ""
                detail = f" — {step['detail']}" if step.get("detail") else ""
                self._line(f"  {i:>2}. {step['title']}{mark}{detail}")

    def result(self, data: Any, human: str | None = None) -> None:
        if human is not None:
            self._line(human, self.out)

    def error(self, exc: CockpitError) -> None:
        self._line(f"{self._paint('error:', '31')} {exc.message}")
        if getattr(exc, "logs", None):
            self._line("last log lines:")
            for line in exc.logs:
                self._line(f"  {line}")
        if exc.hint:
            self._line(f"hint: {exc.hint}")

    def text(self, text: str) -> None:
        self._line(text, self.out)


Renderer = JsonRenderer | HumanRenderer


def make(json_mode: bool) -> Renderer:
    return JsonRenderer() if json_mode else HumanRenderer()
