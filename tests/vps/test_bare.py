"""An environment without a domain on a bridge network: the container publishes on the host's
loopback only, the switch serves it on 127.0.0.1:<host_port>, the edge gate is skipped (and
says so), and `keep_releases` prunes old containers with their env files."""

from __future__ import annotations

import urllib.request

import pytest

from tests.vps.conftest import APP, LAB_HOME

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(180)]


def _release_served() -> str:
    with urllib.request.urlopen("http://127.0.0.1:8800/", timeout=5) as response:
        assert response.status == 200
        return response.headers["X-Release"]


def test_bare_environment_on_a_bridge_network(project):
    from cockpit import pipeline
    from cockpit.events import StepSkipped

    project.cli("setup", "bare", "--trust-host", project.lab.ssh_hostkey_sha256, check=True)
    assert not (LAB_HOME / ".cockpit" / "edge" / "sites" / f"{APP}-bare.caddy").exists()
    skipped: list[str] = []

    def emit(event) -> None:
        if isinstance(event, StepSkipped):
            skipped.append(f"{event.step}: {event.reason}")

    ids = []
    for image in ("v1", "v2", "v3"):
        release = pipeline.deploy(project.ctx(), "bare", emit, image=project.images[image])
        assert release.status == "healthy"
        assert _release_served() == release.id
        ids.append(release.id)
    assert skipped and all(s.startswith("gate_post: bare has no domain") for s in skipped)
    state = pipeline.live(project.ctx(), "bare")
    assert [i.release_id for i in state.instances] == [ids[2], ids[1]]  # keep_releases = 1
    env_files = sorted(p.name for p in (LAB_HOME / ".cockpit" / "apps" / APP / "bare" /
                                         "releases").glob("*.env"))
    assert env_files == sorted(f"{i}.env" for i in ids[1:])
    back = pipeline.rollback(project.ctx(), "bare", emit)
    assert back.id == ids[1] and _release_served() == ids[1]


def test_domain_command_adds_a_site_and_updates_the_switch(project):
    import json

    from tests.vps.conftest import domain

    name = domain("bare")
    proc = project.cli("domain", "bare", name, "--json")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    status = result["data"]["domain"]
    assert f'domain = "{name}"' in project.config_path.read_text()
    site = (LAB_HOME / ".cockpit" / "edge" / "sites" / f"{APP}-bare.caddy").read_text()
    assert site.splitlines()[1] == f"{name} {{"
    switch = (LAB_HOME / ".cockpit" / "switch" / "envs" / f"{APP}-bare.cfg").read_text()
    assert f"hdr Host {name}" in switch
    assert status["dns"]["ok"] and status["redirects_to_https"] is True, status
    # no edge_ca_file for this environment: Pebble's certificate is read, but not trusted
    # (the lab's ACME CA is set, so Caddy never tries a public CA)
    assert "Pebble" in (status["tls"]["issuer"] or "") and proc.returncode == 1
    assert "does not verify" in status["tls"]["error"]
