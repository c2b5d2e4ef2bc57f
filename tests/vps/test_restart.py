"""The edge and the switch keep their config on the host: after both were stopped by hand
(`docker stop`, which their restart policy respects), `cockpit setup` starts them again and the
same release serves, through the edge."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests import certs
from tests.vps.conftest import LAB_HOME, LoadLoop, domain

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(120)]

EDGE, SWITCH = "cockpit-edge", "cockpit-switch"


def _docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True, timeout=60)


def test_setup_restarts_a_stopped_edge_and_switch_with_the_same_release(ready, project):
    from cockpit import pipeline

    serving = pipeline.live(project.ctx(), "staging").current.id
    _docker("stop", "--time", "5", SWITCH, EDGE)
    proc = project.cli("setup", "staging", check=True)
    assert f"HAProxy started again in container {SWITCH}" in proc.stdout
    assert f"Caddy started again in container {EDGE}" in proc.stdout
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
    _docker("restart", "--time", "5", EDGE)  # a restart loads it from the storage
    proc = project.cli("setup", "staging", "--json", check=True)
    assert "replaced a certificate of " + name in proc.stdout
    from cockpit.probes import check_tls

    tls = check_tls("127.0.0.1", project.lab.https_port, name,
                    ca_file=project.lab.acme_issuer_root)
    assert tls.ok and "Pebble" in tls.issuer
