"""The dashboard: one panel per environment, refreshed live without blocking input.

Each environment is polled in its own thread worker; the next poll is scheduled only when the
last one has finished (Dolphie's loop), so a slow target never piles up requests. Each poll's
health sample is recorded in the state store (source "dashboard"), and the panel shows the
recorded history: uptime over 24 h and 7 d, p50/p95 latency, open incidents (from
`cockpit watch`) and a 24-hour timeline with deploy markers.
"""

from __future__ import annotations

from functools import partial

from cockpit.screens.base import CockpitScreen, env_bindings
from cockpit.screens.messages import EnvPolled
from cockpit.screens.widgets.env_panel import EnvPanel
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Static


class ConfigLoaded(Message):
    """The full config loaded (validated) in a worker: polling may start. `urls`: environment
    -> its public URL (https://domain[:port]) or None without a domain."""

    def __init__(self, urls: dict[str, str | None] | None = None) -> None:
        super().__init__()
        self.urls = urls or {}


class HistoryLoaded(Message):
    """An environment's recorded history, read in a poll's worker: `summary` as
    cockpit.watcher.health_summary, `timeline` the panel's 24-hour line."""

    def __init__(self, env: str, summary: dict, timeline: object) -> None:
        super().__init__()
        self.env = env
        self.summary = summary
        self.timeline = timeline


RECORD_EVERY = 30.0  # seconds between two dashboard samples kept in the state store


def read_history(session, env: str, live, sample) -> HistoryLoaded:  # noqa: ANN001
    """Record `sample` (when there is one, at most one every RECORD_EVERY seconds per
    environment) and read back what the panel shows."""
    from cockpit.screens.widgets.env_panel import timeline

    from cockpit.watcher import health_summary

    store = session.ctx.store
    now = session.now()
    recorded: dict[str, float] = session.__dict__.setdefault("_samples_recorded", {})
    if sample is not None and now - recorded.get(env, float("-inf")) >= RECORD_EVERY:
        recorded[env] = now
        store.add_sample(env, sample.ok, sample.status, sample.latency_ms, sample.error,
                         source="dashboard", ts=now)
    summary = health_summary(store, env, now)
    releases = live.releases if live is not None else store.releases(env)
    line = timeline(store.samples(env, since=now - 86400), store.incidents(env, since=now - 86400),
                    [r.created_at for r in releases], now)
    return HistoryLoaded(env, summary, line)


