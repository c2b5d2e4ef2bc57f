"""Machine leases: taken before any change, refreshed in the background, always released.

flyctl's users were blocked by leases an interrupted deploy left behind (PR #1728, #4313). The
answer here is the same as flyctl's (short TTL, refreshed), plus: every lease is released in a
`finally`, also on KeyboardInterrupt, and a conflict names who holds the machine and until when.

The environment's deploy lock (`cockpit.lock`, `FlyLeaseStore`) is the lease on the app's
anchor machine (its oldest): Fly's API judges its expiry by Fly's clock (an expired lease is
simply not there), the nonce Fly issues is what refreshes and releases it, and the lease's
description names the operator and carries the holder's token. A deploy's `LeaseKeeper` borrows
that lease instead of asking for it again. A machine lease found lost on refresh stops the
deploy at its next use of that machine (`LockLost`).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from cockpit.providers.fly.api import FlyApi, FlyApiError

from cockpit import lock as core
from cockpit.errors import LockHeld

# Leases the deploy lock holds in this process: (app, machine id) -> nonce. A LeaseKeeper of
# the same run borrows them (Fly refuses a second lease on a leased machine, even our own).
_BORROWABLE: dict[tuple[str, str], str] = {}
_borrow_lock = threading.Lock()


def _when(ts: Any) -> str:
    try:
        return time.strftime("%H:%M:%SZ", time.gmtime(float(ts)))
    except (TypeError, ValueError):
        return "unknown"


class LeaseKeeper:
    def __init__(self, api: FlyApi, ttl: int, description: str) -> None:
        self.api = api
        self.ttl = ttl
        self.description = description
        self._nonces: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: list[str] = []
        self._borrowed: set[str] = set()  # the deploy lock's lease: not ours to release

    # ------------------------------------------------------------------ holding

    def acquire(self, mid: str) -> str:
        with _borrow_lock:
            lent = _BORROWABLE.get((self.api.app, mid))
        if lent is not None:
            with self._lock:
                self._nonces[mid] = lent
                self._borrowed.add(mid)
            return lent
        try:
            data = self.api.request(
                "POST", self.api.m(mid) + "/lease", op="lease machine", machine=mid,
                json={"ttl": self.ttl, "description": self.description},
                params={"ttl": self.ttl},
            )
        except LockHeld:
            raise self.conflict(mid) from None
        nonce = (data.get("data") or {}).get("nonce") if isinstance(data, dict) else None
        if not nonce:
            raise FlyApiError("lease machine: the API answered without a nonce", status=200,
                              where=f"fly app {self.api.app} machine {mid}")
        self.adopt(mid, nonce)
        return nonce

    def adopt(self, mid: str, nonce: str) -> None:
        """Hold a lease we got another way (machine create with `lease_ttl`)."""
        with self._lock:
            self._nonces[mid] = nonce
        self._ensure_refresher()

    def nonce(self, mid: str) -> str | None:
        """The lease nonce held on `mid`. Raises LockLost when its refresh found it taken (the
        run stops before changing that machine)."""
        if mid in self.lost:
            raise core.LockLost(
                f"the lease on machine {mid} was lost while this run held it; stopped before "
                "changing it", where=f"fly app {self.api.app}",
                hint="another deploy or flyctl took the machine; see `cockpit status`")
        with self._lock:
            return self._nonces.get(mid)

    def forget(self, mid: str) -> None:
        """The machine was destroyed: its lease went with it."""
        with self._lock:
            self._nonces.pop(mid, None)

    def held(self) -> list[str]:
        with self._lock:
            return list(self._nonces)

    def conflict(self, mid: str) -> LockHeld:
        """A clear message naming the holder, read from the lease itself."""
        holder, until, what = "someone else", "unknown", ""
        try:
            data = self.api.request("GET", self.api.m(mid) + "/lease", op="read lease",
                                    machine=mid, idempotent=True)
            lease = (data or {}).get("data") or {}
            holder = lease.get("owner") or holder
            until = _when(lease.get("expires_at"))
            what = lease.get("description") or ""
        except FlyApiError:
            pass
        return LockHeld(
            f"machine {mid} is leased by {holder}" + (f" ({what})" if what else "")
            + f" until {until}",
            where=f"fly app {self.api.app}",
            hint="another deploy is working on this app; wait for it to finish (a lease left "
                 "by a crashed run expires at the time shown), then retry",
        )

    # ------------------------------------------------------------------ refreshing

    def _ensure_refresher(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._refresh_loop, daemon=True,
                                            name=f"fly-lease-{self.api.app}")
            self._thread.start()

    def _refresh_loop(self) -> None:
        every = max(1.0, self.ttl / 3)
        while not self._stop.wait(every):
            for mid in self.held():
                nonce = self.nonce(mid)
                if nonce is None:
                    continue
                try:
                    self.api.request(
                        "POST", self.api.m(mid) + "/lease", op="refresh lease", machine=mid,
                        json={"ttl": self.ttl, "description": self.description},
                        params={"ttl": self.ttl}, nonce=nonce, idempotent=True,
                    )
                except LockHeld:  # 409: another nonce holds it now
                    self.lost.append(mid)
                except Exception:  # noqa: BLE001 - transient: the next refresh tries again
                    continue

    # ------------------------------------------------------------------ releasing

    def release_all(self) -> list[str]:
        """Release every lease; never raises. Returns machines whose release failed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        failed = []
        for mid in self.held():
            with self._lock:
                nonce = self._nonces.get(mid)
            if mid in self._borrowed:  # the deploy lock releases its own lease
                self.forget(mid)
                continue
            try:
                self.api.request("DELETE", self.api.m(mid) + "/lease", op="release lease",
                                 machine=mid, nonce=nonce, idempotent=True)
            except FlyApiError as exc:
                if exc.status != 404:  # 404: expired or machine destroyed, nothing held
                    failed.append(mid)
            except Exception:  # noqa: BLE001 - releasing must not mask the original error
                failed.append(mid)
            self.forget(mid)
        return failed

    def __enter__(self) -> LeaseKeeper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release_all()


