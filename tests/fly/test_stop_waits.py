"""Waits for a Fly machine to be `stopped` carry the machine's version (`instance_id`), which
the Machines API requires for that state (it answers 400 without, and so does the emulator):
a machine `cockpit remove` stops and a blue machine a bluegreen deploy retires end by their
stop signal before the forced destroy, instead of being destroyed while they stop."""

from __future__ import annotations

import httpx
import pytest

from cockpit import pipeline
from cockpit.cli import main

from .conftest import IMAGE_V1, IMAGE_V2, TOKEN, Recorder

pytestmark = pytest.mark.timeout(300)  # generous: the machine is shared while CI runs


def refused_waits(emu) -> list:
    return [c for c in emu.calls if c[1].endswith("/wait") and c[2] == 400]


def stopped_before_destroyed(machine) -> bool:
    statuses = [e["status"] for e in machine.events]  # oldest first
    return "stopped" in statuses and statuses.index("stopped") < statuses.index("destroyed")


def test_the_api_refuses_a_wait_for_stopped_without_the_version(emu):
    emu.create_app("app1", "acme")
    with httpx.Client(base_url=emu.api_url, headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=10) as c:
        m = c.post("/apps/app1/machines", json={"config": {"image": IMAGE_V1}}).json()
        path = f"/apps/app1/machines/{m['id']}/wait"
        assert c.get(path, params={"state": "stopped", "timeout": 1}).status_code == 400
        assert c.get(path, params={"state": "stopped", "timeout": 1,
                                   "instance_id": m["instance_id"]}).status_code == 408


def test_remove_stops_each_running_machine_before_destroying_it(project, emu, capsys):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    machines = emu.active("shop-staging")
    assert machines and all(m.state == "started" for m in machines)
    code = main(["remove", "staging", "--confirm", "staging", "--json", "--config",
                 str(ctx.config.path)])
    assert code == 0, capsys.readouterr().out
    assert refused_waits(emu) == []
    assert all(stopped_before_destroyed(m) for m in machines)


def test_bluegreen_stops_blue_before_destroying_it(project, emu):
    ctx = project(strategy="bluegreen")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    blue = emu.active("shop-staging")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert refused_waits(emu) == []
    assert blue and all(stopped_before_destroyed(m) for m in blue)
