"""The MCP server's tools through the SDK's in-memory client, on the Kubernetes emulator."""

from __future__ import annotations

import pytest

from cockpit import pipeline
from tests.recorder import Recorder

from .conftest import IMAGE_V1, IMAGE_V2

pytestmark = pytest.mark.timeout(900)

READ_ONLY = {"status", "releases", "logs", "scan", "explain_failure", "secrets_list",
             "approval_status", "plan_deploy", "plan_promote", "plan_rollback"}


def test_tools_are_listed_with_their_annotations_and_output_schemas(project, agent_for):
    agent = agent_for(project())
    listed = {t.name: t for t in agent.list_tools()}
    assert set(listed) == READ_ONLY | {"apply"}
    for name in READ_ONLY:
        ann = listed[name].annotations
        assert ann.read_only_hint is True and ann.destructive_hint is False, name
        assert listed[name].output_schema["type"] == "object"
    apply = listed["apply"]
    assert apply.annotations.read_only_hint is False
    assert apply.annotations.destructive_hint is True
    assert set(apply.input_schema["properties"]) == {"plan_id"}
    assert set(listed["plan_promote"].input_schema["properties"]) == {"src", "dst"}
    assert set(listed["plan_rollback"].input_schema["properties"]) == {"env", "to"}
    assert set(listed["logs"].input_schema["properties"]) == {"env", "lines"}
    assert not any(word in name for name in listed
                   for word in ("approve", "shell", "exec", "secret_get", "file"))


def test_status_and_scan(project, agent_for):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    agent = agent_for(ctx)
    out = agent.ok("status")
    envs = {e["env"]: e for e in out["environments"]}
    assert set(envs) == {"staging", "prod"}
    assert envs["staging"]["release"]["image"] == IMAGE_V1
    assert envs["staging"]["health"] == "healthy"
    assert envs["prod"]["release"] is None and envs["prod"]["protected"] is True
    scan = agent.ok("scan")
    assert scan["root"] == str(ctx.config.root) and isinstance(scan["findings"], list)
    audit = ctx.store.audit_log(limit=5)
    assert audit[0]["command"] == "mcp:scan" and audit[0]["client"] == "test-agent 1.0"


def test_plan_and_apply_staging_once(project, agent_for, emulator):
    ctx = project()
    agent = agent_for(ctx)
    plan = agent.ok("plan_deploy", env="staging", image=IMAGE_V2)
    assert plan["plan_id"].startswith("plan-") and plan["env"] == "staging"
    assert plan["needs_approval"] is False and plan["expires_at"] > plan["created_at"]
    assert plan["fingerprint"].startswith("sha256:") and plan["steps"]
    assert plan["changes"]["image"] == [None, IMAGE_V2]
    done = agent.ok("apply", plan_id=plan["plan_id"])
    assert done["status"] == "applied" and done["release"]["status"] == "healthy"
    d = emulator.get("apps/v1", "deployments", "shop-staging", "shop")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V2
    again = agent.error("apply", plan_id=plan["plan_id"])
    assert "already applied" in again


def test_status_shows_the_other_environments_when_one_target_cannot_be_read(project, agent_for,
                                                                            emulator):
    ctx = project()
    for verb in ("get", "list"):
        for resource in ("deployments", "replicasets", "pods"):
            emulator.deny(verb, resource, "shop-prod")
    out = {e["env"]: e for e in agent_for(ctx).ok("status")["environments"]}
    assert out["staging"]["error"] is None
    assert out["prod"]["error"] and out["prod"]["release"] is None
