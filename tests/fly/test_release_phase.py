"""`[app] release_command` on Fly: a release_command machine of the new image (the app's env and
secrets, restart "no", auto_destroy), run once per release before any machine is updated; a
non-zero exit stops the deploy (the old machines keep serving) with its logs and exit code.
Against the emulator, whose one-off machines exit with the image's declared code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cockpit import config as config_mod
from cockpit import pipeline
from cockpit.provider import Context, Options
from cockpit.release_phase import ReleaseCommandFailed
from cockpit.secrets import SecretStore
from cockpit.state import Store
from tests.conftest import closing_contexts

from .conftest import IMAGE_V1, IMAGE_V2, TOKEN, Recorder, write_project

pytestmark = pytest.mark.timeout(900)  # fixtures may wait for the lab-wide keyring lock

IMAGE_MIGRATE_FAILS = "registry.fly.io/shop@sha256:" + "f" * 64
COMMAND = "flask --app blog db upgrade"
APP = "shop-staging"


@pytest.fixture
def project(tmp_path, emu, os_keyring, monkeypatch):
    """`project(command=..., **write_project kwargs)`: a Context whose [app] has a release
    command; the Fly token and SECRET_KEY in the keyring."""
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FLY_API_TOKEN", raising=False)
    emu.release_logs[IMAGE_V1] = ["INFO  [alembic.runtime.migration] Running upgrade  -> a1b2"]
    emu.release_exits[IMAGE_MIGRATE_FAILS] = 4
    emu.release_logs[IMAGE_MIGRATE_FAILS] = [
        "INFO  [alembic.runtime.migration] Running upgrade a1b2 -> c3d4",
        "sqlalchemy.exc.ProgrammingError: column posts.tags does not exist"]
    with closing_contexts() as made:
        def factory(command: str = COMMAND, **kw) -> Context:
            path: Path = write_project(tmp_path, emu, **kw)
            path.write_text(path.read_text().replace(
                'health_path = "/up"\n',
                f'health_path = "/up"\nrelease_command = {json.dumps(command)}\n', 1))
            cfg = config_mod.load(path)
            ctx = Context(config=cfg, store=Store.open("shop", root=tmp_path / "state"),
                          secrets=SecretStore("shop"), options=Options(confirm="prod", yes=True))
            for env in cfg.environments.values():
                ctx.secrets.set(env, "FLY_API_TOKEN", TOKEN)
                ctx.secrets.set(env, "SECRET_KEY", f"s3cr3t-value-for-{env.name}")
            made.append(ctx)
            return ctx

        yield factory


def release_machines(emu, app=APP):
    with emu.lock:
        return [m for m in emu.apps[app].machines.values()
                if "cockpit_release_command" in m.config.get("metadata", {})]


def app_machine_posts(emu, app=APP):
    """Indexes in emu.bodies of creates/updates of the app's serving machines."""
    return [i for i, (_, path, body, _) in enumerate(emu.bodies)
            if path.startswith(f"/v1/apps/{app}/machines")
            and not {"cockpit_release_command", "cockpit_schema_probe"} & set(
                (body.get("config") or {}).get("metadata") or {})
            and body.get("config")]


def test_the_plan_shows_the_release_step_first(project):
    ctx = project()
    env = ctx.config.env("staging")
    release = pipeline.make_release(ctx, env, IMAGE_V1, pipeline.digest_of(IMAGE_V1))
    plan = pipeline.provider_for(ctx, env).plan_deploy(env, release)
    ids = [s.id for s in plan.steps]
    assert ids.index("release_command") < min(i for i, s in enumerate(ids)
                                              if s.startswith(("create:", "update:")))
    assert COMMAND in plan.steps[ids.index("release_command")].title
    assert not any("not run" in n.lower() for n in plan.notes)


