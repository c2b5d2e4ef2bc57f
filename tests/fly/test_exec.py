"""`cockpit exec ENV -- CMD` on Fly: the command as `init.cmd` of a one-off machine of a serving
machine's config (restart "no", auto_destroy, never registered with the proxy), its log lines
passed on masked, its exit code read from the machine's exit event; `-i` refused (no terminal
in such a machine); a protected environment needs --confirm; audited with the command line
masked. Against the emulator, whose one-off machines print and exit as the test declares."""

from __future__ import annotations

import argparse
import json
import time

import pytest

from cockpit import pipeline
from cockpit.cli import main
from cockpit.errors import Refused

from .conftest import IMAGE_V1, Recorder

pytestmark = pytest.mark.timeout(900)  # fixtures may wait for the lab-wide keyring lock

APP = "shop-staging"
STAGING_SECRET = "s3cr3t-value-for-staging"
PROD_SECRET = "s3cr3t-value-for-prod"


@pytest.fixture
def deployed(project, emu):
    """staging serving IMAGE_V1, whose `report` command prints a line with each environment's
    secret and exits 3."""
    emu.command_logs[(IMAGE_V1, "report")] = ["rows: 42", f"signing with {STAGING_SECRET}",
                                              f"prod key {PROD_SECRET}"]
    emu.command_exits[(IMAGE_V1, "report")] = 3
    ctx = project()
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    return ctx, release


def exec_machines(emu, app=APP):
    with emu.lock:
        return [m for m in emu.apps[app].machines.values()
                if "cockpit_exec" in m.config.get("metadata", {})]


