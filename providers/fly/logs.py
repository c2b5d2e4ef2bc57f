"""Polling Fly's logs endpoint: `next_token` paging, backoff from 64 ms to 4 s when idle.

flyctl's users saw `fly logs` hang or show nothing (#515, #1407). Here a page with lines is
followed at once by the next; an empty page doubles the wait up to 4 s; any line resets it.
Every line is labelled `region/machine` (one stream merged across machines and regions) and
redacted before it leaves this module.
"""

from __future__ import annotations

import calendar
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from cockpit.providers.fly.api import FlyApi

from cockpit.events import LogLine
from cockpit.redaction import redact


def parse_ts(value: str | None) -> float | None:
    if not value:
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z?$", value)
    if not m:
        return None
    base = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return base + (float(m.group(2)) if m.group(2) else 0.0)


def parse_since(since: str | None, now: float | None = None) -> float | None:
    """`--since` (cockpit.timespec's grammar: `5m`, `2h`, an RFC 3339 time) as the epoch
    seconds the log lines' timestamps are compared with. Raises UsageError."""
    from cockpit.timespec import parse_since as core

    return core(since, now)


def poll(api: FlyApi, env: str, *, follow: bool, since: str | None = None,
         machine: str | None = None, region: str | None = None,
         sleep: Callable[[float], None] = time.sleep,
         backoff: tuple[float, float] = (0.064, 4.0), max_pages: int | None = None,
         stop: threading.Event | None = None) -> Iterator[LogLine]:
    """`stop` ends a follow between polls (a reader thread that wants to quit while idle)."""
    cutoff = parse_since(since)
    token = ""
    delay = backoff[0]
    pages = 0
    while stop is None or not stop.is_set():
        params: dict[str, Any] = {"next_token": token}
        if machine:
            params["instance"] = machine
        if region:
            params["region"] = region
        page = api.request("GET", f"/apps/{api.app}/logs", op="read logs", params=params,
                           logs=True) or {}
        pages += 1
        data = page.get("data") or []
        token = ((page.get("meta") or {}).get("next_token")) or token
        for entry in data:
            attrs = entry.get("attributes") or {}
            ts = parse_ts(attrs.get("timestamp"))
            if cutoff is not None and ts is not None and ts < cutoff:
                continue
            source = f"{attrs.get('region', '?')}/{attrs.get('instance', '?')}"
            yield LogLine(source=source, line=redact(str(attrs.get("message", ""))), ts=ts,
                          env=env)
        if max_pages is not None and pages >= max_pages:
            return
        if data:
            delay = backoff[0]
            continue
        if not follow:
            return
        if stop is not None:
            if stop.wait(delay):
                return
        else:
            sleep(delay)
        delay = min(delay * 2, backoff[1])
