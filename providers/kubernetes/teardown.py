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
their owners when all of them are removed (the garbage collector's rule); one with an owner
that stays and is not cockpit's is someone else's. Objects already being deleted
(metadata.deletionTimestamp: a finalizer holds them) are left out. Deletes send
`propagationPolicy: Background`: the API server deletes the object
now and the garbage collector its dependents ("Garbage Collection", Kubernetes docs,
kubernetes.io/docs/concepts/architecture/garbage-collection/#cascading-deletion); the pods
are then waited for (at most `POD_WAIT` seconds). A 404 is "already gone".

The namespace: namespaces are per environment (`KubernetesSettings.exclusive`), but a person
may have put other things in one, and a namespace-scoped user may not delete it. So the
namespace is deleted only when cockpit created it (`cockpit setup` labels it
`app.kubernetes.io/managed-by=cockpit`; a namespace someone else made has no such label) and
nothing is left in it afterwards: no object but cockpit's removed ones and their dependents,
among cockpit's kinds (`KINDS`), the common ones it never makes (`OTHER_KINDS`: service
accounts, RBAC, network policies, autoscalers, disruption budgets, DaemonSets, quotas) and
every custom resource API discovery names (the `kube-root-ca.crt` ConfigMap, the `default`
ServiceAccount and service-account token Secrets the cluster puts in every namespace do not
count). A kind cockpit may not list (403) is named in the plan as unknown and keeps the
namespace; an accessory's password is then kept too when the claims are unreadable (it goes
only with its data). That is checked again after the deploy lock is released (its Lease
lives in the namespace and is deleted by the release): anything found then keeps it. The
cert-manager TLS Secret of cockpit's Ingress (`<app>-tls`) is cockpit's only with cockpit's
labels or cert-manager's `cert-manager.io/certificate-name` annotation naming that Ingress's
certificate; a TLS Secret of that name made by hand is kept.

When the namespace is already gone, the run takes no Lease (creating one would make the
namespace again): only keyring items can be left, and they are deleted only if the namespace
is still absent right before.
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
# Kinds cockpit never makes, listed only to see what else is in the namespace (a person's
# objects keep it); custom resources are found by API discovery (`_custom_kinds`).
OTHER_KINDS: tuple[tuple[str, str, str], ...] = (
    ("ServiceAccount", "core", "service_account"),
    ("Role", "rbac", "role"),
    ("RoleBinding", "rbac", "role_binding"),
    ("NetworkPolicy", "net", "network_policy"),
    ("HorizontalPodAutoscaler", "autoscaling", "horizontal_pod_autoscaler"),
    ("PodDisruptionBudget", "policy", "pod_disruption_budget"),
    ("DaemonSet", "apps", "daemon_set"),
    ("ResourceQuota", "core", "resource_quota"),
    ("LimitRange", "core", "limit_range"),
)
# API groups served by the API server itself: their namespaced kinds cockpit cares about are
# in KINDS/OTHER_KINDS, the rest are derived (EndpointSlices, Events), reviews or metrics.
# Any other group is a custom resource's (a CRD or an aggregated API) and is listed.
BUILTIN_GROUPS = frozenset({
    "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "coordination.k8s.io",
    "rbac.authorization.k8s.io", "discovery.k8s.io", "events.k8s.io", "authentication.k8s.io",
    "authorization.k8s.io", "certificates.k8s.io", "storage.k8s.io", "apiextensions.k8s.io",
    "apiregistration.k8s.io", "scheduling.k8s.io", "node.k8s.io", "flowcontrol.apiserver.k8s.io",
    "admissionregistration.k8s.io", "internal.apiserver.k8s.io", "storagemigration.k8s.io",
    "resource.k8s.io", "metrics.k8s.io", "custom.metrics.k8s.io", "external.metrics.k8s.io"})
PROPAGATION = "Background"
POD_WAIT = 120.0  # seconds the removed pods are waited for (their grace period is 30 s)
POLL = 0.5
# put in every namespace by the cluster (the root CA ConfigMap, the default ServiceAccount)
CLUSTER_OWNED = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}
CERT_NAME = "cert-manager.io/certificate-name"  # on a Secret cert-manager issued


