"""The rules an agent cannot get around, through the MCP server: human approval out of band for
prod (a separate `cockpit approve` process on a real pseudo-terminal), plans bound to live state
and to their environment, read-only sessions, one apply per plan."""

from __future__ import annotations

import os
import pty
import select
import sqlite3
import subprocess
import sys
import threading

import pytest

from cockpit import pipeline, plans
from tests.recorder import Recorder

from .conftest import IMAGE_V1, IMAGE_V2

pytestmark = pytest.mark.timeout(900)

IMAGE_V3 = IMAGE_V1.replace("1" * 64, "3" * 64)


def cockpit(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cockpit", *args], capture_output=True,
                          text=True, timeout=120, **kw)


def approve_on_a_tty(config, plan_id: str, typed: str) -> tuple[int, str]:
    """Run `cockpit approve PLAN_ID` as its own process on a pseudo-terminal, type `typed` when
    it asks, return (exit status, everything it wrote)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cockpit", "approve", plan_id, "--config",
                             str(config)], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    seen, typed_yet = b"", False
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError(f"no prompt: {seen!r}")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if not typed_yet and b"to approve this plan:" in seen:
            os.write(master, typed.encode() + b"\n")
            typed_yet = True
    os.close(master)
    return proc.wait(timeout=60), seen.decode(errors="replace")


def test_a_prod_plan_runs_only_after_a_person_approves_it_in_a_terminal(project, agent_for,
                                                                         emulator):
    ctx = project()
    agent = agent_for(ctx)
    plan = agent.ok("plan_deploy", env="prod", image=IMAGE_V1)
    assert plan["needs_approval"] is True and plan["protected"] is True
    refused = agent.error("apply", plan_id=plan["plan_id"])
    assert "has not approved" in refused and "cockpit approve" in refused
    assert agent.ok("approval_status", plan_id=plan["plan_id"])["approved"] is False
    assert emulator.get("apps/v1", "deployments", "shop-prod", "shop") is None

    # no terminal: refused, whatever is piped in
    piped = cockpit("approve", plan["plan_id"], "--config", str(ctx.config.path), input="prod\n")
    assert piped.returncode == 5 and "terminal" in piped.stderr
    # a terminal, the wrong name: refused
    code, said = approve_on_a_tty(ctx.config.path, plan["plan_id"], "staging")
    assert code == 5, said
    assert agent.ok("approval_status", plan_id=plan["plan_id"])["approved"] is False

    code, said = approve_on_a_tty(ctx.config.path, plan["plan_id"], "prod")
    assert code == 0, said
    assert "step" in said and plan["plan_id"] in said  # the person was shown the plan
    status = agent.ok("approval_status", plan_id=plan["plan_id"])
    assert status["approved"] is True and status["ready"] is True

    done = agent.ok("apply", plan_id=plan["plan_id"])
    assert done["status"] == "applied" and done["env"] == "prod"
    d = emulator.get("apps/v1", "deployments", "shop-prod", "shop")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1
    assert "already applied" in agent.error("apply", plan_id=plan["plan_id"])
    assert agent.ok("approval_status", plan_id=plan["plan_id"])["approval_used"] is True
    results = [(a["command"], a["result"]) for a in ctx.store.audit_log(limit=100)]
    assert ("approve", "ok") in results and ("mcp:apply", "refused") in results


def test_no_argument_stands_in_for_an_approval(project, agent_for):
    ctx = project()
    agent = agent_for(ctx)
    plan = agent.ok("plan_deploy", env="prod", image=IMAGE_V1)
    for extra in ({"confirm": "prod"}, {"approved": True}, {"confirm": True, "env": "prod"}):
        result = agent.call("apply", plan_id=plan["plan_id"], **extra)
        assert result.is_error
    assert plans.get(ctx, plan["plan_id"]).status == "planned"


def test_a_stale_plan_is_refused_after_live_state_changed(project, agent_for):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    agent = agent_for(ctx)
    plan = agent.ok("plan_deploy", env="staging", image=IMAGE_V2)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V3)  # someone else deployed
    refused = agent.error("apply", plan_id=plan["plan_id"])
    assert "live state changed" in refused and "plan again" in refused
    assert pipeline.live(ctx, "staging").current.image == IMAGE_V3
    fresh = agent.ok("plan_deploy", env="staging", image=IMAGE_V2)
    assert agent.ok("apply", plan_id=fresh["plan_id"])["release"]["image"] == IMAGE_V2


def test_a_staging_plan_cannot_be_applied_to_prod(project, agent_for, emulator):
    ctx = project()
    agent = agent_for(ctx)
    plan = agent.ok("plan_deploy", env="staging", image=IMAGE_V1)
    result = agent.call("apply", plan_id=plan["plan_id"], env="prod")  # an argument it lacks
    if not result.is_error:
        assert result.structured_content["env"] == "staging"
    assert emulator.get("apps/v1", "deployments", "shop-prod", "shop") is None
    # nor by rewriting the saved plan: its hash no longer matches, nothing runs
    other = agent.ok("plan_deploy", env="staging", image=IMAGE_V2)
    db = sqlite3.connect(ctx.store.path)
    db.execute("UPDATE plans SET env='prod' WHERE plan_id=?", (other["plan_id"],))
    db.commit()
    db.close()
    assert "altered" in agent.error("apply", plan_id=other["plan_id"])
    assert emulator.get("apps/v1", "deployments", "shop-prod", "shop") is None


def test_read_only_refuses_every_mutating_path_even_an_approved_plan(project, agent_for):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    writer = agent_for(ctx)
    made = [writer.ok("plan_deploy", env="staging", image=IMAGE_V3),
            writer.ok("plan_rollback", env="staging"),
            writer.ok("plan_promote", src="staging", dst="prod"),
            writer.ok("plan_deploy", env="prod", image=IMAGE_V1)]
    plans.approve(ctx, made[2]["plan_id"], "prod")  # a person approved these two
    plans.approve(ctx, made[3]["plan_id"], "prod")
    reader = agent_for(ctx, read_only=True)
    for plan in made:
        assert "read-only" in reader.error("apply", plan_id=plan["plan_id"])
        assert plans.get(ctx, plan["plan_id"]).status == "planned"
    assert plans.approval_status(ctx, made[3]["plan_id"])["approved"] is True  # not used up
    assert reader.ok("status")["environments"]  # reading still works
    assert reader.ok("plan_deploy", env="staging", image=IMAGE_V3)["plan_id"]
    assert pipeline.live(ctx, "staging").current.image == IMAGE_V2
    assert pipeline.live(ctx, "prod").current is None


def test_two_concurrent_applies_of_one_plan_run_it_once(project, agent_for):
    ctx = project()
    agent = agent_for(ctx)
    plan = agent.ok("plan_deploy", env="staging", image=IMAGE_V1)
    results = []
    barrier = threading.Barrier(2)

    def apply() -> None:
        barrier.wait()
        results.append(agent.call("apply", plan_id=plan["plan_id"]))

    threads = [threading.Thread(target=apply) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.is_error for r in results) == [False, True]
    runs = [r for r in ctx.store.runs("staging") if r.command == "deploy"]
    assert len(runs) == 1


def test_two_cockpit_apply_processes_run_a_plan_once(project):
    ctx = project()
    out = cockpit("plan", "staging", "--image", IMAGE_V1, "--json", "--config",
                  str(ctx.config.path))
    assert out.returncode == 0, out.stderr
    import json

    result = [json.loads(line) for line in out.stdout.splitlines()][-1]["data"]
    plan_id = result["plan_id"]
    assert result["plan"]["expires_at"] == result["expires_at"]
    procs = [subprocess.Popen([sys.executable, "-m", "cockpit", "apply", plan_id, "--json",
                               "--config", str(ctx.config.path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes == [0, 5], [p.communicate() for p in procs]
    assert len([r for r in ctx.store.runs("staging") if r.command == "deploy"]) == 1
    audit = cockpit("audit", "--json", "--config", str(ctx.config.path))
    entries = [json.loads(line) for line in audit.stdout.splitlines()][-1]["data"]["entries"]
    assert {"apply"} <= {e["command"] for e in entries}
