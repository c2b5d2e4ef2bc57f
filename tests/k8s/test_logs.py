"""Following the logs of every pod of an environment: new pods join, reconnects de-duplicate."""

from __future__ import annotations

import re
import threading
import time

import pytest

from cockpit import pipeline
from cockpit.redaction import MASK

from .conftest import IMAGE_LEAKY, SECRET_STAGING, Recorder

pytestmark = pytest.mark.timeout(60)
TICK_V1 = "registry.example.test/shop@sha256:" + "a" * 64
TICK_V2 = "registry.example.test/shop@sha256:" + "b" * 64


class Collector:
    """Reads a follow iterator in a thread until told to stop (after the next line)."""

    def __init__(self, lines_iter) -> None:
        self.iter = lines_iter
        self.lines = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for line in self.iter:
            self.lines.append(line)
            if self.done.is_set():
                break
        self.iter.close()

    def wait_for(self, predicate, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(list(self.lines)):
                return
            time.sleep(0.05)
        raise AssertionError(f"not seen in time; got {len(self.lines)} lines")

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture
def ticking(emulator):
    emulator.image(TICK_V1, log_every=0.05)
    emulator.image(TICK_V2, log_every=0.05, logs=["v2 starting"])
    return emulator


def test_non_follow_returns_the_existing_lines_of_every_pod(project, ticking):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=TICK_V1)
    env = ctx.config.env("staging")
    lines = list(pipeline.provider_for(ctx, env).logs(env, follow=False))
    sources = {line.source for line in lines}
    assert len(sources) == 2 and all(s.startswith("shop-") for s in sources)
    assert all(line.ts and line.env == "staging" for line in lines)
    assert any(line.line.startswith("listening on") for line in lines)


def test_the_backlog_of_all_pods_comes_merged_in_time_order_then_follows(project, ticking):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=TICK_V1)
    time.sleep(0.5)  # both pods have logged several ticks
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    backlog = list(provider.logs(env, follow=False, tail=5))
    assert len({line.source for line in backlog}) == 2 and len(backlog) == 10
    assert [line.ts for line in backlog] == sorted(line.ts for line in backlog)

    collector = Collector(provider.logs(env, follow=True, tail=5))
    collector.wait_for(lambda ls: len(ls) >= 20)
    collector.stop()
    head = collector.lines[:10]
    assert [line.ts for line in head] == sorted(line.ts for line in head)
    for pod in {line.source for line in collector.lines}:  # then each pod, without a repeat
        ticks = [line.line for line in collector.lines if line.source == pod]
        assert len(ticks) == len(set(ticks)), f"{pod} repeated a line after its backlog"


def test_tail_limits_lines_per_pod(project, ticking):
    ctx = project(replicas=1)
    pipeline.deploy(ctx, "staging", Recorder(), image=TICK_V1)
    time.sleep(0.5)
    env = ctx.config.env("staging")
    lines = list(pipeline.provider_for(ctx, env).logs(env, follow=False, tail=2))
    assert len(lines) == 2


def test_follow_picks_up_pods_of_a_new_release(project, ticking):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=TICK_V1)
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    collector = Collector(provider.logs(env, follow=True))
    collector.wait_for(lambda ls: any(line.line.startswith("tick") for line in ls))
    before = {line.source for line in collector.lines}

    pipeline.deploy(ctx, "staging", Recorder(), image=TICK_V2)
    collector.wait_for(lambda ls: any(line.line == "v2 starting" for line in ls))
    collector.stop()
    new_sources = {line.source for line in collector.lines if line.line == "v2 starting"}
    assert new_sources and not (new_sources & before)


