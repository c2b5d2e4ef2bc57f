"""The one health gate every provider runs: count, interval, timeout, deadline, fail fast.

Semantics (the same on a VPS, Kubernetes and Fly; a provider supplies only how to take one
sample and how to read the instance's last log lines):

- a sample is one look at the *new* instance: its state (starting, running, exited,
  restarted, gone) and, once it runs, one health answer (HTTP status or an error);
- the gate passes after `count` consecutive good samples taken `interval` seconds apart;
  until the first good one it samples every `poll` seconds (the instance is starting);
- each sample gets `timeout` seconds (the sampler is handed it), cut to what is left;
- the gate fails at `deadline` seconds after it started;
- it fails FAST, without waiting for the deadline, when the instance exited, restarted or
  is gone, or when it answered 5xx `fail_streak` times in a row once its `start_period`
  (seconds since the gate started) is over: an app that answers 500 on every probe is not
  waited on for a minute;
- a failure raises `GateError` (a `GateFailed`, exit code 3 once the caller undid the release)
  carrying every sample taken, why (`reason`) and the instance's last log lines.

The gate never catches a sampler's exceptions: an API or SSH error while sampling is not an
unhealthy release, it is an unfinished gate, and the provider must undo (or leave the run for
reconcile) and say so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cockpit.errors import GateFailed, ProviderError
from cockpit.events import Emit, HealthSample

STARTING = "starting"
RUNNING = "running"
EXITED = "exited"
RESTARTED = "restarted"
GONE = "gone"
FATAL_STATES = (EXITED, RESTARTED, GONE)

# why a gate failed (GateError.reason)
PASSED = "passed"
DEADLINE = "deadline"
FAIL_5XX = "5xx"


@dataclass
class Sample:
    """One look at the new instance.

    `ok`: healthy (a 2xx answer, or the platform's checks all passing); `status`: the HTTP
    status of the health answer (None: no answer); `error`: why not ok, one line; `state`: one
    of STARTING, RUNNING, EXITED, RESTARTED, GONE; `detail`: what else was seen (an exit code,
    "checks 2/3"); `latency_ms`: how long the sample took; `url`: what was asked; `at`: seconds
    since the gate started (set by the gate)."""

    ok: bool
    status: int | None = None
    error: str = ""
    state: str = RUNNING
    detail: str = ""
    latency_ms: float | None = None
    url: str = ""
    at: float = 0.0

    @classmethod
    def of(cls, health: HealthSample, state: str = RUNNING) -> Sample:
        """A gate sample from a probe's HealthSample (cockpit.probes.http_health)."""
        return cls(ok=health.ok, status=health.status, error=health.error, state=state,
                   detail=health.detail, latency_ms=health.latency_ms, url=health.url)

    @property
    def is_5xx(self) -> bool:
        return self.status is not None and 500 <= self.status < 600

    def event(self, env: str | None) -> HealthSample:
        """The HealthSample event the gate emits for this sample."""
        detail = self.detail or ("" if self.state == RUNNING else self.state)
        return HealthSample(ok=self.ok, status=self.status, latency_ms=self.latency_ms,
                            url=self.url, error=self.error, env=env, detail=detail)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "error": self.error, "state": self.state,
                "detail": self.detail, "latency_ms": self.latency_ms, "at": round(self.at, 3)}


@dataclass
class Policy:
    """What the gate asks for. Seconds throughout. `count`, `interval`, `timeout`, `deadline`
    come from cockpit.toml's `gate` table (cockpit.config.GateConfig); `start_period`,
    `fail_streak` and `poll` from the same table when it has them, else these defaults;
    a provider may raise `poll` (and `interval`) to its API's rate limit (`min_poll`)."""

    count: int = 3
    interval: float = 0.5
    timeout: float = 5.0
    deadline: float = 60.0
    start_period: float = 5.0
    fail_streak: int = 5
    poll: float = 0.05

    @classmethod
    def of(cls, config: Any, *, min_poll: float = 0.0, **overrides: Any) -> Policy:
        """From a GateConfig (or anything with its attributes); `min_poll`: the fastest a
        provider may sample (its API's rate limit), applied to `poll` and `interval`."""
        values: dict[str, Any] = {}
        for name in ("count", "interval", "timeout", "deadline", "start_period",
                     "fail_streak", "poll"):
            value = getattr(config, name, None)
            if value is not None:
                values[name] = value
        values.update(overrides)
        policy = cls(**values)
        if min_poll:
            policy.poll = max(policy.poll, min_poll)
            policy.interval = max(policy.interval, min_poll)
        return policy


