"""The one gate's semantics (cockpit.gate), with a scripted sampler and a fake clock: no
provider, no network, no sleeping."""

from __future__ import annotations

import pytest

from cockpit import gate
from cockpit.config import GateConfig
from cockpit.errors import EXIT_GATE
from cockpit.events import HealthSample
from cockpit.gate import GateError, Policy, Sample


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(clock: Clock, *samples: Sample, cost: float = 0.01):
    """A sampler answering `samples` in order (the last one forever); each takes `cost` s."""
    queue = list(samples)
    timeouts: list[float] = []

    def sample(timeout: float) -> Sample:
        timeouts.append(timeout)
        clock.now += cost
        s = queue.pop(0) if len(queue) > 1 else queue[0]
        return Sample(**{**s.__dict__})

    sample.timeouts = timeouts  # type: ignore[attr-defined]
    return sample


OK = Sample(ok=True, status=200)
E500 = Sample(ok=False, status=500, error="HTTP 500")
REFUSED = Sample(ok=False, status=None, error="ConnectError", state=gate.STARTING)


def run(sample, policy: Policy, clock: Clock, **kw):
    return gate.run(sample, policy, clock=clock, sleep=clock.sleep, **kw)


def test_passes_after_count_consecutive_good_samples_interval_apart():
    clock = Clock()
    sampler = scripted(clock, REFUSED, REFUSED, OK, E500, OK, OK, OK)
    result = run(sampler, Policy(count=3, interval=0.5, timeout=2.0, deadline=60), clock)
    assert [s.ok for s in result.samples] == [False, False, True, False, True, True, True]
    # before the first success it polls fast; good samples are `interval` apart
    assert clock.sleeps[:2] == [0.05, 0.05] and clock.sleeps[-2:] == [0.5, 0.5]
    assert sampler.timeouts[0] == 2.0  # each sample gets the gate's timeout


def test_count_one_passes_on_the_first_good_sample():
    clock = Clock()
    result = run(scripted(clock, OK), Policy(count=1), clock)
    assert len(result.samples) == 1 and clock.sleeps == []


def test_fails_fast_when_the_instance_exited_with_its_logs():
    clock = Clock()
    exited = Sample(ok=False, state=gate.EXITED, detail="exit code 3", error="not running")
    sampler = scripted(clock, REFUSED, REFUSED, exited)
    with pytest.raises(GateError) as info:
        run(sampler, Policy(deadline=60), clock, logs=lambda: ["boom: no DATABASE_URL"],
            what="release r1")
    err = info.value
    assert err.reason == gate.EXITED and err.exit_code == EXIT_GATE
    assert len(err.samples) == 3 and err.logs == ["boom: no DATABASE_URL"]
    assert "release r1 exited (exit code 3)" in err.what
    assert clock.now - 100.0 < 1.0  # not the 60 s deadline


def test_fails_fast_when_the_instance_restarted():
    clock = Clock()
    restarted = Sample(ok=True, status=200, state=gate.RESTARTED, detail="restart count 1")
    with pytest.raises(GateError) as info:
        run(scripted(clock, OK, restarted), Policy(count=3), clock)
    assert info.value.reason == gate.RESTARTED  # a good answer does not outweigh a restart


def test_fails_fast_on_a_5xx_streak_after_the_start_period():
    clock = Clock()
    policy = Policy(count=3, interval=0.5, deadline=60, start_period=5, fail_streak=5)
    with pytest.raises(GateError) as info:
        run(scripted(clock, E500), policy, clock, logs=lambda: ["Traceback: db down"])
    err = info.value
    assert err.reason == gate.FAIL_5XX and err.logs == ["Traceback: db down"]
    elapsed = clock.now - 100.0
    assert 5.0 <= elapsed < 6.0  # the start period, not the 60 s deadline
    assert all(s.status == 500 for s in err.samples)
    assert "answered 500" in err.what and "start period" in err.what
    assert "500×" in err.what


