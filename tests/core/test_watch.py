"""The watch window's judgement (cockpit.watch): limits from cockpit.toml, the 5xx ratio from
real traffic or the window's probes, p95, restarts and readiness; the loop with a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit import config
from cockpit.errors import ConfigError
from cockpit.events import HealthSample, WatchSample
from cockpit.watch import Limits, TrafficSample, Window, p95, resolve_limits, watch

BASE = """\
[app]
name = "hello"

[environments.staging]
provider = "vps"
host = "127.0.0.1"
host_port = 8101
domain = "staging.hello.test"
"""


def env_with(watch_table: str = ""):
    text = BASE + (f"\n[environments.staging.watch]\n{watch_table}\n" if watch_table else "")
    return config.loads(text).env("staging")


def limits(**kw) -> Limits:
    base = {"seconds": 60.0, "max_5xx_ratio": 0.05, "max_p95_ms": 500.0, "min_requests": 10}
    return Limits(**{**base, **kw})


def ok(ms: float = 20.0) -> HealthSample:
    return HealthSample(ok=True, status=200, latency_ms=ms)


def bad(status: int | None = 500, ms: float = 20.0) -> HealthSample:
    return HealthSample(ok=False, status=status, latency_ms=ms, error=f"HTTP {status}")


# --------------------------------------------------------------------------- config


def test_defaults_and_keys(monkeypatch):
    monkeypatch.delenv("COCKPIT_WATCH_SECONDS", raising=False)
    w = env_with().watch
    assert (w.seconds, w.max_5xx_ratio, w.max_p95_ms, w.min_requests) == (60.0, 0.05, None, 10)
    w = env_with("seconds = 20\nmax_5xx_ratio = 0.2\nmax_p95_ms = 800\nmin_requests = 3").watch
    assert (w.seconds, w.max_5xx_ratio, w.max_p95_ms, w.min_requests) == (20, 0.2, 800, 3)


def test_bad_watch_keys_name_file_line_and_key():
    with pytest.raises(ConfigError) as info:
        env_with("secs = 20")
    assert info.value.message.startswith("cockpit.toml:11:8: environments.staging.watch.secs: "
                                         "unknown key")
    with pytest.raises(ConfigError) as info:
        env_with("max_5xx_ratio = 5")
    assert "environments.staging.watch.max_5xx_ratio: expected a ratio 0-1" in info.value.message


def test_the_watch_table_is_not_part_of_the_config_hash():
    assert env_with().config_hash == env_with("seconds = 5").config_hash


def test_limits_default_p95_is_three_times_the_previous_at_least_500(monkeypatch):
    monkeypatch.delenv("COCKPIT_WATCH_SECONDS", raising=False)
    env = env_with()
    assert resolve_limits(env, 300.0, "r1").max_p95_ms == 900.0
    assert "r1" in resolve_limits(env, 300.0, "r1").p95_source
    assert resolve_limits(env, 40.0, "r1").max_p95_ms == 500.0
    assert resolve_limits(env, None).max_p95_ms == 1500.0
    assert resolve_limits(env_with("max_p95_ms = 250"), 300.0).max_p95_ms == 250.0
    assert resolve_limits(env, None).seconds == 60.0


def test_seconds_from_the_environment_only_when_cockpit_toml_sets_none(monkeypatch):
    monkeypatch.setenv("COCKPIT_WATCH_SECONDS", "7")
    assert resolve_limits(env_with(), None).seconds == 7.0
    assert resolve_limits(env_with("seconds = 30"), None).seconds == 30.0
    monkeypatch.setenv("COCKPIT_WATCH_SECONDS", "soon")
    assert resolve_limits(env_with(), None).seconds == 60.0


# --------------------------------------------------------------------------- judgement


def test_p95_nearest_rank():
    assert p95([]) is None
    assert p95([5.0]) == 5.0
    assert p95([float(i) for i in range(1, 101)]) == 95.0
    assert p95([float(i) for i in range(1, 21)]) == 19.0


def test_traffic_counters_decide_the_ratio_as_deltas():
    w = Window(limits())
    w.add_traffic(TrafficSample(requests=1000, errors_5xx=40, source="haproxy"))
    w.add_traffic(TrafficSample(requests=1100, errors_5xx=44, source="haproxy"))
    assert (w.requests, w.errors, w.ratio_source) == (100, 4, "haproxy")
    assert w.breach() is None  # 4% <= 5%, the 40 old errors are not this release's
    w.add_traffic(TrafficSample(requests=1200, errors_5xx=52, source="haproxy"))
    reason = w.breach()
    assert reason == "5xx ratio 12/200 = 6.0% is above 5.0% (haproxy)"


def test_min_requests_holds_the_ratio_back():
    w = Window(limits(min_requests=10))
    w.add_traffic(TrafficSample(requests=0, errors_5xx=0))
    w.add_traffic(TrafficSample(requests=9, errors_5xx=9))
    assert w.breach() is None
    w.add_traffic(TrafficSample(requests=10, errors_5xx=10))
    assert "10/10 = 100.0%" in w.breach()


def test_without_request_counts_the_probes_decide():
    w = Window(limits(min_requests=4))
    w.add_traffic(TrafficSample(restarts=0, unready=0, source="pods"))  # no request counters
    for sample in (ok(), ok(), ok(), HealthSample(ok=False, status=404, latency_ms=5.0)):
        w.add_probe(sample)
    assert (w.requests, w.errors) == (4, 0)  # a 404 is not a 5xx
    w.add_probe(bad(None))
    assert w.errors == 1
    assert w.breach() == "5xx ratio 1/5 = 20.0% is above 5.0% (the window's probes)"


def test_a_fly_probe_without_status_counts_only_when_it_fails():
    w = Window(limits(min_requests=2))
    w.add_probe(HealthSample(ok=True, status=None, latency_ms=30.0, detail="checks 2/2"))
    w.add_probe(HealthSample(ok=True, status=None, latency_ms=30.0, detail="checks 2/2"))
    assert w.errors == 0 and w.breach() is None


def test_p95_needs_five_probes_then_breaches_above_the_limit():
    w = Window(limits(max_p95_ms=500.0, p95_source="cockpit.toml"))
    for _ in range(4):
        w.add_probe(ok(900.0))
    assert w.breach() is None
    w.add_probe(ok(900.0))
    assert w.breach() == "p95 latency 900 ms over 5 probes is above 500 ms (cockpit.toml)"


def test_a_restart_during_the_window_is_a_breach():
    w = Window(limits())
    w.add_traffic(TrafficSample(restarts=3, instances=2, source="pods of release r2"))
    w.add_traffic(TrafficSample(restarts=3, instances=2, source="pods of release r2"))
    assert w.breach() is None  # restarts before the window do not count
    w.add_traffic(TrafficSample(restarts=4, instances=2, source="pods of release r2"))
    assert w.breach() == ("1 restart(s) of the release's instances during the window "
                          "(pods of release r2)")


def test_unready_instances_breach_after_three_samples_in_a_row():
    w = Window(limits())
    for unready in (1, 1, 0, 1, 1):
        w.add_traffic(TrafficSample(unready=unready, instances=2, detail="pod a not ready"))
        assert w.breach() is None
    w.add_traffic(TrafficSample(unready=1, instances=2, detail="pod a not ready"))
    assert w.breach() == "1 of 2 instance(s) not ready for 3 samples in a row (pod a not ready)"


def test_summary_holds_the_numbers():
    w = Window(limits())
    w.add_traffic(TrafficSample(requests=10, errors_5xx=0, latency_ms=12.0, source="haproxy"))
    w.add_traffic(TrafficSample(requests=30, errors_5xx=1, latency_ms=14.0, source="haproxy"))
    w.add_probe(ok(10.0))
    s = w.summary()
    assert (s["requests"], s["errors_5xx"], s["ratio"], s["p95_ms"]) == (20, 1, 0.05, 10.0)
    assert s["target_latency_ms"] == 14.0 and s["max_p95_ms"] == 500.0


# --------------------------------------------------------------------------- the loop


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_loop_passes_a_quiet_window_and_counts_down():
    clock, events = FakeClock(), []
    verdict = watch("staging", limits(seconds=5), lambda: ok(), None, events.append,
                    clock=clock, sleep=clock.sleep)
    samples = [e for e in events if isinstance(e, WatchSample)]
    assert verdict.ok and verdict.reason == ""
    assert [s.seconds_left for s in samples] == [5, 4, 3, 2, 1, 0]
    assert samples[-1].final and not any(s.final for s in samples[:-1])
    assert samples[-1].requests == 6 and samples[-1].p95_ms == 20.0


def test_the_loop_stops_at_the_first_breach():
    clock, events = FakeClock(), []
    counters = iter(range(0, 1000, 10))

    def traffic() -> TrafficSample:
        n = next(counters)
        return TrafficSample(requests=n, errors_5xx=max(0, n - 20), source="haproxy")

    verdict = watch("staging", limits(seconds=60), lambda: ok(), traffic, events.append,
                    clock=clock, sleep=clock.sleep)
    assert not verdict.ok
    assert verdict.reason.startswith("5xx ratio 10/30 = 33.3% is above 5.0%")
    last = [e for e in events if isinstance(e, WatchSample)][-1]
    assert last.final and not last.ok and last.reason == verdict.reason
    assert verdict.elapsed == 3.0


def test_an_unreadable_target_is_said_once_and_the_probes_go_on():
    from cockpit.errors import ProviderError
    from cockpit.events import Message

    clock, events = FakeClock(), []

    def traffic() -> TrafficSample:
        raise ProviderError("the switch did not answer")

    verdict = watch("staging", limits(seconds=6), lambda: ok(), traffic, events.append,
                    clock=clock, sleep=clock.sleep)
    said = [e.text for e in events if isinstance(e, Message)]
    assert verdict.ok and len(said) == 1 and "the switch did not answer" in said[0]


# --------------------------------------------------------------------------- samplers

# `show stat` of HAProxy 2.6 (the lab's) after 3 answers 200 and one 404 through slot blue
STAT = (Path(__file__).parent / "haproxy_show_stat.csv").read_text()


def with_backend_5xx(text: str, value: int) -> str:
    """STAT with the BACKEND row's hrsp_5xx set to `value`."""
    lines = text.splitlines()
    header = lines[0][2:].split(",")
    col = header.index("hrsp_5xx")
    for i, line in enumerate(lines):
        cells = line.split(",")
        if len(cells) > 1 and cells[1] == "BACKEND":
            cells[col] = str(value)
            lines[i] = ",".join(cells)
    return "\n".join(lines) + "\n"