class GateError(GateFailed):
    """A failed gate: `reason` (DEADLINE, FAIL_5XX, EXITED, RESTARTED, GONE), every sample
    taken (`samples`), the instance's last log lines (`logs`)."""

    def __init__(self, what: str, *, reason: str, samples: list[Sample] | None = None,
                 logs: list[str] | None = None, where: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(what, where=where, hint=hint, logs=logs)
        self.reason = reason
        self.samples = list(samples or [])

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "reason": self.reason,
                "samples": [s.to_dict() for s in self.samples[-20:]]}


class GateUnfinished(ProviderError):
    """The gate could not reach a verdict (the target's API failed while sampling) and the
    undo could not be done either: the run is left open (`unfinished`) so the next command's
    reconcile finishes it. Exit code 1, never 3: nothing was rolled back. `logs`: the failing
    instance's last log lines when a gate verdict came first."""

    unfinished = True

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None,
                 logs: list[str] | None = None) -> None:
        super().__init__(what, where=where, hint=hint)
        self.logs = logs or []

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "logs": self.logs, "unfinished": True}


@dataclass
class Result:
    """A passed gate: the samples taken and the seconds it took."""

    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0


def describe(samples: list[Sample] | list[HealthSample]) -> str:
    """One line on how the samples went: count, status codes, the last failure."""
    if not samples:
        return "no health sample was taken"
    codes: dict[str, int] = {}
    for s in samples:
        key = str(s.status) if s.status is not None else "no answer"
        codes[key] = codes.get(key, 0) + 1
    seen = ", ".join(f"{k}×{v}" for k, v in codes.items())
    bad = [s for s in samples if not s.ok]
    last = bad[-1] if bad else samples[-1]
    return f"{len(samples)} samples ({seen}); last failure: {last.error or last.status}"


@dataclass
class BootWait:
    """What a person is shown of one gate's health samples while the app boots (the human
    renderer, cockpit.output; `--json`, the event stream and the journal keep every sample).

    A sample with no HTTP answer at all (`unanswered`: connection refused, nothing listening
    yet, a timeout) before the app has answered once is held instead of shown: an app that
    takes 2 s to listen would otherwise print 20 `health fail connection refused` lines. When
    the app first answers (any status), `feed` returns one line saying how long it waited
    and how many samples went unanswered, then the answer is shown as usual; a gate that ends
    before any answer gets that line from `flush`, as a failure. Samples after the first
    answer are all shown. `clock` gives seconds (time.monotonic); the wait is measured from
    the first held sample to the answer (or to the last held sample at the end)."""

    clock: Callable[[], float] = time.monotonic
    held: list[tuple[float, HealthSample]] = field(default_factory=list)
    answered: bool = False

    @staticmethod
    def unanswered(sample: HealthSample) -> bool:
        """No HTTP answer and no platform check result: the app does not listen (yet)."""
        return not sample.ok and sample.status is None and not sample.detail

    def feed(self, sample: HealthSample) -> tuple[str | None, bool]:
        """(a line to show before `sample`, or None; whether to show `sample` itself)."""
        now = self.clock()
        if not self.answered and self.unanswered(sample):
            self.held.append((now, sample))
            return None, False
        self.answered = True
        return self._summary(now, answered=True), True

    def flush(self) -> str | None:
        """The line for samples still held when the gate ends (the app never answered), or
        None; nothing is held afterwards."""
        return self._summary(self.held[-1][0] if self.held else 0.0, answered=False)

    def _summary(self, until: float, *, answered: bool) -> str | None:
        if not self.held:
            return None
        count, seconds = len(self.held), max(0.0, until - self.held[0][0])
        errors: dict[str, int] = {}
        for _, s in self.held:
            key = s.error or "no answer"
            errors[key] = errors.get(key, 0) + 1
        said = "; ".join(e if n == count else f"{e} ×{n}" for e, n in list(errors.items())[:3])
        self.held = []
        samples = f"{count} sample{'s' if count != 1 else ''}"
        if answered:
            return f"waited {seconds:.1f}s for the app to listen: {samples} without an " \
                   f"answer ({said})"
        return f"no answer from the app in {seconds:.1f}s: {samples} ({said})"


