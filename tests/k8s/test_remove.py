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


def test_secrets_after_the_namespace_is_gone_do_not_make_it_again(project, emulator, capsys):
    ctx = project()
    env = ctx.config.env("staging")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0, docs
    assert emulator.get("v1", "namespaces", "", "shop-staging") is None
    before = len(emulator.requests)
    code, docs = run(capsys, ctx, "remove", "staging", "--secrets", "--confirm", "staging")
    assert code == 0, docs
    assert docs[-1]["data"]["removed"] == ["keyring item SECRET_KEY"]
    assert ctx.secrets.get(env, "SECRET_KEY") is None
    assert emulator.get("v1", "namespaces", "", "shop-staging") is None  # not made again
    assert not [r for r in emulator.requests[before:] if r["method"] != "GET"]
    assert ctx.secrets.get(ctx.config.env("prod"), "SECRET_KEY") is not None


def kept_namespace(docs: list[dict]) -> str:
    """The plan's line saying why the namespace is kept ("" when it goes)."""
    return next((k for k in docs[-1]["data"]["plan"]["kept"]
                 if k.startswith("the namespace ")), "")


def test_a_persons_objects_in_the_namespace_keep_it(project, emulator, capsys):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    ns = "shop-staging"
    code, docs = run(capsys, ctx, "remove", "staging", "--dry-run")
    assert kept_namespace(docs) == "" and "namespace shop-staging" in json.dumps(plan_of(docs))
    theirs = [
        ("networking.k8s.io/v1", "networkpolicies", {"metadata": {"name": "deny-all"},
                                                     "spec": {"podSelector": {}}},
         "NetworkPolicy deny-all"),
        ("autoscaling/v2", "horizontalpodautoscalers", {
            "metadata": {"name": "shop"}, "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": "shop"}, "minReplicas": 2, "maxReplicas": 5}},
         "HorizontalPodAutoscaler shop"),
        ("v1", "serviceaccounts", {"metadata": {"name": "ci"}}, "ServiceAccount ci"),
        ("rbac.authorization.k8s.io/v1", "rolebindings", {
            "metadata": {"name": "ci-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": ns}]},
         "RoleBinding ci-edit"),
        ("policy/v1", "poddisruptionbudgets", {"metadata": {"name": "shop"},
                                               "spec": {"minAvailable": 1}},
         "PodDisruptionBudget shop"),
        ("v1", "configmaps", {"metadata": {"name": "notes"}, "data": {"a": "b"}},
         "ConfigMap notes"),
    ]
    for gv, plural, body, said in theirs:  # each alone keeps the namespace
        emulator.create(gv, plural, ns, body)
        code, docs = run(capsys, ctx, "remove", "staging", "--dry-run")
        assert code == 0, docs
        assert said in kept_namespace(docs), (said, docs[-1])
        assert "namespace shop-staging" not in json.dumps(plan_of(docs))
        emulator.delete(gv, plural, ns, body["metadata"]["name"])
    # a custom resource (found by API discovery), and a Secret owned by a person's DaemonSet
    emulator.create("cert-manager.io/v1", "certificates", ns, {
        "metadata": {"name": "legacy"}, "spec": {"secretName": "legacy-tls"}})
    code, docs = run(capsys, ctx, "remove", "staging", "--dry-run")
    assert "Certificate.cert-manager.io legacy" in kept_namespace(docs), docs[-1]
    emulator.delete("cert-manager.io/v1", "certificates", ns, "legacy")
    if emulator.get("v1", "secrets", ns, "legacy-tls"):  # issued meanwhile
        emulator.delete("v1", "secrets", ns, "legacy-tls")
    ds = emulator.create("apps/v1", "daemonsets", ns, {"metadata": {"name": "agent"},
                                                       "spec": {}})
    emulator.create("v1", "secrets", ns, {
        "metadata": {"name": "agent-token", "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
            "uid": ds["metadata"]["uid"], "controller": True}]},
        "type": "Opaque", "data": {}})
    code, docs = run(capsys, ctx, "remove", "staging", "--dry-run")
    why = kept_namespace(docs)
    assert "DaemonSet agent" in why and "Secret agent-token (owned by DaemonSet agent)" in why
    # a kind cockpit may not list: named as unknown, and the namespace stays
    emulator.delete("apps/v1", "daemonsets", ns, "agent")
    emulator.delete("v1", "secrets", ns, "agent-token")
    emulator.deny("list", "networkpolicies")
    code, docs = run(capsys, ctx, "remove", "staging", "--dry-run")
    assert code == 0, docs
    assert "cockpit may not list NetworkPolicy" in kept_namespace(docs)
    assert any("NetworkPolicy" in k and "unknown" in k for k in docs[-1]["data"]["plan"]["kept"])
    emulator.denied.clear()
    # the remove itself keeps a person's object and the namespace
    emulator.create("v1", "serviceaccounts", ns, {"metadata": {"name": "ci"}})
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0, docs
    assert emulator.get("apps/v1", "deployments", ns, "shop") is None
    assert emulator.get("v1", "serviceaccounts", ns, "ci") is not None
    assert emulator.get("v1", "namespaces", "", ns) is not None


