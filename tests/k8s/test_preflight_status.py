"""Preflight rights, status (live state), domain/TLS, the deploy lock, and reconcile."""

from __future__ import annotations

import json
import socket

import pytest
from cockpit.providers.kubernetes import manifests as m

from cockpit import pipeline
from cockpit.errors import GateFailed, LockHeld

from .conftest import IMAGE_CRASH, IMAGE_UNHEALTHY, IMAGE_V1, IMAGE_V2, Recorder

pytestmark = pytest.mark.timeout(60)


def provider(ctx, name="staging"):
    env = ctx.config.env(name)
    return pipeline.provider_for(ctx, env), env


def errors(findings):
    return [f for f in findings if f.severity == "error"]


def test_preflight_passes_with_all_rights_and_a_missing_namespace(project):
    p, env = provider(project())
    findings = p.preflight(env)
    assert errors(findings) == []
    ids = {f.id for f in findings}
    assert {"k8s.reachable", "k8s.namespace", "k8s.rights"} <= ids
    ns = next(f for f in findings if f.id == "k8s.namespace")
    assert "will create it" in ns.message


def test_preflight_names_each_denied_right(project, emulator):
    emulator.deny("patch", "secrets", "shop-staging")
    emulator.deny("get", "pods/log", "shop-staging")
    p, env = provider(project())
    bad = errors(p.preflight(env))
    messages = " | ".join(f.message for f in bad)
    assert "not allowed to patch secrets in namespace 'shop-staging'" in messages
    assert "not allowed to get pods/log" in messages
    assert len(bad) == 2
    assert all(f.fix and "kubectl create role" in f.fix for f in bad)


def test_preflight_refuses_a_missing_namespace_it_may_not_create(project, emulator):
    emulator.deny("create", "namespaces")
    p, env = provider(project())
    bad = errors(p.preflight(env))
    assert [f.id for f in bad] == ["k8s.namespace"]
    assert "kubectl create namespace shop-staging" in bad[0].fix


def test_a_namespace_scoped_user_can_deploy(project, emulator):
    emulator.create("v1", "namespaces", "", {"metadata": {"name": "shop-staging"}})
    for verb in ("get", "list", "create", "patch"):
        emulator.deny(verb, "namespaces")
    ctx = project()
    p, env = provider(ctx)
    assert errors(p.preflight(env)) == []
    assert pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1).status == "healthy"


def test_preflight_reports_an_unreachable_cluster(project, tmp_path):
    ctx = project()
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig.read_text().replace(
        kubeconfig.read_text().split("server: ")[1].split()[0], f"http://127.0.0.1:{port}"))
    p, env = provider(ctx)
    bad = errors(p.preflight(env))
    assert [f.id for f in bad] == ["k8s.reachable"]
    assert "unreachable" in bad[0].message


def test_preflight_reports_a_missing_context(project):
    p, env = provider(project(context="nope"))
    bad = errors(p.preflight(env))
    assert [f.id for f in bad] == ["k8s.kubeconfig"]
    assert "nope" in bad[0].message and "kubeconfig" in bad[0].fix


def test_status_of_a_release_that_never_gets_ready(project, emulator):
    ctx = project(deadline=2)
    emulator.images[IMAGE_UNHEALTHY].liveness_kill_after = 0.3
    with pytest.raises(GateFailed) as failed:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_UNHEALTHY)
    assert "no earlier revision" in failed.value.what
    emulator.wait_for(lambda: any(
        e["reason"] == "BackOff" or e["reason"] == "Killing"
        for e in emulator.list("v1", "events", "shop-staging")))
    state = pipeline.live(ctx, "staging")
    assert state.current is not None and state.current.status == "failed"
    assert state.extra["rollout_state"] == "waiting"
    assert state.extra["replicas"]["ready"] == 0
    assert all(not i.serving for i in state.instances)
    reasons = {e["reason"] for e in state.extra["events"]}
    assert "Unhealthy" in reasons
    json.dumps(state.to_dict())  # the TUI and --json get plain data


def test_status_before_anything_is_deployed(project):
    state = pipeline.live(project(), "staging")
    assert state.current is None and state.releases == [] and state.instances == []
    assert state.extra["rollout"] == "no deployment yet"


def test_status_shows_drift_made_outside_cockpit(project, emulator):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    d = emulator.get("apps/v1", "deployments", "shop-staging", "shop")
    d["spec"]["replicas"] = 3
    emulator.update("apps/v1", "deployments", "shop-staging", d)
    state = pipeline.live(ctx, "staging")
    assert any("replicas" in line for line in state.drift)


def test_domain_gets_an_ingress_and_a_cert_manager_certificate(project, emulator):
    ctx = project(domain=True)
    p, env = provider(ctx)
    status = p.configure_domain(env, "staging.shop.example.test", Recorder())
    assert status.status == "issued"
    assert status.tls.ok and status.tls.issuer == "letsencrypt"
    assert status.tls.names == ["staging.shop.example.test"]
    assert status.tls.days_left >= 89
    assert status.records_to_create == [{"type": "A", "name": "staging.shop.example.test",
                                         "value": "127.0.0.1"}]
    ing = emulator.get("networking.k8s.io/v1", "ingresses", "shop-staging", "shop")
    assert ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [{"hosts": ["staging.shop.example.test"],
                                   "secretName": "shop-tls"}]


