"""Rolling and bluegreen deploys on Fly Machines, with leases and a health gate.

rolling: lease every machine first (a conflict stops us before anything changed), then update
one machine at a time with the lease nonce, gate it, go on. A failed gate restores the previous
config and image on every machine already updated, then raises GateFailed.

bluegreen: create green machines unregistered (`skip_service_registration`), gate them all,
then uncordon green, cordon, stop and destroy blue. Anything going wrong before the swap
(including Ctrl-C) destroys green and only green: blue never stopped serving.

In both, every lease is released in a `finally`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cockpit.providers.fly.api import FlyApi, FlyApiError
from cockpit.providers.fly.leases import LeaseKeeper
from cockpit.providers.fly.machines import GONE, META_SLOT, Gate, machine_count

from cockpit.errors import GateFailed, LockHeld, ProviderError
from cockpit.events import Emit, Message, StepScope
from cockpit.models import Plan, Release

if TYPE_CHECKING:
    from cockpit.config import Environment


class UndoIncomplete(ProviderError):
    """A failed release whose undo did not finish: some machines still run it (or a machine
    created for it is left). Exit code 1, never 3: nothing was fully rolled back. `logs`: the
    failed gate's log lines, when a gate failed."""

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None,
                 logs: list[str] | None = None) -> None:
        super().__init__(what, where=where, hint=hint)
        self.logs = logs or []

    @classmethod
    def after(cls, exc: ProviderError | GateFailed, failed: dict[str, str],
              updated: int) -> UndoIncomplete:
        restored = updated - sum(1 for why in failed.values() if why.startswith("not restored"))
        parts = "; ".join(f"{mid} {why}" for mid, why in failed.items())
        return cls(f"{exc.what}; the undo did not finish: {parts}"
                   + (f" (restored {restored} of {updated} machine(s))" if updated else ""),
                   where=exc.where, logs=getattr(exc, "logs", None),
                   hint="those machines still run the failed release: run `cockpit status`, "
                        "then `cockpit rollback` (or deploy again) once the Fly API answers")

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "logs": self.logs}