def test_objects_being_deleted_do_not_keep_the_namespace(project, emulator, capsys):
    ctx = project(domain=True)
    ns = "shop-staging"
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.wait_for(lambda: emulator.get("v1", "secrets", ns, "shop-tls"))
    ing = emulator.get("networking.k8s.io/v1", "ingresses", ns, "shop")
    ing["metadata"]["finalizers"] = ["example.com/load-balancer-cleanup"]  # the LB's
    emulator.update("networking.k8s.io/v1", "ingresses", ns, ing)
    emulator.create("v1", "persistentvolumeclaims", ns, {
        "metadata": {"name": "old-data", "finalizers": ["kubernetes.io/pvc-protection"]},
        "spec": {"accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}}})
    emulator.delete("v1", "persistentvolumeclaims", ns, "old-data")  # terminating
    assert emulator.get("v1", "persistentvolumeclaims", ns, "old-data")["metadata"][
        "deletionTimestamp"]
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0, docs
    removed = docs[-1]["data"]["removed"]
    assert "Ingress shop" in removed and "Secret shop-tls" in removed  # cert-manager's
    assert "namespace shop-staging" in removed
    assert not [d for d in docs if d.get("level") == "warning"]
    assert emulator.get("v1", "namespaces", "", ns) is None


def test_something_made_meanwhile_keeps_the_namespace_and_is_named(project, emulator):
    ctx = project()
    env = ctx.config.env("staging")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    provider = pipeline.provider_for(ctx, env)
    td = provider.remove_plan(env, accessories=False, volumes=False, secrets=False)
    assert td.namespace == "shop-staging"
    done = provider.remove(env, td, Recorder())
    emulator.create("v1", "configmaps", "shop-staging", {"metadata": {"name": "notes"}})
    assert provider.remove_finish(env, td, done) == "held"
    assert "ConfigMap notes" in td.held and "lock" not in td.held
    assert emulator.get("v1", "namespaces", "", "shop-staging") is not None


def test_a_hand_made_tls_secret_of_the_apps_name_is_kept(project, emulator, capsys):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.create("v1", "secrets", "shop-staging", {
        "metadata": {"name": "shop-tls"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}})
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0, docs
    assert "Secret shop-tls" not in docs[-1]["data"]["removed"]
    assert "Secret shop-tls" in kept_namespace(docs)
    assert emulator.get("v1", "secrets", "shop-staging", "shop-tls") is not None
    assert emulator.get("apps/v1", "deployments", "shop-staging", "shop") is None


def test_unlistable_claims_keep_the_accessory_passwords(site, emulator, capsys,  # noqa: F811
                                                        os_keyring, monkeypatch):
    from cockpit.accessories import password_name

    ctx = site()
    env = ctx.config.env("staging")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    monkeypatch.delenv("COCKPIT_SECRETS_FROM_ENV")  # the keyring from here on
    ctx.secrets.set(env, "SECRET_KEY", "staging-key-5e1f0a9b")
    ctx.secrets.set(env, password_name("postgres"), "pg-password-0a9b")
    emulator.deny("list", "persistentvolumeclaims")
    code, docs = run(capsys, ctx, "remove", "staging", "--accessories", "--volumes",
                     "--secrets", "--confirm", "staging")
    assert code == 0, docs
    assert ctx.secrets.get(env, password_name("postgres")) == "pg-password-0a9b"
    assert password_name("postgres") not in " ".join(docs[-1]["data"]["removed"])
    assert "keyring item SECRET_KEY" in docs[-1]["data"]["removed"]
    kept = " ".join(docs[-1]["data"]["plan"]["kept"])
    assert "PersistentVolumeClaim" in kept and "unknown" in kept
    assert ctx.secrets.get(env, "SECRET_KEY") is None
    assert of(emulator, "shop-staging", "statefulsets", "apps/v1") == []
    assert of(emulator, "shop-staging", "persistentvolumeclaims") == [
        "data-shop-staging-postgres-0", "data-shop-staging-redis-0"]
    assert emulator.get("v1", "namespaces", "", "shop-staging") is not None
