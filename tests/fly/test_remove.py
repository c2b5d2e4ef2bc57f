"""`cockpit remove ENV` on Fly, against the Machines API emulator through the CLI (--json).

The plan is read from the API (the environment's machines, the app's volumes with their
sizes); nothing changes on --dry-run, without the name typed (even for staging), while
another run holds the deploy lock, or when someone else leases one of the machines. A plain
remove stops and force-destroys the machines and deletes the app cockpit created once nothing
is left in it; volumes stay without --volumes (and then so does the app). Prod keeps serving;
a second run removes nothing."""

from __future__ import annotations

import json

import pytest

from cockpit import pipeline
from cockpit.cli import main

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = pytest.mark.timeout(300)  # generous: the machine is shared while CI runs


def run(capsys, ctx, *argv: str) -> tuple[int, list[dict]]:
    capsys.readouterr()
    code = main([*argv[:2], "--json", "--config", str(ctx.config.path), *argv[2:]])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def plan_of(docs: list[dict]) -> str:
    return json.dumps(next(d for d in docs if d.get("type") == "plan")["steps"])


def changes(emu) -> list:
    return [c for c in emu.calls if c[0] != "GET" and not c[1].endswith("/lease")]


def test_plan_then_remove_staging_while_prod_keeps_serving(project, emu, capsys):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    second = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    pipeline.deploy(ctx, "prod", Recorder(), image=IMAGE_V1)
    staging = sorted(m.id for m in emu.active("shop-staging"))
    prod = emu.serving("shop-prod")
    assert len(staging) == 2 and len(prod) == 2

    before = len(changes(emu))
    code, docs = run(capsys, ctx, "remove", "staging", "--dry-run")
    assert code == 0
    steps = plan_of(docs)
    assert all(mid in steps for mid in staging) and second.id in steps
    assert "delete the Fly app shop-staging" in steps
    data = docs[-1]["data"]
    assert data["dry_run"] is True and data["removed"] == []
    assert data["plan"]["host"] == "fly app shop-staging"
    assert len(changes(emu)) == before

    code, docs = run(capsys, ctx, "remove", "staging")  # staging too wants its name typed
    assert code == 5 and "--confirm staging" in json.dumps(docs[-1])
    assert len(changes(emu)) == before and sorted(m.id for m in emu.active("shop-staging")) \
        == staging

    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0, docs
    removed = docs[-1]["data"]["removed"]
    assert [f"machine {mid}" for mid in staging] == sorted(r for r in removed
                                                           if r.startswith("machine"))
    assert "Fly app shop-staging" in removed
    assert "shop-staging" not in emu.apps
    destroys = [c for c in emu.calls if c[0] == "DELETE" and "/machines/" in c[1]
                and not c[1].endswith("/lease")]
    assert len(destroys) == 2 and all(c[2] == 200 for c in destroys)
    stops = [c for c in emu.calls if c[0] == "POST" and c[1].endswith("/stop")]
    assert len(stops) == 2
    assert emu.serving("shop-prod") == prod  # prod untouched and serving
    assert not emu.leases_held()
    env = ctx.config.env("staging")
    assert ctx.secrets.get(env, "SECRET_KEY") is not None  # kept without --secrets
    assert {r.status for r in ctx.store.releases("staging")} == {"removed"}
    assert [a for a in ctx.store.audit_log("staging") if a["command"] == "remove"][0][
        "result"] == "ok"

    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0 and docs[-1]["data"]["nothing"] is True


def test_volumes_and_the_app_are_kept_without_volumes(project, emu, capsys):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    pipeline.deploy(ctx, "prod", Recorder(), image=IMAGE_V1)
    first = sorted(m.id for m in emu.active("shop-staging"))[0]
    vol = emu.create_volume("shop-staging", "data", size_gb=3, machine=first)
    prod_vol = emu.create_volume("shop-prod", "data", size_gb=5)

    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0, docs
    kept = " ".join(docs[-1]["data"]["plan"]["kept"])
    assert f"{vol} data (3GB)" in kept and "the Fly app shop-staging" in kept
    assert emu.active("shop-staging") == []
    assert "shop-staging" in emu.apps
    assert emu.apps["shop-staging"].volumes[vol]["state"] == "created"

    code, docs = run(capsys, ctx, "remove", "staging", "--volumes", "--dry-run")
    steps = plan_of(docs)
    assert f"{vol} data (3GB)" in steps and "delete the Fly app shop-staging" in steps
    assert emu.apps["shop-staging"].volumes[vol]["state"] == "created"

    code, docs = run(capsys, ctx, "remove", "staging", "--volumes", "--confirm", "staging")
    assert code == 0, docs
    assert f"volume {vol} data (3GB)" in docs[-1]["data"]["removed"]
    assert "shop-staging" not in emu.apps
    assert emu.apps["shop-prod"].volumes[prod_vol]["state"] == "created"
    assert len(emu.serving("shop-prod")) == 2


