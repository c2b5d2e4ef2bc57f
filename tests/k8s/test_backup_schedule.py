"""`cockpit backup schedule ENV NAME --every 24h` on Kubernetes: a CronJob per in-cluster
accessory (the VPS scheduler's dump-and-verify script run once, in the accessory's image, with
its Secret's password) writing to a backups PersistentVolumeClaim; `--every off` deletes the
CronJob and keeps the claim. Against the emulator (which validates the cron schedule)."""

from __future__ import annotations

import json

import pytest

from cockpit import pipeline

from .conftest import IMAGE_V1, IMAGE_V2, Recorder
from .test_accessories import site  # noqa: F401 (the fixture)

pytestmark = pytest.mark.timeout(300)
NS = "shop-staging"


def test_a_schedule_is_a_cronjob_writing_to_the_backups_claim(site, emulator, capsys):  # noqa: F811
    import kubernetes_validate
    from cockpit.providers.kubernetes import backups as k8s

    from cockpit.cli import main

    ctx = site()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    ctx.store.close()
    assert main(["backup", "schedule", "staging", "postgres", "--every", "24h", "--keep", "5",
                 "--json"]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])["data"]
    assert done["container"] == "shop-staging-postgres-backups"
    assert done["schedule"] == "0 3 * * *" and done["keep"] == 5
    cj = emulator.get("batch/v1", "cronjobs", NS, "shop-staging-postgres-backups")
    assert cj["spec"]["schedule"] == "0 3 * * *"
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["image"] == "postgres:16"
    script = c["command"][-1]
    assert "pg_dump -Fc" in script and "pg_restore" in script
    assert 'sleep "$EVERY"' not in script and "while :; do" not in script  # once per Job
    assert script.endswith('[ -f "$f" ] || exit 1\n[ -z "$err" ] || exit 2\n')
    assert {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "shop-staging-postgres-auth", "key": "PASSWORD"}}} in c["env"]
    assert {"name": "HOST", "value": "shop-staging-postgres.shop-staging.svc"} in c["env"]
    assert {"name": "KEEP", "value": "5"} in c["env"]
    assert pod["volumes"] == [{"name": "backups", "persistentVolumeClaim": {
        "claimName": "shop-staging-postgres-backups"}}]
    assert emulator.get("v1", "persistentvolumeclaims", NS, "shop-staging-postgres-backups")
    env = site().config.env("staging")
    for obj in (k8s.cronjob(env, "postgres", 86400, 5), k8s.claim(env, "postgres")):
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)

    assert main(["backup", "schedule", "staging", "redis", "--every", "30m", "--json"]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])["data"]
    redis = emulator.get("batch/v1", "cronjobs", NS, "shop-staging-redis-backups")
    assert redis["spec"]["schedule"] == "*/30 * * * *" == done["schedule"]
    assert "--rdb" in redis["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][
        0]["command"][-1]

    # a period cron cannot say is refused before anything changes
    assert main(["backup", "schedule", "staging", "postgres", "--every", "7m"]) == 2
    assert "cannot be a CronJob schedule" in capsys.readouterr().err
    assert emulator.get("batch/v1", "cronjobs", NS, "shop-staging-postgres-backups")[
        "spec"]["schedule"] == "0 3 * * *"

    # off: the CronJob goes, the backups stay in their claim
    assert main(["backup", "schedule", "staging", "postgres", "--every", "off", "--json"]) == 0
    assert emulator.get("batch/v1", "cronjobs", NS, "shop-staging-postgres-backups") is None
    assert emulator.get("v1", "persistentvolumeclaims", NS, "shop-staging-postgres-backups")


def test_cron_expressions_for_periods():
    from cockpit.providers.kubernetes.backups import cron

    from cockpit.errors import UsageError

    assert [cron(s) for s in (60, 900, 3600, 6 * 3600, 86400, 2 * 86400)] == [
        "*/1 * * * *", "*/15 * * * *", "0 */1 * * *", "0 */6 * * *", "0 3 * * *",
        "0 3 */2 * *"]
    for bad in (30, 7 * 60, 5 * 3600, 36 * 3600):
        with pytest.raises(UsageError):
            cron(bad)