class DashboardScreen(CockpitScreen):
    TITLE = "Dashboard"
    BINDINGS = [
        *env_bindings(),
        Binding("l", "logs", "Logs", id="dash.logs", tooltip="live tail of the environment"),
        Binding("h", "releases", "Releases", id="dash.releases",
                tooltip="history; roll back from there"),
        Binding("d", "deploy", "Deploy", id="dash.deploy"),
        Binding("p", "promote", "Promote", id="dash.promote",
                tooltip="ship this environment's release to the next one"),
        Binding("ctrl+r", "refresh", "Refresh now", id="dash.refresh"),
        Binding("tab", "app.focus_next", "Next panel", show=False, id="dash.next"),
    ]

    def __init__(self, poll_interval: float = 5.0) -> None:
        super().__init__()
        self.poll_interval = poll_interval
        self.panels: dict[str, EnvPanel] = {}
        self._inflight: set[str] = set()
        self._poll_timers: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        app_name, envs = self.session.peek()
        self.sub_title = app_name
        # A one-line title instead of a Header: cheaper on the first frame (bench/startup.py).
        yield Static(f"◆ cockpit · {app_name} · dashboard", id="title")
        with VerticalScroll(id="panels"), Grid(classes="panel-grid"):
            for number, (name, provider, protected) in enumerate(envs, start=1):
                panel = EnvPanel(name, provider, number, protected=protected)
                self.panels[name] = panel
                yield panel
        yield Footer()

    def on_mount(self) -> None:
        # First paint, then focus and the first polls (their imports and restyles stay off
        # the start-up path).
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        first = self.app.current_env or next(iter(self.panels), None)  # type: ignore[attr-defined]
        if first in self.panels:
            self.panels[first].focus()
        session = self.session

        def load() -> None:
            from cockpit.config import env_url

            cfg = session.ctx.config  # the full, validated config and the state store
            self.post_message(ConfigLoaded({name: env_url(env) for name, env in
                                            cfg.environments.items()}))

        self.run_worker(load, thread=True, exclusive=True, exit_on_error=False, group="config",
                        description="loading cockpit.toml")

    def on_config_loaded(self, message: ConfigLoaded) -> None:
        for name, url in message.urls.items():
            if name in self.panels:
                self.panels[name].show_url(url)
        self.action_refresh()

    # ------------------------------------------------------------------ polling

    def poll(self, env: str) -> None:
        """Start one poll unless one is already running (polls never overlap)."""
        timer = self._poll_timers.pop(env, None)
        if timer is not None:
            timer.stop()  # type: ignore[attr-defined]
        if env in self._inflight:
            return
        self._inflight.add(env)
        self._poll_worker(env)

    def _poll_worker(self, env: str) -> None:
        session = self.session

        def fetch() -> None:
            try:
                live = session.live(env)
            except Exception as exc:  # an unreachable target is data on a dashboard
                from cockpit.screens.widgets.error import summary

                self.post_message(EnvPolled(env, error=summary(exc)))
                return
            try:
                sample = session.health(env, live)
            except Exception as exc:
                from cockpit.events import HealthSample

                sample = HealthSample(ok=False, status=None, latency_ms=None,
                                      error=type(exc).__name__, env=env)
            try:
                self.post_message(read_history(session, env, live, sample))
            except Exception:  # noqa: BLE001 - history is a nicety; the live view goes on
                pass
            self.post_message(EnvPolled(env, live=live, sample=sample))

        self.run_worker(fetch, thread=True, exclusive=True, exit_on_error=False,
                        group=f"poll:{env}", name=f"poll:{env}", description=f"poll {env}")

    def on_env_polled(self, message: EnvPolled) -> None:
        panel = self.panels.get(message.env)
        self._inflight.discard(message.env)
        if panel is None:
            return
        with self.app.batch_update():
            panel.show(message.live, message.sample, message.error, self.session.now())
        self._poll_timers[message.env] = self.set_timer(self.poll_interval,
                                                   partial(self.poll, message.env))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        panel = self.panels.get(message.env)
        if panel is not None:
            panel.show_history(message.summary, message.timeline, self.session.now())

    # ------------------------------------------------------------------ keys

    @property
    def selected_env(self) -> str:
        focused = self.focused
        while focused is not None and not isinstance(focused, EnvPanel):
            focused = focused.parent  # type: ignore[assignment]
        if isinstance(focused, EnvPanel):
            return focused.env
        return self.app.current_env or next(iter(self.panels))  # type: ignore[attr-defined]

    def show_env(self, env: str) -> None:
        if env in self.panels:
            self.panels[env].focus()

    def action_switch_env(self, number: int) -> None:
        env = self.env_for_number(number)
        if env:
            self.app.current_env = env  # type: ignore[attr-defined]
            self.show_env(env)

    def action_logs(self) -> None:
        self.app.open_logs(self.selected_env)  # type: ignore[attr-defined]

    def action_releases(self) -> None:
        self.app.open_releases(self.selected_env)  # type: ignore[attr-defined]

    def action_deploy(self) -> None:
        self.app.start_deploy(self.selected_env)  # type: ignore[attr-defined]

    def action_promote(self) -> None:
        names = list(self.panels)
        src = self.selected_env
        index = names.index(src)
        if index + 1 >= len(names):
            self.notify(f"{src} is the last environment; promote from the one before it",
                        severity="warning")
            return
        self.app.start_promote(src, names[index + 1])  # type: ignore[attr-defined]

    def action_refresh(self) -> None:
        for env in self.panels:
            self.poll(env)