def destroyed(emu, app=APP, timeout=10.0) -> bool:
    """True once every exec machine of `app` is destroyed (auto_destroy, after its exit)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(m.state == "destroyed" for m in exec_machines(emu, app)):
            return True
        time.sleep(0.05)
    return False


def test_exec_runs_a_one_off_machine_passes_the_exit_code_and_masks_output(
        deployed, emu, capsys):
    ctx, release = deployed
    capsys.readouterr()
    code = main(["exec", "staging", "--config", str(ctx.config.path), "--",
                 "python", "report.py", "--key", STAGING_SECRET])
    out = capsys.readouterr()
    assert code == 3, out.err
    lines = out.out.splitlines()
    assert lines == ["rows: 42", "signing with ••••", "prod key ••••"]
    assert STAGING_SECRET not in out.out + out.err and PROD_SECRET not in out.out + out.err

    [one] = exec_machines(emu)
    cfg = one.config
    assert cfg["image"] == IMAGE_V1
    assert cfg["init"]["cmd"] == ["python", "report.py", "--key", STAGING_SECRET]
    assert cfg["restart"] == {"policy": "no"} and cfg["auto_destroy"] is True
    assert "services" not in cfg and "checks" not in cfg
    assert cfg["metadata"]["cockpit_exec"] == release.id
    assert "cockpit_release" not in cfg["metadata"]  # never taken for a release's machine
    assert cfg["env"]["COCKPIT_RELEASE"] == release.id
    assert one.cordoned  # skip_service_registration: never serves
    assert emu.machine_env(APP, one.id)["SECRET_KEY"] == STAGING_SECRET
    assert all(one.id not in serving for _, serving in emu.serving_log)
    exits = [e for e in one.events if e["type"] == "exit"]
    assert exits[-1]["request"]["exit_event"]["exit_code"] == 3
    assert destroyed(emu)  # gone afterwards

    [entry] = [a for a in ctx.store.audit_log("staging") if a["command"] == "exec"]
    assert entry["result"] == "exit 3"
    assert release.id in entry["detail"] and "python report.py --key" in entry["detail"]
    assert STAGING_SECRET not in entry["detail"]
    # live state still sees one release serving on the app's own machines
    state = pipeline.live(ctx, "staging")
    assert state.current.id == release.id and not state.drift


def test_exec_json_gives_a_log_event_per_line_then_the_exit_status(deployed, capsys):
    ctx, release = deployed
    capsys.readouterr()
    code = main(["exec", "staging", "--json", "--config", str(ctx.config.path), "--",
                 "report"])
    docs = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert code == 3
    logs = [d for d in docs if d.get("type") == "log"]
    assert [d["line"] for d in logs] == ["rows: 42", "signing with ••••", "prod key ••••"]
    assert {d["source"] for d in logs} == {"exec"}
    assert docs[-1]["data"] == {"env": "staging", "release": release.id, "command": ["report"],
                                "exit_code": 3}


def test_a_command_that_succeeds_exits_0(deployed, emu, capsys):
    ctx, _ = deployed
    code = main(["exec", "staging", "--config", str(ctx.config.path), "--", "true"])
    assert code == 0
    assert capsys.readouterr().out.splitlines() == ["running the release command"]
    assert destroyed(emu)


def test_prod_needs_confirm_and_nothing_runs_without_it(project, emu, capsys):
    emu.command_logs[(IMAGE_V1, "report")] = [f"prod key {PROD_SECRET}"]
    emu.command_exits[(IMAGE_V1, "report")] = 3
    ctx = project()
    pipeline.deploy(ctx, "prod", Recorder(), image=IMAGE_V1)
    cfg = str(ctx.config.path)
    code = main(["exec", "prod", "--config", cfg, "--", "report"])
    err = capsys.readouterr().err
    assert code == 5 and "--confirm prod" in err
    assert not exec_machines(emu, "shop-prod")
    code = main(["exec", "prod", "--confirm", "prod", "--config", cfg, "--", "report"])
    assert code == 3
    assert capsys.readouterr().out.splitlines() == ["prod key ••••"]
    assert destroyed(emu, "shop-prod")


def test_a_read_only_session_is_refused(deployed, emu):
    from cockpit.cli import exec as exec_cli
    from cockpit.cli._common import renderer

    ctx, _ = deployed
    ctx.options.read_only = True
    args = argparse.Namespace(interactive=False, json=False, env="staging")
    with pytest.raises(Refused):
        exec_cli._run_one_off(args, ctx, ctx.config.env("staging"), ["report"],
                              renderer(args))
    assert not exec_machines(emu)


def test_interactive_is_refused_naming_fly_ssh_console(deployed, emu, capsys):
    ctx, _ = deployed
    code = main(["exec", "staging", "-i", "--config", str(ctx.config.path), "--",
                 "python", "manage.py", "shell"])
    err = capsys.readouterr().err
    assert code == 2
    assert "fly ssh console -a shop-staging -C 'python manage.py shell'" in err
    assert not exec_machines(emu)


def test_no_serving_release_is_a_clear_error(project, emu, capsys):
    ctx = project()
    code = main(["exec", "staging", "--config", str(ctx.config.path), "--", "report"])
    err = capsys.readouterr().err
    assert code == 2 and "no release serves staging" in err and "cockpit deploy staging" in err


def test_lines_the_log_pipeline_delivers_after_the_exit_are_shown(deployed, emu, capsys):
    """Fly's log pipeline delivers a machine's lines seconds after it printed them, after its
    exit event is visible: the log is read on after the exit until it stays quiet."""
    ctx, _ = deployed
    emu.log_delay = 1.0
    capsys.readouterr()
    code = main(["exec", "staging", "--config", str(ctx.config.path), "--", "report"])
    assert code == 3
    assert capsys.readouterr().out.splitlines() == ["rows: 42", "signing with ••••",
                                                   "prod key ••••"]


def test_a_run_that_fails_after_the_machine_was_made_is_audited_as_failed(deployed, emu,
                                                                          capsys):
    ctx, _ = deployed
    emu.inject("GET", r"/machines/[^/]+$", status=403, times=1)  # reading it is refused
    code = main(["exec", "staging", "--config", str(ctx.config.path), "--",
                 "report", "--key", STAGING_SECRET])
    err = capsys.readouterr().err
    assert code == 1, err
    assert exec_machines(emu) and destroyed(emu)  # made, then destroyed
    [entry] = [a for a in ctx.store.audit_log("staging") if a["command"] == "exec"]
    assert entry["result"].startswith("failed: ") and "not allowed" in entry["result"]
    assert "report --key ••••" in entry["detail"] and STAGING_SECRET not in str(entry)


def test_interactive_is_refused_before_confirm_is_asked_for(project, emu, capsys):
    ctx = project()
    code = main(["exec", "prod", "-i", "--config", str(ctx.config.path), "--", "sh"])
    err = capsys.readouterr().err
    assert code == 2 and "fly ssh console -a shop-prod" in err and "--confirm" not in err
    assert not [c for c in emu.calls if c[0] == "POST" and c[1].endswith("/machines")]