def test_the_emulator_refuses_an_unparseable_schedule(site, emulator):  # noqa: F811
    from cockpit.providers.kubernetes import backups as k8s
    from cockpit.providers.kubernetes.kube import ApiFailure
    from kubernetes import client

    ctx = site()
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    provider.setup(env, Recorder())
    obj = k8s.cronjob(env, "postgres", 86400, 7)
    obj["spec"]["schedule"] = "every day"
    kube = provider.kube(env)
    with pytest.raises(ApiFailure) as refused:
        kube.call("apply cronjob", client.BatchV1Api(kube.api).patch_namespaced_cron_job,
                  obj["metadata"]["name"], NS, obj, field_manager="cockpit", force=True,
                  _content_type="application/apply-patch+yaml")
    assert refused.value.status == 422 and "unparseable cron expression" in refused.value.what


def _backup_jobs(emulator) -> list[dict]:
    """The backup Jobs the API server created in NS, oldest first (from its watch history)."""
    return [obj for _rv, key, kind, obj in list(emulator.history)
            if key == "batch/v1|jobs" and kind == "ADDED"
            and obj["metadata"]["namespace"] == NS
            and obj["metadata"]["name"].startswith("shop-staging-postgres-backups-")]


def _record(bid: str, verified: bool, error: str = "") -> str:
    """A record line as the backup script prints it (its printf format; the real script's
    output is parsed in test_backup_script_real.py)."""
    verify = {"counts": {"public.notes": 3}, "scheduled": True} if verified else {
        "error": f"not restorable: {error}", "scheduled": True}
    return json.dumps({"id": bid, "app": "shop", "env": "staging", "accessory": "postgres",
                       "kind": "postgres", "file": f"/backups/{bid}.dump", "size": 2048,
                       "sha256": "ab" * 32, "created_at": 1_790_000_000, "image": "postgres:16",
                       "counts": {"public.notes": 3}, "counts_after": {"public.notes": 3},
                       "verified": verified, "verify": verify})


