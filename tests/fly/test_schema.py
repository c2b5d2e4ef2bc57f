"""Rollback knows the schema on Fly: after the release command, the schema probe runs in a
one-off machine shaped like the release command's (the new image, the app's env and secrets,
restart "no", auto_destroy, no services), its output is parsed, and the head is kept in the
release's machine metadata (and in the next release's `cockpit_previous`), so a rollback from
another machine, with an empty state store, knows both heads: it refuses with exit 5 and goes
on with --accept-schema. Against the emulator (its one-off machines print what a test gives
for their image and command)."""

from __future__ import annotations

import json

import pytest

from cockpit import pipeline, schema

from .conftest import IMAGE_V1, IMAGE_V2, Recorder
from .test_release_phase import APP, COMMAND, project  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(900)

# `flask db current`, the probe's mark, then `flask db history`, as each image's code has it
HISTORY = {IMAGE_V1: ["a1b2 (head)", schema.MARK, "<base> -> a1b2 (head), create posts"],
           IMAGE_V2: ["c3d4 (head)", schema.MARK, "a1b2 -> c3d4 (head), add tags",
                      "<base> -> a1b2, create posts"]}


def probe_machines(emu, release_id: str):
    with emu.lock:
        return [m for m in emu.apps[APP].machines.values()
                if m.config.get("metadata", {}).get("cockpit_schema_probe") == release_id]


def app_machines(emu):
    with emu.lock:
        return [m for m in emu.apps[APP].machines.values()
                if "cockpit_release" in m.config.get("metadata", {})
                and m.state not in ("destroyed", "destroying")]


@pytest.fixture
def heads(emu):
    for image, lines in HISTORY.items():
        emu.command_logs[(image, "db current")] = lines


def test_two_releases_record_their_heads_and_another_machine_refuses_the_rollback(
        project, emu, heads, tmp_path, monkeypatch, capsys):  # noqa: F811
    ctx = project()
    r1 = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    r2 = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert ctx.store.get_release("staging", r1.id).meta["schema"]["head"] == "a1b2"
    assert ctx.store.get_release("staging", r2.id).meta["schema"]["head"] == "c3d4"

    # the probe ran like the release command: a one-off machine of the new image
    [probe] = probe_machines(emu, r2.id)
    cfg = probe.config
    command = schema.probe_for(COMMAND).command
    assert cfg["image"] == IMAGE_V2 and cfg["init"]["cmd"] == ["sh", "-c", command]
    assert cfg["restart"] == {"policy": "no"} and cfg["auto_destroy"] is True
    assert "services" not in cfg and "checks" not in cfg and probe.cordoned
    assert probe.state == "destroyed" and probe.exit_code == 0
    assert emu.machine_env(APP, probe.id)["SECRET_KEY"] == "s3cr3t-value-for-staging"
    # the head is kept in the release's machines, the previous one's in cockpit_previous
    for m in app_machines(emu):
        meta = m.config["metadata"]
        assert json.loads(meta["cockpit_schema"])["head"] == "c3d4"
        assert json.loads(meta["cockpit_previous"])["schema"]["head"] == "a1b2"
        assert "s3cr3t" not in json.dumps(meta)

    # another machine: no state store of its own, only what Fly keeps
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(elsewhere))
    from cockpit.cli import main

    config = str(ctx.config.path)
    capsys.readouterr()
    assert main(["rollback", "staging", "--to", r1.id, "--config", config, "--json"]) == 5
    said = capsys.readouterr().out
    assert "c3d4 (add tags)" in said and "--accept-schema" in said
    assert {m.config["image"] for m in app_machines(emu)} == {IMAGE_V2}

    assert main(["rollback", "staging", "--to", r1.id, "--config", config, "--accept-schema",
                 "--json"]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])["data"]["release"]
    assert done["id"] == r1.id and done["meta"]["schema"]["head"] == "a1b2"
    assert {m.config["image"] for m in app_machines(emu)} == {IMAGE_V1}
    for m in app_machines(emu):  # serving release 1 on release 2's database head
        meta = m.config["metadata"]
        assert json.loads(meta["cockpit_schema"])["head"] == "a1b2"
        assert json.loads(meta["cockpit_schema_db"])["head"] == "c3d4"


def test_an_unreadable_probe_is_a_warning_and_the_rollback_is_not_refused(
        project, emu):  # noqa: F811
    ctx = project()
    emu.command_logs[(IMAGE_V1, "db current")] = HISTORY[IMAGE_V1]
    r1 = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emu.command_logs[(IMAGE_V2, "db current")] = ["Error: no such command 'db'"]
    rec = Recorder()
    r2 = pipeline.deploy(ctx, "staging", rec, image=IMAGE_V2)
    warned = [e.text for e in rec.of("message") if "was not recorded" in e.text]
    assert warned and "no such command" in warned[0]
    assert "schema" not in ctx.store.get_release("staging", r2.id).meta
    assert not any("cockpit_schema" in m.config["metadata"] for m in app_machines(emu))
    rec = Recorder()
    assert pipeline.rollback(ctx, "staging", rec, to=r1.id).id == r1.id
    assert any("has no recorded schema head" in e.text for e in rec.of("message"))
