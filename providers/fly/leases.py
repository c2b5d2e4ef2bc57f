"""Machine leases: taken before any change, refreshed in the background, always released.

flyctl's users were blocked by leases an interrupted deploy left behind (PR #1728, #4313). The
answer here is the same as flyctl's (short TTL, refreshed), plus: every lease is released in a
`finally`, also on KeyboardInterrupt, and a conflict names who holds the machine and until when.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from cockpit.providers.fly.api import FlyApi, FlyApiError

from cockpit.errors import LockHeld


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

    # ------------------------------------------------------------------ holding

    def acquire(self, mid: str) -> str:
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
                except Exception:  # noqa: BLE001 - a lost lease shows up as a 409 on use
                    self.lost.append(mid)

    # ------------------------------------------------------------------ releasing

    def release_all(self) -> list[str]:
        """Release every lease; never raises. Returns machines whose release failed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        failed = []
        for mid in self.held():
            nonce = self.nonce(mid)
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
