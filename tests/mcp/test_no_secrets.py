"""After deploying an app that prints its secret to its log, no tool output and no audit entry
holds the value; big logs come back bounded."""

from __future__ import annotations

import json

import pytest

from cockpit.redaction import MASK, REDACTOR

from .conftest import IMAGE_LEAKY, IMAGE_V1, SECRET_PROD, SECRET_STAGING

pytestmark = pytest.mark.timeout(900)

IMAGE_CHATTY = IMAGE_V1.replace("1" * 64, "f" * 64)


def test_no_tool_output_contains_a_secret_value(project, agent_for, emulator):
    ctx = project()
    agent = agent_for(ctx)
    plan = agent.ok("plan_deploy", env="staging", image=IMAGE_LEAKY)
    agent.ok("apply", plan_id=plan["plan_id"])
    emulator.wait_for(lambda: any(
        SECRET_STAGING in line for pod in emulator.list("v1", "pods", "shop-staging")
        for line in emulator.pod_logs("shop-staging", pod["metadata"]["name"])))
    REDACTOR.clear()  # as in a fresh server process: nothing is known until the server reads it

    logs = agent.ok("logs", env="staging", lines=50)
    assert any(MASK in line["line"] for line in logs["lines"])  # the app did print it
    agent.ok("status")
    agent.ok("status", env="staging")
    agent.ok("releases", env="staging")
    agent.ok("scan")
    agent.ok("secrets_list", env="staging")
    agent.ok("secrets_list", env="prod")
    agent.ok("explain_failure", env="staging")
    agent.ok("approval_status", plan_id=plan["plan_id"])
    agent.ok("plan_deploy", env="prod", image=IMAGE_LEAKY)
    agent.ok("plan_promote", src="staging", dst="prod")
    agent.error("plan_rollback", env="staging")
    agent.error("logs", env="nowhere")
    agent.resource("cockpit://config")
    agent.resource("cockpit://audit")
    everything = "\n".join(agent.outputs)
    assert SECRET_STAGING not in everything and SECRET_PROD not in everything
    audit = json.dumps(ctx.store.audit_log(limit=500))
    assert SECRET_STAGING not in audit and SECRET_PROD not in audit
    raw = ctx.store.path.read_bytes() + b"".join(
        p.read_bytes() for p in ctx.store.path.parent.glob("state.db-*"))
    assert SECRET_STAGING.encode() not in raw and SECRET_PROD.encode() not in raw


def test_big_logs_are_bounded(project, agent_for, emulator):
    emulator.image(IMAGE_CHATTY, logs=[f"line {i} " + "x" * 50 for i in range(3000)]
                   + ["y" * 100_000])
    ctx = project()
    agent = agent_for(ctx)
    agent.ok("apply", plan_id=agent.ok("plan_deploy", env="staging",
                                       image=IMAGE_CHATTY)["plan_id"])
    few = agent.ok("logs", env="staging", lines=3)
    assert len(few["lines"]) == 3 and few["limit"] == 3
    many = agent.ok("logs", env="staging", lines=10**9)
    assert many["limit"] == 500 and len(many["lines"]) <= 500 and many["truncated"] is True
    assert max(len(line["line"]) for line in many["lines"]) <= 1050  # 1000 and a "… (n more)"
    assert len(json.dumps(many)) < 700_000
    assert agent.error("logs", env="staging", lines="all")
