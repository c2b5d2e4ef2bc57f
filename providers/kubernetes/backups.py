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

`cockpit backup ENV NAME` runs the same pod once now, as a Job of its own (what `kubectl
create job --from=cronjob/...` would make, without needing a schedule): the backup stays in
the claim, verified the same way, and its record is read from the Job's log (the script prints
it). `cockpit backups ENV NAME` lists the claim's records with a Job that prints them (the
VPS's listing script); `cockpit backup schedule ENV NAME` shows the CronJob, its last run and
the newest backup. Each Job is deleted once read. The claim is ReadWriteOnce: on a cluster with
several nodes, a Job waits while a pod on another node has it mounted.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from cockpit.providers.kubernetes import accessories as acc_k8s
from cockpit.providers.kubernetes import manifests as m

from cockpit import accessories as core
from cockpit.errors import ProviderError, UsageError

if TYPE_CHECKING:
    from cockpit.backups import Backup
    from cockpit.config import Environment

APPLY = "application/apply-patch+yaml"
CONTAINER = "backup"  # the container of the CronJob's and the one-off Jobs' pods
BACKUP_DEADLINE = 3600  # seconds a one-off backup Job may run (activeDeadlineSeconds)
LIST_DEADLINE = 300  # seconds the listing Job may run


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
    # the record goes to the log too (a one-off backup reads it there); then the Job's status
    # tells: Failed when nothing was dumped (1) or it did not restore (2)
    return (once + '[ -f "${f%.*}.json" ] && cat "${f%.*}.json"\n'
            + '[ -f "$f" ] || exit 1\n[ -z "$err" ] || exit 2\n')


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
                            "name": CONTAINER, "image": acc.image_ref,
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


# --------------------------------------------------------------------------- one-off Jobs


def _job(env: Environment, name: str, suffix: str, pod: dict[str, Any], deadline: int
         ) -> dict[str, Any]:
    """A Job `<app>-<env>-<name>-backups-<suffix>` (an RFC 1123 label: a long name keeps a
    hash of the whole, so two runs never share a Job) of the pod template `pod`, never
    retried, deleted by the TTL controller an hour after it ends if cockpit could not."""
    labels = {**acc_k8s.labels(env, name), m.ROLE_LABEL: "backups"}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": m.dns_name(f"{name_of(env, name)}-{suffix}"),
                         "namespace": env.settings.namespace,
                         "labels": {**labels, **m.MANAGED}},
            "spec": {"backoffLimit": 0, "activeDeadlineSeconds": deadline,
                     "ttlSecondsAfterFinished": 3600,
                     "template": {"metadata": {"labels": labels}, "spec": pod}}}


def backup_job(env: Environment, name: str, keep: int | None, suffix: str,
               before_release: bool = False) -> dict[str, Any]:
    """The one-off backup Job: the CronJob's pod (`cronjob`), once. `keep` None prunes
    nothing (KEEP 0); else the newest `keep` verified backups stay. `before_release`: its id
    ends in cockpit.backups.BEFORE_RELEASE_SUFFIX and only those are pruned."""
    from cockpit import backups

    pod = cronjob(env, name, 86400, keep or 1)["spec"]["jobTemplate"]["spec"]["template"][
        "spec"]
    variables = pod["containers"][0]["env"]
    for var in variables:
        if var["name"] == "KEEP":
            var["value"] = str(max(1, keep)) if keep else "0"
    if before_release:
        variables.append({"name": "SUFFIX", "value": backups.BEFORE_RELEASE_SUFFIX})
    return _job(env, name, suffix, pod, BACKUP_DEADLINE)


def list_job(env: Environment, name: str, suffix: str) -> dict[str, Any]:
    """The listing Job: the accessory's image printing each record of the claim (read-only)
    as a JSON line (`cockpit.backups.LIST_SCRIPT`)."""
    from cockpit import backups

    acc = env.accessories[name]
    pod = {"restartPolicy": "Never",
           "containers": [{"name": CONTAINER, "image": acc.image_ref,
                           "imagePullPolicy": "IfNotPresent",
                           "command": ["sh", "-c", backups.LIST_SCRIPT],
                           "volumeMounts": [{"name": "backups", "mountPath": "/backups",
                                             "readOnly": True}]}],
           "volumes": [{"name": "backups", "persistentVolumeClaim": {
               "claimName": name_of(env, name), "readOnly": True}}]}
    return _job(env, name, suffix, pod, LIST_DEADLINE)


def _run(provider, env: Environment, job: dict[str, Any], deadline: int
         ) -> tuple[str | None, dict[str, Any] | None, list[str]]:
    """Apply `job`, wait for its verdict, read its log and delete it: (verdict "Complete" /
    "Failed" / None when it gave none in time, its pod, its log lines). Raises ApiFailure."""
    from cockpit.providers.kubernetes import release as jobs
    from kubernetes import client

    kube = provider.kube(env)
    batch = client.BatchV1Api(kube.api)
    name = job["metadata"]["name"]
    poll = max(0.05, min(env.gate.interval, 1.0))
    kube.call(f"apply job {name}", batch.patch_namespaced_job, name, kube.namespace, job,
              field_manager=m.FIELD_MANAGER, force=True, field_validation="Strict",
              _content_type=APPLY)
    try:
        verdict, _job_read, pod, lines = jobs.wait(kube, name, deadline, poll, tail=5000,
                                                   container=CONTAINER)
    finally:
        kube.get(f"delete job {name}", batch.delete_namespaced_job, name, kube.namespace,
                 propagation_policy="Background")
    return verdict, pod, lines


def _suffix() -> str:
    """A UTC time and 6 random hex digits: distinct for every run, even two in one second."""
    return time.strftime("%Y%m%dt%H%M%S", time.gmtime()).lower() + "-" + secrets.token_hex(3)


