"""A small httpx client for the Fly Machines REST API and the logs endpoint.

Why not fly-go semantics verbatim: fly-go retries only GETs on ECONNRESET and surfaces raw
bodies. Here every failure becomes a cockpit error that names the app, the machine and the
operation, and only idempotent calls (reads, waits, and calls the caller marks idempotent) are
retried, on 5xx, timeouts and connection errors. The token never leaves the Authorization
header: it is registered with the redactor and no message is built from request headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from cockpit.errors import LockHeld, ProviderError
from cockpit.redaction import REDACTOR, redact

LEASE_HEADER = "fly-machine-lease-nonce"
RETRY_STATUS = (500, 502, 503, 504)
BACKOFF_FIRST = 0.2  # seconds; doubles per retry up to BACKOFF_CAP
BACKOFF_CAP = 3.0
RETRY_AFTER_CAP = 30.0  # seconds: a longer Retry-After is waited this long, then asked again


def backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1-based): 0.2, 0.4, 0.8, ... capped at 3 s."""
    return min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (attempt - 1))


def retry_after(resp: httpx.Response, n: int) -> float:
    """Seconds to wait after a 429: its Retry-After (delta-seconds or an HTTP date, RFC 9110
    10.2.3), capped at 30 s; without one, the backoff for the `n`th try."""
    value = resp.headers.get("retry-after", "").strip()
    if value:
        try:
            return max(0.0, min(RETRY_AFTER_CAP, float(value)))
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                when = parsedate_to_datetime(value).timestamp()
                return max(0.0, min(RETRY_AFTER_CAP, when - time.time()))
            except (TypeError, ValueError):
                pass
    return backoff(n)


class FlyApiError(ProviderError):
    """An API answer that was not a success; `status` is the HTTP status (0: no answer)."""

    def __init__(self, what: str, *, status: int, where: str | None = None,
                 hint: str | None = None, body: dict[str, Any] | None = None) -> None:
        super().__init__(what, where=where, hint=hint)
        self.status = status
        self.body = body or {}


class WaitTimeout(FlyApiError):
    """408 from the wait endpoint: the machine did not reach the state in time."""


def auth_header(token: str) -> str:
    """fly-go sends `FlyV1` for macaroon tokens and `Bearer` for the rest (tokens.go)."""
    token = token.strip()
    if token.startswith("FlyV1 "):
        return token
    if token.startswith(("fm1r_", "fm1a_", "fm2_")):
        return f"FlyV1 {token}"
    return f"Bearer {token}"


def _message(resp: httpx.Response) -> tuple[str, dict[str, Any]]:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:300] or resp.reason_phrase, {}
    if not isinstance(body, dict):
        return str(body)[:300], {}
    text = body.get("error") or body.get("message") or resp.reason_phrase
    return str(text), body


