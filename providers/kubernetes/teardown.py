"""`cockpit remove ENV` on Kubernetes: take what cockpit made for the environment out of its
namespace, found by cockpit's labels, never by name alone.

What is cockpit's (read from live state, one list per kind of the namespace):

- the app's objects, labelled `app=<app>,env=<env>` and `app.kubernetes.io/managed-by=cockpit`:
  the Deployment (its ReplicaSets, one per release, and their pods go with it), the Service,
  the Ingress, the per-release Secrets, ConfigMaps, the deploy Lease;
- one-off objects labelled `cockpit.dev/app`/`cockpit.dev/env` without `cockpit.dev/accessory`:
  release-command and schema-probe Jobs, one-off Pods, ConfigMaps and Secrets;
- the accessories' objects, labelled `cockpit.dev/accessory` too: StatefulSets, headless
  Services, auth Secrets, backup CronJobs (only with `--accessories`), and their
  PersistentVolumeClaims, the data (`data-<sts>-0`) and the backups' claim (only with
  `--accessories --volumes`; each named with its requested size in the plan). `--volumes`
  without `--accessories` is refused while such claims exist, as on a VPS.

Objects owned by another (ownerReferences: a Deployment's ReplicaSets, a Job's pods) go with
their owner. Deletes send `propagationPolicy: Background`: the API server deletes the object
now and the garbage collector its dependents ("Garbage Collection", Kubernetes docs,
kubernetes.io/docs/concepts/architecture/garbage-collection/#cascading-deletion); the pods
are then waited for (at most `POD_WAIT` seconds). A 404 is "already gone".

The namespace: namespaces are per environment (`KubernetesSettings.exclusive`), but a person
may have put other things in one, and a namespace-scoped user may not delete it. So the
namespace is deleted only when cockpit created it (`cockpit setup` labels it
`app.kubernetes.io/managed-by=cockpit`; a namespace someone else made has no such label) and
nothing is left in it afterwards: no object of any listed kind but cockpit's removed ones
(the `kube-root-ca.crt` ConfigMap and service-account token Secrets the cluster puts in every
namespace do not count). That is checked again after the deploy lock is released (its Lease
lives in the namespace and is deleted by the release): anything found then keeps it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cockpit.providers.kubernetes import manifests as m

from cockpit.errors import UsageError
from cockpit.events import Emit, StepScope
from cockpit.models import Step

if TYPE_CHECKING:
    from cockpit.config import Environment

# (kind, Kube attribute of its API group, snake name in list_/delete_namespaced_<name>)
KINDS: tuple[tuple[str, str, str], ...] = (
    ("Ingress", "net", "ingress"),
    ("Deployment", "apps", "deployment"),
    ("ReplicaSet", "apps", "replica_set"),
    ("CronJob", "batch", "cron_job"),
    ("StatefulSet", "apps", "stateful_set"),
    ("Job", "batch", "job"),
    ("Pod", "core", "pod"),
    ("Service", "core", "service"),
    ("ConfigMap", "core", "config_map"),
    ("Secret", "core", "secret"),
    ("PersistentVolumeClaim", "core", "persistent_volume_claim"),
    ("Lease", "coord", "lease"),
)
PROPAGATION = "Background"
POD_WAIT = 120.0  # seconds the removed pods are waited for (their grace period is 30 s)
POLL = 0.5
CLUSTER_OWNED = {("ConfigMap", "kube-root-ca.crt")}  # put in every namespace by the cluster


@dataclass
class Teardown:
    """What `cockpit remove` finds and would remove in env's namespace.

    `app`, `accessories`: [{kind, name}] to delete; `volumes`: [{volume (claim name), size
    (requested storage, e.g. "1Gi"), accessory, remove (bool)}]; `releases`: release ids of
    the ReplicaSets; `lease`: the deploy Lease's name when one is there; `namespace`: the
    namespace's name when it goes too (cockpit made it and nothing else is in it); `secrets`:
    keyring item names; `kept`: what stays and why; `host`: context/namespace."""

    env: str
    host: str
    namespace_name: str = ""
    releases: list[str] = field(default_factory=list)
    app: list[dict[str, str]] = field(default_factory=list)
    accessories: list[dict[str, str]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    lease: str | None = None
    namespace: str | None = None
    secrets: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)

    @property
    def removed_volumes(self) -> list[dict[str, Any]]:
        """The entries of `volumes` this run removes (`remove` true)."""
        return [v for v in self.volumes if v["remove"]]

    @property
    def empty(self) -> bool:
        """True when nothing would be removed (a second run)."""
        return not (self.app or self.accessories or self.removed_volumes or self.lease
                    or self.namespace or self.secrets)

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-able values (the `plan` of `--json`)."""
        return asdict(self)

    def steps(self) -> list[Step]:
        """The plan's steps in the order they run (only those with something to do)."""
        out = []
        ingress = [o for o in self.app if o["kind"] == "Ingress"]
        rest = [o for o in self.app if o["kind"] != "Ingress"]
        if ingress:
            out.append(Step("ingress", "delete the Ingress " + _names(ingress)
                            + " (the domain stops routing here)", destructive=True))
        if rest:
            out.append(Step("app", f"delete the app's objects (releases "
                            f"{', '.join(self.releases) or 'none'}): " + _names(rest),
                            destructive=True))
        if self.accessories:
            out.append(Step("accessories", "delete the accessories' objects (data kept "
                            "unless --volumes): " + _names(self.accessories), destructive=True))
        if self.removed_volumes:
            out.append(Step("accessory_volumes", "delete the accessories' "
                            "PersistentVolumeClaims and their data: " + ", ".join(
                                f"{v['volume']} ({v['size'] or '?'})"
                                for v in self.removed_volumes), destructive=True))
        if self.lease:
            out.append(Step("lease", f"delete the deploy Lease {self.lease} (when the lock "
                            "is released)"))
        if self.secrets:
            out.append(Step("secrets", "delete the keyring items " + ", ".join(self.secrets)))
        if self.namespace:
            out.append(Step("namespace", f"delete the namespace {self.namespace} (cockpit "
                            "created it; nothing else is in it)", destructive=True))
        return out


