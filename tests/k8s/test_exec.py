"""`cockpit exec ENV -- CMD` on Kubernetes: the command in a one-off Job of the serving
ReplicaSet's pod template (its Secret, env and image), its output followed and masked, its
exit status cockpit's, the Job deleted afterwards; `-i` refused (no terminal through a Job);
a protected environment needs --confirm; audited with the command line masked. Against the
emulator, whose kubelet runs the image's declared answer to the command."""

from __future__ import annotations

import argparse
import json

import pytest

from cockpit import pipeline
from cockpit.cli import main
from cockpit.errors import Refused

from .conftest import IMAGE_V1, SECRET_PROD, SECRET_STAGING, Recorder

pytestmark = pytest.mark.timeout(900)  # fixtures may wait for the lab-wide keyring lock

NS = "shop-staging"
REPORT = (3, ["rows: 42", f"signing with {SECRET_STAGING}", f"prod key {SECRET_PROD}"])


@pytest.fixture
def deployed(project, emulator):
    """staging serving IMAGE_V1, whose `report` command prints a line with each environment's
    secret and exits 3."""
    emulator.image(IMAGE_V1, commands={"report": REPORT})
    ctx = project()
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    return ctx, release


def exec_jobs(emulator, ns=NS):
    return [j for j in emulator.list("batch/v1", "jobs", ns)
            if j["metadata"]["labels"].get("cockpit.dev/role") == "exec"]


def job_patches(emulator):
    return [r for r in emulator.requests
            if r["method"] == "PATCH" and "/jobs/" in r["path"] and "-exec-" in r["path"]]


