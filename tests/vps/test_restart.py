"""The edge and the switch keep their config on the host: after both die (a host reboot, a
crash), `cockpit setup` starts them again and the same release serves, through the edge."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests import certs
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
    # loads prod's backend into the new switch
    project.cli("setup", "prod", "--confirm", "prod", check=True)
    assert pipeline.live(project.ctx(), "staging").current.id == serving
    loop = LoadLoop(project.lab, domain("staging"), max_requests=20, max_seconds=20)
    loop._run()
    assert loop.failures == [] and set(loop.releases) == {serving}


def test_setup_replaces_a_stored_certificate_from_an_earlier_ca_root(ready, project):
    """What a restarted test CA (a new Pebble root) leaves behind: Caddy still has, and would
    keep serving, a certificate that no longer chains to the CA cockpit verifies against."""
    name = domain("staging")
    stored = list((LAB_HOME / ".cockpit" / "edge" / "data" / "certificates").glob(f"*/{name}"))
    assert stored, "the edge has no stored certificate for the staging domain"
    crt, key = certs.self_signed(name, "An Earlier Root", days=90)
    folder = stored[0]
    (folder / f"{name}.crt").write_bytes(crt)
    (folder / f"{name}.key").write_bytes(key)
    owner = folder.stat()
    for f in folder.iterdir():
        os.chown(f, owner.st_uid, owner.st_gid)
    _kill_from_pidfile(LAB_HOME / ".cockpit" / "edge" / "caddy.pid")  # a restart loads it
    proc = project.cli("setup", "staging", "--json", check=True)
    assert "replaced a certificate of " + name in proc.stdout
    from cockpit.probes import check_tls

    tls = check_tls("127.0.0.1", project.lab.https_port, name,
                    ca_file=project.lab.acme_issuer_root)
    assert tls.ok and "Pebble" in tls.issuer