class FlyApi:
    def __init__(
        self,
        api_url: str,
        logs_url: str,
        token: str,
        *,
        app: str,
        timeout: float = 30.0,
        retries: int = 3,
        rate_retries: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`retries`: how many times an idempotent call is retried on 5xx, timeouts and
        connection errors (capped exponential backoff, `backoff`); `rate_retries`: how many
        429 answers any call waits out (their Retry-After, `retry_after`)."""
        REDACTOR.add(token)
        self.app = app
        self.rate_retries = rate_retries
        self.api_url = api_url.rstrip("/")
        self.logs_url = logs_url.rstrip("/")
        self.retries = retries
        self.sleep = sleep
        self._client = httpx.Client(
            headers={"Authorization": auth_header(token), "User-Agent": "cockpit-fly/0.1"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ core

    def request(
        self,
        method: str,
        path: str,
        *,
        op: str,
        machine: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        nonce: str | None = None,
        idempotent: bool | None = None,
        logs: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """One API call. `op` says what it was for, in words a user understands."""
        url = (self.logs_url if logs else self.api_url) + path
        headers = {LEASE_HEADER: nonce} if nonce else {}
        retry = (method == "GET") if idempotent is None else idempotent
        where = f"fly app {self.app}" + (f" machine {machine}" if machine else "")
        attempts = self.retries + 1 if retry else 1
        limited = 0  # 429 answers: the call was not processed, so every call may retry them
        attempt = 0
        while True:
            attempt += 1
            try:
                kwargs: dict[str, Any] = {"headers": headers, "params": params}
                if json is not None:
                    kwargs["json"] = json
                if timeout is not None:
                    kwargs["timeout"] = timeout
                resp = self._client.request(method, url, **kwargs)
            except httpx.TimeoutException:
                if attempt < attempts:
                    self.sleep(backoff(attempt))
                    continue
                raise FlyApiError(
                    f"{op}: no answer from the Fly API in time"
                    + ("" if retry else " (not retried: the call may have taken effect)"),
                    status=0, where=where,
                    hint="check `cockpit status` before retrying; the request may have landed",
                ) from None
            except httpx.TransportError as exc:
                if attempt < attempts:
                    self.sleep(backoff(attempt))
                    continue
                raise FlyApiError(
                    f"{op}: cannot reach the Fly API at {self.api_url}: "
                    f"{redact(type(exc).__name__)}",
                    status=0, where=where,
                    hint="check the network and the api_url setting",
                ) from None
            if resp.status_code == 429:
                limited += 1
                if limited <= self.rate_retries:
                    attempt -= 1  # a rate-limited call did not count against the 5xx budget
                    self.sleep(retry_after(resp, limited))
                    continue
                raise FlyApiError(
                    f"{op}: the Fly API kept answering 429 (rate limited) after {limited} "
                    "tries honouring its Retry-After", status=429, where=where,
                    hint="another client is using the same app or token heavily; wait a "
                         "minute and retry", body=_message(resp)[1])
            if resp.status_code in RETRY_STATUS and attempt < attempts:
                self.sleep(backoff(attempt))
                continue
            if resp.status_code >= 400:
                err = self._error(resp, op, where, machine)
                if resp.status_code in RETRY_STATUS and isinstance(err, FlyApiError):
                    err.what += (f" (after {attempt} tries)" if retry
                                 else " (not retried: the call may have taken effect)")
                    err.args = (err.message,)
                raise err
            if resp.status_code == 204 or not resp.content:
                return None
            try:
                return resp.json()
            except ValueError:
                return resp.text

    def _error(self, resp: httpx.Response, op: str, where: str,
               machine: str | None) -> FlyApiError | LockHeld:
        status = resp.status_code
        text, body = _message(resp)
        text = redact(text)
        if status == 401:
            return FlyApiError(
                f"{op}: the Fly API rejected the token ({text})", status=status, where=where,
                hint="store a valid token: `cockpit secrets set <env> FLY_API_TOKEN` "
                     "(or export FLY_API_TOKEN in CI)", body=body)
        if status == 403:
            return FlyApiError(f"{op}: not allowed: {text}", status=status, where=where,
                               hint="check the org setting and the token's org access", body=body)
        if status == 404:
            return FlyApiError(f"{op}: not found: {text}", status=status, where=where, body=body)
        if status == 408:
            return WaitTimeout(f"{op}: timed out: {text}", status=status, where=where, body=body)
        if status == 409 and "lease" in text:
            return LockHeld(
                f"{op}: {text}", where=where,
                hint="another deploy holds this machine; wait for it to finish or for its "
                     "lease to expire, then retry")
        if status == 412:
            return FlyApiError(f"{op}: precondition failed: {text}", status=status, where=where,
                               hint="the machine changed meanwhile; re-run to use its new version",
                               body=body)
        if status == 422:
            return FlyApiError(f"{op}: rejected: {text}", status=status, where=where, body=body)
        if status >= 500:
            return FlyApiError(
                f"{op}: Fly API error {status}: {text}", status=status, where=where,
                hint="a Fly platform problem; retry later (https://status.flyio.net)", body=body)
        return FlyApiError(f"{op}: HTTP {status}: {text}", status=status, where=where, body=body)

    # ------------------------------------------------------------------ helpers

    def m(self, machine: str = "") -> str:
        base = f"/apps/{self.app}/machines"
        return f"{base}/{machine}" if machine else base

    def get_app(self) -> dict[str, Any] | None:
        try:
            return self.request("GET", f"/apps/{self.app}", op="read app")
        except FlyApiError as exc:
            if exc.status == 404:
                return None
            raise

    def list_machines(self) -> list[dict[str, Any]]:
        return self.request("GET", self.m(), op="list machines") or []

    def get_machine(self, mid: str, timeout: float | None = None) -> dict[str, Any]:
        """Get Machine; `timeout`: seconds for this call (the gate's per-sample timeout)."""
        return self.request("GET", self.m(mid), op="read machine", machine=mid, timeout=timeout)

    def wait(self, mid: str, state: str, *, timeout: float, instance_id: str | None = None,
             op: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"state": state, "timeout": max(1, min(60, int(timeout)))}
        if instance_id:
            # `version` (the Machines API reference); older docs and clients call the same
            # parameter `instance_id`. Required for a wait on `stopped` (400 without it).
            params["version"] = instance_id
        return self.request(
            "GET", self.m(mid) + "/wait", op=op or f"wait for {state}", machine=mid,
            params=params, timeout=params["timeout"] + 15,
        )