def _scheduled(provider, env: Environment, name: str) -> dict[str, Any] | None:
    from kubernetes import client

    kube = provider.kube(env)
    batch = client.BatchV1Api(kube.api)
    job = name_of(env, name)
    return kube.get(f"read cronjob {job}", batch.read_namespaced_cron_job, job, kube.namespace)


def _env_of(cj: dict[str, Any] | None) -> dict[str, str]:
    pod = (((cj or {}).get("spec") or {}).get("jobTemplate") or {}).get("spec", {}).get(
        "template", {}).get("spec", {})
    return {e["name"]: e.get("value", "") for c in pod.get("containers") or []
            for e in c.get("env") or [] if "value" in e}


def backup(provider, env: Environment, name: str, keep: int | None = None,
           before_release: bool = False) -> Backup:
    """Back up the in-cluster accessory `name` now: a Job of the CronJob's pod (`backup_job`)
    dumps it into the backups claim, restores the dump into a throwaway server in the same pod
    and compares per-table (Postgres) or per-db (Redis) counts; with `keep`, the claim then
    keeps the newest `keep` verified backups (without, nothing is pruned; a schedule prunes by
    its own keep). `before_release`: marked as taken before a release command, and only
    those are pruned. Returns the record (`verified` False
    with `verify["error"]` when the dump did not restore; its `file` is the path in the claim).
    Raises UsageError for an external or unknown accessory or one not running yet,
    ProviderError when nothing was dumped or the Job gave no verdict within BACKUP_DEADLINE
    seconds (with its last lines), ApiFailure when the API refuses."""
    from kubernetes import client

    from cockpit import backups

    acc_k8s._pick(env, name)
    kube = provider.kube(env)
    sts = acc_k8s.object_name(env, name)
    if kube.get(f"read statefulset {sts}", client.AppsV1Api(kube.api).read_namespaced_stateful_set,
                sts, kube.namespace) is None:
        raise UsageError(f"{env.name}/{name} does not run in namespace {kube.namespace} yet: "
                         "nothing to back up",
                         hint=f"cockpit deploy {env.name} creates it")
    job = name_of(env, name)
    kube.call(f"apply persistentvolumeclaim {job}",
              kube.core.patch_namespaced_persistent_volume_claim, job, kube.namespace,
              claim(env, name), field_manager=m.FIELD_MANAGER, force=True,
              field_validation="Strict", _content_type=APPLY)
    obj = backup_job(env, name, keep, _suffix(), before_release=before_release)
    verdict, pod, lines = _run(provider, env, obj, BACKUP_DEADLINE)
    found = backups.parse_records(lines, env, name)
    if found:
        return found[0]
    from cockpit.providers.kubernetes import release as jobs

    status = jobs.exit_status(pod)
    why = (f"exited with status {status}" if status is not None else
           f"gave no verdict within {BACKUP_DEADLINE} s" if verdict is None else "failed")
    raise ProviderError(f"the backup of {env.name}/{name} {why} and wrote no backup: "
                        f"{' | '.join(lines[-5:]) or '(no output)'}",
                        where=f"{kube.where} job {obj['metadata']['name']}",
                        hint=f"cockpit accessories status {env.name} {name}; "
                             f"cockpit accessories logs {env.name} {name}")


def records(provider, env: Environment, name: str) -> list[Backup]:
    """The backups in the accessory's backups claim, newest first (`cockpit.backups.
    parse_records`: records, and dumps without one listed unverified with the reason), read by
    a listing Job (`list_job`); [] when there is no claim. Raises UsageError for an external
    or unknown accessory, ProviderError when the Job fails, ApiFailure when the API refuses."""
    from cockpit import backups

    acc_k8s._pick(env, name)
    kube = provider.kube(env)
    job = name_of(env, name)
    if not kube.namespace_exists() or kube.get(
            f"read persistentvolumeclaim {job}",
            kube.core.read_namespaced_persistent_volume_claim, job, kube.namespace) is None:
        return []
    obj = list_job(env, name, "list-" + _suffix())
    verdict, _pod, lines = _run(provider, env, obj, LIST_DEADLINE)
    if verdict != "Complete":
        raise ProviderError(f"listing the backups of {env.name}/{name} failed: "
                            f"{' | '.join(lines[-5:]) or '(no output)'}",
                            where=f"{kube.where} job {obj['metadata']['name']}")
    return backups.parse_records(lines, env, name)


def schedule_status(provider, env: Environment, name: str) -> dict[str, Any]:
    """`cockpit backup schedule ENV NAME` on Kubernetes: {"active" (the CronJob exists and
    is not suspended), "container" (its name or None), "volume" (the claim), "every" and
    "keep" (from its pod's env, None without one), "schedule" (cron), "last_run" and
    "last_success" (the CronJob's status times, RFC 3339, None before its first run),
    "count" (backups in the claim), "last" (the newest backup's record as a dict, or None),
    "where": "in the cluster"}. Raises as `records`."""
    cj = _scheduled(provider, env, name)
    found = records(provider, env, name)
    variables = _env_of(cj)
    spec = (cj or {}).get("spec") or {}
    status = (cj or {}).get("status") or {}
    return {"active": bool(cj) and not spec.get("suspend"),
            "container": cj["metadata"]["name"] if cj else None,
            "volume": name_of(env, name),
            "every": int(variables["EVERY"]) if variables.get("EVERY") else None,
            "keep": int(variables["KEEP"]) if variables.get("KEEP") else None,
            "schedule": spec.get("schedule"),
            "last_run": status.get("lastScheduleTime"),
            "last_success": status.get("lastSuccessfulTime"),
            "count": len(found), "last": found[0].to_dict() if found else None,
            "where": "in the cluster"}
