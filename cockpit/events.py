"""Typed progress events: one stream, three renderers (TUI, rich CLI, NDJSON).

The core and providers only ever `emit(event)`. Every event passes the redaction filter before a
renderer sees it (see `cockpit.redaction`), so a provider cannot leak a secret into output by
accident.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["type"] = self.type
        return data


@dataclass(frozen=True)
class StepStarted(Event):
    type: ClassVar[str] = "step_started"
    step: str
    title: str
    env: str | None = None


@dataclass(frozen=True)
class StepFinished(Event):
    type: ClassVar[str] = "step_finished"
    step: str
    detail: str = ""
    env: str | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class StepFailed(Event):
    type: ClassVar[str] = "step_failed"
    step: str
    error: str
    env: str | None = None


@dataclass(frozen=True)
class StepSkipped(Event):
    type: ClassVar[str] = "step_skipped"
    step: str
    reason: str = ""
    env: str | None = None


@dataclass(frozen=True)
class LogLine(Event):
    """One line of application (or remote command) output; `source` names the instance."""

    type: ClassVar[str] = "log"
    source: str
    line: str
    ts: float | None = None
    env: str | None = None


@dataclass(frozen=True)
class HealthSample(Event):
    type: ClassVar[str] = "health"
    ok: bool
    status: int | None
    latency_ms: float | None
    url: str = ""
    error: str = ""
    env: str | None = None
    detail: str = ""  # what was measured when it is not one HTTP answer, e.g. "checks 4/4"


@dataclass(frozen=True)
class WatchSample(Event):
    """One interval of the watch window after a switch (cockpit.watch): counts since the window
    opened (`requests`, `errors_5xx`, `restarts`), the 5xx `ratio` (0-1) and the probes' `p95_ms`
    against their limits, `seconds_left` of `seconds`; `final` on the last one, `reason` on a
    breach; `source` says where the ratio comes from."""

    type: ClassVar[str] = "watch"
    env: str
    n: int
    seconds: float
    seconds_left: float
    requests: int
    errors_5xx: int
    ratio: float
    p95_ms: float | None
    max_5xx_ratio: float
    max_p95_ms: float
    restarts: int = 0
    ok: bool = True
    probe_ok: bool | None = None
    final: bool = False
    reason: str = ""
    source: str = ""


@dataclass(frozen=True)
class Message(Event):
    """Free text for the human: info, warning, or error level."""

    type: ClassVar[str] = "message"
    text: str
    level: str = "info"
    env: str | None = None


@dataclass(frozen=True)
class Prompt(Event):
    """Asked for input (confirmation, fingerprint trust); renderers show it, `--yes` answers."""

    type: ClassVar[str] = "prompt"
    question: str
    kind: str = "confirm"
    env: str | None = None


@dataclass(frozen=True)
class PlanShown(Event):
    type: ClassVar[str] = "plan"
    env: str
    action: str
    steps: list[dict[str, Any]] = field(default_factory=list)


Emit = Callable[[Event], None]


class Timer:
    """Measures a step for StepFinished.seconds."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def seconds(self) -> float:
        return round(time.monotonic() - self.start, 3)


class StepScope:
    """One step's events, owned by the core for every provider: StepStarted on enter, then
    StepFinished (with `detail` and the seconds it took) or StepFailed (the error's `what`, else
    its text, else its type) on exit; the exception itself propagates. So a step that started
    always ends, on any target.

        with StepScope(emit, "switch", "switch traffic to slot b", env="prod") as s:
            ...
            s.detail = "slot b serves"
    """

    def __init__(self, emit: Emit, step: str, title: str, env: str | None = None) -> None:
        self.emit, self.step, self.title, self.env = emit, step, title, env
        self.detail = ""

    def __enter__(self) -> StepScope:
        self.timer = Timer()
        self.emit(StepStarted(self.step, self.title, env=self.env))
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.emit(StepFinished(self.step, self.detail, env=self.env,
                                   seconds=self.timer.seconds()))
            return
        what = getattr(exc, "what", None) or str(exc) or exc_type.__name__
        self.emit(StepFailed(self.step, str(what), env=self.env))