def test_reconnects_resume_without_duplicates_or_gaps(project, ticking):
    ctx = project(replicas=1)
    pipeline.deploy(ctx, "staging", Recorder(), image=TICK_V1)
    ticking.log_stream_max_seconds = 0.2  # the server cuts every stream, like an idle LB
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    follower_iter = provider.logs(env, follow=True, tail=1)
    collector = Collector(follower_iter)
    collector.wait_for(lambda ls: sum(1 for line in ls if line.line.startswith("tick")) >= 40)
    collector.stop()
    ticks = [int(m.group(1)) for line in collector.lines
             if (m := re.fullmatch(r"tick (\d+)", line.line))]
    assert len(ticks) == len(set(ticks)), "a reconnect repeated lines"
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), "a reconnect lost lines"
    reopened = [r for r in ticking.requests
                if r["path"].endswith("/log") and "sinceSeconds" in r["query"]]
    assert len(reopened) >= 3  # several streams were cut and reopened with sinceSeconds


def test_secret_values_in_pod_output_are_redacted(project, emulator):
    ctx = project(replicas=1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_LEAKY)
    env = ctx.config.env("staging")
    assert any(SECRET_STAGING in raw for raw in emulator.pod_logs(
        "shop-staging", emulator.list("v1", "pods", "shop-staging")[0]["metadata"]["name"]))
    lines = list(pipeline.provider_for(ctx, env).logs(env, follow=False))
    config_lines = [line.line for line in lines if line.line.startswith("config SECRET_KEY")]
    assert config_lines == [f"config SECRET_KEY={MASK}"]
    assert not any(SECRET_STAGING in line.line for line in lines)


def test_a_bounded_buffer_drops_lines_and_says_so(project, ticking):
    from cockpit.providers.kubernetes.logs import LogFollower

    ctx = project(replicas=1)
    pipeline.deploy(ctx, "staging", Recorder(), image=TICK_V1)
    time.sleep(0.6)
    env = ctx.config.env("staging")
    kube = pipeline.provider_for(ctx, env).kube(env)
    follower = LogFollower(kube, "app=shop,env=staging", "staging", follow=False, buffer=3)
    it = iter(follower)
    first = next(it)
    time.sleep(0.5)  # the reader fills the queue while we do not read
    rest = list(it)
    assert first.source.startswith("shop-")
    assert any("dropped" in line.line and line.source == "cockpit" for line in rest)
    assert follower.dropped > 0


def test_lines_survive_chunks_that_split_a_character_or_a_line():
    from cockpit.providers.kubernetes.logs import _lines, split_timestamp

    text = "2024-01-02T03:04:05.5Z héllo wörld\n2024-01-02T03:04:06Z ünïcode ✓\nlast"
    data = text.encode()

    class Resp:  # the urllib3 response surface _lines reads: stream()
        def stream(self, amt=None, decode_content=False):
            for i in range(0, len(data), 3):  # 3-byte chunks cut through characters
                yield data[i:i + 3]

    lines = list(_lines(Resp()))
    assert lines == text.split("\n")
    stamp, rest = split_timestamp(lines[0])
    assert stamp == (1704164645, 500_000_000) and rest == "héllo wörld"


def test_a_stop_event_ends_a_quiet_follow_and_closes_its_streams(project, emulator):
    ctx = project(replicas=1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_LEAKY.replace("e" * 64, "f" * 64))
    env = ctx.config.env("staging")
    stop = threading.Event()
    collector = Collector(pipeline.provider_for(ctx, env).logs(env, follow=True, stop=stop))
    collector.wait_for(lambda ls: any(line.line.startswith("listening") for line in ls))
    time.sleep(0.3)  # nothing more comes: the reader waits on a quiet stream
    stop.set()
    collector.thread.join(timeout=5)
    assert not collector.thread.is_alive(), "the follow kept running after stop was set"
    names = {t.name for t in threading.enumerate()}
    deadline = time.monotonic() + 5
    while any(n.startswith("k8s-log") for n in names) and time.monotonic() < deadline:
        time.sleep(0.1)
        names = {t.name for t in threading.enumerate()}
    assert not any(n.startswith("k8s-log-shop") for n in names), names