def test_vps_sampler_reads_the_backend_counters_and_the_release_slot():
    from cockpit.providers.vps.traffic import parse_stat, sample_from_stat

    rows = parse_stat(STAT, "hello-staging")
    assert set(rows) == {"blue", "green", "BACKEND"}
    s = sample_from_stat(STAT, "hello-staging", "blue")
    assert (s.requests, s.errors_5xx, s.unready, s.latency_ms) == (4, 0, 0, 3.0)
    assert s.source == "HAProxy backend hello-staging"
    assert s.detail == "slot blue: no check, 0 5xx of 4 answers, avg 3 ms"
    bad = with_backend_5xx(STAT, 7)
    assert sample_from_stat(bad, "hello-staging", "blue").errors_5xx == 7


def test_vps_sampler_without_the_backend_says_to_run_setup():
    from cockpit.providers.vps.traffic import sample_from_stat

    from cockpit.errors import ProviderError

    with pytest.raises(ProviderError) as info:
        sample_from_stat(STAT, "other-prod", "blue")
    assert "cockpit setup" in (info.value.hint or "")


def _pod(name: str, release: str, ready: bool, restarts: int) -> dict:
    return {"metadata": {"name": name, "labels": {"release": release}},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"restartCount": restarts}]}}


def test_kubernetes_sampler_counts_the_release_pods_readiness_and_restarts():
    from cockpit.providers.kubernetes.traffic import sample_from_pods

    pods = [_pod("a", "r2", True, 1), _pod("b", "r2", False, 2), _pod("c", "r1", False, 9)]
    s = sample_from_pods(pods, "r2")
    assert (s.restarts, s.unready, s.instances, s.requests) == (3, 1, 2, None)
    assert s.detail == "1/2 pods ready (not ready: b), 3 restarts in total"
    assert sample_from_pods([], "r2").unready == 1