def test_a_release_command_runs_once_in_a_machine_before_the_machines_change(project, emu):
    ctx = project()
    rec = Recorder()
    first = pipeline.deploy(ctx, "staging", rec, image=IMAGE_V1)
    assert first.status == "healthy"

    [one] = release_machines(emu)
    cfg = one.config
    assert cfg["image"] == IMAGE_V1 and cfg["init"]["cmd"] == ["sh", "-c", COMMAND]
    assert cfg["restart"] == {"policy": "no"} and cfg["auto_destroy"] is True
    assert "services" not in cfg and "checks" not in cfg
    assert cfg["metadata"]["cockpit_release_command"] == first.id
    assert one.cordoned  # skip_service_registration: never serves
    assert one.state == "destroyed" and one.exit_code == 0
    assert emu.machine_env(APP, one.id)["SECRET_KEY"] == "s3cr3t-value-for-staging"
    # order, from the emulator's request log: the release machine, then the app's machines
    posts = app_machine_posts(emu)
    release_at = next(i for i, (_, path, body, _) in enumerate(emu.bodies)
                      if (body.get("config") or {}).get("metadata", {}).get(
                          "cockpit_release_command") == first.id)
    assert posts and release_at < min(posts)
    assert all(one.id not in serving for _, serving in emu.serving_log)
    output = [e.line for e in rec.of("log") if e.source == "release"]
    assert output == ["INFO  [alembic.runtime.migration] Running upgrade  -> a1b2"]

    # a re-run of the same release finds the machine that exited 0: not run twice
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    again = Recorder()
    provider.apply(provider.plan_deploy(env, first), again)
    assert len(release_machines(emu)) == 1
    skipped = [e for e in again.of("step_skipped") if e.step == "release_command"]
    assert skipped and "not run again" in skipped[0].reason

    # a new release runs it again, before its machines are updated
    mark = len(emu.bodies)
    second = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert len(release_machines(emu)) == 2
    new_posts = [i for i in app_machine_posts(emu) if i >= mark]
    new_release_at = next(i for i, (_, path, body, _) in enumerate(emu.bodies)
                          if (body.get("config") or {}).get("metadata", {}).get(
                              "cockpit_release_command") == second.id)
    assert new_posts and mark <= new_release_at < min(new_posts)


def test_a_failing_release_command_stops_the_deploy_and_the_old_machines_serve(project, emu):
    ctx = project()
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    serving = emu.serving(APP)
    mark = len(emu.bodies)
    rec = Recorder()
    with pytest.raises(ReleaseCommandFailed) as failed:
        pipeline.deploy(ctx, "staging", rec, image=IMAGE_MIGRATE_FAILS)

    err = failed.value
    assert err.exit_code == 1 and err.status == 4
    assert "exited with status 4" in err.what
    assert "column posts.tags does not exist" in err.what
    assert f"release {good.id} keeps serving" in err.what
    assert err.logs == ["INFO  [alembic.runtime.migration] Running upgrade a1b2 -> c3d4",
                        "sqlalchemy.exc.ProgrammingError: column posts.tags does not exist"]
    # no app machine was touched: same machines, same image, still serving
    assert not [i for i in app_machine_posts(emu) if i >= mark]
    assert emu.serving(APP) == serving
    assert {m.config["image"] for m in emu.active(APP)} == {IMAGE_V1}
    failed_machine = next(m for m in release_machines(emu)
                          if m.config["image"] == IMAGE_MIGRATE_FAILS)
    events = [e for e in failed_machine.events if e["type"] == "exit"]
    assert events[-1]["request"]["exit_event"]["exit_code"] == 4
    assert [e.step for e in rec.of("step_failed")] == ["release_command"]
    run = ctx.store.runs("staging", limit=1)[0]
    assert run.status == "failed"
    assert any(s["step"] == "release_command" and s["status"] == "failed" for s in run.steps)
    assert next(r for r in ctx.store.releases("staging") if r.id != good.id).status == "failed"
