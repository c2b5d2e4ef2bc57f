"""`cockpit remove ENV` on Fly: destroy the environment's machines, and what the flags ask.

Read from the Machines API (live state, never cockpit.toml alone), said as a plan, then under
the deploy lock (the lease on the app's anchor machine):

    lease every machine (a machine leased by someone else refuses the whole remove before
    anything changes) → stop each (`POST /machines/{id}/stop`) and destroy it with `force=true`
    (`DELETE /machines/{id}?force=true`, the lease nonce in `fly-machine-lease-nonce`), waiting
    for `destroyed` → [--volumes] destroy the app's volumes (`DELETE /volumes/{id}`; Fly refuses
    one still attached to a machine, so they go after the machines) → [--secrets] keyring
    items → the app, when it is to go.

The environment's machines are those carrying `cockpit_env=<env>` in their metadata (every
machine cockpit makes does, `providers/fly/machines.py`); others in the app are someone
else's and are kept. Facts from the Fly Machines API docs (fly.io/docs/machines/api/
machines-resource: stop, delete with `force`, wait for `destroyed`, leases and their nonce
header; fly.io/docs/machines/api/volumes-resource: list and delete volumes, `size_gb`;
fly.io/docs/machines/api/apps-resource: delete an app, 202, its machines, volumes, IPs,
certificates and secrets go with it). A 404 is "already gone".

What is kept by default: the volumes (their data; `--volumes` destroys them), the keyring
items (`--secrets`), and the app itself with its IP addresses, certificates and Fly secrets,
unless it is to go. A volume attached to a machine that is kept (not the environment's) is
kept with it, `--volumes` or not. The app is deleted only when (1) cockpit created it: this
machine's state store recorded its id when `setup`/the first deploy made it
(`setup._ensure_app`), and the live app has that id (an app made with flyctl, by another
operator, or made again under the same name is never deleted), and (2) nothing is left in it
after the removal: no machine (cockpit's or anyone's) and no volume. Otherwise the plan says why it
stays (`fly apps destroy APP` deletes it by hand). Accessories on Fly are external (cockpit
runs none there): `--accessories` has nothing to remove and says so.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cockpit.events import Emit, StepScope
from cockpit.models import Step

if TYPE_CHECKING:
    from cockpit.config import Environment

STOP_WAIT = 30  # seconds a stopping machine is waited for before its forced destroy


def created_key(app: str) -> str:
    """The state-store key recording that cockpit created the Fly app `app`: its value is the
    app's id (`setup._ensure_app`; `true` when the id was not known then)."""
    return f"fly:{app}:created"


@dataclass
class Teardown:
    """What `cockpit remove` finds and would remove in env's Fly app.

    `machines`: [{id, name, region, state, release}] of the environment's machines;
    `others`: ids of machines in the app that are not the environment's (kept); `volumes`:
    [{volume (id), name, size (e.g. "3GB"), size_gb (int), region, accessory (None),
    attached (the machine id it is attached to, or None), remove (bool)}]; `app`: the app's
    name when it goes too, `app_id` its id (the one cockpit recorded creating); `secrets`:
    keyring item names; `kept`: what stays and why; `host`: "fly app <name>"; `held`: after
    `finish` said "held", why the app stays."""

    env: str
    host: str
    app_name: str = ""
    releases: list[str] = field(default_factory=list)
    machines: list[dict[str, Any]] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    app: str | None = None
    app_id: str | None = None
    secrets: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)
    held: str = ""

    @property
    def removed_volumes(self) -> list[dict[str, Any]]:
        """The entries of `volumes` this run removes (`remove` true)."""
        return [v for v in self.volumes if v["remove"]]

    @property
    def empty(self) -> bool:
        """True when nothing would be removed (a second run)."""
        return not (self.machines or self.removed_volumes or self.app or self.secrets)

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-able values (the `plan` of `--json`)."""
        return asdict(self)

    def steps(self) -> list[Step]:
        """The plan's steps in the order they run (only those with something to do)."""
        out = []
        if self.machines:
            out.append(Step("machines", f"stop and destroy {len(self.machines)} machine(s) "
                            f"(releases {', '.join(self.releases) or 'none'}): " + ", ".join(
                                f"{m['id']} ({m['region']}, {m['state']})"
                                for m in self.machines), destructive=True))
        if self.removed_volumes:
            out.append(Step("volumes", "destroy the volume(s) and their data: " + ", ".join(
                f"{v['volume']} {v['name']} ({v['size']})" for v in self.removed_volumes),
                destructive=True))
        if self.secrets:
            out.append(Step("secrets", "delete the keyring items " + ", ".join(self.secrets)))
        if self.app:
            out.append(Step("app", f"delete the Fly app {self.app} (cockpit created it; "
                            "nothing is left in it): its IP addresses, certificates and Fly "
                            "secrets go with it", destructive=True))
        return out


