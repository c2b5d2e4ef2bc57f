"""An agent can never accept a rollback onto another schema head by itself: the saved rollback
plan records its schema check, needs a human approval on any environment (staging too), and
`apply` runs it only after a person approved it with the schema accepted (`cockpit approve
PLAN_ID --accept-schema`, on a terminal). No MCP tool or argument gets around it.

The target is tests/schema's in-memory provider with a database (its release command applies
the Django migrations an image carries; its probe prints them for the real parser)."""

from __future__ import annotations

import io
import json

import pytest

from cockpit import pipeline, plans
from cockpit.errors import Refused
from tests.schema.test_refusal import Events, _deploy, _serving, site  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)


class Tty(io.StringIO):
    """stdin or stderr of a person at a terminal (what `cockpit approve` insists on)."""

    def isatty(self) -> bool:
        return True


def approve_in_terminal(plan_id: str, typed: str, *flags: str) -> tuple[int, str]:
    """`cockpit approve PLAN_ID [flags]` in this process, `typed` typed at its prompt: (exit
    status, what it wrote to the terminal)."""
    from cockpit.cli import main

    stderr = Tty()
    with pytest.MonkeyPatch.context() as m:
        m.setattr("sys.stdin", Tty(typed + "\n"))
        m.setattr("sys.stderr", stderr)
        code = main(["approve", plan_id, *flags])
    return code, stderr.getvalue()


@pytest.fixture
def shop(site, monkeypatch):  # noqa: F811
    """Staging and prod each serve release 2 (notes.0002 applied) after release 1."""
    ctx = site(confirm="prod")
    found = {env: [_deploy(ctx, env, 1).id, _deploy(ctx, env, 2).id]
             for env in ("staging", "prod")}
    return ctx, found


def test_a_rollback_plan_onto_another_schema_records_it_and_the_agent_cannot_apply_it(
        shop, site, agent_for):  # noqa: F811
    ctx, found = shop
    r1, r2 = found["staging"]
    agent = agent_for(ctx)
    plan = agent.ok("plan_rollback", env="staging", to=r1)
    assert plan["protected"] is False and plan["needs_approval"] is True
    assert plan["needs_schema_acceptance"] is True
    assert plan["schema"]["state"] == "differs"
    assert plan["schema"]["newer"] == ["notes.0002_note_tags"]
    assert any("notes.0002_note_tags" in n for n in plan["notes"])

    refused = agent.error("apply", plan_id=plan["plan_id"])
    assert "another schema head" in refused and "--accept-schema" in refused
    # no argument stands in for the acceptance: unknown arguments are not passed on
    agent.call("apply", plan_id=plan["plan_id"], accept_schema=True, approved=True)
    assert _serving(ctx, "staging") == r2
    status = agent.ok("approval_status", plan_id=plan["plan_id"])
    assert status["approved"] is False and status["ready"] is False
    assert status["needs_schema_acceptance"] is True and status["schema_accepted"] is False
    # no tool takes anything that could accept a schema or approve
    for tool in agent.list_tools():
        props = set((tool.input_schema or {}).get("properties", {}))
        assert not props & {"accept_schema", "approve", "approved", "confirm"}, tool.name
        assert "approve" not in tool.name


def test_only_a_human_approval_that_accepted_the_schema_lets_apply_roll_back(
        shop, site, agent_for):  # noqa: F811
    ctx, found = shop
    r1, r2 = found["staging"]
    agent = agent_for(ctx)
    plan_id = agent.ok("plan_rollback", env="staging", to=r1)["plan_id"]
    # a person's approval without the acceptance is refused, and records nothing
    with pytest.raises(Refused, match="accepted explicitly") as refused:
        plans.approve(ctx, plan_id, "staging")
    assert "--accept-schema" in (refused.value.hint or "")
    assert ctx.store.approval(plan_id) is None
    # an approval of the bare plan (as for a protected deploy) does not accept the schema
    saved = plans.get(ctx, plan_id)
    ctx.store.approve_plan(plan_id, saved.plan_hash, "someone", ctx.now() + 600)
    assert agent.ok("approval_status", plan_id=plan_id)["approved"] is False
    assert "--accept-schema" in agent.error("apply", plan_id=plan_id)
    assert _serving(ctx, "staging") == r2

    status = plans.approve(ctx, plan_id, "staging", accept_schema=True)
    assert status["approved"] and status["schema_accepted"] and status["ready"]
    done = agent.ok("apply", plan_id=plan_id)
    assert done["status"] == "applied" and done["release"]["id"] == r1
    assert _serving(ctx, "staging") == r1
    # single use: the plan ran once
    assert "already" in agent.error("apply", plan_id=plan_id)
    approve = [a for a in ctx.store.audit_log("staging") if a["command"] == "approve"]
    assert approve[0]["result"] == "ok" and "schema accepted" in approve[0]["detail"]


def test_apply_ignores_an_accept_schema_the_context_carries(shop, site):  # noqa: F811
    """`cockpit apply` (or any caller) setting accept_schema on its context does not accept a
    plan's schema: only the consumed approval does."""
    ctx, found = shop
    r1, r2 = found["staging"]
    saved = plans.make(ctx, "rollback", "staging", Events(), to=r1)
    sneaky = site(accept_schema=True)
    with pytest.raises(Refused, match="schema"):
        plans.apply(sneaky, saved.plan_id, Events())
    assert _serving(ctx, "staging") == r2


def test_cockpit_approve_needs_accept_schema_on_a_terminal(shop, site):  # noqa: F811
    ctx, found = shop
    r1, r2 = found["prod"]
    saved = plans.make(ctx, "rollback", "prod", Events(), to=r1)
    assert saved.protected and saved.schema_differs

    code, said = approve_in_terminal(saved.plan_id, "prod")
    assert code == 5, said
    assert "SCHEMA" in said and "notes.0002_note_tags" in said and "--accept-schema" in said
    assert "Type the environment name" not in said  # refused before anything is typed

    code, said = approve_in_terminal(saved.plan_id, "prod", "--accept-schema", "--json")
    assert code == 0, said
    assert "to accept the schema and approve this plan" in said
    ctx = site()
    assert plans.approval_status(ctx, saved.plan_id)["schema_accepted"] is True
    done = plans.apply(ctx, saved.plan_id, Events())
    assert done.id == r1 and _serving(ctx, "prod") == r1
    assert ctx.store.get_release("prod", r1).meta["schema_db"]["head"]["notes"] == \
        "0002_note_tags"


def test_accept_schema_is_refused_on_a_plan_without_one(shop, site):  # noqa: F811
    ctx, found = shop
    saved = plans.make(ctx, "deploy", "prod", Events())
    assert not saved.schema_differs and saved.to_dict()["schema"] is None
    with pytest.raises(Refused, match="no schema to accept"):
        plans.approve(ctx, saved.plan_id, "prod", accept_schema=True)
    status = plans.approve(ctx, saved.plan_id, "prod")
    assert status["approved"] and not status["schema_accepted"]
    assert json.dumps(saved.to_dict())  # still plain JSON


def test_same_head_rollback_plans_run_as_before(shop, site, agent_for):  # noqa: F811
    ctx, found = shop
    r2 = _deploy(ctx, "staging", 2).id  # a third release, on release 2's schema
    agent = agent_for(ctx)
    plan = agent.ok("plan_rollback", env="staging", to=found["staging"][1])
    assert plan["schema"]["state"] == "same" and plan["needs_approval"] is False
    assert agent.ok("apply", plan_id=plan["plan_id"])["status"] == "applied"
    assert pipeline.live(ctx, "staging").current.id == found["staging"][1] != r2