@dataclass
class Teardown:
    """What `cockpit remove` finds and would remove in env's namespace.

    `app`, `accessories`: [{kind, name}] to delete; `volumes`: [{volume (claim name), size
    (requested storage, e.g. "1Gi"), accessory, remove (bool)}]; `releases`: release ids of
    the ReplicaSets; `lease`: the deploy Lease's name when one is there; `namespace`: the
    namespace's name when it goes too (cockpit made it and nothing else is in it); `secrets`:
    keyring item names; `kept`: what stays and why; `host`: context/namespace; `lock`: False
    when there is no namespace (the run takes no Lease: creating one would make the namespace
    again); `uids`: the objects this run deletes and those the garbage collector deletes with
    them (not in the JSON form); `held`: after `finish` said "held", what is in the namespace."""

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
    lock: bool = True
    uids: list[str] = field(default_factory=list)
    held: str = ""

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
        """Every field but `uids` as JSON-able values (the `plan` of `--json`)."""
        out = asdict(self)
        del out["uids"]
        return out

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
            "batch": client.BatchV1Api(kube.api), "rbac": client.RbacAuthorizationV1Api(kube.api),
            "autoscaling": client.AutoscalingV2Api(kube.api),
            "policy": client.PolicyV1Api(kube.api), "custom": client.CustomObjectsApi(kube.api),
            "discovery": client.ApisApi(kube.api)}


def _custom_kinds(kube, apis: dict[str, Any]) -> tuple[list[tuple[str, str, str, str]],
                                                        list[str]]:
    """The namespaced, listable kinds of the API groups not in BUILTIN_GROUPS, by discovery
    (`GET /apis`, then `GET /apis/<group>/<preferred version>`; "Discovery API", Kubernetes
    docs): [(kind label "Kind.group", group, version, plural)], and what could not be
    discovered (a group whose discovery fails, e.g. an aggregated API that is down)."""
    from cockpit.providers.kubernetes.kube import ApiFailure

    try:
        groups = kube.call("discover API groups", apis["discovery"].get_api_versions)
    except ApiFailure as exc:
        if exc.status != 403:
            raise
        return [], ["custom resources (API discovery is forbidden)"]
    out, unknown = [], []
    for g in groups.get("groups") or []:
        if g.get("name") in BUILTIN_GROUPS:
            continue
        gv = ((g.get("preferredVersion") or {}).get("groupVersion")
              or ((g.get("versions") or [{}])[0]).get("groupVersion", ""))
        group, _, version = gv.partition("/")
        try:
            found = kube.call(f"discover {gv}", apis["custom"].get_api_resources, group,
                              version)
        except ApiFailure as exc:
            unknown.append(f"the resources of {gv} ({exc.status or 'unreachable'})")
            continue
        for r in found.get("resources") or []:
            if r.get("namespaced") and "/" not in r.get("name", "/") \
                    and "list" in (r.get("verbs") or []):
                out.append((f"{r.get('kind', r['name'])}.{group}", group, version, r["name"]))
    return out, unknown


def _list_all(kube) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """{kind: items} of the namespace (KINDS, OTHER_KINDS and custom resources, the latter
    keyed "Kind.group"), and the kinds the user may not list (403) or that could not be
    discovered: what is in the namespace of those is unknown."""
    from cockpit.providers.kubernetes.kube import ApiFailure

    apis = _apis(kube)
    found: dict[str, list[dict[str, Any]]] = {}
    unreadable = []
    for kind, group, snake in KINDS + OTHER_KINDS:
        fn = getattr(apis[group], f"list_namespaced_{snake}")
        try:
            found[kind] = kube.call(f"list {kind.lower()}s", fn, kube.namespace)["items"]
        except ApiFailure as exc:
            if exc.status != 403:
                raise
            found[kind], _ = [], unreadable.append(kind)
    custom, unknown = _custom_kinds(kube, apis)
    unreadable += unknown
    for label, group, version, plural in custom:
        try:
            found[label] = kube.call(f"list {plural}.{group}",
                                     apis["custom"].list_namespaced_custom_object, group,
                                     version, kube.namespace, plural)["items"]
        except ApiFailure as exc:
            if exc.status not in (403, 404):  # 404: its definition was deleted meanwhile
                raise
            if exc.status == 403:
                unreadable.append(label)
    return found, unreadable


def _owned(obj: dict[str, Any]) -> bool:
    return bool(obj["metadata"].get("ownerReferences"))


def _terminating(obj: dict[str, Any]) -> bool:
    """Being deleted already (metadata.deletionTimestamp set; a finalizer holds it: a load
    balancer's on an Ingress, pvc-protection on a claim still mounted)."""
    return bool(obj["metadata"].get("deletionTimestamp"))


def _ignored(kind: str, obj: dict[str, Any]) -> bool:
    """Not counted as something else in the namespace: what the cluster puts in every
    namespace, service-account token Secrets, and objects already being deleted."""
    return ((kind, obj["metadata"]["name"]) in CLUSTER_OWNED or _terminating(obj)
            or (kind == "Secret" and obj.get("type") == "kubernetes.io/service-account-token"))