def plan(provider, env: Environment, *, accessories: bool, volumes: bool,
         secrets: bool) -> Teardown:
    """What removing env from its Fly app means now, read from the Machines API (the app, its
    machines, its volumes), the state store and the keyring. Changes nothing. Raises
    FlyApiError (a ProviderError) when the API cannot be read."""
    from cockpit.providers.fly.machines import GONE, META_ENV, META_RELEASE
    from cockpit.providers.vps.teardown import _secret_items

    api = provider._api(env)
    name = env.settings.app
    td = Teardown(env=env.name, host=f"fly app {name}", app_name=name,
                  flags={"accessories": accessories, "volumes": volumes, "secrets": secrets})
    if accessories and env.accessories:
        td.kept.append("accessories on Fly are external (cockpit runs none there): nothing "
                       "to remove for --accessories")
    live = api.get_app()
    if live is None:
        td.secrets, notes = _secret_items(provider.ctx, env, td, secrets)
        td.kept += notes
        return td
    releases: set[str] = set()
    for m in api.list_machines():
        if m.get("state") in GONE:
            continue
        meta = (m.get("config") or {}).get("metadata") or {}
        if meta.get(META_ENV) != env.name:
            td.others.append(m["id"])
            continue
        release = meta.get(META_RELEASE)
        if release:
            releases.add(release)
        td.machines.append({"id": m["id"], "name": m.get("name", m["id"]),
                            "region": m.get("region", "?"), "state": m.get("state", "?"),
                            "release": release})
    td.releases = sorted(releases)
    for v in api.request("GET", f"/apps/{name}/volumes", op="list volumes") or []:
        if v.get("state") in ("destroyed", "destroying", "pending_destroy"):
            continue
        size = int(v.get("size_gb") or 0)
        attached = v.get("attached_machine_id") or None
        td.volumes.append({"volume": v["id"], "name": v.get("name", ""), "size": f"{size}GB",
                           "size_gb": size, "region": v.get("region", "?"),
                           "accessory": None, "attached": attached,
                           # one attached to a machine that is kept is another's: kept too
                           "remove": volumes and attached not in td.others})
    if td.others:
        td.kept.append("machine(s) " + ", ".join(td.others) + f" of app {name} (not "
                       f"{env.name}'s: no cockpit_env={env.name} in their metadata)")
    theirs = [v for v in td.volumes if v["attached"] and v["attached"] in td.others]
    if theirs:
        td.kept.append("volume(s) " + ", ".join(
            f"{v['volume']} {v['name']} ({v['size']}, attached to machine {v['attached']})"
            for v in theirs) + " with their data (their machines are kept)")
    kept_vols = [v for v in td.volumes if not v["remove"]]
    idle = [v for v in kept_vols if v not in theirs]
    if idle:
        td.kept.append("volume(s) " + ", ".join(f"{v['volume']} {v['name']} ({v['size']})"
                                                for v in idle)
                       + " with their data (pass --volumes to destroy them)")
    recorded = provider._store_get(created_key(name), False)
    made = isinstance(recorded, str) and recorded == live.get("id")
    if made and not td.others and not kept_vols:
        td.app, td.app_id = name, recorded
    else:
        why = ("cockpit did not create it (or not from this machine's state)" if not recorded
               else "cockpit recorded creating an app of that name without its id, so it "
                    "cannot tell it is this one" if not isinstance(recorded, str)
               else f"it is not the app cockpit created: its id is {live.get('id')}, cockpit "
                    f"created {recorded} (made again under the same name?)" if not made
               else "machines of others are in it" if td.others
               else "its volumes are kept")
        td.kept.append(f"the Fly app {name} with its IP addresses, certificates and Fly "
                       f"secrets ({why}; `fly apps destroy {name}` deletes it)")
    td.secrets, notes = _secret_items(provider.ctx, env, td, secrets)
    td.kept += notes
    return td


def _lease_all(keeper, machines: list[dict[str, Any]]) -> None:
    """Lease every machine before changing any; a machine leased by someone else raises
    LockHeld naming the holder (the leases taken so far are released by the caller)."""
    for m in machines:
        keeper.acquire(m["id"])


