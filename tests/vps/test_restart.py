"""The edge and the switch keep their config on the host: after both die (a host reboot, a
crash), `cockpit setup` starts them again and the same release serves, through the edge."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.vps.conftest import LAB_HOME, LoadLoop, domain

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(120)]


def _kill_from_pidfile(path) -> None:
    pid = int(path.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} did not stop")


def test_setup_restarts_a_dead_edge_and_switch_with_the_same_release(ready, project):
    from cockpit import pipeline

    serving = pipeline.live(project.ctx(), "staging").current.id
    _kill_from_pidfile(LAB_HOME / ".cockpit" / "switch" / "haproxy.pid")
    _kill_from_pidfile(LAB_HOME / ".cockpit" / "edge" / "caddy.pid")
    proc = project.cli("setup", "staging", check=True)
    assert "started HAProxy" in proc.stdout and "started Caddy" in proc.stdout
    project.cli("setup", "prod", check=True)  # loads prod's backend into the new switch
    assert pipeline.live(project.ctx(), "staging").current.id == serving
    loop = LoadLoop(project.lab, domain("staging"), max_requests=20, max_seconds=20)
    loop._run()
    assert loop.failures == [] and set(loop.releases) == {serving}
