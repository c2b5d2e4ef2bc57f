"""Every object cockpit sends passes kubernetes-validate (strict, current Kubernetes)."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml
from cockpit.providers.kubernetes import manifests as m

from cockpit import pipeline
from cockpit.errors import GateFailed
from cockpit.models import Release

from .conftest import IMAGE_CRASH, IMAGE_V1, IMAGE_V2, Recorder

K8S_VERSION = kubernetes_validate.latest_version()


def validate(obj: dict) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def release(env: str = "staging") -> Release:
    return Release(id="20260101-000000-111111", app="shop", env=env, image=IMAGE_V1,
                   digest="sha256:" + "1" * 64, config_hash="sha256:x",
                   secret_names=["SECRET_KEY"], secrets_digest="abc")


def test_the_current_kubernetes_version_is_used():
    assert tuple(int(x) for x in K8S_VERSION.split(".")[:2]) >= (1, 34)


@pytest.mark.parametrize("domain", [False, True])
def test_each_builder_makes_a_valid_object(project, domain):
    ctx = project(domain=domain)
    env = ctx.config.env("staging")
    objects = [
        m.namespace(env),
        m.secret(env, release(), {"SECRET_KEY": "x" * 20}),
        m.deployment(env, release(), with_secret=True),
        m.deployment(env, release(), with_secret=False),
        m.service(env),
        m.ingress(env, "shop.example.test"),
        m.lease(env, "me@host", 900, 1_700_000_000.0, command="deploy", pid=42),
    ]
    for obj in objects:
        validate(obj)


def test_everything_sent_during_deploy_undo_rollback_and_domain_is_valid(project, emulator):
    ctx = project(domain=True)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    with pytest.raises(GateFailed):
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_CRASH)
    pipeline.rollback(ctx, "staging", Recorder())
    provider = pipeline.provider_for(ctx, ctx.config.env("staging"))
    provider.preflight(ctx.config.env("staging"))
    provider.configure_domain(ctx.config.env("staging"), "staging.shop.example.test", Recorder())

    sent = []
    for req in emulator.requests:
        if req["method"] not in ("POST", "PUT", "PATCH") or not req["body"]:
            continue
        if req["content_type"] == "application/apply-patch+yaml":
            sent.append(yaml.safe_load(req["body"]))
        elif req["method"] in ("POST", "PUT"):
            sent.append(json.loads(req["body"]))
    kinds = {obj["kind"] for obj in sent}
    assert {"Namespace", "Secret", "Deployment", "Service", "Ingress", "Lease",
            "SelfSubjectAccessReview"} <= kinds
    for obj in sent:
        validate(obj)


def test_json_patches_of_an_undo_replace_template_and_annotations(project, emulator):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    pipeline.rollback(ctx, "staging", Recorder())
    patches = [json.loads(r["body"]) for r in emulator.requests
               if r["content_type"] == "application/json-patch+json"]
    assert len(patches) == 1
    assert [(op["op"], op["path"]) for op in patches[0]] == [
        ("replace", "/spec/template"), ("replace", "/metadata/annotations")]
    assert "pod-template-hash" not in patches[0][0]["value"]["metadata"]["labels"]
