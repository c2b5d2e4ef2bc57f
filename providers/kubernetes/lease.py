"""The Kubernetes storage of the deploy lock (`cockpit.lock` owns the rules): a
coordination.k8s.io/v1 Lease `cockpit-<app>-lock` in the environment's namespace.

`holderIdentity` is the operator; the annotations carry the holder's token (which decides
ownership), machine, pid and command. Every time is the API server's: each response's `Date`
header gives the server's clock, `renewTime` is written in that clock (the last Date seen plus
the time elapsed locally since), and a lease is expired when the server's Date at reading is
past `renewTime + leaseDurationSeconds`. Writes are compare-and-swap on `resourceVersion` (a
409 is a race, `cockpit.lock.Conflict`).
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

from cockpit.providers.kubernetes import manifests as m

from cockpit import lock as core

TOKEN = "cockpit.dev/token"
MACHINE = "cockpit.dev/machine"
COMMAND = "cockpit.dev/command"
PID = "cockpit.dev/pid"


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class LeaseStore(core.LockStore):
    """The environment's Lease, read and written with the API server's clock."""

    def __init__(self, kube, env, *, before_create=None) -> None:
        self.kube = kube
        self.env = env
        self.ttl = float(env.settings.lock_ttl)
        self.name = m.lease_name(env)
        self.ns = env.settings.namespace
        self.key = f"kubernetes:{kube.host}:{self.ns}/{self.name}"
        self.where = f"lease {self.ns}/{self.name}"
        self._before_create = before_create
        self._offset: float | None = None  # server clock - local clock, from Date headers

    # ------------------------------------------------------------------ the server's clock

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
        """(decoded body, the server's clock at answering) for one API call. A 404 is
        (None, now). Raises the client's ApiFailure (ProviderError) otherwise."""
        from cockpit.providers.kubernetes.kube import TIMEOUT, ApiFailure
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", TIMEOUT)
        try:
            resp = fn(*args, _preload_content=False, **kwargs)
        except ApiException as exc:
            self._learn(getattr(exc, "headers", None))
            if int(getattr(exc, "status", 0) or 0) == 404:
                return None, self.server_now()
            raise self.kube._failure(what, exc) from None
        except HTTPError as exc:
            raise ApiFailure(f"{what}: the Kubernetes API at {self.kube.host} is unreachable "
                             f"({type(exc).__name__})", where=self.kube.where) from None
        self._learn(resp.headers)
        data = resp.data
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = {}
        return body, self.server_now()

    def _learn(self, headers: Any) -> None:
        date = None
        try:
            date = headers.get("Date") if headers is not None else None
        except AttributeError:
            date = None
        if not date:
            return
        try:
            server = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        # The Date header has a resolution of one second (truncated): its midpoint is closer.
        self._offset = server + 0.5 - time.time()

    def server_now(self) -> float:
        """The API server's clock as last seen (local clock until a Date header was read)."""
        return time.time() + (self._offset or 0.0)

    # ------------------------------------------------------------------ parsing and writing

    def _held(self, lease: dict[str, Any], now: float) -> core.Held:
        spec = lease.get("spec") or {}
        meta = lease.get("metadata") or {}
        ann = meta.get("annotations") or {}
        renewed = _parse_time(spec.get("renewTime")) or _parse_time(
            meta.get("creationTimestamp")) or 0.0
        acquired = _parse_time(spec.get("acquireTime")) or renewed
        pid = ann.get(PID, "")
        holder = core.Holder(operator=spec.get("holderIdentity") or "?", token=ann.get(TOKEN, ""),
                             machine=ann.get(MACHINE, ""),
                             pid=int(pid) if pid.isdigit() else None,
                             command=ann.get(COMMAND, "?"), acquired_at=acquired)
        return core.Held(holder, expires_at=renewed + float(spec.get("leaseDurationSeconds") or 0),
                         now=now, version=str(meta.get("resourceVersion", "")))

    def _body(self, holder: core.Holder, ttl: float, acquired: float) -> dict[str, Any]:
        body = m.lease(self.env, holder.operator, ttl, self.server_now(), command=holder.command,
                       pid=holder.pid or 0, acquired=acquired)
        body["metadata"]["annotations"].update({TOKEN: holder.token, MACHINE: holder.machine})
        return body

    # ------------------------------------------------------------------ LockStore

    def read(self) -> core.Held | None:
        lease, now = self._call("read lease", self.kube.coord.read_namespaced_lease, self.name,
                                self.ns)
        return self._held(lease, now) if lease else None

    def acquire(self, holder: core.Holder, ttl: float, replace: core.Held | None) -> core.Held:
        from cockpit.providers.kubernetes.kube import ApiFailure

        if self._offset is None:
            self.read()  # learn the server's clock before writing a time
        acquired = self.server_now()
        body = self._body(holder, ttl, acquired)
        try:
            if replace is None:
                if self._before_create is not None:
                    self._before_create()
                out, now = self._call("create lease", self.kube.coord.create_namespaced_lease,
                                      self.ns, body)
            else:
                body["metadata"]["resourceVersion"] = replace.version
                out, now = self._call("take lease", self.kube.coord.replace_namespaced_lease,
                                      self.name, self.ns, body)
        except ApiFailure as exc:
            if exc.status == 409:
                raise core.Conflict() from None
            raise
        if out is None:  # 404 on replace: it was deleted meanwhile
            raise core.Conflict()
        return self._held(out, now)

    def refresh(self, holder: core.Holder, ttl: float) -> core.Held:
        from cockpit.providers.kubernetes.kube import ApiFailure

        for _attempt in range(3):
            current = self.read()
            if current is None or current.holder.token != holder.token:
                raise core.Lost(current)
            body = self._body(holder, ttl, current.holder.acquired_at)
            body["metadata"]["resourceVersion"] = current.version
            try:
                out, now = self._call("renew lease", self.kube.coord.replace_namespaced_lease,
                                      self.name, self.ns, body)
            except ApiFailure as exc:
                if exc.status == 409:
                    continue  # changed since read: read again (ours, or lost)
                raise
            if out is None:
                raise core.Lost(None)
            return self._held(out, now)
        raise core.Lost(self.read())

    def release(self, token: str | None) -> bool:
        current = self.read()
        if current is None or (token is not None and current.holder.token != token):
            return False
        out, _ = self._call("delete lease", self.kube.coord.delete_namespaced_lease, self.name,
                            self.ns)
        return out is not None
