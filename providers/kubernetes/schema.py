"""The schema head of a release on Kubernetes: the probe of `cockpit.schema`, run like the
release command, kept on the release's ReplicaSet so another machine's rollback knows it.

The probe (`cockpit.schema.probe_for(env.release_command).command`) runs as a Job of the
release's image, built by the same builder as the release command's Job
(`manifests.release_job`: the release's Secret through envFrom, its plain env, `sh -c`,
backoffLimit 0, activeDeadlineSeconds) and waited for by the same code
(`providers/kubernetes/release.py`); its pod's log is the probe's output, parsed by
`cockpit.schema.parse`. The Job (`<app>-<env>-schema-<release id>`, label
`cockpit.dev/role=schema-probe`) is deleted once read.

The record (names of migrations, never a value) is written as the annotation
`cockpit.dev/schema` (JSON) on the release's ReplicaSet, where Kubernetes keeps each revision's
release record: live state (`flow._release_of`) reads it back into `Release.meta["schema"]`.
An accepted rollback writes the database's head while the old release serves as
`cockpit.dev/schema-db` (`meta["schema_db"]`). Annotations: metadata.annotations, at most
256 KiB in total per object (Kubernetes API docs, "Annotations",
https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations/); a record keeps
at most `cockpit.schema.MAX_APPLIED` names.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cockpit.providers.kubernetes import manifests as m
from cockpit.providers.kubernetes import rollout as ro

from cockpit.errors import ProviderError

if TYPE_CHECKING:
    from cockpit.config import Environment
    from cockpit.models import Release

APPLY = "application/apply-patch+yaml"
PROBE_TAIL = 5000  # log lines read from the probe's pod (a long showmigrations listing)


def schema_head(provider, env: Environment, release: Release) -> dict[str, Any] | None:
    """Run the schema probe for env's release command as a Job of `release`'s image and
    parse its output: the record of `cockpit.schema` ({"tool", "head", "applied", ...}), or
    None when the release command runs no known migration tool. Raises ProviderError when
    the probe's Job fails (its exit status and last lines, redacted) or gives no verdict
    within `release_timeout` seconds, SchemaProbeError when its output is not the tool's,
    ApiFailure when the API refuses. The record is annotated on the release's ReplicaSet
    (`record`) when that exists."""
    from cockpit.providers.kubernetes import release as jobs
    from kubernetes import client

    from cockpit import schema

    probe = schema.probe_for(env.release_command)
    if probe is None:
        return None
    kube = provider.kube(env)
    batch = client.BatchV1Api(kube.api)
    name = m.schema_job_name(env, release.id)
    poll = max(0.05, min(env.gate.interval, 1.0))
    secret = m.secret_name(env, release.id)
    with_secret = kube.get(f"read secret {secret}", kube.core.read_namespaced_secret, secret,
                           kube.namespace) is not None
    deadline_s = int(env.settings.release_timeout)
    if kube.get(f"read job {name}", batch.read_namespaced_job, name, kube.namespace):
        jobs.delete(kube, name, poll)  # a probe left by an interrupted run: read afresh
    job = m.release_job(env, release, with_secret=with_secret, deadline=deadline_s,
                        command=probe.command, name=name, role="schema-probe")
    kube.call(f"apply job {name}", batch.patch_namespaced_job, name, kube.namespace, job,
              field_manager=m.FIELD_MANAGER, force=True, _content_type=APPLY)
    try:
        verdict, job, pod, lines = jobs.wait(kube, name, deadline_s, poll, tail=PROBE_TAIL)
    finally:
        kube.get(f"delete job {name}", batch.delete_namespaced_job, name, kube.namespace,
                 propagation_policy="Background")
    # prisma's `migrate status` exits 1 while migrations are pending: its output still counts
    if verdict != "Complete" and not (probe.tool == "prisma" and verdict == "Failed"
                                      and lines):
        status = jobs.exit_status(pod)
        why = (f"exited with status {status}" if status is not None else
               f"gave no verdict within {deadline_s} s" if verdict is None else "failed")
        raise ProviderError(f"the schema probe `{probe.command}` {why}: "
                            f"{' | '.join(lines[-5:]) or '(no output)'}",
                            where=f"{kube.where} job {name} step schema")
    rec = schema.parse(probe.tool, "\n".join(lines))
    record(provider, env, release.id, {m.SCHEMA_ANNOTATION: rec})
    return rec


def replicaset_of(provider, env: Environment, release_id: str) -> dict[str, Any] | None:
    """The ReplicaSet (of the environment's Deployment) whose pod template carries release
    `release_id`; None when the Deployment or that revision is not kept."""
    kube = provider.kube(env)
    d = kube.deployment(m.app_name(env))
    if d is None:
        return None
    for rs in ro.owned_replicasets(d, kube.replicasets(ro.label_selector(d))):
        if provider._release_of(rs, env).id == release_id:
            return rs
    return None


def record(provider, env: Environment, release_id: str,
           records: dict[str, dict[str, Any] | None]) -> bool:
    """Annotate the ReplicaSet of `release_id` with `records` ({annotation: schema record,
    or None to remove it}) by a JSON merge patch. Returns False when no ReplicaSet carries
    that release (nothing written). Raises ApiFailure."""
    rs = replicaset_of(provider, env, release_id)
    if rs is None:
        return False
    kube = provider.kube(env)
    ann = {k: (json.dumps(v, sort_keys=True, separators=(",", ":")) if v else None)
           for k, v in records.items()}
    kube.call(f"annotate replicaset {rs['metadata']['name']}",
              kube.apps.patch_namespaced_replica_set, rs["metadata"]["name"], kube.namespace,
              {"metadata": {"annotations": ann}}, field_manager=m.FIELD_MANAGER,
              _content_type="application/merge-patch+json")
    return True


def read(rs: dict[str, Any]) -> dict[str, Any]:
    """The schema records annotated on a ReplicaSet, as Release.meta keys ("schema",
    "schema_db"); an unreadable annotation is left out (a rollback then says the head is
    not recorded)."""
    ann = rs["metadata"].get("annotations") or {}
    out: dict[str, Any] = {}
    for key, annotation in (("schema", m.SCHEMA_ANNOTATION),
                            ("schema_db", m.SCHEMA_DB_ANNOTATION)):
        try:
            value = json.loads(ann.get(annotation) or "null")
        except ValueError:
            value = None
        if isinstance(value, dict):
            out[key] = value
    return out