def test_a_machine_leased_by_someone_else_refuses_and_changes_nothing(project, emu, capsys):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    machines = sorted(emu.active("shop-staging"), key=lambda m: (m.created_at, m.id))
    other = machines[-1].id  # not the anchor: the deploy lock itself is free
    emu.grab_lease("shop-staging", other, "alice@example.com",
                   description="flyctl deploy by alice")
    before = len(changes(emu))
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 4, docs
    text = json.dumps(docs[-1])
    assert "alice@example.com" in text and other in text
    assert len(changes(emu)) == before
    assert len(emu.active("shop-staging")) == 2 and "shop-staging" in emu.apps
    assert emu.leases_held() == [("shop-staging", other, "alice@example.com")]


def test_refused_while_another_run_holds_the_deploy_lock(project, emu, capsys):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    anchor = min(emu.active("shop-staging"), key=lambda m: (m.created_at, m.id)).id
    emu.grab_lease("shop-staging", anchor, "alice@example.com",
                   description="cockpit deploy by alice@laptop")
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 4 and "alice@example.com" in json.dumps(docs[-1])
    assert len(emu.active("shop-staging")) == 2


def test_an_app_cockpit_did_not_create_is_kept(project, emu, capsys):
    ctx = project()
    emu.create_app("shop-staging", "acme")  # made with flyctl
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    code, docs = run(capsys, ctx, "remove", "staging", "--secrets", "--confirm", "staging")
    assert code == 0, docs
    assert "cockpit did not create it" in " ".join(docs[-1]["data"]["plan"]["kept"])
    assert "shop-staging" in emu.apps and emu.active("shop-staging") == []
    env = ctx.config.env("staging")
    assert "keyring item SECRET_KEY" in docs[-1]["data"]["removed"]
    assert ctx.secrets.get(env, "SECRET_KEY") is None
    assert ctx.secrets.get(ctx.config.env("prod"), "SECRET_KEY") is not None
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0 and docs[-1]["data"]["nothing"] is True


def test_a_volume_of_a_machine_that_is_kept_is_kept(project, emu, capsys):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    mine, theirs = sorted(emu.active("shop-staging"), key=lambda m: m.id)
    theirs.config["metadata"].pop("cockpit_env")  # another tool's machine in the app
    idle = emu.create_volume("shop-staging", "scratch", size_gb=1)
    held = emu.create_volume("shop-staging", "data", size_gb=3, machine=theirs.id)

    code, docs = run(capsys, ctx, "remove", "staging", "--volumes", "--confirm", "staging")
    assert code == 0, docs
    plan = docs[-1]["data"]["plan"]
    kept = " ".join(plan["kept"])
    assert f"{held} data (3GB, attached to machine {theirs.id})" in kept
    assert [v["volume"] for v in plan["volumes"] if v["remove"]] == [idle]
    assert f"volume {idle} scratch (1GB)" in docs[-1]["data"]["removed"]
    assert emu.apps["shop-staging"].volumes[held]["state"] == "created"
    assert emu.apps["shop-staging"].volumes[idle]["state"] == "destroyed"
    assert [m.id for m in emu.active("shop-staging")] == [theirs.id]
    assert mine.id in " ".join(docs[-1]["data"]["removed"])
    assert "shop-staging" in emu.apps


def test_an_app_made_again_under_the_same_name_is_kept(project, emu, capsys):
    from cockpit.providers.fly.teardown import created_key

    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    assert ctx.store.get_meta(created_key("shop-staging")) == emu.apps["shop-staging"].id
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0 and "shop-staging" not in emu.apps
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)  # cockpit makes it again
    ours = emu.apps["shop-staging"].id
    assert ctx.store.get_meta(created_key("shop-staging")) == ours
    with emu.lock:  # someone deletes it and makes another app of that name
        del emu.apps["shop-staging"]
    theirs = emu.create_app("shop-staging", "acme").id
    assert theirs != ours
    code, docs = run(capsys, ctx, "remove", "staging", "--confirm", "staging")
    assert code == 0, docs
    assert "not the app cockpit created" in " ".join(docs[-1]["data"]["plan"]["kept"])
    assert emu.apps["shop-staging"].id == theirs
