"""Deploy, gate, undo, rollback and promote through cockpit.pipeline against the emulator."""

from __future__ import annotations

import base64

import pytest
from cockpit.providers.kubernetes import rollout as ro

from cockpit import pipeline
from cockpit.errors import GateFailed

from .conftest import IMAGE_CRASH, IMAGE_UNHEALTHY, IMAGE_V1, IMAGE_V2, SECRET_STAGING, Recorder

pytestmark = pytest.mark.timeout(60)


def deployment(emulator, ns="shop-staging"):
    return emulator.get("apps/v1", "deployments", ns, "shop")


def test_deploy_to_staging_serves_the_release_through_the_gate(project, emulator):
    ctx = project()
    rec = Recorder()
    release = pipeline.deploy(ctx, "staging", rec, image=IMAGE_V1)

    assert release.status == "healthy"
    d = deployment(emulator)
    assert ro.rollout_status(d).state == "done"
    tmpl = d["spec"]["template"]
    container = tmpl["spec"]["containers"][0]
    assert container["image"] == IMAGE_V1
    assert container["readinessProbe"]["httpGet"]["path"] == "/up"
    assert container["livenessProbe"]["httpGet"]["path"] == "/up"
    assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert d["metadata"]["annotations"]["kubernetes.io/change-cause"].startswith(
        f"cockpit deploy release {release.id}")
    assert tmpl["metadata"]["labels"] == {"app": "shop", "env": "staging",
                                          "release": release.id, "digest": "1" * 12}
    assert d["metadata"]["annotations"][ro.REVISION] == "1"
    health = rec.of("health")
    assert len(health) >= 3 and all(h.ok for h in health[-3:])
    assert emulator.get("v1", "services", "shop-staging", "shop") is not None
    assert ctx.store.get_release("staging", release.id).status == "healthy"


def test_every_request_uses_server_side_apply_as_cockpit(project, emulator):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    applies = [r for r in emulator.requests if r["content_type"] == "application/apply-patch+yaml"]
    kinds = {r["path"].split("/")[-2] for r in applies}
    assert {"deployments", "services", "secrets"} <= kinds
    assert all(r["query"].get("fieldManager") == "cockpit" for r in applies)


def test_per_release_secret_carries_the_keyring_values(project, emulator):
    ctx = project()
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    d = deployment(emulator)
    ref = d["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"]
    secret = emulator.get("v1", "secrets", "shop-staging", ref)
    assert secret["immutable"] is True
    assert base64.b64decode(secret["data"]["SECRET_KEY"]).decode() == SECRET_STAGING
    assert release.id in ref


def test_live_state_reads_releases_and_pods_from_the_cluster(project, emulator):
    ctx = project()
    first = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    second = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    state = pipeline.live(ctx, "staging")
    assert state.current.id == second.id
    assert state.current.status == "healthy"
    assert [r.id for r in state.releases] == [second.id, first.id]
    assert state.releases[1].status == "superseded"
    assert state.releases[0].meta["revision"] == 2
    assert len(state.instances) == 2
    assert all(i.release_id == second.id and i.health == "healthy" and i.serving
               for i in state.instances)
    assert state.extra["replicas"] == {"wanted": 2, "ready": 2, "updated": 2, "available": 2}
    assert state.extra["rollout_state"] == "done"
    assert state.drift == []


def test_crash_looping_release_is_undone_with_reason_and_logs(project, emulator):
    ctx = project()
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    rec = Recorder()
    with pytest.raises(GateFailed) as failed:
        pipeline.deploy(ctx, "staging", rec, image=IMAGE_CRASH)

    err = failed.value
    assert "CrashLoopBackOff" in err.what or "restarted" in err.what
    assert f"rolled back to release {good.id}" in err.what
    assert any("KeyError: 'DATABASE_URL' is not set" in line for line in err.logs)
    d = deployment(emulator)
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1
    assert d["metadata"]["annotations"]["kubernetes.io/change-cause"].startswith(
        "cockpit auto-rollback:")
    assert ro.rollout_status(d).state == "done"
    state = pipeline.live(ctx, "staging")
    assert state.current.id == good.id
    failed_release = next(r for r in state.releases if r.id != good.id)
    assert failed_release.status == "failed"
    assert [e.step for e in rec.of("step_failed")] == ["gate"]


def test_release_that_never_gets_ready_fails_on_the_progress_deadline(project, emulator):
    ctx = project(progress_deadline=1, deadline=20)
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.images[IMAGE_UNHEALTHY].liveness_kill_after = 1000  # never restarts: only unready
    with pytest.raises(GateFailed) as failed:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_UNHEALTHY)
    assert "exceeded its progress deadline" in failed.value.what
    assert good.id in failed.value.what
    assert deployment(emulator)["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1


def test_first_release_failing_has_nothing_to_undo(project, emulator):
    ctx = project()
    with pytest.raises(GateFailed) as failed:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_CRASH)
    assert "no earlier revision" in failed.value.what


