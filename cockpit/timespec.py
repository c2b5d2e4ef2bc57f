"""One `--since` grammar for every command and provider.

`cockpit logs ENV --since X` (and every other place that takes a start time) accepts:

- a duration back from now: `30s`, `5m`, `2h`, `1d`, `1.5h`, or plain seconds (`90`);
- an RFC 3339 / ISO 8601 time: `2026-05-01T12:00:00Z`, `2026-05-01T12:00:00.5+02:00`, or a
  naive time, read as UTC.

Providers translate the one answer (an absolute time in epoch seconds) into what their API takes:
Kubernetes' pod-log API only has `sinceSeconds` (an age), Fly's log API filters by timestamp,
and `docker logs --since` takes a Unix timestamp.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime

from cockpit.errors import UsageError

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*")
_FACTOR = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
EXAMPLES = "30s, 5m, 2h, 1d or 2026-05-01T12:00:00Z"


def parse_since(since: str | None, now: float | None = None) -> float | None:
    """`since` as an absolute time in epoch seconds (float), or None when it is empty.

    `now` (epoch seconds) is the reference for durations; the local clock when None.
    Raises UsageError (naming the value and the accepted forms) for anything else, and for a time
    in the future (which would show nothing and look like a broken follow)."""
    if since is None or not str(since).strip():
        return None
    text = str(since).strip()
    ref = time.time() if now is None else now
    m = _DURATION.fullmatch(text)
    if m:
        return ref - float(m.group(1)) * _FACTOR[m.group(2)]
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since {text!r}: not a duration or a time",
                         hint=f"use e.g. {EXAMPLES}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    stamp = when.timestamp()
    if stamp > ref + 1:
        raise UsageError(f"--since {text!r} is in the future", hint=f"use e.g. {EXAMPLES}")
    return stamp


def since_age(since: str | None, now: float | None = None) -> int | None:
    """`since` as whole seconds back from now (at least 1), for APIs that take an age
    (Kubernetes `sinceSeconds`); None when empty. Raises UsageError like `parse_since`."""
    stamp = parse_since(since, now)
    if stamp is None:
        return None
    ref = time.time() if now is None else now
    return max(1, math.ceil(ref - stamp))


def cli_since(value: str) -> str:
    """argparse `type=` for `--since`: checks the grammar before any connection is made and
    returns the text unchanged (providers parse it with `parse_since`)."""
    import argparse

    try:
        parse_since(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message}; {exc.hint}") from None
    return value
