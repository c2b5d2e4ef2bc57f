"""First deploy and rolling deploy through the pipeline, against the emulator."""

from __future__ import annotations

import pytest

from cockpit import pipeline

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = pytest.mark.timeout(60)


def test_first_deploy_creates_app_and_machines_with_release_metadata(project, emu):
    ctx = project()
    rec = Recorder()
    release = pipeline.deploy(ctx, "staging", rec, image=IMAGE_V1)
    assert release.status == "healthy"
    machines = emu.active("shop-staging")
    assert len(machines) == 2
    assert sorted(m.region for m in machines) == ["ams", "iad"]
    for m in machines:
        meta = m.config["metadata"]
        assert meta["cockpit_release"] == release.id
        assert meta["cockpit_digest"] == "sha256:" + "1" * 64
        assert meta["cockpit_config_hash"] == release.config_hash
        assert meta["cockpit_secrets_digest"] == release.secrets_digest
        assert m.config["image"] == IMAGE_V1
        assert m.state == "started" and not m.cordoned
    assert emu.leases_held() == []
    state = pipeline.live(ctx, "staging")
    assert state.current is not None and state.current.id == release.id
    assert all(i.health == "healthy" and i.serving for i in state.instances)