def _names(objs: list[dict[str, str]]) -> str:
    return ", ".join(f"{o['kind']} {o['name']}" for o in objs)


def _apis(kube) -> dict[str, Any]:
    from kubernetes import client

    return {"core": kube.core, "apps": kube.apps, "net": kube.net, "coord": kube.coord,
            "batch": client.BatchV1Api(kube.api)}


def _list_all(kube) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """{kind: items} of the namespace, and the kinds the user may not list (403)."""
    from cockpit.providers.kubernetes.kube import ApiFailure

    apis = _apis(kube)
    found: dict[str, list[dict[str, Any]]] = {}
    unreadable = []
    for kind, group, snake in KINDS:
        fn = getattr(apis[group], f"list_namespaced_{snake}")
        try:
            found[kind] = kube.call(f"list {kind.lower()}s", fn, kube.namespace)["items"]
        except ApiFailure as exc:
            if exc.status != 403:
                raise
            found[kind], _ = [], unreadable.append(kind)
    return found, unreadable


def _owned(obj: dict[str, Any]) -> bool:
    return bool(obj["metadata"].get("ownerReferences"))


def _classify(env: Environment, kind: str, obj: dict[str, Any]) -> str | None:
    """"app", "accessory:<name>" or None (not this environment's, or owned by another)."""
    labels = obj["metadata"].get("labels") or {}
    if kind == "ReplicaSet" or kind == "Pod":
        if labels.get("app") == env.app.name and labels.get("env") == env.name:
            return None  # a Deployment's: they go with it (an orphaned one is listed below)
    if kind == "Secret" and obj["metadata"]["name"] == m.tls_secret_name(env) and \
            obj.get("type") == "kubernetes.io/tls":
        return "app"  # cert-manager's, for the Ingress cockpit made (ingress-shim)
    managed = labels.get("app.kubernetes.io/managed-by") == "cockpit"
    if managed and labels.get("app") == env.app.name and labels.get("env") == env.name:
        return "app"
    if (labels.get("cockpit.dev/app") == m.label_value(env.app.name)
            and labels.get("cockpit.dev/env") == m.label_value(env.name)):
        acc = labels.get("cockpit.dev/accessory")
        return f"accessory:{acc}" if acc else "app"
    return None


