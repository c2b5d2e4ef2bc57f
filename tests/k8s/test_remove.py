"""`cockpit remove ENV` on Kubernetes, against the API emulator through the CLI (--json).

The plan is read from the cluster (cockpit's objects by their labels, each accessory claim with
its requested size); nothing changes on --dry-run, without the name typed (even for staging)
or while another run holds the deploy Lease. A plain remove deletes the app's Deployment (its
ReplicaSets and pods by garbage collection), Service, release Secrets and Jobs, and the
namespace cockpit created once it is empty; accessories and their claims stay without their
flags (and then so does the namespace). Prod keeps serving; a second run removes nothing."""

from __future__ import annotations

import json
import time

import pytest
from cockpit.providers.kubernetes import manifests as m

from cockpit import pipeline
from cockpit.cli import main

from .conftest import IMAGE_V1, IMAGE_V2, Recorder
from .test_accessories import site  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(300)  # generous: the machine is shared while CI runs


def run(capsys, ctx, *argv: str) -> tuple[int, list[dict]]:
    capsys.readouterr()
    code = main([*argv[:2], "--json", "--config", str(ctx.config.path), *argv[2:]])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def of(emulator, ns: str, plural: str, gv: str = "v1") -> list[str]:
    return sorted(o["metadata"]["name"] for o in emulator.list(gv, plural, ns))


def plan_of(docs: list[dict]) -> list[dict]:
    return next(d for d in docs if d.get("type") == "plan")["steps"]


def test_plan_then_remove_staging_while_prod_keeps_serving(project, emulator, capsys):
    ctx = project()
    first = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    second = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    pipeline.deploy(ctx, "prod", Recorder(), image=IMAGE_V1)
    prod_before = of(emulator, "shop-prod", "pods")

    code, docs = run(capsys, ctx, "remove", "staging", "--dry-run")
    assert code == 0
    steps = plan_of(docs)
    text = json.dumps(steps)
    assert "Deployment shop" in text and "Service shop" in text
    assert f"Secret shop-{first.id}" in text and f"Secret shop-{second.id}" in text
    assert first.id in text and second.id in text  # the releases the ReplicaSets carry
    assert "namespace shop-staging" in text
    data = docs[-1]["data"]
    assert data["dry_run"] is True and data["removed"] == []
    assert data["plan"]["host"] == "emulator/shop-staging"
    assert emulator.get("apps/v1", "deployments", "shop-staging", "shop") is not None

    code, docs = run(capsys, ctx, "remove", "staging")  # staging too wants its name typed
    assert code == 5 and "--confirm staging" in json.dumps(docs[-1])
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "prod")
    assert code == 5
    assert of(emulator, "shop-staging", "pods")

    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0, docs
    removed = docs[-1]["data"]["removed"]
    assert "Deployment shop" in removed and "Service shop" in removed
    assert "namespace shop-staging" in removed
    assert any(d.get("type") == "step_finished" and d.get("step") == "app" for d in docs)
    deletes = [r for r in emulator.requests if r["method"] == "DELETE"]
    assert deletes and all(r["query"].get("propagationPolicy") == "Background"
                           for r in deletes if "/leases/" not in r["path"])
    assert emulator.get("v1", "namespaces", "", "shop-staging") is None
    for plural, gv in (("deployments", "apps/v1"), ("replicasets", "apps/v1"), ("pods", "v1"),
                       ("services", "v1"), ("secrets", "v1"), ("leases",
                                                               "coordination.k8s.io/v1")):
        assert of(emulator, "shop-staging", plural, gv) == []
    # prod untouched and serving
    assert of(emulator, "shop-prod", "pods") == prod_before
    assert pipeline.live(ctx, "prod").current is not None
    assert ctx.secrets.get(ctx.config.env("staging"), "SECRET_KEY") is not None  # no --secrets
    assert "SECRET_KEY" in json.dumps(docs[-1]["data"]["plan"]["kept"])
    assert {r.status for r in ctx.store.releases("staging")} == {"removed"}
    assert [a for a in ctx.store.audit_log("staging") if a["command"] == "remove"][0][
        "result"] == "ok"

    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0 and docs[-1]["data"]["nothing"] is True
    assert emulator.get("v1", "namespaces", "", "shop-staging") is None  # not made again


def test_refused_while_another_run_holds_the_lease(project, emulator, capsys):
    ctx = project()
    env = ctx.config.env("staging")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.create("coordination.k8s.io/v1", "leases", "shop-staging", m.lease(
        env, "alice@laptop", 600, time.time(), command="deploy", pid=4242))
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 4 and "alice@laptop" in json.dumps(docs[-1])
    assert emulator.get("apps/v1", "deployments", "shop-staging", "shop") is not None
    assert emulator.get("coordination.k8s.io/v1", "leases", "shop-staging",
                        m.lease_name(env)) is not None


