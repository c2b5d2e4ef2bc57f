"""Scheduled backups of an in-cluster accessory: a CronJob per accessory.

`cockpit backup schedule ENV NAME --every 24h` on Kubernetes server-side-applies:

- a PersistentVolumeClaim `<app>-<env>-<name>-backups` (ReadWriteOnce, the accessory's
  `storage`), where the backups and their JSON records stay (like the VPS's backups volume);
- a CronJob `<app>-<env>-<name>-backups` whose Job runs the VPS scheduler's script once
  (`cockpit.backups.PG_SCHEDULE` / `REDIS_SCHEDULE`: `pg_dump -Fc` or a Redis RDB, then a
  restore into a throwaway server in the same pod comparing per-table (per-db) counts, a
  record, and pruning beyond `--keep`), in the accessory's image, with its Secret's password,
  against its headless Service. `concurrencyPolicy: Forbid` (a slow backup is never run twice
  at once), `backoffLimit: 0`.

`--every off` deletes the CronJob and keeps the claim with the backups. A CronJob's schedule
is a cron expression in minutes (Kubernetes API docs, CronJobSpec.schedule: "The schedule in
Cron format"), so a period must be a whole number of minutes that divides an hour, of hours
that divides a day, or of days.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cockpit.providers.kubernetes import accessories as acc_k8s
from cockpit.providers.kubernetes import manifests as m

from cockpit import accessories as core
from cockpit.errors import UsageError

if TYPE_CHECKING:
    from cockpit.config import Environment

APPLY = "application/apply-patch+yaml"


def cron(every: int) -> str:
    """A cron schedule for a period of `every` seconds: "*/30 * * * *", "0 */6 * * *",
    "0 3 * * *" (daily at 03:00 in the cluster's time zone), "0 3 */2 * *". Raises UsageError
    for a period a cron expression cannot say (under a minute, 7m, 5h, 36h...)."""
    if every % 86400 == 0:
        days = every // 86400
        return "0 3 * * *" if days == 1 else f"0 3 */{days} * *"
    if every % 3600 == 0 and 24 % (every // 3600) == 0:
        return f"0 */{every // 3600} * * *"
    if every % 60 == 0 and 60 % (every // 60) == 0:
        return f"*/{every // 60} * * * *"
    raise UsageError(f"every {every} s cannot be a CronJob schedule on Kubernetes",
                     hint="use whole minutes dividing an hour (1m..30m), hours dividing a day "
                          "(1h..12h) or whole days (24h, 48h)")


def name_of(env: Environment, name: str) -> str:
    """`<app>-<env>-<name>-backups`: the CronJob and its claim."""
    return m.dns_name(f"{acc_k8s.object_name(env, name)}-backups", 52)  # CronJob names ≤ 52


def script(kind: str) -> str:
    """The VPS scheduler's script for `kind`, run once (a CronJob starts it each time): its
    `while :; do` loop becomes a single pass and the line that sleeps `$EVERY` goes. Raises
    RuntimeError when the script no longer has that shape (a test catches it)."""
    from cockpit import backups

    text = backups.PG_SCHEDULE if kind == "postgres" else backups.REDIS_SCHEDULE
    once = text.replace("while :; do", "for _once in 1; do", 1)
    once = "".join(line for line in once.splitlines(keepends=True)
                   if 'sleep "$EVERY"' not in line)
    if "for _once in 1; do" not in once or 'sleep "$EVERY"' in once or "EVERY" not in text:
        raise RuntimeError("the backup script's loop changed: update "
                           "providers/kubernetes/backups.py")
    # the Job's status tells: Failed when nothing was dumped (1) or it did not restore (2)
    return once + '[ -f "$f" ] || exit 1\n[ -z "$err" ] || exit 2\n'


def claim(env: Environment, name: str) -> dict[str, Any]:
    acc = env.accessories[name]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name_of(env, name), "namespace": env.settings.namespace,
                         "labels": {**acc_k8s.labels(env, name), m.ROLE_LABEL: "backups",
                                    **m.MANAGED}},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {
                         "storage": acc.storage or acc_k8s.DEFAULT_STORAGE}}}}


def cronjob(env: Environment, name: str, every: int, keep: int) -> dict[str, Any]:
    """The accessory's backup CronJob (see the module). `every` seconds (`cron`), the newest
    `keep` backups kept."""
    from cockpit import backups

    acc = env.accessories[name]
    password = {"valueFrom": {"secretKeyRef": {"name": acc_k8s.secret_name(env, name),
                                               "key": "PASSWORD"}}}
    variables = [{"name": k, "value": v} for k, v in (
        ("EVERY", str(every)), ("KEEP", str(max(1, keep))), ("HOST", acc_k8s.host(env, name)),
        ("APP", env.app.name), ("ENV", env.name), ("NAME", name), ("KIND", acc.kind),
        ("IMAGE", acc.image_ref))]
    if acc.kind == "postgres":
        variables += [{"name": "POSTGRES_USER", "value": core.db_user(env.app.name)},
                      {"name": "POSTGRES_DB", "value": core.database(env.app.name, acc)},
                      {"name": "POSTGRES_PASSWORD", **password}]
    else:
        variables += [{"name": "REDIS_PASSWORD", **password}]
    labels = {**acc_k8s.labels(env, name), m.ROLE_LABEL: "backups"}
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name_of(env, name), "namespace": env.settings.namespace,
                     "labels": {**labels, **m.MANAGED}},
        "spec": {
            "schedule": cron(every),
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{
                            "name": "backup", "image": acc.image_ref,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", backups._START, "sh", script(acc.kind)],
                            "env": variables,
                            "volumeMounts": [{"name": "backups", "mountPath": "/backups"}],
                        }],
                        "volumes": [{"name": "backups", "persistentVolumeClaim": {
                            "claimName": name_of(env, name)}}],
                    },
                },
            }},
        },
    }


def schedule(provider, env: Environment, name: str, every: int | None,
             keep: int = 7) -> dict[str, Any]:
    """Apply (or, `every` None, delete) the accessory's backup CronJob and its claim.
    Returns {"container": the CronJob's name or None, "volume": the claim, "every", "keep",
    "schedule": the cron expression, "where": "in the cluster"}. Raises UsageError for an
    external or unknown accessory or a period cron cannot say, ApiFailure when the API
    refuses."""
    from kubernetes import client

    acc_k8s._pick(env, name)
    kube = provider.kube(env)
    batch = client.BatchV1Api(kube.api)
    job = name_of(env, name)
    if every is None:
        kube.get(f"delete cronjob {job}", batch.delete_namespaced_cron_job, job, kube.namespace)
        return {"container": None, "volume": job, "every": None, "keep": None,
                "schedule": None, "where": "in the cluster"}
    obj = cronjob(env, name, every, keep)  # refuses a period cron cannot say, first
    if not kube.namespace_exists():
        provider.setup(env, lambda _e: None)
    kube.call(f"apply persistentvolumeclaim {job}",
              kube.core.patch_namespaced_persistent_volume_claim, job, kube.namespace,
              claim(env, name), field_manager=m.FIELD_MANAGER, force=True,
              field_validation="Strict", _content_type=APPLY)
    kube.call(f"apply cronjob {job}", batch.patch_namespaced_cron_job, job, kube.namespace,
              obj, field_manager=m.FIELD_MANAGER, force=True, field_validation="Strict",
              _content_type=APPLY)
    return {"container": job, "volume": job, "every": every, "keep": max(1, keep),
            "schedule": obj["spec"]["schedule"], "where": "in the cluster"}