def _machine(mid: str, release: str, events: list[dict], check: str = "passing") -> dict:
    return {"id": mid, "state": "started", "checks": [{"name": "up", "status": check}],
            "events": events,
            "config": {"metadata": {"cockpit_release": release, "cockpit_env": "staging"}}}


def test_fly_sampler_counts_new_restart_events_by_id():
    from cockpit.providers.fly.machines import META_RELEASE
    from cockpit.providers.fly.traffic import sample_from_machines

    def machine(mid, release, events, check="passing"):
        m = _machine(mid, release, events, check)
        m["config"]["metadata"] = {META_RELEASE: release}
        return m

    old = [{"id": "e1", "type": "exit"}, {"id": "e2", "type": "start"}]
    first, seen = sample_from_machines([machine("m1", "r2", old)], "hello", "staging", "r2", None)
    assert first.restarts == 0 and first.unready == 0 and seen == {"m1/e1"}
    new = [{"id": "e3", "type": "restart"}, *old]
    later, _ = sample_from_machines([machine("m1", "r2", new, "critical"),
                                     machine("m9", "r1", new)], "hello", "staging", "r2", seen)
    assert (later.restarts, later.unready, later.instances) == (1, 1, 1)


def test_the_cli_line_says_time_left_ratio_and_p95_against_their_limits():
    from cockpit.output import watch_line

    sample = WatchSample(env="staging", n=3, seconds=60, seconds_left=57.2, requests=120,
                         errors_5xx=1, ratio=1 / 120, p95_ms=41.6, max_5xx_ratio=0.05,
                         max_p95_ms=500)
    assert watch_line(sample) == ("watch 57s left · 5xx 1/120 = 0.8% (max 5.0%) · p95 42 ms "
                                  "(max 500 ms)")
    breach = WatchSample(env="staging", n=9, seconds=60, seconds_left=51, requests=80,
                         errors_5xx=9, ratio=9 / 80, p95_ms=None, max_5xx_ratio=0.05,
                         max_p95_ms=500, ok=False, final=True, reason="5xx ratio 9/80")
    assert watch_line(breach) == ("watch BREACH · 5xx 9/80 = 11.2% (max 5.0%) · p95 - "
                                  "(max 500 ms): 5xx ratio 9/80")


