"""What a person sees of a gate while the app boots: one line for the samples before the app
listens (how many, how long, why), then every sample once it answers; the event stream and
`--json` keep every sample. The gate itself is unchanged (tests/core/test_gate.py)."""

from __future__ import annotations

import io
import json
import re

from cockpit.events import HealthSample, StepFailed, StepFinished, StepStarted
from cockpit.gate import BootWait
from cockpit.output import HumanRenderer, JsonRenderer

REFUSED = "connection refused: nothing listens on 192.168.0.3:8000"


def refused(env: str = "prod") -> HealthSample:
    return HealthSample(ok=False, status=None, latency_ms=1.0, error=REFUSED, env=env)


def answer(status: int = 200, env: str = "prod") -> HealthSample:
    return HealthSample(ok=200 <= status < 300, status=status, latency_ms=12.0,
                        error="" if status < 300 else f"HTTP {status}", env=env)


def boot(app_answers: bool = True, env: str = "prod") -> list:
    """A gate's events as a VPS deploy emits them: 19 refused samples, then 3 answers."""
    events = [StepStarted("gate_pre", "health gate on the host, slot blue", env=env)]
    events += [refused(env) for _ in range(19)]
    if app_answers:
        events += [answer(env=env) for _ in range(3)]
        events.append(StepFinished("gate_pre", "22 samples", env=env, seconds=2.1))
    else:
        events.append(StepFailed("gate_pre", "did not answer 2xx 3 times in a row", env=env))
    return events


def human(events: list) -> list[str]:
    out, err = io.StringIO(), io.StringIO()
    r = HumanRenderer(out=out, err=err)
    for event in events:
        r.emit(event)
    r.close()
    return [re.sub(r"\b\d+\.\ds\b", "N s", line) for line in err.getvalue().splitlines()]


def test_one_line_says_how_long_the_app_took_to_listen_then_its_answers_show() -> None:
    lines = human(boot())
    health = [line for line in lines if "health" in line and "gate" not in line]
    assert len(health) == 4, lines
    assert health[0] == (f"[prod]   health waited N s for the app to listen: 19 samples "
                         f"without an answer ({REFUSED})")
    assert all(line.startswith("[prod]   health ok 200") for line in health[1:])
    assert not any("health fail" in line for line in lines)


def test_an_app_that_never_listens_gets_its_failure_at_the_end() -> None:
    lines = human(boot(app_answers=False))
    fails = [line for line in lines if "health fail" in line]
    assert fails == [f"[prod]   health fail no answer from the app in N s: 19 samples "
                     f"({REFUSED})"], lines
    assert lines.index(fails[0]) < next(i for i, line in enumerate(lines) if "✗" in line)


def test_the_json_stream_keeps_every_sample() -> None:
    out = io.StringIO()
    r = JsonRenderer(out)
    for event in boot():
        r.emit(event)
    health = [json.loads(line) for line in out.getvalue().splitlines()
              if json.loads(line)["type"] == "health"]
    assert len(health) == 22
    assert [h["error"] for h in health[:19]] == [REFUSED] * 19


def test_once_the_app_answered_every_failure_shows_as_it_comes() -> None:
    events = boot()[:-1] + [answer(503), refused(), answer()]
    lines = human(events)
    assert any("health fail 503" in line for line in lines)
    assert any(f"health fail {REFUSED}" in line for line in lines)  # it answered before


def test_each_environment_and_each_gate_waits_on_its_own() -> None:
    lines = human(boot(env="staging") + boot(env="prod"))
    waited = [line for line in lines if "waited" in line]
    assert [line.split()[0] for line in waited] == ["[staging]", "[prod]"]


def test_the_wait_is_counted_and_timed_by_the_clock() -> None:
    ticks = iter([10.0 + 0.1 * i for i in range(30)])
    wait = BootWait(clock=lambda: next(ticks))
    for _ in range(19):
        assert wait.feed(refused()) == (None, False)
    said, show = wait.feed(answer())
    assert show and said == f"waited 1.9s for the app to listen: 19 samples without an answer " \
                            f"({REFUSED})"
    assert wait.feed(refused()) == (None, True)  # after the first answer, shown as is
    assert wait.flush() is None


def test_different_reasons_are_counted_apart() -> None:
    ticks = iter(range(10))
    wait = BootWait(clock=lambda: float(next(ticks)))
    wait.feed(refused())
    wait.feed(refused())
    wait.feed(HealthSample(ok=False, status=None, latency_ms=5000.0, error="no answer: timeout"))
    assert wait.flush() == (f"no answer from the app in 2.0s: 3 samples ({REFUSED} ×2; "
                            "no answer: timeout ×1)")