def test_a_one_off_backup_runs_the_schedules_pod_once_and_lists_the_claim(
        site, emulator, capsys):  # noqa: F811
    """`cockpit backup ENV NAME` on an in-cluster accessory: a Job of the CronJob's pod (no
    schedule needed) writing into the backups claim, its record read from the Job's log, the
    Job deleted afterwards; `backups` lists the claim through a listing Job; `backup
    schedule ENV NAME` shows the CronJob; a backup that does not restore exits 1; restore is
    not there yet (exit 2, naming `backups`)."""
    from cockpit.providers.kubernetes import backups as k8s

    from cockpit.cli import main

    ctx = site()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    ctx.store.close()
    first, second = "20260701T030000Z", "20260702T030000Z"
    emulator.image("postgres:16", commands={
        "pg_dump -Fc": (0, [f"backup {first}: verified", _record(first, True)]),
        "for f in /backups/": (0, [_record(first, True)])})
    assert main(["backup", "staging", "postgres", "--json"]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])["data"]
    assert done["id"] == first and done["verified"] is True
    assert done["counts"] == {"public.notes": 3}
    claim = emulator.get("v1", "persistentvolumeclaims", NS, "shop-staging-postgres-backups")
    assert claim is not None
    jobs = _backup_jobs(emulator)
    assert len(jobs) == 1 and len(jobs[0]["metadata"]["name"]) <= 63
    pod = jobs[0]["spec"]["template"]["spec"]
    cj = k8s.cronjob(ctx.config.env("staging"), "postgres", 86400, 7)
    assert pod["containers"][0]["command"] == cj["spec"]["jobTemplate"]["spec"]["template"][
        "spec"]["containers"][0]["command"]  # the schedule's pod, once
    assert {"name": "KEEP", "value": "0"} in pod["containers"][0]["env"]  # prunes nothing
    assert jobs[0]["spec"]["backoffLimit"] == 0
    assert emulator.get("batch/v1", "jobs", NS, jobs[0]["metadata"]["name"]) is None  # deleted

    assert main(["backups", "staging", "postgres", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.splitlines()[-1])["data"]
    assert [b["id"] for b in listed["backups"]] == [first]
    assert listed["claim"] == "shop-staging-postgres-backups"
    assert main(["backups", "staging", "postgres"]) == 0
    assert "verified  (claim shop-staging-postgres-backups)" in capsys.readouterr().out
    assert not [j for j in emulator.list("batch/v1", "jobs", NS)
                if "-backups-" in j["metadata"]["name"]]  # listing Jobs are deleted too

    # a schedule keeps its own; `backup schedule ENV NAME` shows it
    assert main(["backup", "schedule", "staging", "postgres", "--every", "24h", "--keep",
                 "3"]) == 0
    capsys.readouterr()
    assert main(["backup", "schedule", "staging", "postgres", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out.splitlines()[-1])["data"]
    assert shown["active"] is True and shown["keep"] == 3 and shown["every"] == 86400
    assert shown["schedule"] == "0 3 * * *" and shown["last_run"] is None
    assert shown["count"] == 1 and shown["last"]["id"] == first
    assert main(["backup", "schedule", "staging", "postgres"]) == 0
    assert "it has not run yet" in capsys.readouterr().out

    # a dump that does not restore: reported, exit 1
    emulator.image("postgres:16", commands={
        "pg_dump -Fc": (2, [f"backup {second}: pg_restore: error: bad header",
                            _record(second, False, "pg_restore: error: bad header")])})
    assert main(["backup", "staging", "postgres", "--json"]) == 1
    failed = json.loads(capsys.readouterr().out.splitlines()[-1])["data"]
    assert failed["verified"] is False and "bad header" in failed["verify"]["error"]
    job = _backup_jobs(emulator)[-1]
    assert {"name": "KEEP", "value": "0"} in job["spec"]["template"]["spec"]["containers"][0][
        "env"]  # a one-off backup never prunes the schedule's backups
    assert main(["backup", "staging", "postgres", "--keep", "2", "--json"]) == 1
    capsys.readouterr()
    job = _backup_jobs(emulator)[-1]
    assert {"name": "KEEP", "value": "2"} in job["spec"]["template"]["spec"]["containers"][0][
        "env"]
    names = [j["metadata"]["name"] for j in _backup_jobs(emulator)]
    assert len(set(names)) == len(names)  # every run its own Job

    # nothing dumped: an error with the Job's last lines
    emulator.image("postgres:16", commands={
        "pg_dump -Fc": (1, ["backup x failed: could not dump shop-staging-postgres"])})
    assert main(["backup", "staging", "postgres"]) == 1
    assert "could not dump" in capsys.readouterr().err

    assert main(["restore", "staging", "postgres", "--from", first]) == 2
    err = capsys.readouterr().err
    assert "not there yet on kubernetes" in err and "cockpit backups staging" in err
    assert main(["backup", "staging", "postgres", "--dir", "/tmp/x"]) == 2
    assert "backups claim" in capsys.readouterr().err


def test_a_one_off_backup_before_the_accessory_runs_says_deploy_first(site, capsys):  # noqa: F811
    from cockpit.cli import main

    site().store.close()
    assert main(["backup", "staging", "postgres"]) == 2
    err = capsys.readouterr().err
    assert "does not run in namespace" in err and "cockpit deploy staging" in err


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_tui_backs_up_an_in_cluster_accessory_and_says_restore_is_not_there(
        site, emulator, anyio_backend):  # noqa: F811
    """The command palette's `Backup staging postgres` runs the same Job as the CLI and shows
    the verified record; `Restore staging postgres` says it is not there yet in the cluster
    and names `cockpit backups`, opening no confirmation."""
    from cockpit.screens.run import RunScreen
    from cockpit.screens.widgets.confirmation import ConfirmChange
    from cockpit.screens.widgets.log_view import LogView

    from tests.tui.helpers import finish_run, settle
    from tests.tui_snapshots import dashboard_app

    ctx = site()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    bid = "20260703T030000Z"
    emulator.image("postgres:16", commands={
        "pg_dump -Fc": (0, [f"backup {bid}: verified", _record(bid, True)])})
    app = dashboard_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.start_backup("staging", "postgres")
        await pilot.pause()
        panel = await finish_run(pilot)
        assert panel.error is None
        text = "\n".join(r.text for r in app.screen.query_one(LogView).lines)
        assert f"backup {bid} (2048 bytes) verified by a restore: public.notes 3" in text
        app.pop_screen()
        await settle(pilot)
        app.start_restore("staging", "postgres")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmChange | RunScreen)
        notes = [n.message for n in app._notifications]
        assert any("not there yet" in n and "cockpit backups staging postgres" in n
                   for n in notes), notes


def test_a_protected_deploy_backs_up_the_in_cluster_postgres_before_the_release_command(
        site, emulator):  # noqa: F811
    """prod (protected) with a release command: the first deploy has nothing to back up; the
    next one runs the backup Job before the release Job and names the backup in its output,
    the release and a failed migration's hint; a backup that does not restore stops the
    deploy before the release command with the serving release untouched; --skip-backup
    skips it."""
    from cockpit.backups import BackupBeforeReleaseFailed
    from cockpit.release_phase import ReleaseCommandFailed

    bid = "20260704T030000Z"
    emulator.image("postgres:16", commands={
        "pg_dump -Fc": (0, [f"backup {bid}: verified", _record(bid, True)])})
    emulator.image(IMAGE_V2, release_exit=4, release_logs=["relation already exists"])
    ctx = site(release_command="python manage.py migrate --noinput")
    plan = pipeline.plan_deploy(ctx, "prod", Recorder(), image=IMAGE_V1)
    assert any("a backup of postgres" in n for n in plan.notes)
    rec = Recorder()
    first = pipeline.deploy(ctx, "prod", rec, image=IMAGE_V1)
    assert any("not created yet" in e.detail for e in rec.of("step_finished")
               if e.step == "backup_before_release")
    assert not _backup_jobs_in(emulator, "shop-prod")

    rec = Recorder()
    with pytest.raises(ReleaseCommandFailed) as failed:
        pipeline.deploy(ctx, "prod", rec, image=IMAGE_V2)
    done = [e for e in rec.of("step_finished") if e.step == "backup_before_release"]
    assert done and f"backup {bid} verified" in done[0].detail
    assert "claim shop-prod-postgres-backups" in done[0].detail
    steps = [e.step for e in rec.of("step_started")]
    assert steps.index("backup_before_release") < steps.index("release_command")
    assert f"backup {bid} of postgres (cockpit backups prod postgres)" in failed.value.hint
    [job] = _backup_jobs_in(emulator, "shop-prod")
    variables = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "KEEP", "value": "7"} in variables  # only backups before a release:
    assert {"name": "SUFFIX", "value": "-release"} in variables

    # a backup that does not restore: stopped before the release command
    emulator.image("postgres:16", commands={
        "pg_dump -Fc": (2, [_record(bid, False, "pg_restore: error: bad header")])})
    rec = Recorder()
    with pytest.raises(BackupBeforeReleaseFailed) as stopped:
        pipeline.deploy(ctx, "prod", rec, image=IMAGE_V2)
    assert "bad header" in stopped.value.what
    assert "release_command" not in [e.step for e in rec.of("step_started")]
    d = emulator.get("apps/v1", "deployments", "shop-prod", "shop")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1
    assert pipeline.live(ctx, "prod").current.id == first.id

    ctx.options.skip_backup = True
    rec = Recorder()
    with pytest.raises(ReleaseCommandFailed):
        pipeline.deploy(ctx, "prod", rec, image=IMAGE_V2)
    assert [e.step for e in rec.of("step_skipped")].count("backup_before_release") == 1


def _backup_jobs_in(emulator, ns: str) -> list[dict]:
    return [obj for _rv, key, kind, obj in list(emulator.history)
            if key == "batch/v1|jobs" and kind == "ADDED"
            and obj["metadata"]["namespace"] == ns and "-backups-" in obj["metadata"]["name"]]