def test_the_run_screen_row_counts_down_and_marks_a_crossed_limit():
    from cockpit.screens.widgets.run_panel import watch_text

    mid = WatchSample(env="staging", n=19, seconds=60, seconds_left=42, requests=230,
                      errors_5xx=2, ratio=2 / 230, p95_ms=35.0, max_5xx_ratio=0.05,
                      max_p95_ms=500)
    text = watch_text(mid)
    assert text.plain == ("watch ━━━━━━━━━━━━━━━━━━━━ 42s left  5xx 2/230 = 0.9% (≤ 5.0%)  "
                          "p95 35 ms (≤ 500 ms)")
    assert [s.style for s in text.spans if s.style == "cyan"] == ["cyan"]  # 6 of 20 elapsed
    breach = WatchSample(env="staging", n=8, seconds=60, seconds_left=53, requests=83,
                         errors_5xx=6, ratio=6 / 83, p95_ms=12.0, max_5xx_ratio=0.05,
                         max_p95_ms=1500, ok=False, final=True, restarts=1)
    text = watch_text(breach)
    assert text.plain == ("watch ✗ breach  5xx 6/83 = 7.2% (≤ 5.0%)  p95 12 ms (≤ 1500 ms)  "
                          "1 restart(s)")
    assert any(s.style == "bold red" and text.plain[s.start:s.end] == "6/83 = 7.2%"
               for s in text.spans)


def test_the_contract_default_tells_nothing_and_the_window_judges_its_probes():
    from cockpit.provider import Provider
    from cockpit.watch import watch_traffic

    class Plain:  # a provider without the hook at all
        pass

    assert Provider.watch_traffic(Plain(), env_with(), None) is None  # type: ignore[arg-type]
    assert watch_traffic(Plain(), env_with(), None) is None


@pytest.mark.parametrize("argv", [["deploy", "staging"], ["promote", "staging", "prod"],
                                  ["rollback", "staging"]])
def test_no_watch_on_every_switching_command(argv):
    from cockpit.cli import build_parser
    from cockpit.cli._common import options

    parser = build_parser()
    assert options(parser.parse_args([*argv, "--no-watch"])).no_watch is True
    assert options(parser.parse_args(argv)).no_watch is False


def test_the_tui_confirmation_says_what_the_window_will_do(monkeypatch):
    from cockpit.screens.run import watch_notes

    monkeypatch.setenv("COCKPIT_WATCH_SECONDS", "0")
    assert watch_notes(env_with(), "r1") == []
    assert watch_notes(env_with("seconds = 45"), "r1") == [
        "Then a 45 s watch window: more than 5% 5xx, a slow p95 or a restart switches back to "
        "release r1 (--no-watch on the command line skips it)."]


def test_a_breach_with_nothing_to_switch_back_to_is_a_failed_release_not_a_rollback():
    from cockpit.watch import WatchBreached

    kept = WatchBreached("went bad", summary={}, rolled_back_to=None)
    back = WatchBreached("went bad", summary={}, rolled_back_to="r1")
    assert (kept.release_status, kept.audit_outcome, kept.exit_code) == (
        "failed", "watch window breached", 3)
    assert (back.release_status, back.audit_outcome) == ("rolled_back",
                                                         "rolled back by the watch window")
    assert back.to_dict()["rolled_back_to"] == "r1" and back.release_meta["watch"]["breach"]
