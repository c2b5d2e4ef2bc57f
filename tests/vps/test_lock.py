"""The deploy lock on the host: a second deploy is refused naming the holder, the lock is
refreshed while a deploy runs, an expired lock is taken over (saying whose it was), and
`cockpit lock status|release` show and clear it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from cockpit.errors import LockHeld
from tests.vps.conftest import APP

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(180)]


def _host(project, env="staging"):
    from cockpit.pipeline import provider_for

    ctx = project.ctx()
    e = ctx.config.env(env)
    return provider_for(ctx, e).host(e)


def _wait_for_step(proc, step: str, timeout: float = 60) -> list[dict]:
    seen = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        try:
            event = json.loads(line)
        except ValueError:
            continue
        seen.append(event)
        if event.get("type") == "step_started" and event.get("step") == step:
            return seen
    raise AssertionError(f"never reached step {step}: {seen[-5:]}")


def test_a_second_deploy_is_refused_naming_the_holder(ready, project):
    from cockpit import pipeline

    first = subprocess.Popen(
        [sys.executable, "-m", "cockpit", "deploy", "staging", "--json",
         "--image", project.images["broken"]], cwd=project.app_dir, env=project.env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_step(first, "gate_pre")  # holds the lock; its gate fails after 8 s
        with pytest.raises(LockHeld) as refused:
            pipeline.deploy(project.ctx(), "staging", project.collect(),
                            image=project.images["v2"])
        what = refused.value.what
        assert f"@{socket.gethostname()}" in what and f"pid {first.pid}" in what
        assert "`deploy`" in what and "since" in what
        assert "cockpit lock release staging" in refused.value.hint
        time.sleep(6.5)  # past the 6 s TTL: a deploy still running refreshed it (the gate
        # fails fast on the broken image, so it may have ended and released it by now; the
        # refresh itself is tested in tests/contract/test_lock.py)
        if first.poll() is None:
            with pytest.raises(LockHeld):
                pipeline.deploy(project.ctx(), "staging", project.collect(),
                                image=project.images["v2"])
    finally:
        out, err = first.communicate(timeout=60)
        project.outputs += [out, err]
    assert first.returncode == 3  # its own gate failed
    from cockpit.providers.vps import lock

    assert lock.status(_host(project)) is None


def test_an_expired_lock_is_taken_over_saying_whose_it_was(ready, project):
    from cockpit.providers.vps import commands as cmd

    from cockpit import pipeline
    from cockpit.events import Message

    host = _host(project)
    info = {"user": "alice", "machine": "laptop", "pid": 4242, "command": "deploy",
            "acquired_at": time.time()}
    host.run(cmd.lock_acquire(host.layout.lock_dir, json.dumps(info), 1, "tok"), step="test")
    assert "alice@laptop" in project.cli("lock", "status", "staging").stdout
    time.sleep(2.1)
    messages: list[str] = []

    def emit(event):
        if isinstance(event, Message):
            messages.append(event.text)

    release = pipeline.deploy(project.ctx(), "staging", emit, image=project.images["v2"])
    assert release.status == "healthy"
    assert any("took over an expired deploy lock" in m and "alice@laptop" in m
               for m in messages), messages


def test_lock_status_and_release_commands(ready, project):
    from cockpit.providers.vps import commands as cmd

    host = _host(project)
    info = {"user": "bob", "machine": "ci", "pid": 7, "command": "rollback",
            "acquired_at": time.time()}
    host.run(cmd.lock_acquire(host.layout.lock_dir, json.dumps(info), 600, "t"), step="test")
    status = project.cli("lock", "status", "staging", "--json", check=True)
    result = json.loads(status.stdout.strip().splitlines()[-1])
    assert json.dumps(result).count("bob@ci") == 1
    refused = project.cli("lock", "release", "staging", "--json")
    assert refused.returncode == 5  # needs --yes without a terminal
    project.cli("lock", "release", "staging", "--yes", check=True)
    assert "not locked" in project.cli("lock", "status", "staging", check=True).stdout
    assert APP == "zdt"


def test_reconcile_leaves_someone_elses_deploy_alone(ready, project):
    from cockpit.providers.vps import commands as cmd

    from cockpit.pipeline import provider_for

    host = _host(project)
    info = {"user": "carol", "machine": "other-laptop", "pid": 99, "command": "deploy",
            "acquired_at": time.time()}
    host.run(cmd.lock_acquire(host.layout.lock_dir, json.dumps(info), 600, "c"), step="test")
    try:
        ctx = project.ctx()
        env = ctx.config.env("staging")
        before = [c.name for c in host.containers()]
        with pytest.raises(LockHeld) as held:
            provider_for(ctx, env).reconcile(env, [], project.collect())
        assert "carol@other-laptop" in held.value.what
        assert [c.name for c in host.containers()] == before
    finally:
        host.run(cmd.lock_release(host.layout.lock_dir, "c"), step="test")
