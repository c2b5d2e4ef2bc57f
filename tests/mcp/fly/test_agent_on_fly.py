"""The agent on the Fly emulator: plan and apply staging, a failed gate explained, and neither
the Fly token nor a secret value in any output."""

from __future__ import annotations

import pytest

from cockpit.redaction import REDACTOR
from tests.fly.conftest import IMAGE_BAD, IMAGE_V1, TOKEN
from tests.mcp.conftest import Agent

pytestmark = pytest.mark.timeout(900)


def test_plan_apply_and_explain_a_failure_on_fly(project):
    from cockpit.agent.server import build
    from cockpit.agent.tools import Session

    ctx = project()
    REDACTOR.clear()  # as in a fresh process
    session = Session(ctx.config.path)
    agent = Agent(build(session), name="fly-agent")
    try:
        plan = agent.ok("plan_deploy", env="staging", image=IMAGE_V1)
        assert agent.ok("apply", plan_id=plan["plan_id"])["release"]["status"] == "healthy"
        bad = agent.ok("plan_deploy", env="staging", image=IMAGE_BAD)
        failed = agent.error("apply", plan_id=bad["plan_id"])
        assert "failed" in failed
        why = agent.ok("explain_failure", env="staging")
        assert why["run"]["command"] == "deploy" and why["failed_step"]
        assert "db down" in (why["error"] or "") + " ".join(s["detail"] for s in why["steps"])
        assert agent.ok("status", env="staging")["environments"][0]["release"]["image"] \
            == IMAGE_V1
        names = {s["name"]: s for s in agent.ok("secrets_list", env="staging")["secrets"]}
        assert names["SECRET_KEY"]["set"] is True
        agent.resource("cockpit://config")
        agent.resource("cockpit://audit")
        text = "\n".join(agent.outputs)
        assert TOKEN not in text
        assert "s3cr3t-value-for-staging" not in text and "s3cr3t-value-for-prod" not in text
    finally:
        session.close()
