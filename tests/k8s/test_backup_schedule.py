"""`cockpit backup schedule ENV NAME --every 24h` on Kubernetes: a CronJob per in-cluster
accessory (the VPS scheduler's dump-and-verify script run once, in the accessory's image, with
its Secret's password) writing to a backups PersistentVolumeClaim; `--every off` deletes the
CronJob and keeps the claim. Against the emulator (which validates the cron schedule)."""

from __future__ import annotations

import json

import pytest

from cockpit import pipeline

from .conftest import IMAGE_V1, Recorder
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


def test_a_one_off_backup_of_an_in_cluster_accessory_names_the_schedule(site, capsys):  # noqa: F811
    from cockpit.cli import main

    site().store.close()
    assert main(["backup", "staging", "postgres"]) == 2
    err = capsys.readouterr().err
    assert "not there yet on kubernetes" in err and "backup schedule staging" in err
    assert "external" not in err
