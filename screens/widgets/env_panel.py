"""One environment at a glance: release and age, health with a latency sparkline, instances,
TLS days left, drift and the deploy lock. Fed with data by the dashboard; it fetches nothing."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

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

    def compose(self) -> ComposeResult:
        self.border_title = f"{self.number} {self.env} · {self.provider}" + (
            " · protected" if self.protected else "")
        yield Static("release: reading live state…", id="release", classes="row")
        yield Static("health: waiting for a sample", id="health", classes="row")
        yield Sparkline(list(self.latencies), id="latency")
        yield Static("", id="failures", classes="row")
        yield Static("", id="instances", classes="row")
        yield Static("", id="tls", classes="row")
        yield Static("", id="drift", classes="row")
        yield Static("", id="lock", classes="row")

    def show(self, live: LiveState | None, sample: HealthSample | None, error: str | None,
             now: float) -> None:
        q = self.query_one
        if error:
            q("#release", Static).update(Text.assemble(("unreachable: ", "bold red"), error))
        if live is not None:
            current = live.current
            if current is None:
                q("#release", Static).update(Text("release: none deployed yet", style="dim"))
            else:
                q("#release", Static).update(Text.assemble(
                    ("release ", "dim"), (current.id, "bold"),
                    (f" · {age(now - current.created_at)} ago" if current.created_at else ""),
                    (" · ", "dim"), (current.short_digest or "-", "cyan"),
                    (f" · {current.status}", "green" if current.status == "healthy" else "yellow"),
                ))
            running = [i for i in live.instances if i.state == "running"]
            restarts = sum(i.restarts for i in live.instances)
            q("#instances", Static).update(Text.assemble(
                ("instances ", "dim"), f"{len(running)}/{len(live.instances)} running",
                (" · restarts ", "dim"), (str(restarts), "bold red" if restarts else ""),
            ))
            tls = live.tls
            if tls is None:
                tls_text = Text("TLS: no domain", style="dim")
            elif not tls.ok:
                tls_text = Text.assemble(("TLS: ", "dim"), (tls.error or "not valid", "red"))
            else:
                days = tls.days_left if tls.days_left is not None else "?"
                warn = isinstance(days, int) and days < 14
                tls_text = Text.assemble(("TLS ", "dim"), (f"{days} days left", "red" if warn
                                                           else "green"),
                                         (f" · {tls.issuer}" if tls.issuer else "", "dim"))
            q("#tls", Static).update(tls_text)
            drift = "; ".join(live.drift) if live.drift else "none"
            q("#drift", Static).update(Text.assemble(("drift: ", "dim"),
                                                     (drift, "yellow" if live.drift else "")))
            lock = live.lock
            if lock is None:
                q("#lock", Static).update(Text.assemble(("lock: ", "dim"), "free"))
            else:
                q("#lock", Static).update(Text.assemble(
                    ("lock: ", "dim"), (lock.holder, "bold yellow"),
                    f" ({lock.command}, {age(now - lock.acquired_at)})"))
        if sample is not None:
            self.last_sample = sample
            self.latencies.append(sample.latency_ms or 0.0)
            self.query_one("#latency", Sparkline).data = list(self.latencies)
            if sample.ok:
                text = Text.assemble(("● ", "green"), ("healthy", "bold green"),
                                     f" {sample.status} · {sample.latency_ms:.0f} ms"
                                     if sample.latency_ms is not None else "")
            else:
                reason = sample.error or f"HTTP {sample.status}"
                self.failures.append(reason)
                text = Text.assemble(("● ", "red"), ("failing", "bold red"), f" {reason}")
            q("#health", Static).update(text)
        elif live is not None and self.last_sample is None:
            q("#health", Static).update(Text("health: no URL to probe yet", style="dim"))
        fails = ", ".join(self.failures) if self.failures else "none"
        q("#failures", Static).update(Text.assemble(("last failures: ", "dim"), fails))
