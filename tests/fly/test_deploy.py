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


def _updates(emu, app):
    return [(path, body, nonce) for method, path, body, nonce in emu.bodies
            if path.startswith(f"/v1/apps/{app}/machines/") and path.count("/") == 5]


def test_rolling_deploy_updates_in_place_one_machine_at_a_time(project, emu):
    ctx = project()
    first = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    ids = sorted(m.id for m in emu.active("shop-staging"))
    mark = len(emu.serving_log)
    second = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert second.id != first.id and second.status == "healthy"
    machines = emu.active("shop-staging")
    assert sorted(m.id for m in machines) == ids  # updated in place, not replaced
    assert {m.config["image"] for m in machines} == {IMAGE_V2}
    assert {m.config["metadata"]["cockpit_release"] for m in machines} == {second.id}
    serving_counts = [len(ids_) for app, ids_ in emu.serving_log[mark:] if app == "shop-staging"]
    assert min(serving_counts) >= 1  # at most one of two machines down at any time
    updates = _updates(emu, "shop-staging")
    assert len(updates) == 2 and all(nonce for _, _, nonce in updates)
    assert emu.leases_held() == []


def test_failed_gate_restores_updated_machines_and_reports_check_output(project, emu):
    from cockpit.errors import GateFailed

    from .conftest import IMAGE_BAD

    ctx = project(deadline=1.0)
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    rec = Recorder()
    with pytest.raises(GateFailed) as info:
        pipeline.deploy(ctx, "staging", rec, image=IMAGE_BAD)
    err = info.value
    assert "db down" in err.what and "restored 1 machine" in err.what
    assert any("check health: critical" in line and "db down" in line for line in err.logs)
    assert any("health check health failed" in line for line in err.logs)  # machine log lines
    machines = emu.active("shop-staging")
    assert {m.config["image"] for m in machines} == {IMAGE_V1}
    assert {m.config["metadata"]["cockpit_release"] for m in machines} == {good.id}
    assert all(m.state == "started" for m in machines)
    assert len(_updates(emu, "shop-staging")) == 2  # the bad update, then its restore
    assert emu.leases_held() == []
    failed = [r for r in ctx.store.releases("staging") if r.image == IMAGE_BAD]
    assert failed and failed[0].status == "failed"
    assert pipeline.live(ctx, "staging").current.id == good.id


def test_machine_that_exits_fails_the_gate_fast_with_its_exit_code(project, emu):
    from cockpit.errors import GateFailed

    from .conftest import IMAGE_CRASH

    ctx = project(deadline=60.0)  # the deadline is not what ends this gate
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    with pytest.raises(GateFailed) as info:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_CRASH)
    assert "exit code 3" in info.value.what
    assert any("Traceback" in line for line in info.value.logs)
    assert {m.config["image"] for m in emu.active("shop-staging")} == {IMAGE_V1}


def test_failed_first_deploy_leaves_no_machines_behind(project, emu):
    from cockpit.errors import GateFailed

    from .conftest import IMAGE_BAD

    ctx = project(deadline=1.0)
    with pytest.raises(GateFailed):
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_BAD)
    assert emu.active("shop-staging") == []
    assert emu.leases_held() == []


def test_plan_shows_steps_without_changing_anything(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    calls = len([c for c in emu.calls if c[0] != "GET"])
    plan = pipeline.plan_deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert [s.id.split(":")[0] for s in plan.steps] == ["leases", "update", "update"]
    assert plan.changes["image"] == (IMAGE_V1, IMAGE_V2)
    assert len([c for c in emu.calls if c[0] != "GET"]) == calls


def test_deploy_without_image_uses_the_configured_image(project, emu):
    ctx = project(extra=f'image = "{IMAGE_V2}"')
    release = pipeline.deploy(ctx, "staging", Recorder())
    assert release.image == IMAGE_V2 and release.digest == "sha256:" + "2" * 64
    assert {m.config["image"] for m in emu.active("shop-staging")} == {IMAGE_V2}


def test_deploy_without_any_image_source_says_what_to_pass(project, emu):
    from cockpit.errors import UsageError

    ctx = project()
    with pytest.raises(UsageError) as info:
        pipeline.deploy(ctx, "staging", Recorder())
    assert "--image registry.fly.io/" in info.value.hint
    assert "shop-staging" not in emu.apps  # nothing created


def test_lower_count_scales_down_after_the_update(project, emu):
    ctx = project(count=2)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    ctx1 = project(count=1)
    release = pipeline.deploy(ctx1, "staging", Recorder(), image=IMAGE_V2)
    machines = emu.active("shop-staging")
    assert len(machines) == 1 and machines[0].config["metadata"]["cockpit_release"] == release.id
    assert emu.leases_held() == []


def test_live_state_from_another_machine_reads_the_release_from_metadata(project, emu, tmp_path):
    """An operator with an empty local store still sees what runs, from machine metadata."""
    from cockpit.state import Store

    ctx = project()
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    ctx.store = Store.open("shop", root=tmp_path / "elsewhere")  # a fresh, empty store
    state = pipeline.live(ctx, "staging")
    current = state.current
    assert current is not None and current.id == release.id
    assert (current.digest, current.config_hash, current.secrets_digest) == (
        release.digest, release.config_hash, release.secrets_digest)
    assert current.status == "healthy" and current.meta["fly_config"]["image"] == IMAGE_V1
    assert [r.id for r in state.releases] == [release.id]
    assert state.extra["regions"] == ["ams", "iad"]
    assert all(state.extra["checks"][i.id][0]["status"] == "passing" for i in state.instances)


def test_replicas_sets_the_machine_count(project, emu):
    ctx = project(count=2)
    text = ctx.config.path.read_text().replace("replicas = 2\n", "replicas = 3\n", 1)
    ctx.config.path.write_text(text)
    from cockpit import config as config_mod

    ctx.config = config_mod.load(ctx.config.path)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    assert len(emu.active("shop-staging")) == 3


def test_a_stopped_machine_is_updated_without_starting_it(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    env = ctx.config.env("staging")
    api = pipeline.provider_for(ctx, env)._api(env)
    stopped = sorted(m.id for m in emu.active("shop-staging"))[0]
    api.request("POST", api.m(stopped) + "/stop", op="stop", json={})
    api.wait(stopped, "stopped", timeout=5, instance_id=api.get_machine(stopped)["instance_id"])
    rec = Recorder()
    release = pipeline.deploy(ctx, "staging", rec, image=IMAGE_V2)
    machines = {m.id: m for m in emu.active("shop-staging")}
    assert machines[stopped].state == "stopped"
    assert {m.config["metadata"]["cockpit_release"] for m in machines.values()} == {release.id}
    assert any(f"machine {stopped} was stopped" in e.text for e in rec.of("message"))
