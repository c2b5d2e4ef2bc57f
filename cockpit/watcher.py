"""The always-on watcher: probes each environment through its public URL, keeps incidents and
sends one alert per incident (plus an hourly reminder while it lasts).

Checks, per round (`--interval` seconds apart):
- health: one HTTPS GET of `<public URL><health_path>`; *down* after `down_after` failures in
  a row (default 3), *recovered* after `up_after` good answers in a row (default 2);
- TLS: days left on the certificate served in that same handshake; an alert when it crosses
  21, 14 and 7 days (each once), resolved when a renewed certificate is served;
- free disk on VPS hosts (below `disk_min_pct`, default 10 %), and instance restarts, where the
  watcher can see them (`cockpit watch` reads them over SSH / the provider; the container that
  `cockpit watch install` runs sees the filesystem cockpit's host directory lives on, not the
  Docker engine, so it tracks no restarts).

Alerts never storm: one per incident when it opens, a reminder every `remind_s` (3600 s) while
it lasts, one when it resolves; on top of that at most `max_per_hour` alerts per environment
(the rest are counted and named in the next alert that goes out).

State (samples, incidents) lives in `cockpit.state.Store`, so a restarted watcher goes on with
the incidents it had open (no second "down" for the same incident).

Imports only the standard library and cockpit's own stdlib-only modules (state, models,
redaction, alerts): the watcher container runs this module with Apprise as its only package,
as `python -m cockpit.watcher agent --config /watch/watch.env`.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPResponse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Thresholds:
    """When an incident opens and closes. Counts are probes in a row; `tls_days` descending
    day counts; `disk_min_pct` percent free; `remind_s` and the cap's window are seconds."""

    down_after: int = 3
    up_after: int = 2
    tls_days: tuple[int, ...] = (21, 14, 7)
    disk_min_pct: float = 10.0
    remind_s: float = 3600.0
    max_per_hour: int = 12

    def __post_init__(self) -> None:
        if self.down_after < 1 or self.up_after < 1:
            raise ValueError("down_after and up_after are counts >= 1")
        if not self.tls_days or any(d < 0 for d in self.tls_days):
            raise ValueError("tls_days: day counts >= 0, e.g. 21,14,7")
        if not 0 <= self.disk_min_pct < 100:
            raise ValueError("disk_min_pct: a percentage 0-99")
        if self.remind_s <= 0 or self.max_per_hour < 1:
            raise ValueError("remind_s > 0 and max_per_hour >= 1")
        object.__setattr__(self, "tls_days", tuple(sorted(set(self.tls_days), reverse=True)))

    def to_env(self) -> dict[str, str]:
        return {"COCKPIT_WATCH_DOWN_AFTER": str(self.down_after),
                "COCKPIT_WATCH_UP_AFTER": str(self.up_after),
                "COCKPIT_WATCH_TLS_DAYS": ",".join(map(str, self.tls_days)),
                "COCKPIT_WATCH_DISK_MIN_PCT": str(self.disk_min_pct),
                "COCKPIT_WATCH_REMIND_S": str(self.remind_s),
                "COCKPIT_WATCH_MAX_PER_HOUR": str(self.max_per_hour)}

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Thresholds:
        d = cls()
        return cls(
            down_after=int(env.get("COCKPIT_WATCH_DOWN_AFTER", d.down_after)),
            up_after=int(env.get("COCKPIT_WATCH_UP_AFTER", d.up_after)),
            tls_days=tuple(int(x) for x in env.get("COCKPIT_WATCH_TLS_DAYS", "21,14,7")
                           .split(",") if x.strip()),
            disk_min_pct=float(env.get("COCKPIT_WATCH_DISK_MIN_PCT", d.disk_min_pct)),
            remind_s=float(env.get("COCKPIT_WATCH_REMIND_S", d.remind_s)),
            max_per_hour=int(env.get("COCKPIT_WATCH_MAX_PER_HOUR", d.max_per_hour)))


