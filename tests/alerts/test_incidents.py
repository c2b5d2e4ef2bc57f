"""The incident state machine and the alert throttle, driven by an injected clock (no sleeps,
no timed assertions): down after 3 failures, recovered after 2 good probes, one alert per
incident, hourly reminders, TLS thresholds, disk, restarts, and a restart of the watcher."""

from __future__ import annotations

from cockpit.state import Store
from cockpit.watcher import Probe, Target, Thresholds, Throttle, Tracker, Watcher


def store(tmp_path) -> Store:
    return Store(tmp_path / "state.db")


def test_down_after_three_failures_recovered_after_two_goods(tmp_path):
    tr = Tracker("prod", store(tmp_path))
    assert tr.observe_health(False, "refused", 100) == []
    assert tr.observe_health(False, "refused", 110) == []
    [down] = tr.observe_health(False, "refused", 120)
    assert down.alert == "down" and down.facts["since"] == 100
    assert "3 health probes in a row failed" in down.facts["what"]
    # still failing: no second alert for the same incident
    assert [tr.observe_health(False, "refused", t) for t in (130, 140, 150)] == [[], [], []]
    assert tr.observe_health(True, "", 160) == []  # one good probe is not a recovery
    assert tr.observe_health(False, "refused", 170) == []
    assert tr.observe_health(True, "", 180) == []
    [up] = tr.observe_health(True, "", 190)
    assert up.alert == "recovered" and up.incident == down.incident
    assert tr.store.incidents("prod")[0]["resolved_at"] == 190


def test_configurable_counts(tmp_path):
    tr = Tracker("prod", store(tmp_path), Thresholds(down_after=1, up_after=1))
    assert [a.alert for a in tr.observe_health(False, "x", 1)] == ["down"]
    assert [a.alert for a in tr.observe_health(True, "", 2)] == ["recovered"]


def test_hourly_reminder_while_it_lasts(tmp_path):
    tr = Tracker("prod", store(tmp_path))
    for t in (0, 10, 20):
        actions = tr.observe_health(False, "HTTP 502", t)
    assert [a.alert for a in actions] == ["down"]
    assert tr.reminders(20 + 3599) == []
    [again] = tr.reminders(20 + 3600)
    assert again.alert == "down" and again.facts["reminder"] is True
    assert tr.reminders(20 + 3600 + 1800) == []
    assert len(tr.reminders(20 + 7200)) == 1


def test_restarted_watcher_keeps_the_open_incident(tmp_path):
    st = store(tmp_path)
    tr = Tracker("prod", st)
    for t in (0, 1, 2):
        tr.observe_health(False, "refused", t)
    fresh = Tracker("prod", st)  # a new process reads the open incident back
    assert "down" in fresh.open
    assert [fresh.observe_health(False, "refused", t) for t in (3, 4, 5, 6)] == [[]] * 4
    fresh.observe_health(True, "", 7)
    assert [a.alert for a in fresh.observe_health(True, "", 8)] == ["recovered"]
    assert len(st.incidents("prod")) == 1


def test_tls_alerts_once_per_threshold(tmp_path):
    tr = Tracker("prod", store(tmp_path))
    assert tr.observe_tls(60, 0) == []
    [first] = tr.observe_tls(21, 1)
    assert first.alert == "tls" and first.facts["band"] == 21
    assert tr.observe_tls(20, 2) == [] and tr.observe_tls(15, 3) == []
    assert tr.observe_tls(14, 4)[0].facts["band"] == 14
    assert tr.observe_tls(7, 5)[0].facts["band"] == 7
    assert tr.observe_tls(6, 6) == [] and tr.observe_tls(None, 7) == []
    [renewed] = tr.observe_tls(89, 8)
    assert renewed.alert == "tls_ok"


def test_disk_and_restarts(tmp_path):
    tr = Tracker("prod", store(tmp_path))
    assert tr.observe_disk(50.0, 0) == []
    assert [a.alert for a in tr.observe_disk(9.5, 1)] == ["disk"]
    assert tr.observe_disk(8.0, 2) == [] and tr.observe_disk(11.0, 3) == []  # no flapping
    assert [a.alert for a in tr.observe_disk(12.0, 4)] == ["disk_ok"]
    assert tr.observe_restarts(2, 0) == []  # the first read is the baseline
    assert [a.alert for a in tr.observe_restarts(3, 1)] == ["restarts"]
    assert tr.observe_restarts(5, 2) == [] and tr.observe_restarts(5, 3) == []
    assert [a.alert for a in tr.observe_restarts(5, 4)] == ["restarts_ok"]


def test_throttle_caps_alerts_per_hour_and_says_how_many_were_held():
    th = Throttle(per_hour=2)
    assert th.allow("prod", 0) and th.allow("prod", 10)
    assert not th.allow("prod", 20) and not th.allow("prod", 30)
    assert th.allow("staging", 30)  # per environment
    assert th.allow("prod", 3600) and th.take_held("prod") == 2


def test_watcher_loop_flapping_target_never_storms(tmp_path):
    st = store(tmp_path)
    now = [0.0]
    outcomes = iter([False] * 3 + [True] * 2)  # down, then recovered

    def fake_probe(target, ts):  # the scripted answers of a probe
        ok = next(outcomes, False)
        return Probe(ok, 200 if ok else None, 5.0, "" if ok else "refused", None, ts)

    sent = []
    target = Target("hello", "prod", "https://hello.test/up", "https://hello.test")
    w = Watcher([target], st, lambda a: sent.append(a) or {"sent": ["x"], "failed": []},
                Thresholds(max_per_hour=3), clock=lambda: now[0], probe_fn=fake_probe)
    for _ in range(5 + 40):  # then down for good: 40 more failing rounds, 30 s apart
        w.step()
        now[0] += 30
    kinds = [a.alert for a in sent]
    assert kinds == ["down", "recovered", "down"]
    assert sent[0].facts["url"] == "https://hello.test"
    # one reminder an hour after the last alert, none before
    for _ in range(120):
        w.step()
        now[0] += 30
    assert [a.alert for a in sent] == ["down", "recovered", "down", "down"]
    assert sent[-1].facts["reminder"] is True
    assert len(st.samples("prod")) == 165