def run(sample: Callable[[float], Sample], policy: Policy, *,
        logs: Callable[[], list[str]] | None = None, emit: Emit | None = None,
        env: str | None = None, what: str = "the new release", where: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep) -> Result:
    """Run the gate. `sample(timeout)` takes one sample within `timeout` seconds; `logs()`
    answers the instance's last log lines (read only on failure; its errors are swallowed
    into one line). Emits one HealthSample per sample when `emit` is given.

    Returns a Result when `policy.count` good samples came in a row; raises GateError (with the
    samples and log lines) on a fatal state, a 5xx streak after the start period, or the
    deadline. Exceptions from `sample` propagate unchanged."""
    samples: list[Sample] = []
    started = clock()
    end = started + policy.deadline
    good = bad_5xx = 0
    while True:
        left = end - clock()
        s = sample(max(0.05, min(policy.timeout, left)) if left > 0 else 0.05)
        s.at = clock() - started
        samples.append(s)
        if emit is not None:
            emit(s.event(env))
        if s.state in FATAL_STATES:
            raise _failure(s.state, samples, policy, logs, what, where,
                           f"{what} {_state_words(s.state)}"
                           + (f" ({s.detail})" if s.detail else "")
                           + f" after {s.at:.1f}s: {describe(samples)}")
        good = good + 1 if s.ok else 0
        bad_5xx = bad_5xx + 1 if s.is_5xx else 0
        if good >= policy.count:
            return Result(samples, clock() - started)
        if bad_5xx >= policy.fail_streak and s.at >= policy.start_period:
            raise _failure(FAIL_5XX, samples, policy, logs, what, where,
                           f"{what} answered {s.status} {bad_5xx} times in a row after its "
                           f"{policy.start_period:g}s start period: {describe(samples)}")
        # once passing, samples are `interval` apart so N in a row means N over time; before,
        # poll faster (the instance is still starting)
        wait = policy.interval if good or s.is_5xx else min(policy.interval, policy.poll)
        if clock() + wait > end:
            raise _failure(DEADLINE, samples, policy, logs, what, where,
                           f"{what} did not answer 2xx {policy.count} times in a row within "
                           f"{policy.deadline:g}s: {describe(samples)}")
        sleep(wait)


def _state_words(state: str) -> str:
    return {EXITED: "exited", RESTARTED: "restarted", GONE: "is gone"}.get(state, state)


def _failure(reason: str, samples: list[Sample], policy: Policy,
             logs: Callable[[], list[str]] | None, what: str, where: str | None,
             text: str) -> GateError:
    lines: list[str] = []
    if logs is not None:
        try:
            lines = list(logs())
        except Exception as exc:  # a failing log read must not hide why the gate failed
            lines = [f"(last log lines unavailable: {type(exc).__name__})"]
    hint = {
        EXITED: "the app exits on start; its last log lines say why",
        RESTARTED: "the app crashed and was restarted; its last log lines say why",
        GONE: "the instance was removed while it was gated; check who else changes this "
              "environment",
        FAIL_5XX: "the app starts but answers errors; its last log lines say why",
        DEADLINE: "the app did not become healthy in time; see its last log lines, or raise "
                  "gate.deadline if it is just slow to start",
    }[reason]
    return GateError(text, reason=reason, samples=samples, logs=lines, where=where, hint=hint)
