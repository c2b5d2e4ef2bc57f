"""End to end on the lab VPS: an agent deploys staging, plans a promote to prod, is refused
until a person approves in a terminal, then prod serves the same image; no secret in any
output."""

from __future__ import annotations

import pytest

from cockpit import pipeline
from tests.mcp.conftest import Agent
from tests.mcp.test_guardrails import approve_on_a_tty

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


def test_an_agent_takes_staging_to_prod_with_a_persons_approval(ready):
    from cockpit.agent.server import build
    from cockpit.agent.tools import Session
    from tests.vps.conftest import SECRETS

    project = ready
    project.ctx()  # close any store the fixture left open before the server opens its own
    session = Session(project.config_path)
    agent = Agent(build(session), name="lab-agent")
    try:
        envs = {e["env"]: e for e in agent.ok("status")["environments"]}
        assert envs["staging"]["release"] is not None
        plan = agent.ok("plan_deploy", env="staging", image=project.images["v2"])
        done = agent.ok("apply", plan_id=plan["plan_id"])
        assert done["release"]["status"] == "healthy"
        promote = agent.ok("plan_promote", src="staging", dst="prod")
        assert promote["needs_approval"] is True
        assert "has not approved" in agent.error("apply", plan_id=promote["plan_id"])
        code, said = approve_on_a_tty(project.config_path, promote["plan_id"], "prod")
        assert code == 0, said
        live = agent.ok("apply", plan_id=promote["plan_id"])
        assert live["release"]["digest"] == done["release"]["digest"]
        assert live["release"]["promoted_from"].startswith("staging/")
        assert "already applied" in agent.error("apply", plan_id=promote["plan_id"])
        agent.ok("logs", env="prod", lines=20)
        agent.ok("secrets_list", env="prod")
        agent.ok("explain_failure", env="prod")
        text = "\n".join(agent.outputs)
        assert not any(value in text for value in SECRETS.values())
        assert "PRIVATE KEY" not in text and "kubeconfig" not in text.lower()
        current = pipeline.live(project.ctx(), "prod").current
        assert current.digest == done["release"]["digest"]
    finally:
        session.close()
