"""One environment at a glance: release and age, health with a latency sparkline, uptime over
24 h and 7 d with p50/p95 latency, a 24-hour incident timeline with deploy markers, instances,
TLS days left, drift and the deploy lock. Fed with data by the dashboard; it fetches nothing."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

if TYPE_CHECKING:
    from cockpit.events import HealthSample
    from cockpit.models import LiveState


TIMELINE_BUCKETS = 48  # half-hour cells over 24 hours


def timeline(samples: list[dict], incidents: list[dict], deploys: list[float], now: float,
             buckets: int = TIMELINE_BUCKETS, span: float = 86400.0) -> Text:
    """The last `span` seconds as `buckets` cells, oldest left: ▁ green all probes ok, ▄ yellow
    some failed, █ red an incident open (or every probe failed), · no data, ▲ a deploy (a
    release created then). `samples` as cockpit.state.Store.samples, `incidents` as
    Store.incidents, `deploys` epoch seconds."""
    width = span / buckets
    start = now - span
    cells: list[tuple[int, int]] = [(0, 0)] * buckets  # (probes, failed)
    def cell(ts: float) -> int:  # the newest cell ends at `now`, inclusive
        return min(buckets - 1, int((ts - start) // width))

    for s in samples:
        i = cell(s["ts"])
        if 0 <= i and s["ts"] <= now:
            total, failed = cells[i]
            cells[i] = (total + 1, failed + (0 if s["ok"] else 1))
    down = [False] * buckets
    for inc in incidents:
        if inc["kind"] != "down":
            continue
        first, last = cell(inc["opened_at"]), cell(min(now, inc["resolved_at"] or now))
        for i in range(max(0, first), last + 1):
            down[i] = True
    marks = {cell(t) for t in deploys if t and start <= t <= now}
    out = Text()
    for i, (total, failed) in enumerate(cells):
        if i in marks:
            out.append("▲", "bold cyan")
        elif down[i] or (total and failed == total):
            out.append("█", "red")
        elif failed:
            out.append("▄", "yellow")
        elif total:
            out.append("▁", "green")
        else:
            out.append("·", "dim")
    return out


def serving_instances(live: LiveState) -> tuple[list, list]:
    """(the instances of the serving release, the others): a VPS keeps the stopped containers
    of earlier releases for rollback, and they are not this release's replicas. Without a
    serving release, or when the provider names no release per instance, every instance is
    the serving release's."""
    current = live.current
    if current is None or not any(i.release_id for i in live.instances):
        return list(live.instances), []
    mine = [i for i in live.instances if i.release_id == current.id]
    return mine, [i for i in live.instances if i.release_id != current.id]


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class EnvPanel(Vertical, can_focus=True):
    def __init__(self, env: str, provider: str, number: int, *, protected: bool = False) -> None:
        super().__init__(id=f"env-{env}")
        self.env = env
        self.provider = provider
        self.number = number
        self.protected = protected
        self.latencies: deque[float] = deque(maxlen=40)
        self.failures: deque[str] = deque(maxlen=3)
        self.last_sample: HealthSample | None = None
        self.url: str | None = None

    def compose(self) -> ComposeResult:
        self.border_title = f"{self.number} {self.env} · {self.provider}" + (
            " · protected" if self.protected else "")
        self.lines: dict[str, Text] = {
            "release": Text("release: reading live state…", style="dim"),
            "health": Text("health: waiting for a sample", style="dim"),
            "failures": Text(""), "instances": Text(""), "tls": Text(""), "drift": Text(""),
            "lock": Text(""), "accessories": Text(""),
        }
        # Three widgets, not eight: fewer widgets to style and lay out on the first frame.
        yield Static(self._text("release", "health"), id="top")
        yield Sparkline(list(self.latencies), id="latency")
        self.lines["uptime"] = Text("uptime: no samples yet", style="dim")
        self.lines["timeline"] = Text("")
        yield Static(self._text("uptime", "timeline"), id="history")
        yield Static(self._text(*self._bottom()), id="bottom")

    def show_history(self, summary: dict, line: Text, now: float) -> None:
        """Uptime (24 h, 7 d), p50/p95 latency and open incidents (`summary` as
        cockpit.watcher.health_summary), the 24-hour timeline (`timeline()`); `now` epoch s."""
        h = summary["health"]

        def pct(value: float | None) -> tuple[str, str]:
            if value is None:
                return "-", "dim"
            return f"{value:g}%", "green" if value >= 99.9 else "yellow" if value >= 99 else "red"

        parts: list[tuple[str, str] | str] = [("uptime 24h ", "dim"), pct(h["uptime_24h"]),
                                              (" · 7d ", "dim"), pct(h["uptime_7d"])]
        if h["p50_ms"] is not None:
            parts += [(" · p50 ", "dim"), f"{h['p50_ms']:.0f} ms", (" · p95 ", "dim"),
                      f"{h['p95_ms']:.0f} ms"]
        incidents = [Text.assemble(("incident ", "dim"), (f"#{i['id']} {i['kind']}", "bold red"),
                                   f" open {age(now - i['opened_at'])}", (" · ", "dim"),
                                   (i["summary"], "red"))
                     for i in summary["incidents"][:2]]
        self.lines["uptime"] = Text.assemble(*parts)
        self.lines["timeline"] = Text("\n").join(
            [Text.assemble(("24h ", "dim"), line), *incidents])
        self.query_one("#history", Static).update(self._text("uptime", "timeline"))

    def _bottom(self) -> tuple[str, ...]:
        """The bottom block's lines: a line per accessory after the lock, when there are any."""
        keys = ("failures", "instances", "tls", "drift", "lock")
        return (*keys, "accessories") if self.lines["accessories"].plain else keys

    def show_url(self, url: str | None) -> None:
        """The environment's public URL on the panel's bottom border ("no domain" without)."""
        self.url = url
        self.border_subtitle = url or "no domain"

    def _text(self, *keys: str) -> Text:
        return Text("\n").join(self.lines[k] for k in keys)

    def text(self, key: str) -> str:
        """The plain text of one line (release, health, failures, instances, tls, drift, lock)."""
        return self.lines[key].plain

    def show(self, live: LiveState | None, sample: HealthSample | None, error: str | None,
             now: float) -> None:
        lines = self.lines
        if error:
            lines["release"] = Text.assemble(("unreachable: ", "bold red"), error)
        if live is not None:
            current = live.current
            if current is None:
                lines["release"] = Text("release: none deployed yet", style="dim")
            else:
                lines["release"] = Text.assemble(
                    ("release ", "dim"), (current.id, "bold"),
                    (f" · {age(now - current.created_at)} ago" if current.created_at else ""),
                    (" · ", "dim"), (current.short_digest or "-", "cyan"),
                    (f" · {current.status}", "green" if current.status == "healthy" else "yellow"),
                )
            serving, others = serving_instances(live)
            running = [i for i in serving if i.state == "running"]
            restarts = sum(i.restarts for i in serving)
            busy = sum(1 for i in others if i.state == "running")
            lines["instances"] = Text.assemble(
                ("instances ", "dim"), f"{len(running)}/{len(serving)} running",
                (" · restarts ", "dim"), (str(restarts), "bold red" if restarts else ""),
                (f" · {len(others) - busy} kept for rollback" if len(others) > busy else "",
                 "dim"),
                (f" · {busy} of another release running" if busy else "", "yellow"),
            )
            tls = live.tls
            if tls is None:
                lines["tls"] = Text("TLS: no domain", style="dim")
            elif not tls.ok:
                lines["tls"] = Text.assemble(("TLS: ", "dim"), (tls.error or "not valid", "red"))
            else:
                days = tls.days_left if tls.days_left is not None else "?"
                warn = isinstance(days, int) and days < 14
                lines["tls"] = Text.assemble(
                    ("TLS ", "dim"), (f"{days} days left", "red" if warn else "green"),
                    (f" · {tls.issuer}" if tls.issuer else "", "dim"))
            drift = "; ".join(live.drift) if live.drift else "none"
            lines["drift"] = Text.assemble(("drift: ", "dim"),
                                           (drift, "yellow" if live.drift else ""))
            lock = live.lock
            if lock is None:
                lines["lock"] = Text.assemble(("lock: ", "dim"), "free")
            else:
                lines["lock"] = Text.assemble(
                    ("lock: ", "dim"), (lock.holder, "bold yellow"),
                    f" ({lock.command}, " + (
                        age(now - lock.acquired_at) if lock.acquired_at  # else a Fly lease:
                        else f"expires in {max(0, int(lock.expires_at - now))}s") + ")")
        if live is not None and live.extra.get("accessories") is not None:
            lines["accessories"] = Text("\n").join(
                Text.assemble((f"{a['name']} ", "dim"), f"{a['kind']} ",
                              (f"{a['state']} {a['health']}",
                               "green" if a["health"] in ("healthy", "set") else "bold red"))
                for a in live.extra["accessories"])
        if sample is not None:
            self.last_sample = sample
            self.latencies.append(sample.latency_ms or 0.0)
            # One sample is no trend (Textual draws it as a full block): a baseline until two.
            trend = list(self.latencies) if len(self.latencies) > 1 else []
            self.query_one("#latency", Sparkline).data = trend
            if sample.ok:
                what = sample.detail or str(sample.status)
                lines["health"] = Text.assemble(
                    ("● ", "green"), ("healthy", "bold green"),
                    f" {what} · {sample.latency_ms:.0f} ms"
                    if sample.latency_ms is not None else f" {what}")
            else:
                reason = sample.error or f"HTTP {sample.status}"
                self.failures.append(reason)
                lines["health"] = Text.assemble(("● ", "red"), ("failing", "bold red"),
                                                f" {reason}")
        elif live is not None and self.last_sample is None:
            lines["health"] = Text("health: no URL to probe yet", style="dim")
        fails = ", ".join(self.failures) if self.failures else "none"
        lines["failures"] = Text.assemble(("last failures: ", "dim"), fails)
        self.query_one("#top", Static).update(self._text("release", "health"))
        self.query_one("#bottom", Static).update(self._text(*self._bottom()))
