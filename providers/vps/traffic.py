"""Real traffic on a VPS for the watch window: the switch's (HAProxy's) own counters.

Every request users send reaches the environment's HAProxy backend (Caddy proxies the domain
to it), so its counters are the users' view, read once per interval through the runtime API
(`show stat`, the same channel the switch uses: `Host.switch_api`):

- the backend row (`svname` BACKEND): `req_tot` (HTTP requests) and `hrsp_5xx` (5xx answers,
  HAProxy's own 503s included when no slot is up), cumulative since HAProxy started; the window
  uses their deltas;
- the release's slot (its server row): `hrsp_5xx` and the sum of `hrsp_*` answers for the
  detail line, `rtime` (HAProxy's average response time over the slot's last 1024 requests, in
  ms: shown, not judged, since HAProxy keeps no percentiles) and `status` (its health checks:
  DOWN counts as not ready).

Field meanings: HAProxy management guide, "9.1. CSV format" (req_tot [.FB.], hrsp_5xx [.FBS],
rtime [..BS], status [LFBS]).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cockpit.providers.vps import haproxy

from cockpit.errors import ProviderError
from cockpit.watch import TrafficSample

ANSWERS = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def parse_stat(text: str, key: str) -> dict[str, dict[str, str]]:
    """`show stat` CSV → {svname: row} for the backend named `key` (its BACKEND row and one row
    per slot). Rows are dicts of the CSV's header names to raw strings; {} when the backend is
    not there."""
    header: list[str] = []
    rows: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if line.startswith("# "):
            header = line[2:].rstrip(",").split(",")
            continue
        if not header or not line.strip():
            continue
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == key and row.get("svname") != "FRONTEND":
            rows[row.get("svname", "")] = row
    return rows


def _int(row: dict[str, str] | None, name: str) -> int:
    try:
        return int((row or {}).get(name) or 0)
    except ValueError:
        return 0


def sample_from_stat(text: str, key: str, slot: str | None) -> TrafficSample:
    """One TrafficSample from a `show stat` answer for backend `key` and the release's `slot`.
    Raises ProviderError when the backend is missing (the environment was never set up)."""
    rows = parse_stat(text, key)
    backend = rows.get("BACKEND")
    if backend is None:
        raise ProviderError(f"the switch has no backend {key!r} in its statistics",
                            hint="run `cockpit setup` for this environment")
    server = rows.get(slot or "")
    status = (server or {}).get("status", "")
    answers = sum(_int(server, name) for name in ANSWERS)
    rtime = _int(server, "rtime") if server else None
    detail = (f"slot {slot}: {status or '?'}, {_int(server, 'hrsp_5xx')} 5xx of {answers} "
              f"answers, avg {rtime} ms" if server else f"slot {slot or '?'} not in the switch")
    return TrafficSample(
        requests=_int(backend, "req_tot"), errors_5xx=_int(backend, "hrsp_5xx"),
        unready=1 if status.startswith("DOWN") or server is None else 0, instances=1,
        latency_ms=float(rtime) if rtime is not None else None,
        source=f"HAProxy backend {key}", detail=detail)


def sampler(provider: Any, env: Any, release: Any) -> Callable[[], TrafficSample]:
    """A sampler of env's switch for the watch window of `release` (its slot from
    `release.meta["slot"]`, else the active slot now). Each call is one `show stat` over the
    SSH channel; raises ProviderError when the switch does not answer."""
    host = provider.host(env)
    slot = (release.meta or {}).get("slot") or haproxy.active_slot(host.slot_states())

    def sample() -> TrafficSample:
        return sample_from_stat(host.switch_api(haproxy.stat_command(), step="watch"),
                                host.key, slot)

    return sample