# --------------------------------------------------------------------------- the deploy lock


def _describe(holder: core.Holder) -> str:
    return json.dumps({"cockpit": "deploy lock", "operator": holder.operator,
                       "token": holder.token, "machine": holder.machine, "pid": holder.pid,
                       "command": holder.command, "acquired_at": holder.acquired_at},
                      separators=(",", ":"))


def _holder(lease: dict[str, Any]) -> core.Holder:
    try:
        data = json.loads(lease.get("description") or "")
    except ValueError:
        data = None
    if not isinstance(data, dict):  # someone else's lease (flyctl): its owner and words
        return core.Holder(operator=str(lease.get("owner") or "?"), token="",
                           command=str(lease.get("description") or "?"))
    pid = data.get("pid")
    since = data.get("acquired_at")
    return core.Holder(operator=str(data.get("operator") or lease.get("owner") or "?"),
                       token=str(data.get("token") or ""), machine=str(data.get("machine", "")),
                       pid=pid if isinstance(pid, int) else None,
                       command=str(data.get("command") or "?"),
                       acquired_at=float(since) if isinstance(since, (int, float)) else 0.0)


class FlyLeaseStore(core.LockStore):
    """The lease on the app's anchor machine (the oldest) as the environment's deploy lock.

    Fly judges expiry (GET answers only a live lease), so a lease read is never expired by the
    client's clock. An app with no machine yet has nothing to lease: the lock is then a no-op
    (a first deploy is not excluded from a concurrent first deploy)."""

    def __init__(self, api: FlyApi, ttl: float) -> None:
        self.api = api
        self.ttl = float(ttl)
        self.key = f"fly:{api.api_url}:{api.app}"
        self.where = f"fly app {api.app}"  # then names the anchor machine once one is read
        self._mid: str | None = None
        self._nonce: str | None = None
        self._last: core.Held | None = None

    def _anchor(self) -> str | None:
        try:
            listed = self.api.list_machines()
        except FlyApiError as exc:
            if exc.status == 404:  # no app yet (a first deploy creates it): nothing to lease
                return None
            raise
        machines = [m for m in listed if m.get("state") not in ("destroyed", "destroying")]
        if not machines:
            return None
        oldest = min(machines, key=lambda m: (str(m.get("created_at") or ""), str(m["id"])))
        self.where = f"fly app {self.api.app}, lease on machine {oldest['id']}"
        return str(oldest["id"])

    def _held(self, lease: dict[str, Any]) -> core.Held:
        expires = float(lease.get("expires_at") or 0)
        # Fly answered with it: live by Fly's clock. `now` only has to be before the expiry.
        now = min(time.time(), expires - 0.001)
        return core.Held(_holder(lease), expires_at=expires, now=now,
                         version=str(lease.get("nonce") or lease.get("version") or ""))

    def read(self) -> core.Held | None:
        mid = self._anchor()
        if mid is None:
            return None
        try:
            data = self.api.request("GET", self.api.m(mid) + "/lease", op="read lease",
                                    machine=mid, idempotent=True)
        except FlyApiError as exc:
            if exc.status == 404:
                return None
            raise
        lease = (data or {}).get("data") or {}
        return self._held(lease) if lease else None

    def acquire(self, holder: core.Holder, ttl: float, replace: core.Held | None) -> core.Held:
        mid = self._anchor()
        if mid is None:  # nothing to lease yet
            self._last = core.Held(holder, expires_at=time.time() + ttl, now=time.time())
            return self._last
        if replace is not None and replace.version:  # take over: end that lease by its nonce
            try:
                self.api.request("DELETE", self.api.m(mid) + "/lease", op="take over lease",
                                 machine=mid, nonce=replace.version, idempotent=True)
            except (FlyApiError, LockHeld):
                raise core.Conflict() from None  # refreshed or gone since read: read again
        try:
            data = self.api.request(
                "POST", self.api.m(mid) + "/lease", op="lease machine", machine=mid,
                json={"ttl": int(ttl), "description": _describe(holder)},
                params={"ttl": int(ttl)})
        except LockHeld:
            raise core.Conflict() from None  # Fly says it is live: the core reads it again
        lease = (data or {}).get("data") or {}
        nonce = lease.get("nonce")
        if not nonce:
            raise FlyApiError("lease machine: the API answered without a nonce", status=200,
                              where=self.where)
        self._mid, self._nonce = mid, str(nonce)
        with _borrow_lock:
            _BORROWABLE[(self.api.app, mid)] = self._nonce
        self._last = core.Held(holder, expires_at=float(lease.get("expires_at") or 0),
                               now=time.time(), version=self._nonce)
        return self._last

    def refresh(self, holder: core.Holder, ttl: float) -> core.Held:
        if self._mid is None or self._nonce is None:
            return self._last or core.Held(holder, expires_at=time.time() + ttl, now=time.time())
        try:
            data = self.api.request(
                "POST", self.api.m(self._mid) + "/lease", op="refresh lease",
                machine=self._mid, json={"ttl": int(ttl), "description": _describe(holder)},
                params={"ttl": int(ttl)}, nonce=self._nonce, idempotent=True)
        except LockHeld:
            raise core.Lost(self.read()) from None
        except FlyApiError as exc:
            if exc.status == 404:  # the anchor machine was retired by this run: nothing left
                return self._last or core.Held(holder, expires_at=time.time() + ttl,
                                               now=time.time())
            if exc.status == 409:
                raise core.Lost(self.read()) from None
            raise
        lease = (data or {}).get("data") or {}
        self._last = core.Held(holder, expires_at=float(lease.get("expires_at") or 0),
                               now=time.time(), version=self._nonce)
        return self._last

    def release(self, token: str | None) -> bool:
        if token is None:  # `cockpit lock release` (confirmed): end whoever's lease it is
            held = self.read()
            mid = self._anchor()
            if held is None or mid is None or not held.version:
                return False
            try:
                self.api.request("DELETE", self.api.m(mid) + "/lease", op="release lease",
                                 machine=mid, nonce=held.version, idempotent=True)
            except (FlyApiError, LockHeld):
                return False
            return True
        if self._mid is None or self._nonce is None:
            return False
        mid, nonce = self._mid, self._nonce
        with _borrow_lock:
            _BORROWABLE.pop((self.api.app, mid), None)
        self._mid = self._nonce = None
        try:
            self.api.request("DELETE", self.api.m(mid) + "/lease", op="release lease",
                             machine=mid, nonce=nonce, idempotent=True)
        except FlyApiError as exc:
            if exc.status in (404, 409):
                return False
            raise
        except LockHeld:
            return False
        return True