def test_exec_runs_a_one_off_job_passes_the_exit_status_and_masks_output(
        deployed, emulator, capsys):
    ctx, release = deployed
    capsys.readouterr()
    code = main(["exec", "staging", "--config", str(ctx.config.path), "--",
                 "python", "report.py", "--key", SECRET_STAGING])
    out = capsys.readouterr()
    assert code == 3, out.err
    lines = out.out.splitlines()
    assert lines[0] == "rows: 42"
    assert "signing with ••••" in lines and "prod key ••••" in lines
    assert SECRET_STAGING not in out.out + out.err and SECRET_PROD not in out.out + out.err

    # the Job as sent: the serving template's container, the command as args, cockpit's own
    [patch] = job_patches(emulator)
    job = json.loads(patch["body"])
    assert job["metadata"]["labels"]["cockpit.dev/role"] == "exec"
    assert job["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cockpit"
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["ttlSecondsAfterFinished"] > 0
    pod = job["spec"]["template"]
    assert "app" not in pod["metadata"]["labels"]  # the Service never routes to it
    [container] = pod["spec"]["containers"]
    assert container["image"] == IMAGE_V1
    assert container["args"] == ["python", "report.py", "--key", SECRET_STAGING]
    assert "command" not in container and "readinessProbe" not in container
    assert container["envFrom"] == [{"secretRef": {"name": f"shop-{release.id}"}}]
    assert {"name": "COCKPIT_RELEASE", "value": release.id} in container["env"]
    assert pod["spec"]["restartPolicy"] == "Never"

    # gone afterwards: the Job at once, its pod by garbage collection
    assert exec_jobs(emulator) == []
    delete = [r for r in emulator.requests
              if r["method"] == "DELETE" and r["path"].endswith(patch["path"].split("/")[-1])]
    assert delete and "Background" in delete[-1]["body"] + json.dumps(delete[-1]["query"])
    emulator.wait_for(lambda: not emulator.list("v1", "pods", NS, {"cockpit.dev/role": "exec"}))

    [entry] = [a for a in ctx.store.audit_log("staging") if a["command"] == "exec"]
    assert entry["result"] == "exit 3"
    assert release.id in entry["detail"] and "python report.py --key" in entry["detail"]
    assert SECRET_STAGING not in entry["detail"]


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


def test_a_command_that_succeeds_exits_0(deployed, capsys):
    ctx, _ = deployed
    code = main(["exec", "staging", "--config", str(ctx.config.path), "--", "true"])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[-1] == "running the release command"


def test_prod_needs_confirm_and_nothing_runs_without_it(project, emulator, capsys):
    emulator.image(IMAGE_V1, commands={"report": REPORT})
    ctx = project()
    pipeline.deploy(ctx, "prod", Recorder(), image=IMAGE_V1)
    cfg = str(ctx.config.path)
    code = main(["exec", "prod", "--config", cfg, "--", "report"])
    err = capsys.readouterr().err
    assert code == 5 and "--confirm prod" in err
    assert not job_patches(emulator)
    code = main(["exec", "prod", "--confirm", "prod", "--config", cfg, "--", "report"])
    assert code == 3
    assert "prod key ••••" in capsys.readouterr().out
    assert exec_jobs(emulator, "shop-prod") == []


def test_a_read_only_session_is_refused(deployed, emulator):
    from cockpit.cli import exec as exec_cli
    from cockpit.cli._common import renderer

    ctx, _ = deployed
    ctx.options.read_only = True
    args = argparse.Namespace(interactive=False, json=False, env="staging")
    with pytest.raises(Refused):
        exec_cli._run_one_off(args, ctx, ctx.config.env("staging"), ["report"],
                              renderer(args))
    assert not job_patches(emulator)


def test_interactive_is_refused_naming_kubectl_exec(deployed, emulator, capsys):
    ctx, _ = deployed
    code = main(["exec", "staging", "-i", "--config", str(ctx.config.path), "--", "sh"])
    err = capsys.readouterr().err
    assert code == 2
    assert "kubectl exec -it -n shop-staging deploy/shop -- sh" in err
    assert not job_patches(emulator)


def test_no_serving_release_is_a_clear_error(project, emulator, capsys):
    ctx = project()
    code = main(["exec", "staging", "--config", str(ctx.config.path), "--", "report"])
    err = capsys.readouterr().err
    assert code == 2 and "no release serves staging" in err and "cockpit deploy staging" in err
    assert not job_patches(emulator)


def test_the_exec_job_is_a_valid_batch_v1_job(deployed):
    import kubernetes_validate
    from cockpit.providers.kubernetes import oneoff

    ctx, release = deployed
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    served, rs = oneoff.serving(provider, env)
    assert served.id == release.id
    job = oneoff.exec_job(env, served, rs["spec"]["template"], ["report"],
                          oneoff.job_name(env))
    kubernetes_validate.validate(job, kubernetes_validate.latest_version(), strict=True)


def test_a_long_quiet_command_outlives_log_streams_closed_early(project, emulator, capsys,
                                                                 monkeypatch):
    """A proxy closing idle log streams (here every stream, after 0.1 s) ends the follow long
    before the command (a backfill printing now and then) ends: the stream is reopened, every
    line is passed on once, the exit status is the container's, and the Job is deleted only
    after the command ended, however long that is."""
    from cockpit.providers.kubernetes import release as jobs

    # the grace a release command's Job gets past its deadline: the command outlives it
    monkeypatch.setattr(jobs, "GRACE", 0.0)
    lines = [f"backfilled batch {n}" for n in range(1, 7)]
    emulator.image(IMAGE_V1, commands={"backfill": (4, lines)}, release_seconds=1.5,
                   release_line_every=0.25)
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emulator.log_stream_max_seconds = 0.1
    capsys.readouterr()
    code = main(["exec", "staging", "--config", str(ctx.config.path), "--",
                 "python", "backfill.py"])
    out = capsys.readouterr()
    assert code == 4, out.err
    assert out.out.splitlines() == lines
    reads = [r for r in emulator.requests if r["method"] == "GET" and r["path"].endswith("/log")]
    assert len(reads) > 1  # the stream was reopened
    assert exec_jobs(emulator) == []


def test_a_run_that_fails_after_the_job_started_is_audited_as_failed(deployed, emulator,
                                                                      capsys):
    ctx, _ = deployed
    emulator.deny("get", "pods", NS)  # reading the running pod is refused mid-run
    code = main(["exec", "staging", "--config", str(ctx.config.path), "--",
                 "report", "--key", SECRET_STAGING])
    err = capsys.readouterr().err
    assert code == 1 and "forbidden" in err
    assert job_patches(emulator) and exec_jobs(emulator) == []  # made, then deleted
    [entry] = [a for a in ctx.store.audit_log("staging") if a["command"] == "exec"]
    assert entry["result"].startswith("failed: ") and "forbidden" in entry["result"]
    assert "report --key ••••" in entry["detail"] and SECRET_STAGING not in str(entry)


def test_interactive_is_refused_before_confirm_is_asked_for(project, emulator, capsys):
    ctx = project()
    code = main(["exec", "prod", "-i", "--config", str(ctx.config.path), "--", "sh"])
    err = capsys.readouterr().err
    assert code == 2 and "kubectl exec -it -n shop-prod" in err and "--confirm" not in err
    assert not job_patches(emulator)