def _closure(base: set[str], owned: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """`base` (uids) and the uids of the owned objects all of whose owners are in it,
    transitively: what the garbage collector deletes with them (a dependent goes when all of
    its owners are gone; "Owners and Dependents", Kubernetes docs)."""
    out = set(base)
    changed = True
    while changed:
        changed = False
        for _kind, obj in owned:
            uid = obj["metadata"].get("uid")
            refs = {r.get("uid") for r in obj["metadata"].get("ownerReferences") or []}
            if uid not in out and refs <= out:
                out.add(uid)
                changed = True
    return out


def _owners(obj: dict[str, Any]) -> str:
    return ", ".join(f"{r.get('kind', '?')} {r.get('name', '?')}"
                     for r in obj["metadata"].get("ownerReferences") or [])


DELETABLE = {k for k, _g, _s in KINDS}


def _classify(env: Environment, kind: str, obj: dict[str, Any]) -> str | None:
    """"app", "accessory:<name>" or None (not this environment's, or owned by another)."""
    labels = obj["metadata"].get("labels") or {}
    if kind not in DELETABLE:
        return None
    if kind == "ReplicaSet" or kind == "Pod":
        if labels.get("app") == env.app.name and labels.get("env") == env.name:
            return None  # a Deployment's: they go with it (an orphaned one is listed below)
    managed = labels.get("app.kubernetes.io/managed-by") == "cockpit"
    if managed and labels.get("app") == env.app.name and labels.get("env") == env.name:
        return "app"
    if kind == "Secret" and obj["metadata"]["name"] == m.tls_secret_name(env) and \
            obj.get("type") == "kubernetes.io/tls" and \
            (obj["metadata"].get("annotations") or {}).get(CERT_NAME) == m.tls_secret_name(env):
        # cert-manager's, for the Ingress cockpit made: ingress-shim names the Certificate
        # after the Ingress's tls secretName, and cert-manager annotates the Secret with it
        return "app"
    if (labels.get("cockpit.dev/app") == m.label_value(env.app.name)
            and labels.get("cockpit.dev/env") == m.label_value(env.name)):
        acc = labels.get("cockpit.dev/accessory")
        return f"accessory:{acc}" if acc else "app"
    return None


def plan(provider, env: Environment, *, accessories: bool, volumes: bool,
         secrets: bool) -> Teardown:
    """What removing env from its namespace means now, read from the API server (one list per
    kind in `KINDS`, `OTHER_KINDS` and the custom resources discovery names, the namespace
    object) and the keyring. Changes nothing. Objects already being deleted are left out.
    Raises ApiFailure (a ProviderError) when the namespace cannot be read, UsageError for
    `volumes` without `accessories` while accessory claims exist."""
    from cockpit.providers.kubernetes.kube import ApiFailure
    from cockpit.providers.vps.teardown import _secret_items

    from cockpit import accessories as acc_core

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
    if ns_obj is None:  # no namespace: nothing of it is left, and no Lease to take
        td.lock = False
        td.secrets, notes = _secret_items(provider.ctx, env, td, secrets)
        td.kept += notes
        return td
    found, unreadable = _list_all(kube)
    others: list[str] = []
    kept_ours: list[str] = []
    releases: set[str] = set()
    acc_objs: list[dict[str, str]] = []
    goes: set[str] = set()  # uids this run deletes
    ours: set[str] = set()  # uids of cockpit's objects of env, removed or kept
    owned: list[tuple[str, dict[str, Any]]] = []
    for kind, items in found.items():
        for obj in items:
            meta = obj["metadata"]
            name, uid = meta["name"], meta.get("uid", "")
            labels = meta.get("labels") or {}
            if kind == "ReplicaSet" and labels.get("app") == env.app.name \
                    and labels.get("env") == env.name and labels.get("release"):
                releases.add(labels["release"])
            if _terminating(obj):
                continue  # being deleted already
            if _owned(obj):
                owned.append((kind, obj))  # decided below, by its owners
                continue
            part = _classify(env, kind, obj)
            if part is None and kind in ("ReplicaSet", "Pod") and \
                    labels.get("app") == env.app.name and labels.get("env") == env.name:
                part = "app"  # orphaned (its Deployment deleted with Orphan)
            if part is None:
                if not _ignored(kind, obj):
                    others.append(f"{kind} {name}")
                continue
            ours.add(uid)
            item = {"kind": kind, "name": name}
            if kind == "Lease":
                td.lease = name
                goes.add(uid)
            elif part == "app":
                td.app.append(item)
                goes.add(uid)
            elif kind == "PersistentVolumeClaim":
                size = (((obj.get("spec") or {}).get("resources") or {}).get("requests")
                        or {}).get("storage", "")
                td.volumes.append({"volume": name, "size": size,
                                   "accessory": part.split(":", 1)[1],
                                   "remove": volumes and accessories})
                if volumes and accessories:
                    goes.add(uid)
            else:
                acc_objs.append(item)
                if accessories:
                    goes.add(uid)
    goes = _closure(goes, owned)
    mine = _closure(goes | ours, owned)
    for kind, obj in owned:  # owned by something that stays and is not cockpit's
        if obj["metadata"].get("uid") not in mine and not _ignored(kind, obj):
            others.append(f"{kind} {obj['metadata']['name']} (owned by {_owners(obj)})")
    td.uids = sorted(goes)
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
    if unreadable:
        td.kept.append("unknown: what " + ns + " holds of " + ", ".join(unreadable)
                       + " (cockpit may not list them; none of them is removed)")
    labels = (ns_obj.get("metadata") or {}).get("labels") or {}
    made = ns_known and labels.get("app.kubernetes.io/managed-by") == "cockpit"
    if made and not others and not kept_ours and not unreadable:
        td.namespace = ns
    else:
        held = others + kept_ours
        why = ("cockpit did not create it" if ns_known and not made else
               "cockpit may not read it" if not ns_known else "; ".join(
                   (["it holds " + ", ".join(held[:6]) + (" and more" if len(held) > 6
                                                           else "")] if held else [])
                   + (["cockpit may not list " + ", ".join(unreadable) + " in it"]
                      if unreadable else [])))
        td.kept.append(f"the namespace {ns} ({why})")
    td.secrets, notes = _secret_items(provider.ctx, env, td, secrets)
    td.kept += notes
    if secrets and "PersistentVolumeClaim" in unreadable:
        # an accessory's password goes only with its data, and whether the data claim is
        # still there is unknown
        pw = {acc_core.password_name(a) for a in env.accessories}
        held_pw = [n for n in td.secrets if n in pw]
        if held_pw:
            td.secrets = [n for n in td.secrets if n not in pw]
            td.kept.append("keyring items " + ", ".join(held_pw) + " (cockpit may not list "
                           "the PersistentVolumeClaims: the accessories' data may be there)")
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
    """Carry out `td` step by step with step events, holding the deploy lock (without one when
    `td.lock` is False: there is no namespace). Returns one line per thing removed ("already
    gone" for a 404). Raises ApiFailure when the API refuses a delete (what was done stays
    done; a second run carries on), LockHeld when the namespace the plan found gone is there
    again (a deploy is starting: nothing is removed)."""
    from cockpit.errors import LockHeld

    kube = provider.kube(env)
    apis = _apis(kube)
    done: list[str] = []
    if not td.lock and kube.namespace_exists():
        raise LockHeld(f"the namespace {kube.namespace} of {env.name} was made again since "
                       "the plan (another run is deploying there?): nothing removed",
                       where=kube.where, hint=f"run `cockpit remove {env.name}` again")

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
    nothing is in it now but what the cluster puts in every namespace, objects being deleted
    and dependents of what this run deleted (appending "namespace <name>" to `done`).
    Returns "removed", "held" (kept; `td.held` says why: another run's Lease, an object made
    meanwhile, a kind cockpit may not list) or "gone" (nothing to do). Raises ApiFailure when
    the API refuses."""
    if not td.namespace:
        return "gone"
    kube = provider.kube(env)
    found, unreadable = _list_all(kube)
    gone = set(td.uids)
    left = [f"{k} {o['metadata']['name']}" for k, items in found.items() for o in items
            if not _ignored(k, o) and not (
                _owned(o) and {r.get("uid") for r in o["metadata"]["ownerReferences"]} <= gone)]
    if left or unreadable:
        lease = [x for x in left if x.startswith("Lease ")]
        td.held = (f"another run took its deploy lock meanwhile ({lease[0]})" if lease else
                   ("it holds " + ", ".join(left[:6]) + (" and more" if len(left) > 6 else "")
                    + " (made meanwhile)") if left else
                   "cockpit may not list " + ", ".join(unreadable) + " in it")
        return "held"
    gone_ns = kube.get(f"delete namespace {td.namespace}", kube.core.delete_namespace,
                       td.namespace, propagation_policy=PROPAGATION) is not None
    done.append(f"namespace {td.namespace}" + ("" if gone_ns else " (already gone)"))
    return "removed"