def test_5xx_during_the_start_period_is_waited_on_and_a_recovery_passes():
    clock = Clock()
    policy = Policy(count=2, interval=0.5, deadline=60, start_period=5, fail_streak=3)
    sampler = scripted(clock, *([E500] * 6), OK, OK)  # 6 × 0.5 s: within the start period
    result = run(sampler, policy, clock)
    assert [s.status for s in result.samples][-2:] == [200, 200]


def test_a_streak_broken_by_another_answer_does_not_fail_fast():
    clock = Clock()
    policy = Policy(count=3, interval=0.5, deadline=8, start_period=0, fail_streak=3)
    sampler = scripted(clock, E500, E500, REFUSED, E500, E500, REFUSED, E500, E500, REFUSED)
    with pytest.raises(GateError) as info:
        run(sampler, policy, clock)
    assert info.value.reason == gate.DEADLINE


def test_deadline_fails_with_every_sample_and_says_why():
    clock = Clock()
    with pytest.raises(GateError) as info:
        run(scripted(clock, REFUSED), Policy(count=3, interval=0.5, deadline=2), clock,
            where="host:8101")
    err = info.value
    assert err.reason == gate.DEADLINE and err.where == "host:8101"
    assert clock.now - 100.0 <= 2.0 + 0.05
    assert len(err.samples) > 10 and "no answer×" in err.what
    assert err.to_dict()["reason"] == "deadline" and err.to_dict()["samples"]


def test_a_failing_log_read_does_not_hide_the_gate_failure():
    clock = Clock()

    def logs() -> list[str]:
        raise OSError("ssh gone")

    with pytest.raises(GateError) as info:
        run(scripted(clock, Sample(ok=False, state=gate.GONE)), Policy(), clock, logs=logs)
    assert info.value.logs == ["(last log lines unavailable: OSError)"]


def test_a_sampler_error_is_not_a_verdict_it_propagates():
    clock = Clock()

    def sample(timeout: float) -> Sample:
        raise RuntimeError("API 429")

    with pytest.raises(RuntimeError):
        run(sample, Policy(), clock)


def test_the_timeout_is_cut_to_what_is_left_of_the_deadline():
    clock = Clock()
    sampler = scripted(clock, REFUSED, cost=0.4)
    with pytest.raises(GateError):
        run(sampler, Policy(count=1, interval=0.5, timeout=5, deadline=1), clock)
    assert sampler.timeouts[0] == 1 and max(sampler.timeouts[1:]) < 1


def test_emits_one_health_event_per_sample():
    clock = Clock()
    events: list[HealthSample] = []
    run(scripted(clock, REFUSED, OK), Policy(count=1), clock, emit=events.append, env="prod")
    assert [e.ok for e in events] == [False, True] and events[0].env == "prod"
    assert events[0].detail == "starting"


def test_policy_from_the_config_and_a_provider_rate_limit():
    cfg = GateConfig(count=4, interval=0.1, timeout=2.0, deadline=30.0)
    policy = Policy.of(cfg, min_poll=0.25)
    assert (policy.count, policy.timeout, policy.deadline) == (4, 2.0, 30.0)
    assert policy.poll == 0.25 and policy.interval == 0.25
    assert (policy.start_period, policy.fail_streak) == (5.0, 5)


def test_wait_healthy_keeps_its_shape_on_the_one_gate():
    from cockpit.probes import wait_healthy

    answers = iter([False, True, True])
    ok, samples = wait_healthy(
        lambda: HealthSample(ok=(a := next(answers)), status=200 if a else 503, latency_ms=1),
        2, 0.001, 5)
    assert ok and len(samples) == 3 and isinstance(samples[0], HealthSample)


def test_wait_healthy_fails_fast_on_a_5xx_streak_as_the_vps_gates_do():
    from cockpit.probes import wait_healthy

    calls = []

    def probe() -> HealthSample:
        calls.append(1)
        return HealthSample(ok=False, status=500, latency_ms=1, error="HTTP 500")

    ok, samples = wait_healthy(probe, 3, 0.001, 600, start_period=0, fail_streak=4)
    assert not ok and len(samples) == 4  # not probed until the 600 s deadline