def plan(provider, env: Environment, *, accessories: bool, volumes: bool,
         secrets: bool) -> Teardown:
    """What removing env from its namespace means now, read from the API server (one list per
    kind in `KINDS`, the namespace object) and the keyring. Changes nothing. Raises
    ApiFailure (a ProviderError) when the namespace cannot be read, UsageError for `volumes`
    without `accessories` while accessory claims exist."""
    from cockpit.providers.kubernetes.kube import ApiFailure
    from cockpit.providers.vps.teardown import _secret_items

    kube = provider.kube(env)
    ns = kube.namespace
    td = Teardown(env=env.name, host=kube.where, namespace_name=ns,
                  flags={"accessories": accessories, "volumes": volumes, "secrets": secrets})
    try:
        ns_obj = kube.get("read namespace", kube.core.read_namespace, ns)
        ns_known = True
    except ApiFailure as exc:
        if exc.status != 403:
            raise
        ns_obj, ns_known = {"metadata": {}}, False  # a namespace-scoped user: look inside
    if ns_obj is None:  # no namespace: nothing of it is left
        td.secrets, notes = _secret_items(provider.ctx, env, td, secrets)
        td.kept += notes
        return td
    found, unreadable = _list_all(kube)
    others: list[str] = []
    kept_ours: list[str] = []
    releases: set[str] = set()
    acc_objs: list[dict[str, str]] = []
    for kind, _group, _snake in KINDS:
        for obj in found[kind]:
            meta = obj["metadata"]
            name = meta["name"]
            if kind == "ReplicaSet":
                rel = (meta.get("labels") or {}).get("release")
                if (meta.get("labels") or {}).get("app") == env.app.name and \
                        (meta.get("labels") or {}).get("env") == env.name and rel:
                    releases.add(rel)
            part = None if _owned(obj) else _classify(env, kind, obj)
            if part is None and kind in ("ReplicaSet", "Pod") and not _owned(obj):
                labels = meta.get("labels") or {}
                if labels.get("app") == env.app.name and labels.get("env") == env.name:
                    part = "app"  # orphaned (its Deployment deleted with Orphan)
            if part is None:
                if not _owned(obj) and (kind, name) not in CLUSTER_OWNED and not (
                        kind == "Secret"
                        and obj.get("type") == "kubernetes.io/service-account-token"):
                    others.append(f"{kind} {name}")
                continue
            item = {"kind": kind, "name": name}
            if kind == "Lease":
                td.lease = name
            elif part == "app":
                td.app.append(item)
            elif kind == "PersistentVolumeClaim":
                size = (((obj.get("spec") or {}).get("resources") or {}).get("requests")
                        or {}).get("storage", "")
                td.volumes.append({"volume": name, "size": size,
                                   "accessory": part.split(":", 1)[1],
                                   "remove": volumes and accessories})
            else:
                acc_objs.append(item)
    td.releases = sorted(releases)
    if volumes and not accessories and td.volumes:
        raise UsageError(f"--volumes removes the accessories' PersistentVolumeClaims of "
                         f"{env.name} too: pass --accessories as well (or leave out --volumes "
                         "to keep the data)",
                         hint=f"cockpit remove {env.name} --accessories --volumes --confirm "
                              f"{env.name}")
    if accessories:
        td.accessories = acc_objs
    elif acc_objs:
        kept_ours += [f"{o['kind']} {o['name']}" for o in acc_objs]
        td.kept.append("the accessories' objects " + _names(acc_objs)
                       + " (pass --accessories to remove them)")
    kept_vols = [v for v in td.volumes if not v["remove"]]
    if kept_vols:
        kept_ours += [f"PersistentVolumeClaim {v['volume']}" for v in kept_vols]
        td.kept.append("PersistentVolumeClaim(s) " + ", ".join(
            f"{v['volume']} ({v['size'] or '?'})" for v in kept_vols)
            + " with their data (pass --accessories --volumes to remove them)")
    labels = (ns_obj.get("metadata") or {}).get("labels") or {}
    made = ns_known and labels.get("app.kubernetes.io/managed-by") == "cockpit"
    if made and not others and not kept_ours and not unreadable:
        td.namespace = ns
    else:
        why = ("cockpit did not create it" if ns_known and not made else
               "cockpit may not read it" if not ns_known else
               "it holds " + ", ".join((others + kept_ours)[:6])
               + (" and more" if len(others + kept_ours) > 6 else "") if others or kept_ours
               else "cockpit may not list " + ", ".join(unreadable) + " in it")
        td.kept.append(f"the namespace {ns} ({why})")
    td.secrets, notes = _secret_items(provider.ctx, env, td, secrets)
    td.kept += notes
    return td