def remove(provider, env: Environment, td: Teardown, emit: Emit) -> list[str]:
    """Carry out `td` step by step with step events, holding the deploy lock. Every machine
    is leased first: when one is leased by someone else, raises LockHeld and nothing is
    changed. Returns one line per thing removed. Raises FlyApiError when the API refuses a
    step (what was done stays done; a second run carries on)."""
    from cockpit.providers.fly.api import FlyApiError
    from cockpit.providers.fly.leases import LeaseKeeper

    api = provider._api(env)
    done: list[str] = []
    if td.machines:
        keeper = LeaseKeeper(api, env.settings.lease_ttl,
                             f"cockpit remove {env.name} by {provider._who()}")
        with keeper:
            with StepScope(emit, "leases", "lease every machine", env.name) as st:
                _lease_all(keeper, td.machines)
                st.detail = ", ".join(m["id"] for m in td.machines)
            with StepScope(emit, "machines", "stop and destroy the machines", env.name) as st:
                lines = []
                for m in td.machines:
                    lines.append(_destroy(api, keeper, m["id"], m["state"]))
                    keeper.forget(m["id"])
                st.detail = ", ".join(lines)
                done += lines
    if td.removed_volumes:
        with StepScope(emit, "volumes", "destroy the volumes", env.name) as st:
            lines = []
            for v in td.removed_volumes:
                try:
                    api.request("DELETE", f"/apps/{td.app_name}/volumes/{v['volume']}",
                                op="destroy volume", idempotent=False)
                    lines.append(f"volume {v['volume']} {v['name']} ({v['size']})")
                except FlyApiError as exc:
                    if exc.status != 404:
                        raise
                    lines.append(f"volume {v['volume']} (already gone)")
            st.detail = ", ".join(lines)
            done += lines
    if td.secrets:
        with StepScope(emit, "secrets", "delete the keyring items", env.name) as st:
            for name in td.secrets:
                provider.ctx.secrets.unset(env, name)
            st.detail = ", ".join(td.secrets)
            done += [f"keyring item {n}" for n in td.secrets]
    return done


RUNNING = ("started", "starting", "restarting", "updating", "replacing")


def _destroy(api, keeper, mid: str, state: str) -> str:
    """Stop the machine when it runs (`state` as listed) and wait (at most STOP_WAIT s) until
    it is stopped, so its process ends by its stop signal; then destroy it with force (a
    machine that would not stop is killed) and wait for `destroyed`. Returns the line for
    the result."""
    from cockpit.providers.fly.api import FlyApiError

    try:
        if state in RUNNING:
            api.request("POST", api.m(mid) + "/stop", op="stop machine", machine=mid,
                        nonce=keeper.nonce(mid), idempotent=False)
            with contextlib.suppress(FlyApiError):  # the forced destroy kills it anyway
                # a wait for `stopped` needs the machine's version (the API answers 400 without)
                version = api.get_machine(mid).get("instance_id")
                api.wait(mid, "stopped", timeout=STOP_WAIT, instance_id=version,
                         op="wait for the machine to stop")
        api.request("DELETE", api.m(mid), op="destroy machine", machine=mid,
                    params={"force": "true"}, nonce=keeper.nonce(mid), idempotent=True)
    except FlyApiError as exc:
        if exc.status != 404:
            raise
        return f"machine {mid} (already gone)"
    with contextlib.suppress(FlyApiError):  # confirm it is gone: no zombie machines
        api.wait(mid, "destroyed", timeout=30, op="wait for the machine to be destroyed")
    return f"machine {mid}"


def finish(provider, env: Environment, td: Teardown, done: list[str]) -> str:
    """After the deploy lock is released: delete the app when the plan said so and it is still
    empty (no machine, no volume), appending "Fly app <name>" to `done`, and forget that
    cockpit created it. Returns "removed", "held" (something is in it again: kept) or "gone".
    Raises FlyApiError when the API refuses."""
    from cockpit.providers.fly.api import FlyApiError
    from cockpit.providers.fly.machines import GONE

    if not td.app:
        return "gone"
    api = provider._api(env)
    live = api.get_app()
    if live is None:
        provider._store_set(created_key(td.app), False)
        return "gone"
    if live.get("id") != td.app_id:
        td.held = (f"the Fly app {td.app} is not the one cockpit created any more (its id is "
                   f"{live.get('id')}, not {td.app_id})")
        return "held"
    left = [m for m in api.list_machines() if m.get("state") not in GONE]
    vols = [v for v in api.request("GET", f"/apps/{td.app}/volumes", op="list volumes") or []
            if v.get("state") not in ("destroyed", "destroying", "pending_destroy")]
    if left or vols:
        td.held = (f"the Fly app {td.app} holds " + ", ".join(
            [f"machine {m['id']}" for m in left] + [f"volume {v['id']}" for v in vols])
            + " (made meanwhile)")
        return "held"
    try:
        api.request("DELETE", f"/apps/{td.app}", op="delete app", idempotent=False)
        done.append(f"Fly app {td.app}")
    except FlyApiError as exc:
        if exc.status != 404:
            raise
        done.append(f"Fly app {td.app} (already gone)")
    provider._store_set(created_key(td.app), False)
    return "removed"
