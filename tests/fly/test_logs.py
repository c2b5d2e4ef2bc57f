"""Logs: next_token paging, backoff 64 ms → 4 s, merged per machine and region, redacted."""

from __future__ import annotations

import pytest

from cockpit import pipeline

pytestmark = pytest.mark.timeout(30)


class Stop(Exception):
    pass


def _setup(project, emu, n=12):
    ctx = project()
    env = ctx.config.env("staging")
    emu.create_app("shop-staging", "acme")
    for i in range(n):
        machine, region = ("m1", "iad") if i % 2 == 0 else ("m2", "ams")
        emu.add_log("shop-staging", machine, region, f"line {i}")
    return ctx, env, pipeline.provider_for(ctx, env)


def test_logs_page_through_next_token_in_order_with_sources(project, emu):
    emu.page_size = 5
    ctx, env, provider = _setup(project, emu)
    lines = list(provider.logs(env, follow=False))
    assert [ln.line for ln in lines] == [f"line {i}" for i in range(12)]
    assert {ln.source for ln in lines} == {"iad/m1", "ams/m2"}
    assert all(ln.env == "staging" and ln.ts for ln in lines)
    pages = [c for c in emu.calls if c[1].endswith("/logs")]
    assert len(pages) == 4  # 5 + 5 + 2, then an empty page ends a non-follow read


def test_logs_filter_by_machine_and_region_and_tail(project, emu):
    ctx, env, provider = _setup(project, emu)
    assert [ln.line for ln in provider.logs(env, follow=False, machine="m2")] == [
        f"line {i}" for i in range(1, 12, 2)]
    assert {ln.source for ln in provider.logs(env, follow=False, region="iad")} == {"iad/m1"}
    tail = [ln.line for ln in provider.logs(env, follow=False, tail=2)]
    assert tail == ["line 8", "line 9", "line 10", "line 11"]  # the last 2 of each machine


def test_logs_are_redacted(project, emu):
    ctx, env, provider = _setup(project, emu, n=0)
    emu.add_log("shop-staging", "m1", "iad", "connecting with s3cr3t-value-for-staging now")
    (line,) = list(provider.logs(env, follow=False))
    assert "s3cr3t" not in line.line and "••••" in line.line


def test_follow_backs_off_from_64ms_to_4s_and_resets_on_new_lines(project, emu):
    ctx, env, provider = _setup(project, emu, n=1)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 9:
            emu.add_log("shop-staging", "m1", "iad", "late line")
        if len(sleeps) == 11:
            raise Stop

    provider.sleep = sleep
    got = []
    with pytest.raises(Stop):
        for line in provider.logs(env, follow=True):
            got.append(line.line)
    assert got == ["line 0", "late line"]
    assert sleeps == [0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.0, 4.0, 4.0, 0.064, 0.128]


def test_follow_ends_between_polls_when_stop_is_set(project, emu):
    import threading

    ctx, env, provider = _setup(project, emu, n=2)
    stop = threading.Event()
    got = []

    def read():
        for line in provider.logs(env, follow=True, stop=stop):
            got.append(line.line)

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(100):
        if len(got) == 2:
            break
        reader.join(0.02)
    stop.set()
    reader.join(5)
    assert not reader.is_alive() and got == ["line 0", "line 1"]
