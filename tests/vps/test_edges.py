"""Less travelled paths: a failed post-switch gate switches back at once (under load), the
registry path pushes and pulls by digest, `docker save | docker load` over SSH, a dry run
changes nothing, and config drift shows in live state."""

from __future__ import annotations

import subprocess

import pytest

from cockpit.errors import GateFailed
from tests.vps.conftest import APP

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(180)]


def _staging(project, **changes):
    ctx = project.ctx()
    env = ctx.config.env("staging")
    if changes:
        env.settings = env.settings.model_copy(update=changes)
    return ctx, env


def test_a_failed_post_switch_gate_switches_back_at_once(ready, project, load_loop):
    from cockpit import pipeline

    serving = pipeline.live(project.ctx(), "staging").current.id
    # The edge's certificate is checked against the wrong CA: the edge gate must fail.
    ctx, env = _staging(project, edge_ca_file=project.lab.acme_ca_root)
    env.common = env.common.model_copy(update={"gate": env.gate.model_copy(
        update={"deadline": 2.0})})
    with load_loop("staging") as loop, pytest.raises(GateFailed) as failed:
        pipeline.deploy(ctx, "staging", project.collect(), image=project.images["v3"])
    assert "failed its health gate through the edge" in failed.value.what
    assert f"switched back to release {serving}" in failed.value.what
    assert loop.failures == [] and loop.ok > 5
    assert pipeline.live(project.ctx(), "staging").current.id == serving
    running = [i for i in pipeline.live(project.ctx(), "staging").instances
               if i.state == "running"]
    assert len(running) == 1 and running[0].serving


def test_with_a_registry_the_image_is_pushed_and_pulled_by_digest(ready, project):
    from cockpit import pipeline
    from cockpit.pipeline import provider_for

    ctx, env = _staging(project, registry=project.lab.registry)
    image, digest = provider_for(ctx, env).build(env, project.collect())
    assert image == f"{project.lab.registry}/{APP}@{digest}" and digest.startswith("sha256:")
    # the host (the lab's engine) forgets the repository reference: ship must pull by digest
    subprocess.run(["docker", "rmi", image], capture_output=True)
    events: list[str] = []
    release = pipeline.deploy(ctx, "staging", lambda e: events.append(str(e.to_dict())),
                              image=image)
    assert release.status == "healthy" and release.image == image
    assert any(f"pulled {image}" in e for e in events)


def test_docker_save_streams_into_docker_load_over_ssh(ready, project):
    from cockpit.providers.vps import commands as cmd

    from cockpit.build import docker_client
    from cockpit.pipeline import provider_for

    ctx, env = _staging(project)
    host = provider_for(ctx, env).host(env)
    chunks = docker_client().api.get_image(project.images["v1"], chunk_size=1 << 20)
    result = host.t.stream_in(cmd.docker_load(), iter(chunks), step="ship")
    assert project.images["v1"].split(":")[1][:12] in result.stdout or "Loaded" in result.stdout


def test_a_dry_run_changes_nothing(ready, project):
    from cockpit import pipeline

    before = pipeline.live(project.ctx(), "staging")
    proc = project.cli("deploy", "staging", "--dry-run", "--json", "--image",
                       project.images["v2"], check=True)
    assert '"id": "switch"' in proc.stdout and '"id": "gate_pre"' in proc.stdout
    after = pipeline.live(project.ctx(), "staging")
    assert [i.id for i in after.instances] == [i.id for i in before.instances]
    assert after.current.id == before.current.id and after.lock is None


def test_config_drift_is_shown(ready, project):
    from cockpit import pipeline

    ctx = project.ctx()
    env = ctx.config.env("staging")
    env.settings = env.settings.model_copy(update={"keep_releases": 4})
    state = pipeline.live(ctx, "staging")
    assert any("cockpit.toml changed since release" in d for d in state.drift)