def test_secrets_flag_deletes_the_keyring_items(project, emulator, capsys):
    ctx = project()
    env = ctx.config.env("staging")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    code, docs = run(capsys, ctx, "remove", "staging", "--secrets", "--confirm", "staging")
    assert code == 0, docs
    assert "keyring item SECRET_KEY" in docs[-1]["data"]["removed"]
    assert ctx.secrets.get(env, "SECRET_KEY") is None
    assert ctx.secrets.get(ctx.config.env("prod"), "SECRET_KEY") is not None


def test_accessories_and_their_claims_stay_without_their_flags(site, emulator,  # noqa: F811
                                                               capsys):
    ctx = site()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    pipeline.deploy(ctx, "prod", Recorder(), image=IMAGE_V1)
    claims = ["data-shop-staging-postgres-0", "data-shop-staging-redis-0"]
    assert of(emulator, "shop-staging", "persistentvolumeclaims") == claims

    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0, docs
    kept = " ".join(docs[-1]["data"]["plan"]["kept"])
    assert "StatefulSet shop-staging-postgres" in kept and "(1Gi)" in kept
    assert "namespace shop-staging" in kept
    assert emulator.get("apps/v1", "deployments", "shop-staging", "shop") is None
    assert of(emulator, "shop-staging", "statefulsets", "apps/v1") == [
        "shop-staging-postgres", "shop-staging-redis"]
    assert of(emulator, "shop-staging", "persistentvolumeclaims") == claims
    assert emulator.get("v1", "namespaces", "", "shop-staging") is not None

    code, docs = run(capsys, ctx, "remove", "staging", "--volumes", "--confirm", "staging")
    assert code == 2 and "--accessories" in json.dumps(docs[-1])
    assert of(emulator, "shop-staging", "persistentvolumeclaims") == claims

    code, docs = run(capsys, ctx, "remove", "staging", "--accessories", "--confirm", "staging")
    assert code == 0, docs
    assert of(emulator, "shop-staging", "statefulsets", "apps/v1") == []
    assert of(emulator, "shop-staging", "persistentvolumeclaims") == claims  # data kept

    code, docs = run(capsys, ctx, "remove", "staging", "--accessories", "--volumes",
                     "--dry-run")
    steps = json.dumps(plan_of(docs))
    assert "data-shop-staging-postgres-0 (1Gi)" in steps and "namespace shop-staging" in steps
    assert of(emulator, "shop-staging", "persistentvolumeclaims") == claims
    code, docs = run(capsys, ctx, "remove", "staging", "--accessories", "--volumes",
                     "--confirm", "staging")
    assert code == 0, docs
    assert emulator.get("v1", "namespaces", "", "shop-staging") is None
    # prod's accessories and claims untouched
    assert of(emulator, "shop-prod", "persistentvolumeclaims") == [
        "data-shop-prod-postgres-0", "data-shop-prod-redis-0"]
    assert of(emulator, "shop-prod", "statefulsets", "apps/v1") == [
        "shop-prod-postgres", "shop-prod-redis"]


def test_a_namespace_cockpit_did_not_create_is_kept(project, emulator, capsys):
    ctx = project()
    emulator.create("v1", "namespaces", "", {"metadata": {"name": "shop-staging"}})
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0, docs
    assert "cockpit did not create it" in " ".join(docs[-1]["data"]["plan"]["kept"])
    assert emulator.get("v1", "namespaces", "", "shop-staging") is not None
    assert emulator.get("apps/v1", "deployments", "shop-staging", "shop") is None


def test_replicasets_orphaned_by_their_deployment_are_found_and_removed(project, emulator,
                                                                         capsys):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.delete("apps/v1", "deployments", "shop-staging", "shop", orphan=True)
    orphans = of(emulator, "shop-staging", "replicasets", "apps/v1")
    assert orphans
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0, docs
    assert all(f"ReplicaSet {rs}" in docs[-1]["data"]["removed"] for rs in orphans)
    assert emulator.get("v1", "namespaces", "", "shop-staging") is None


def test_the_emulator_refuses_an_unknown_propagation_policy(project, emulator):
    from cockpit.providers.kubernetes.kube import ApiFailure

    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    kube = pipeline.provider_for(ctx, ctx.config.env("staging")).kube(ctx.config.env("staging"))
    with pytest.raises(ApiFailure) as refused:
        kube.call("delete service", kube.core.delete_namespaced_service, "shop", "shop-staging",
                  propagation_policy="Sideways")
    assert refused.value.status == 422 and "Unsupported value" in refused.value.what
    assert emulator.get("v1", "services", "shop-staging", "shop") is not None