def test_rollback_to_a_chosen_revision_restores_its_secret(project, emulator, os_keyring):
    ctx = project()
    staging = ctx.config.env("staging")
    first = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    ctx.secrets.set(staging, "SECRET_KEY", "second-value-9a8b7c6d")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    ctx.secrets.set(staging, "SECRET_KEY", "third-value-5e4f3a2b")
    third = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)

    back = pipeline.rollback(ctx, "staging", Recorder(), to=first.id)

    assert back.id == first.id and back.status == "healthy"
    d = deployment(emulator)
    container = d["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE_V1
    ref = container["envFrom"][0]["secretRef"]["name"]
    value = emulator.get("v1", "secrets", "shop-staging", ref)["data"]["SECRET_KEY"]
    assert base64.b64decode(value).decode() == SECRET_STAGING
    assert d["metadata"]["annotations"][ro.REVISION] == "4"  # the undo makes revision N+1
    state = pipeline.live(ctx, "staging")
    assert state.current.id == first.id
    assert ctx.store.get_release("staging", third.id).status == "rolled_back"


def test_rollback_without_target_goes_to_the_previous_release(project, emulator):
    ctx = project()
    first = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    back = pipeline.rollback(ctx, "staging", Recorder())
    assert back.id == first.id
    assert deployment(emulator)["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1


def test_promote_runs_the_same_digest_in_prods_namespace(project, emulator):
    ctx = project()
    staged = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    promoted = pipeline.promote(ctx, "staging", "prod", Recorder())
    assert promoted.digest == staged.digest
    assert promoted.promoted_from == f"staging/{staged.id}"
    prod = deployment(emulator, "shop-prod")
    container = prod["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE_V1
    ref = container["envFrom"][0]["secretRef"]["name"]
    secret = emulator.get("v1", "secrets", "shop-prod", ref)
    assert base64.b64decode(secret["data"]["SECRET_KEY"]).decode() != SECRET_STAGING
    assert prod["spec"]["template"]["metadata"]["labels"]["env"] == "prod"
    assert "promoted from staging/" in prod["metadata"]["annotations"]["kubernetes.io/change-cause"]


def test_old_release_secrets_are_pruned_with_their_revisions(project, emulator):
    ctx = project(extra="revision_history = 1")
    for image in (IMAGE_V1, IMAGE_V2, IMAGE_V1):
        pipeline.deploy(ctx, "staging", Recorder(), image=image)
    emulator.wait_for(lambda: len(emulator.list("apps/v1", "replicasets", "shop-staging")) == 2)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    secrets = [s for s in emulator.list("v1", "secrets", "shop-staging")
               if s["metadata"]["labels"].get("cockpit.dev/role") == "release-secrets"]
    rss = emulator.list("apps/v1", "replicasets", "shop-staging")
    used = {rs["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"]
            for rs in rss}
    assert {s["metadata"]["name"] for s in secrets} <= used | {None}


def test_health_answering_5xx_through_the_service_fails_the_gate(project, emulator):
    ctx = project(deadline=3)
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    bad = "registry.example.test/shop@sha256:" + "5" * 64
    emulator.image(bad, proxy_status=500)  # probes pass, users get 500s
    rec = Recorder()
    with pytest.raises(GateFailed) as failed:
        pipeline.deploy(ctx, "staging", rec, image=bad)
    assert "did not answer 2xx 3 times in a row" in failed.value.what
    assert "(last: 500)" in failed.value.what
    assert f"rolled back to release {good.id}" in failed.value.what
    assert any(not h.ok and h.status == 500 for h in rec.of("health"))
    assert deployment(emulator)["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1


def test_unschedulable_pods_fail_on_the_deadline_with_the_scheduler_event(project, emulator):
    ctx = project(progress_deadline=1, deadline=20)
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.unschedulable = "Insufficient cpu"
    with pytest.raises(GateFailed) as failed:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert "exceeded its progress deadline" in failed.value.what
    assert good.id in failed.value.what
    assert any("[event] FailedScheduling: 0/1 nodes are available: 1 Insufficient cpu."
               in line for line in failed.value.logs)


def test_an_image_the_cluster_cannot_pull_is_undone(project, emulator):
    ctx = project()
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    missing = "registry.example.test/shop@sha256:" + "0" * 64
    emulator.image(missing, pull_error="manifest unknown")
    with pytest.raises(GateFailed) as failed:
        pipeline.deploy(ctx, "staging", Recorder(), image=missing)
    assert "ErrImagePull" in failed.value.what or "ImagePullBackOff" in failed.value.what
    assert f"rolled back to release {good.id}" in failed.value.what
    assert any("manifest unknown" in line for line in failed.value.logs)


def test_a_refused_apply_fails_its_step_and_says_what_right_is_missing(project, emulator):
    from cockpit.errors import ProviderError

    emulator.deny("patch", "deployments")
    ctx = project()
    rec = Recorder()
    with pytest.raises(ProviderError) as refused:
        pipeline.deploy(ctx, "staging", rec, image=IMAGE_V1)
    assert "403" in refused.value.what and "deployments" in refused.value.what
    assert "Role" in refused.value.hint
    assert [e.step for e in rec.of("step_failed")] == ["deployment"]
    assert ctx.store.unfinished_runs("staging") == []