def _delete(kube, apis: dict[str, Any], kind: str, name: str) -> bool:
    """Delete one object with propagationPolicy Background; False when it was already gone
    (404). Raises ApiFailure otherwise."""
    group, snake = next((g, s) for k, g, s in KINDS if k == kind)
    fn = getattr(apis[group], f"delete_namespaced_{snake}")
    return kube.get(f"delete {kind.lower()} {name}", fn, name, kube.namespace,
                    propagation_policy=PROPAGATION) is not None


def _wait_pods(kube, env: Environment, accessories: bool) -> int:
    """Wait (at most POD_WAIT s) until the removed workloads' pods are gone; returns how many
    are still there."""
    one_off = (f"cockpit.dev/app={m.label_value(env.app.name)},"
               f"cockpit.dev/env={m.label_value(env.name)}")
    end = time.monotonic() + POD_WAIT
    while True:
        left = len(kube.pods(f"app={env.app.name},env={env.name}")) + sum(
            1 for p in kube.pods(one_off)
            if accessories or "cockpit.dev/accessory" not in (p["metadata"].get("labels") or {}))
        if not left or time.monotonic() >= end:
            return left
        time.sleep(POLL)


def remove(provider, env: Environment, td: Teardown, emit: Emit) -> list[str]:
    """Carry out `td` step by step with step events, holding the deploy lock. Returns one line
    per thing removed ("already gone" for a 404). Raises ApiFailure when the API refuses a
    delete (what was done stays done; a second run carries on)."""
    kube = provider.kube(env)
    apis = _apis(kube)
    done: list[str] = []

    def delete_all(objs: list[dict[str, str]]) -> list[str]:
        lines = []
        for o in objs:
            gone = _delete(kube, apis, o["kind"], o["name"])
            lines.append(f"{o['kind']} {o['name']}" + ("" if gone else " (already gone)"))
        return lines

    ingress = [o for o in td.app if o["kind"] == "Ingress"]
    rest = [o for o in td.app if o["kind"] != "Ingress"]
    if ingress:
        with StepScope(emit, "ingress", "delete the Ingress", env.name) as st:
            lines = delete_all(ingress)
            st.detail = ", ".join(lines)
            done += lines
    if rest:
        with StepScope(emit, "app", "delete the app's objects", env.name) as st:
            lines = delete_all(rest)
            left = _wait_pods(kube, env, bool(td.accessories))
            st.detail = ", ".join(lines) + (f"; {left} pod(s) still terminating" if left
                                            else "")
            done += lines
    if td.accessories:
        with StepScope(emit, "accessories", "delete the accessories' objects", env.name) as st:
            lines = delete_all(td.accessories)
            left = _wait_pods(kube, env, True)
            st.detail = ", ".join(lines) + (f"; {left} pod(s) still terminating" if left
                                            else "")
            done += lines
    if td.removed_volumes:
        with StepScope(emit, "accessory_volumes", "delete the accessories' claims",
                       env.name) as st:
            lines = delete_all([{"kind": "PersistentVolumeClaim", "name": v["volume"]}
                                for v in td.removed_volumes])
            st.detail = ", ".join(lines)
            done += lines
    if td.secrets:
        with StepScope(emit, "secrets", "delete the keyring items", env.name) as st:
            for name in td.secrets:
                provider.ctx.secrets.unset(env, name)
            st.detail = ", ".join(td.secrets)
            done += [f"keyring item {n}" for n in td.secrets]
    if td.lease:
        done.append(f"Lease {td.lease} (deleted as the deploy lock is released)")
    return done


def finish(provider, env: Environment, td: Teardown, done: list[str]) -> str:
    """After the deploy lock is released: delete the namespace when the plan said so and
    nothing at all is in it now (appending "namespace <name>" to `done`). Returns "removed",
    "held" (something is in it again: another run's Lease, an object made meanwhile; kept) or
    "gone" (nothing to do). Raises ApiFailure when the API refuses."""
    if not td.namespace:
        return "gone"
    kube = provider.kube(env)
    found, unreadable = _list_all(kube)
    left = [f"{k} {o['metadata']['name']}" for k, items in found.items() for o in items
            if (k, o["metadata"]["name"]) not in CLUSTER_OWNED
            and not (k == "Secret" and o.get("type") == "kubernetes.io/service-account-token")]
    if left or unreadable:
        return "held"
    gone = kube.get(f"delete namespace {td.namespace}", kube.core.delete_namespace,
                    td.namespace, propagation_policy=PROPAGATION) is not None
    done.append(f"namespace {td.namespace}" + ("" if gone else " (already gone)"))
    return "removed"
