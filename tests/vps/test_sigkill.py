"""SIGKILL `cockpit deploy` at several steps: the next command reconciles (cleans up or
finishes, and says which), and the edge keeps serving a healthy release throughout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.vps.test_lock import _host, _wait_for_step

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(400)]

STEPS = ["env_file", "start", "gate_pre", "switch", "gate_post", "drain"]


def test_sigkill_at_each_step_then_reconcile_keeps_serving(ready, project, load_loop):
    from cockpit.providers.vps import lock

    from cockpit import pipeline

    images = [project.images["v2"], project.images["v3"]]
    accounts: dict[str, list[str]] = {}
    with load_loop("staging", max_seconds=300) as loop:
        for n, step in enumerate(STEPS):
            proc = subprocess.Popen(
                [sys.executable, "-m", "cockpit", "deploy", "staging", "--json",
                 "--image", images[n % 2]], cwd=project.app_dir, env=project.env(),
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                _wait_for_step(proc, step)
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            ctx = project.ctx()
            accounts[step] = pipeline.reconcile(ctx, "staging", project.collect())
            assert accounts[step], f"nothing was reconciled after a kill at {step}"
            state = pipeline.live(project.ctx(), "staging")
            assert state.current is not None, f"nothing serves after a kill at {step}"
            running = [i for i in state.instances if i.state == "running"]
            assert [i.serving for i in running] == [True], (step, running)
            assert lock.status(_host(project)) is None
            assert project.ctx().store.unfinished_runs("staging") == []
        # and a normal deploy still works afterwards
        after = pipeline.deploy(project.ctx(), "staging", project.collect(),
                                image=project.images["v2"])
    assert after.status == "healthy"
    assert loop.failures == [], loop.failures[:5]
    assert loop.ok > 50
    said = " | ".join(a for v in accounts.values() for a in v)
    print("\n".join(f"{k}: {v}" for k, v in accounts.items()))
    assert "released the lock" in said