class Deployer:
    def __init__(self, api: FlyApi, env: Environment, emit: Emit, *, who: str,
                 sleep: Callable[[float], None] = time.sleep,
                 logs: Callable[[str], list[str]] | None = None) -> None:
        self.api = api
        self.env = env
        self.emit = emit
        self.who = who
        self.sleep = sleep
        self.gate = Gate(api, env, emit, sleep=sleep, logs=logs)

    # ------------------------------------------------------------------ plumbing

    def step(self, step_id: str, title: str) -> StepScope:
        """One step's events (the core's StepScope, the same on every provider)."""
        return StepScope(self.emit, step_id, title, self.env.name)

    def machines(self) -> list[dict[str, Any]]:
        found = [m for m in self.api.list_machines() if m.get("state") not in GONE]
        return sorted(found, key=lambda m: (m.get("region", ""), m.get("created_at", ""),
                                            m["id"]))

    def _body(self, config: dict[str, Any], region: str | None, min_secrets: int | None,
              **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"config": config, **extra}
        if region:
            body["region"] = region
        if min_secrets:
            body["min_secrets_version"] = min_secrets
        return body

    def _update(self, keeper: LeaseKeeper, mid: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.request("POST", self.api.m(mid), op="update machine", machine=mid,
                                json=body, nonce=keeper.nonce(mid), idempotent=False)

    def _create(self, keeper: LeaseKeeper, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "lease_ttl": keeper.ttl}
        machine = self.api.request("POST", self.api.m(), op="create machine", json=body,
                                   idempotent=False)
        if machine.get("nonce"):
            keeper.adopt(machine["id"], machine["nonce"])
        else:
            keeper.acquire(machine["id"])
        return machine

    def _destroy(self, keeper: LeaseKeeper, mid: str) -> None:
        try:
            self.api.request("DELETE", self.api.m(mid), op="destroy machine", machine=mid,
                             params={"force": "true"}, nonce=keeper.nonce(mid), idempotent=True)
        except FlyApiError as exc:
            if exc.status != 404:
                raise
        keeper.forget(mid)
        with contextlib.suppress(FlyApiError):  # confirm it is gone: no zombie machines
            self.api.wait(mid, "destroyed", timeout=30, op="wait for machine to be destroyed")

    def _keeper(self, plan: Plan) -> LeaseKeeper:
        s = self.env.settings
        return LeaseKeeper(self.api, s.lease_ttl,
                           f"cockpit {plan.action} {plan.release.id} by {self.who}")

    def _regions(self, n: int, taken: list[str]) -> list[str]:
        regions = list(self.env.settings.regions)
        counts = {r: taken.count(r) for r in regions}
        out = []
        for _ in range(n):
            region = min(regions, key=lambda r: (counts[r], regions.index(r)))
            counts[region] += 1
            out.append(region)
        return out

    # ------------------------------------------------------------------ rolling

    def rolling(self, plan: Plan, config: dict[str, Any], min_secrets: int | None) -> Release:
        release = plan.release
        count = machine_count(self.env)
        keeper = self._keeper(plan)
        updated: list[dict[str, Any]] = []  # old machine JSON, to restore on a failed gate
        created: list[str] = []
        try:
            current = self.machines()
            keep, extra = current[:count], current[count:]
            if current:
                with self.step("leases", f"lease {len(current)} machine(s) of {self.api.app}"):
                    for machine in current:
                        keeper.acquire(machine["id"])
            try:
                for n, old in enumerate(keep, start=1):
                    mid = old["id"]
                    stopped = old.get("state") in ("stopped", "suspended")
                    with self.step(f"update:{mid}", f"update {mid} ({old.get('region')}) to "
                                                    f"{release.id} [{n}/{len(keep)}]"):
                        body = self._body(config, None, min_secrets)
                        if stopped:  # as flyctl: a stopped machine gets the config, stays down
                            body["skip_launch"] = True
                        new = self._update(keeper, mid, body)
                        updated.append(old)
                        if stopped:
                            self.emit(Message(
                                f"machine {mid} was {old.get('state')}: updated without "
                                "starting it, so it was not gated", level="warning",
                                env=self.env.name))
                        else:
                            self.gate.healthy(mid, new.get("instance_id"))
                for region in self._regions(count - len(keep), [m.get("region") for m in keep]):
                    with self.step(f"create:{len(keep) + len(created) + 1}",
                                   f"create a machine in {region} for {release.id}"):
                        new = self._create(keeper, self._body(config, region, min_secrets))
                        created.append(new["id"])
                        self.gate.healthy(new["id"], new.get("instance_id"))
            except (GateFailed, ProviderError) as exc:  # or the API failing half-way
                failed = self._undo_rolling(keeper, updated, created, min_secrets)
                if failed:  # say what the undo could not do; never "rolled back" (exit 3)
                    raise UndoIncomplete.after(exc, failed, len(updated)) from None
                if updated:
                    exc.what += (f"; restored {len(updated)} machine(s) to their previous "
                                 "release")
                    exc.args = (exc.message,)
                raise
            for machine in extra:
                mid = machine["id"]
                with self.step(f"destroy:{mid}", f"scale down: destroy {mid}"):
                    self._destroy(keeper, mid)
        finally:
            failed = keeper.release_all()
            if failed:
                self.emit(Message(f"could not release leases on {', '.join(failed)}; they "
                                  f"expire within {keeper.ttl}s", level="warning",
                                  env=self.env.name))
        release.status = "healthy"
        return release

    def _undo_rolling(self, keeper: LeaseKeeper, updated: list[dict[str, Any]],
                      created: list[str], min_secrets: int | None) -> dict[str, str]:
        """Destroy the machines created for the failed release, restore the updated ones to
        their previous config and image; answers {machine id: why} for what failed."""
        failed: dict[str, str] = {}
        for mid in created:
            try:
                with self.step(f"undo:{mid}", f"destroy {mid} (created for the failed release)"):
                    self._destroy(keeper, mid)
            except (ProviderError, LockHeld) as exc:
                failed[mid] = f"not destroyed: {exc.what}"
        for old in reversed(updated):
            mid = old["id"]
            try:
                with self.step(f"restore:{mid}", f"restore {mid} to its previous image and "
                                                 "config"):
                    body = self._body(old["config"], None, None)
                    was_stopped = old.get("state") in ("stopped", "suspended")
                    if was_stopped:
                        body["skip_launch"] = True
                    new = self._update(keeper, mid, body)
                    if not was_stopped:
                        self.api.wait(mid, "started",
                                      timeout=min(60, self.env.settings.wait_timeout),
                                      instance_id=new.get("instance_id"),
                                      op="wait for restored machine")
            except (ProviderError, LockHeld) as exc:
                failed[mid] = f"not restored: {exc.what}"
                self.emit(Message(f"could not restore machine {mid}: {exc.message}",
                                  level="error", env=self.env.name))
        return failed

    # ------------------------------------------------------------------ bluegreen

    def bluegreen(self, plan: Plan, config: dict[str, Any], min_secrets: int | None) -> Release:
        release = plan.release
        if not config.get("checks"):
            raise ProviderError("bluegreen needs at least one check to gate green machines",
                                where=f"fly app {self.api.app}",
                                hint="set check_path or use strategy = \"rolling\"")
        keeper = self._keeper(plan)
        green: list[str] = []
        cordoned: list[str] = []
        swapped = False
        green_config = {**config, "metadata": {**config.get("metadata", {}), META_SLOT: "green"}}
        try:
            blue = self.machines()
            if blue:
                with self.step("leases", f"lease {len(blue)} blue machine(s) of {self.api.app}"):
                    for machine in blue:
                        keeper.acquire(machine["id"])
            regions = self._regions(machine_count(self.env), [])
            for n, region in enumerate(regions, start=1):
                with self.step(f"green:{n}", f"create green machine {n}/{len(regions)} in "
                                             f"{region} (not serving)"):
                    new = self._create(keeper, self._body(
                        green_config, region, min_secrets, skip_service_registration=True))
                    green.append(new["id"])
            for mid in green:
                with self.step(f"gate:{mid}", f"gate green machine {mid}"):
                    self.gate.healthy(mid, None)
            with self.step("swap", f"serve {len(green)} green machine(s), retire "
                                   f"{len(blue)} blue"):
                for mid in green:
                    self._post(keeper, mid, "uncordon")
                if blue and self.env.settings.swap_wait:
                    # as flyctl (10 s): let the proxy learn green before blue leaves; the
                    # leases stay refreshed meanwhile
                    self.sleep(self.env.settings.swap_wait)
                for machine in blue:
                    self._post(keeper, machine["id"], "cordon")
                    cordoned.append(machine["id"])
                swapped = True
        except BaseException as exc:
            if not swapped:
                self._undo_bluegreen(keeper, green, cordoned, exc)
            keeper.release_all()
            raise
        try:
            for mid in green:
                with contextlib.suppress(FlyApiError):
                    self.api.request("DELETE", self.api.m(mid) + f"/metadata/{META_SLOT}",
                                     op="clear green mark", machine=mid,
                                     nonce=keeper.nonce(mid), idempotent=True)
            for machine in blue:
                mid = machine["id"]
                try:
                    with self.step(f"retire:{mid}", f"stop and destroy blue machine {mid}"):
                        self._post(keeper, mid, "stop")
                        with contextlib.suppress(FlyApiError):
                            # a wait for `stopped` needs the machine's version (400 without)
                            self.api.wait(mid, "stopped", timeout=30,
                                          instance_id=machine.get("instance_id"),
                                          op="wait for blue to stop")
                        self._destroy(keeper, mid)
                except (ProviderError, LockHeld) as exc:
                    # green serves already: a blue left behind is cleanup, not a failed release
                    self.emit(Message(f"blue machine {mid} was not destroyed ({exc.message}); "
                                      "it is cordoned (no traffic) and the next run removes it",
                                      level="warning", env=self.env.name))
        finally:
            keeper.release_all()
        release.status = "healthy"
        return release

    def _post(self, keeper: LeaseKeeper, mid: str, action: str) -> None:
        self.api.request("POST", self.api.m(mid) + f"/{action}", op=f"{action} machine",
                         machine=mid, nonce=keeper.nonce(mid), idempotent=True, json={})

    def _undo_bluegreen(self, keeper: LeaseKeeper, green: list[str], cordoned: list[str],
                        exc: BaseException) -> None:
        """Destroy green, and only green; put back any blue machine already cordoned."""
        for mid in cordoned:
            with contextlib.suppress(ProviderError):
                self._post(keeper, mid, "uncordon")
        for mid in green:
            try:
                with self.step(f"undo:{mid}", f"destroy green machine {mid}"):
                    self._destroy(keeper, mid)
            except ProviderError as err:
                self.emit(Message(f"could not destroy green machine {mid}: {err.message}; "
                                  "`cockpit deploy` cleans it up next time", level="error",
                                  env=self.env.name))
        if green and not isinstance(exc, GateFailed):
            self.emit(Message(f"destroyed {len(green)} green machine(s); blue kept serving",
                              level="warning", env=self.env.name))