@dataclass
class Target:
    """One environment to watch. `health_url`: the public URL plus the health path (https or
    http); `connect_to`: (address, port) to dial instead of resolving the URL's host (the
    lab's loopback edge), None for real DNS; `ca_file`: a PEM to trust besides nothing else
    (None: the system's trust)."""

    app: str
    env: str
    health_url: str
    public_url: str
    connect_to: tuple[str, int] | None = None
    ca_file: str | None = None
    timeout: float = 5.0


@dataclass
class Probe:
    """One probe's outcome: `ok` when 2xx; `latency_ms` milliseconds; `tls_days` whole days
    left on the served certificate (None for http or no handshake); `ts` epoch seconds."""

    ok: bool
    status: int | None
    latency_ms: float | None
    error: str
    tls_days: int | None
    ts: float


def probe(target: Target, now: float | None = None) -> Probe:
    """One GET of `target.health_url` (Host and SNI = the URL's host; no redirects followed).
    Never raises: a failure is a Probe with ok False and the error's one-line text."""
    ts = time.time() if now is None else now
    parts = urlsplit(target.health_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = target.connect_to or (host, port)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    started = time.monotonic()
    tls_days = None
    try:
        raw = socket.create_connection(address, timeout=target.timeout)
        try:
            sock: Any = raw
            if parts.scheme == "https":
                ctx = ssl.create_default_context(cafile=target.ca_file)
                sock = ctx.wrap_socket(raw, server_hostname=host)
                cert = sock.getpeercert()
                if cert and cert.get("notAfter"):
                    left = ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()
                    tls_days = int(left // 86400)
            host_header = host if port in (80, 443) else f"{host}:{port}"
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: "
                         f"cockpit-watch\r\nConnection: close\r\n\r\n".encode())
            response = HTTPResponse(sock)
            response.begin()
            response.read(65536)
            status = response.status
        finally:
            raw.close()
    except (OSError, ssl.SSLError, ValueError) as exc:
        ms = round((time.monotonic() - started) * 1000, 1)
        text = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
        return Probe(False, None, ms, text, tls_days, ts)
    except Exception as exc:  # http.client's own errors (BadStatusLine...)
        ms = round((time.monotonic() - started) * 1000, 1)
        return Probe(False, None, ms, f"{type(exc).__name__}: {exc}"[:300], tls_days, ts)
    ms = round((time.monotonic() - started) * 1000, 1)
    ok = 200 <= status < 300
    return Probe(ok, status, ms, "" if ok else f"HTTP {status}", tls_days, ts)


# --------------------------------------------------------------------------- incidents


@dataclass
class Action:
    """Something to tell people: `alert` a key of cockpit.alerts.KINDS; `incident` the
    store's id; `facts` for cockpit.alerts.compose."""

    env: str
    alert: str
    incident: int | None
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Open:
    id: int
    kind: str
    opened_at: float
    last_alert_at: float
    summary: str
    detail: dict[str, Any]


_RESOLVED = {"down": "recovered", "tls": "tls_ok", "disk": "disk_ok", "restarts": "restarts_ok"}


class Tracker:
    """The incident state machine of one environment. Pure but for the store it records in
    (a `cockpit.state.Store`); time comes in as `now` (epoch s) on every call, so tests drive
    it with any clock. Open incidents are read back from the store on construction: a
    restarted watcher does not open (or alert) the same incident twice."""

    def __init__(self, env: str, store: Any, thresholds: Thresholds | None = None) -> None:
        self.env = env
        self.store = store
        self.t = thresholds or Thresholds()
        self.fail_streak = 0
        self.ok_streak = 0
        self.first_fail_at: float | None = None
        self.last_error = ""
        self.restart_base: int | None = None
        self.quiet_rounds = 0
        self.open: dict[str, _Open] = {}
        for row in store.incidents(env, open_only=True):
            if row["kind"] not in self.open:
                self.open[row["kind"]] = _Open(row["id"], row["kind"], row["opened_at"],
                                               row["last_alert_at"] or row["opened_at"],
                                               row["summary"], row["detail"])

    # -- helpers

    def _start(self, kind: str, summary: str, detail: dict[str, Any], since: float,
               now: float) -> Action:
        incident = self.store.open_incident(self.env, kind, summary, detail, at=since)
        self.open[kind] = _Open(incident, kind, since, now, summary, detail)
        return Action(self.env, kind, incident, {"what": summary, "since": since, **detail})

    def _end(self, kind: str, what: str, now: float) -> Action:
        inc = self.open.pop(kind)
        self.store.update_incident(inc.id, resolved_at=now)
        return Action(self.env, _RESOLVED[kind], inc.id,
                      {"what": what, "since": inc.opened_at, "lasted_s": now - inc.opened_at})

    # -- observations

    def observe_health(self, ok: bool, error: str, now: float) -> list[Action]:
        """One health probe. Returns the alerts it causes (at most one)."""
        if not ok:
            self.ok_streak = 0
            if self.fail_streak == 0:
                self.first_fail_at = now
            self.fail_streak += 1
            self.last_error = error or "no answer"
            if "down" not in self.open and self.fail_streak >= self.t.down_after:
                what = (f"{self.fail_streak} health probes in a row failed; last: "
                        f"{self.last_error}")
                return [self._start("down", what, {"error": self.last_error},
                                    self.first_fail_at or now, now)]
            return []
        self.fail_streak = 0
        self.first_fail_at = None
        self.ok_streak += 1
        if "down" in self.open and self.ok_streak >= self.t.up_after:
            inc = self.open["down"]
            return [self._end("down", f"answering again ({self.ok_streak} good probes in a "
                                      f"row) after {_span(now - inc.opened_at)} down", now)]
        return []

    def band(self, days: int) -> int | None:
        """The lowest threshold `days` is at or below (21, 14, 7...), None above them all."""
        crossed = [d for d in self.t.tls_days if days <= d]
        return min(crossed) if crossed else None

    def observe_tls(self, days: int | None, now: float) -> list[Action]:
        """Days left on the served certificate (None: not read this round, nothing changes)."""
        if days is None:
            return []
        band = self.band(days)
        inc = self.open.get("tls")
        if band is None:
            if inc is not None:
                return [self._end("tls", f"a renewed certificate is served ({days} days left)",
                                  now)]
            return []
        what = f"the TLS certificate expires in {days} days (threshold {band} days)"
        if inc is None:
            return [self._start("tls", what, {"band": band, "days_left": days}, now, now)]
        if band < int(inc.detail.get("band", band)):  # crossed the next threshold: tell again
            inc.detail = {"band": band, "days_left": days}
            inc.summary = what
            inc.last_alert_at = now
            self.store.update_incident(inc.id, summary=what, detail=inc.detail)
            return [Action(self.env, "tls", inc.id,
                           {"what": what, "since": inc.opened_at, **inc.detail})]
        return []

    def observe_disk(self, free_pct: float | None, now: float, where: str = "") -> list[Action]:
        """Percent free on the host's disk (None: not read). Opens below the threshold, closes
        two points above it (no flapping around the line)."""
        if free_pct is None:
            return []
        inc = self.open.get("disk")
        label = f" on {where}" if where else ""
        if inc is None and free_pct < self.t.disk_min_pct:
            what = f"{free_pct:.1f}% disk free{label} (threshold {self.t.disk_min_pct:g}%)"
            return [self._start("disk", what, {"free_pct": round(free_pct, 1)}, now, now)]
        if inc is not None and free_pct >= self.t.disk_min_pct + 2:
            return [self._end("disk", f"{free_pct:.1f}% disk free{label} again", now)]
        return []

    def observe_restarts(self, total: int | None, now: float) -> list[Action]:
        """The environment's instances' restart count, summed (None: not read). An increase
        opens an incident; `up_after` reads in a row without one close it."""
        if total is None:
            return []
        base, self.restart_base = self.restart_base, total
        if base is None or total < base:  # first read, or instances were replaced
            return []
        if total > base:
            self.quiet_rounds = 0
            if "restarts" not in self.open:
                what = f"instances restarted {total - base} time(s) (total {total})"
                return [self._start("restarts", what, {"restarts": total}, now, now)]
            return []
        self.quiet_rounds += 1
        if "restarts" in self.open and self.quiet_rounds >= self.t.up_after:
            return [self._end("restarts", f"no restart for {self.quiet_rounds} checks", now)]
        return []

    def reminders(self, now: float) -> list[Action]:
        """An hourly (`remind_s`) reminder for each incident still open."""
        out = []
        for inc in self.open.values():
            if now - inc.last_alert_at >= self.t.remind_s:
                inc.last_alert_at = now
                out.append(Action(self.env, inc.kind, inc.id,
                                  {"what": inc.summary, "since": inc.opened_at, "reminder": True,
                                   **inc.detail}))
        return out


def _span(seconds: float) -> str:
    """"45s", "3m12s", "1h05m", "2d03h"."""
    s = max(0, int(seconds))
    if s >= 86400:
        return f"{s // 86400}d{(s % 86400) // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Throttle:
    """At most `per_hour` alerts per environment in any hour; what is held back is counted and
    said in the next alert that goes out. `now` in epoch seconds."""

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour
        self.sent: dict[str, list[float]] = {}
        self.held: dict[str, int] = {}

    def allow(self, env: str, now: float) -> bool:
        recent = [t for t in self.sent.get(env, []) if now - t < 3600]
        self.sent[env] = recent
        if len(recent) >= self.per_hour:
            self.held[env] = self.held.get(env, 0) + 1
            return False
        recent.append(now)
        return True

    def take_held(self, env: str) -> int:
        return self.held.pop(env, 0)


# --------------------------------------------------------------------------- the loop


Sender = Callable[[Action], dict[str, Any]]


@dataclass
class Extras:
    """Slower checks of one environment, each returning None when it cannot tell:
    `disk()` percent free and where, `restarts()` summed restart count, `release()` the
    serving release as (id, digest)."""

    disk: Callable[[], tuple[float, str] | None] | None = None
    restarts: Callable[[], int | None] | None = None
    release: Callable[[], tuple[str, str] | None] | None = None


class Watcher:
    """Probes every target each round, records samples and incidents in `store`, and hands
    each alert to `send` (an Action in; a dict with "sent"/"failed" out). `clock` gives epoch
    seconds; `extras` are read every `slow_every` seconds."""

    def __init__(self, targets: list[Target], store: Any, send: Sender,
                 thresholds: Thresholds | None = None, *, clock: Callable[[], float] = time.time,
                 extras: dict[str, Extras] | None = None, slow_every: float = 60.0,
                 probe_fn: Callable[[Target, float], Probe] = probe,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.targets = targets
        self.store = store
        self.send = send
        self.t = thresholds or Thresholds()
        self.clock = clock
        self.extras = extras or {}
        self.slow_every = slow_every
        self.probe_fn = probe_fn
        self.on_event = on_event or (lambda kind, data: None)
        self.trackers = {t.env: Tracker(t.env, store, self.t) for t in targets}
        self.throttle = Throttle(self.t.max_per_hour)
        self._slow_at: dict[str, float] = {}
        self.releases: dict[str, tuple[str, str]] = {}
        self.last_probe: dict[str, Probe] = {}

    def _slow(self, target: Target, now: float) -> list[Action]:
        extra = self.extras.get(target.env)
        if extra is None or now - self._slow_at.get(target.env, -1e18) < self.slow_every:
            return []
        self._slow_at[target.env] = now
        tracker = self.trackers[target.env]
        actions: list[Action] = []
        for name, fn in (("release", extra.release), ("disk", extra.disk),
                         ("restarts", extra.restarts)):
            if fn is None:
                continue
            try:
                value = fn()
            except Exception as exc:  # a slow check that fails is skipped this round
                self.on_event("check_failed", {"env": target.env, "check": name,
                                               "error": f"{type(exc).__name__}: {exc}"[:200]})
                continue
            if name == "release" and value:
                self.releases[target.env] = value
            elif name == "disk" and value:
                actions += tracker.observe_disk(value[0], now, value[1])
            elif name == "restarts":
                actions += tracker.observe_restarts(value, now)
        return actions

    def step(self) -> list[Action]:
        """One round over every target; returns the alerts handed to `send`."""
        sent: list[Action] = []
        for target in self.targets:
            now = self.clock()
            result = self.probe_fn(target, now)
            self.last_probe[target.env] = result
            self.store.add_sample(target.env, result.ok, result.status, result.latency_ms,
                                  result.error, source="watch", ts=now)
            self.on_event("sample", {"env": target.env, **dataclasses.asdict(result)})
            tracker = self.trackers[target.env]
            actions = tracker.observe_health(result.ok, result.error, now)
            actions += tracker.observe_tls(result.tls_days, now)
            actions += self._slow(target, now)
            actions += tracker.reminders(now)
            for action in actions:
                self._deliver(target, action, now)
                sent.append(action)
        return sent

    def _deliver(self, target: Target, action: Action, now: float) -> None:
        if not self.throttle.allow(target.env, now):
            self.on_event("held", {"env": target.env, "alert": action.alert})
            return
        held = self.throttle.take_held(target.env)
        facts = {"url": target.public_url, "incident": action.incident, **action.facts}
        if held:
            facts["what"] = f"{facts.get('what', '')} ({held} alert(s) held back this hour)"
        release = self.releases.get(target.env)
        if release:
            facts.setdefault("release", release[0])
            facts.setdefault("digest", release[1])
        action.facts = facts
        try:
            outcome = self.send(action)
        except Exception as exc:  # noqa: BLE001 - the loop goes on; the next reminder retries
            outcome = {"sent": [], "failed": [], "error": f"{type(exc).__name__}"}
        if action.incident is not None:
            self.store.update_incident(action.incident, alerted_at=now)
        self.on_event("alert", {"env": target.env, "alert": action.alert,
                                "incident": action.incident, **outcome})

    def run(self, interval: float, stop: threading.Event | None = None,
            rounds: int | None = None, prune_days: float = 8.0) -> int:
        """Rounds every `interval` seconds until `stop` is set (or `rounds` are done); returns
        how many ran. Samples older than `prune_days` are dropped once an hour."""
        stop = stop or threading.Event()
        done = 0
        pruned_at = 0.0
        while not stop.is_set() and (rounds is None or done < rounds):
            started = time.monotonic()
            self.step()
            done += 1
            now = self.clock()
            if now - pruned_at > 3600:
                self.store.prune_samples(now - prune_days * 86400)
                pruned_at = now
            if rounds is not None and done >= rounds:
                break
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
        return done


# --------------------------------------------------------------------------- the agent


AGENT_FILES = ("__init__.py", "alerts.py", "errors.py", "models.py", "redaction.py",
               "state.py", "watcher.py")
"""cockpit's modules the watcher container runs (standard library only, plus Apprise)."""


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (no quoting; '#' comments). ValueError naming the line when one is not
    KEY=VALUE."""
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def _disk(path: str) -> tuple[float, str] | None:
    import shutil

    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    return (usage.free * 100.0 / usage.total if usage.total else 100.0), "the host"


def agent(config_path: Path, state_dir: Path, stop: threading.Event | None = None,
          rounds: int | None = None) -> int:
    """The watcher as it runs in its container: everything it needs is in the env file
    (the app and environment names, the health URL, thresholds, interval and the alert URLs
    as COCKPIT_WATCH_ALERT_<n>); history in `state_dir`. Returns the rounds run."""
    from cockpit import alerts
    from cockpit.state import Store

    env = read_env_file(config_path)
    connect = env.get("COCKPIT_WATCH_CONNECT", "")
    connect_to = None
    if connect:
        address, _, port = connect.rpartition(":")
        connect_to = (address, int(port))
    target = Target(app=env["COCKPIT_WATCH_APP"], env=env["COCKPIT_WATCH_ENV"],
                    health_url=env["COCKPIT_WATCH_URL"],
                    public_url=env.get("COCKPIT_WATCH_PUBLIC_URL", env["COCKPIT_WATCH_URL"]),
                    connect_to=connect_to, ca_file=env.get("COCKPIT_WATCH_CA") or None,
                    timeout=float(env.get("COCKPIT_WATCH_TIMEOUT", "5")))
    urls = {k.rsplit("_", 1)[-1]: v for k, v in env.items()
            if k.startswith("COCKPIT_WATCH_ALERT_") and v}
    for url in urls.values():
        alerts._register(url)
    thresholds = Thresholds.from_env(env)
    store = Store.open(target.app, root=state_dir)
    disk_path = env.get("COCKPIT_WATCH_DISK", "")
    # The release serving when the watcher was installed (`cockpit watch install` again
    # updates it): the container sees neither the Docker engine nor the host's release files.
    release = env.get("COCKPIT_WATCH_RELEASE", "")
    installed = (f"{release} (serving at install)", env.get("COCKPIT_WATCH_RELEASE_DIGEST", ""))
    extras = Extras(disk=(lambda: _disk(disk_path)) if disk_path else None,
                    release=(lambda: installed) if release else None)

    def send(action: Action) -> dict[str, Any]:
        alert = alerts.compose(target.app, action.env, action.alert, **action.facts)
        return alerts.send(urls, alert)

    def log(kind: str, data: dict[str, Any]) -> None:
        from cockpit.redaction import redact

        if kind != "sample" or not data.get("ok"):
            print(redact(json.dumps({"event": kind, **data}, default=str)), flush=True)

    watcher = Watcher([target], store, send, thresholds, extras={target.env: extras},
                      slow_every=float(env.get("COCKPIT_WATCH_SLOW_EVERY", "60")), on_event=log)
    interval = float(env.get("COCKPIT_WATCH_INTERVAL", "30"))
    print(json.dumps({"event": "started", "env": target.env, "url": target.public_url,
                      "interval": interval, "alerts": len(urls)}), flush=True)
    return watcher.run(interval, stop=stop, rounds=rounds)


def main(argv: list[str] | None = None) -> int:
    """`python -m cockpit.watcher agent --config FILE [--state DIR]` (the container's entry)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="cockpit.watcher")
    parser.add_argument("mode", choices=["agent"])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--state", type=Path, default=Path("/state"))
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    agent(args.config, args.state, stop=stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --------------------------------------------------------------------------- summaries


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100, nearest rank) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def uptime(samples: list[dict[str, Any]]) -> float | None:
    """Percent of samples that were ok (0-100, one decimal); None without samples."""
    if not samples:
        return None
    return round(100.0 * sum(1 for s in samples if s["ok"]) / len(samples), 1)


def health_summary(store: Any, env: str, now: float) -> dict[str, Any]:
    """What `cockpit status --json` and the dashboard show from the recorded history:
    {"health": {"last_sample": {ts, ok, status, latency_ms, error, source} | None,
    "uptime_24h": %, "uptime_7d": %, "p50_ms", "p95_ms" (over 24 h; None without samples)},
    "incidents": [open incidents, newest first]}. Source: the state store's samples
    (from `cockpit watch` and the dashboard) and incidents (from `cockpit watch`)."""
    def pct(counts: tuple[int, int]) -> float | None:
        return round(100.0 * counts[1] / counts[0], 1) if counts[0] else None

    day = store.samples(env, since=now - 86400)
    latencies = [s["latency_ms"] for s in day if s["ok"] and s["latency_ms"] is not None]
    return {
        "health": {"last_sample": store.last_sample(env),
                   "uptime_24h": pct(store.sample_counts(env, now - 86400)),
                   "uptime_7d": pct(store.sample_counts(env, now - 7 * 86400)),
                   "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
                   "samples_24h": len(day)},
        "incidents": store.incidents(env, open_only=True),
    }
