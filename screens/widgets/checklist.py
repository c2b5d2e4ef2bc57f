"""The live step checklist of a run, built from the core's step events.

No durations or clocks are shown: the same run renders the same checklist (snapshots)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from cockpit.events import (
    Event,
    PlanShown,
    StepFailed,
    StepFinished,
    StepSkipped,
    StepStarted,
)

MARKS = {"pending": ("○", "dim"), "running": ("◐", "bold yellow"), "done": ("✓", "bold green"),
         "failed": ("✗", "bold red"), "skipped": ("–", "dim")}


@dataclass
class StepRow:
    step: str
    title: str
    state: str = "pending"
    detail: str = ""
    destructive: bool = False


class Checklist(Static):
    DEFAULT_CSS = "Checklist { height: auto; }"

    def __init__(self, *, id: str | None = None, hide_empty: bool = False) -> None:
        super().__init__("", id=id)
        self.rows: dict[str, StepRow] = {}
        self.hide_empty = hide_empty
        if hide_empty:
            self.display = False

    def reset(self) -> None:
        self.rows.clear()
        self._render_rows()

    def apply(self, event: Event) -> None:
        """Fold one core event into the rows and redraw."""
        if isinstance(event, PlanShown):
            for step in event.steps:
                sid = str(step.get("id", ""))
                if sid not in self.rows:
                    self.rows[sid] = StepRow(sid, str(step.get("title", sid)),
                                             destructive=bool(step.get("destructive")))
        elif isinstance(event, StepStarted):
            row = self.rows.setdefault(event.step, StepRow(event.step, event.title))
            row.state = "running"
            row.title = event.title or row.title
        elif isinstance(event, StepFinished):
            row = self.rows.setdefault(event.step, StepRow(event.step, event.step))
            row.state, row.detail = "done", event.detail
        elif isinstance(event, StepFailed):
            row = self.rows.setdefault(event.step, StepRow(event.step, event.step))
            row.state, row.detail = "failed", event.error
        elif isinstance(event, StepSkipped):
            row = self.rows.setdefault(event.step, StepRow(event.step, event.step))
            row.state, row.detail = "skipped", event.reason
        else:
            return
        self._render_rows()

    def fail_running(self, why: str) -> None:
        for row in self.rows.values():
            if row.state == "running":
                row.state, row.detail = "failed", why
        self._render_rows()

    def states(self) -> dict[str, str]:
        return {sid: row.state for sid, row in self.rows.items()}

    def _render_rows(self) -> None:
        if self.hide_empty:
            self.display = bool(self.rows)
        text = Text()
        if not self.rows:
            text.append("waiting for the plan…", style="dim")
        for i, row in enumerate(self.rows.values()):
            mark, style = MARKS[row.state]
            if i:
                text.append("\n")
            text.append(f"{mark} ", style=style)
            text.append(row.title, style="bold" if row.state == "running" else "")
            if row.destructive:
                text.append(" (destructive)", style="yellow")
            if row.detail:
                text.append(f"  {row.detail}", style="red" if row.state == "failed" else "dim")
        self.update(text)
