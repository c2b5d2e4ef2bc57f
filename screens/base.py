"""What every cockpit screen shares: worker failures go to the app's one handler."""

from __future__ import annotations

from textual import on
from textual.screen import Screen
from textual.worker import Worker, WorkerState


class CockpitScreen(Screen):
    """A screen whose thread workers report failures centrally (Harlequin's discipline)."""

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.worker_failed(event.worker)  # type: ignore[attr-defined]

    @property
    def session(self):
        return self.app.session  # type: ignore[attr-defined]

    def env_for_number(self, number: int) -> str | None:
        names = self.session.env_names()
        return names[number - 1] if 0 < number <= len(names) else None


def env_bindings(action: str = "switch_env") -> list:
    """Number keys 1-9 select an environment (shown once in the footer and help)."""
    from textual.binding import Binding

    keys = [Binding("1", f"{action}(1)", "Environment 1-9", key_display="1-9", id="env.1")]
    keys += [Binding(str(n), f"{action}({n})", show=False, id=f"env.{n}") for n in range(2, 10)]
    return keys