def test_domain_reports_a_failing_issuer(project, emulator):
    emulator.issuer_fails = True
    ctx = project(domain=True)
    p, env = provider(ctx)
    status = p.configure_domain(env, "staging.shop.example.test", Recorder())
    assert status.status == "failed"
    assert "ACME order failed" in status.tls.error


def test_status_shows_certificate_readiness(project, emulator):
    ctx = project(domain=True)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.wait_for(lambda: (emulator.get("cert-manager.io/v1", "certificates", "shop-staging",
                                            "shop-tls") or {}).get("status", {}).get("notAfter"))
    state = pipeline.live(ctx, "staging")
    assert state.tls is not None and state.tls.ok
    assert state.extra["certificate"]["issuer"] == "letsencrypt"


def test_a_lock_held_by_someone_else_refuses_the_deploy(project, emulator):
    import time

    ctx = project()
    _, env = provider(ctx)
    emulator.create("v1", "namespaces", "", {"metadata": {"name": "shop-staging"}})
    emulator.create("coordination.k8s.io/v1", "leases", "shop-staging", m.lease(
        env, "alice@laptop", 600, time.time(), command="deploy", pid=4242))
    with pytest.raises(LockHeld) as held:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    assert "alice@laptop" in held.value.what and "deploy" in held.value.what
    state = pipeline.live(ctx, "staging")
    assert state.lock.holder == "alice@laptop"


def test_an_expired_lock_is_taken_over_and_released_after_the_deploy(project, emulator):
    ctx = project()
    p, env = provider(ctx)
    emulator.create("v1", "namespaces", "", {"metadata": {"name": "shop-staging"}})
    emulator.create("coordination.k8s.io/v1", "leases", "shop-staging", m.lease(
        env, "alice@laptop", 5, 1_000_000.0, command="deploy", pid=4242))
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    assert emulator.get("coordination.k8s.io/v1", "leases", "shop-staging",
                        m.lease_name(env)) is None
    assert p.lock_status(env) is None


def test_lock_release_command_drops_anyones_lease(project, emulator):
    import time

    ctx = project()
    p, env = provider(ctx)
    emulator.create("v1", "namespaces", "", {"metadata": {"name": "shop-staging"}})
    emulator.create("coordination.k8s.io/v1", "leases", "shop-staging", m.lease(
        env, "alice@laptop", 600, time.time(), command="deploy", pid=4242))
    assert p.lock_status(env).holder == "alice@laptop"
    assert p.lock_release(env) is True
    assert p.lock_status(env) is None


def test_reconcile_undoes_an_interrupted_unhealthy_rollout(project, emulator):
    ctx = project()
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    p, env = provider(ctx)
    bad = pipeline.make_release(ctx, env, IMAGE_CRASH, pipeline.digest_of(IMAGE_CRASH))
    kube = p.kube(env)
    kube.apply(m.secret(env, bad, ctx.secrets.values(env)))
    kube.apply(m.deployment(env, bad, with_secret=True))  # ... and then the process died
    emulator.wait_for(lambda: any(
        (p_.get("status", {}).get("containerStatuses") or [{}])[0].get("restartCount")
        for p_ in emulator.list("v1", "pods", "shop-staging", {"release": bad.id})))
    ctx.store.begin_run("staging", "deploy")  # the run that never finished
    said = pipeline.reconcile(ctx, "staging", Recorder())
    assert len(said) == 1 and f"rolled back to release {good.id}" in said[0]
    assert ctx.store.unfinished_runs("staging") == []
    d = emulator.get("apps/v1", "deployments", "shop-staging", "shop")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1


def test_reconcile_keeps_an_interrupted_healthy_rollout(project, emulator):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    p, env = provider(ctx)
    new = pipeline.make_release(ctx, env, IMAGE_V2, pipeline.digest_of(IMAGE_V2))
    kube = p.kube(env)
    kube.apply(m.secret(env, new, ctx.secrets.values(env)))
    kube.apply(m.deployment(env, new, with_secret=True))
    account = p.reconcile(env, [], Recorder())
    assert f"release {new.id} finished rolling out and answers; kept" == account
    assert pipeline.live(ctx, "staging").current.status == "healthy"


def test_removing_the_domain_removes_the_ingress_on_the_next_deploy(project, emulator):
    ctx = project(domain=True)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    assert emulator.get("networking.k8s.io/v1", "ingresses", "shop-staging", "shop")
    assert pipeline.live(ctx, "staging").extra["ingress_hosts"] == ["staging.shop.example.test"]
    ctx = project(domain=False)
    assert any("sets no domain" in d for d in pipeline.live(ctx, "staging").drift)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert emulator.get("networking.k8s.io/v1", "ingresses", "shop-staging", "shop") is None
