"""One environment at a glance: release and age, health with a latency sparkline, instances,
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
        yield Static(self._text(*self._bottom()), id="bottom")

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
            running = [i for i in live.instances if i.state == "running"]
            restarts = sum(i.restarts for i in live.instances)
            lines["instances"] = Text.assemble(
                ("instances ", "dim"), f"{len(running)}/{len(live.instances)} running",
                (" · restarts ", "dim"), (str(restarts), "bold red" if restarts else ""),
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
                    f" ({lock.command}, {age(now - lock.acquired_at)})")
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
