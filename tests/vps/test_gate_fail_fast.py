"""The one gate on the VPS (cockpit.gate through providers/vps/flow.py): a release whose container
exits on start fails the pre-switch gate at once, with its last log lines, instead of being
probed until the gate's deadline (600 s here, longer than this test's timeout)."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(300)]

EXITS_TAG = "cockpit-gate-test-exits:1"


@pytest.fixture
def exiting_image(project):
    """The hello app's image with a command that prints one line and exits 3."""
    dockerfile = (f"FROM {project.images['v1']}\n"
                  'CMD ["python3", "-c", "import sys; print(\'boom: DATABASE_URL is not set\', '
                  'flush=True); sys.exit(3)"]\n')
    out = subprocess.run(["docker", "build", "-q", "-t", EXITS_TAG, "-"], input=dockerfile,
                         capture_output=True, text=True, check=True)
    yield out.stdout.strip().splitlines()[-1]
    subprocess.run(["docker", "rmi", "-f", EXITS_TAG], capture_output=True)


def test_a_release_that_exits_on_start_fails_the_gate_at_once_with_its_logs(
        project, lab, exiting_image):
    from cockpit import pipeline
    from cockpit.errors import GateFailed
    from tests.vps.conftest import toml_for

    project.config_path.write_text(toml_for(lab, gate_deadline=600.0))
    project.cli("setup", "staging", "--confirm", "staging", "--trust-host",
                lab.ssh_hostkey_sha256, check=True)
    good = pipeline.deploy(project.ctx(), "staging", project.collect(),
                           image=project.images["v1"])
    with pytest.raises(GateFailed) as failed:
        pipeline.deploy(project.ctx(), "staging", project.collect(), image=exiting_image)
    err = failed.value
    assert "failed its health gate on the host" in err.what
    assert "not running" in err.what or "restart" in err.what
    assert any("boom: DATABASE_URL is not set" in line for line in err.logs)
    assert pipeline.live(project.ctx(), "staging").current.id == good.id
