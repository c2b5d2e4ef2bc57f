"""Confirmations: a yes/no modal, and one that shows what changes and may need a typed name."""

from __future__ import annotations

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static


class Confirm(ModalScreen[bool]):
    """y / n / esc, Posting's tiny confirmation."""

    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical { width: 60; height: auto; border: round $warning; background: $panel;
                         padding: 1 2; }
    Confirm Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    Confirm Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="question")
            with Horizontal():
                yield Button(f"{self.no} (n)", id="no")
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class ConfirmChange(ModalScreen["str | None"]):
    """What will change (field: old → new); for a protected environment, type its name.

    `accept` (e.g. a rollback onto another schema head): the `warnings` are shown and a
    checkbox with this label must be ticked before Go is enabled; `accepted` then says it was.
    Dismisses with the typed name (or "" for an unprotected one) to go on, None to cancel.
    """

    DEFAULT_CSS = """
    ConfirmChange { align: center middle; }
    ConfirmChange > Vertical { width: 84; height: auto; border: round $warning;
                               background: $panel; padding: 1 2; }
    ConfirmChange #changes { margin: 1 0; }
    ConfirmChange Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmChange Button { margin-left: 2; }
    ConfirmChange #typed-hint { color: $warning; }
    ConfirmChange .note { width: 1fr; }
    ConfirmChange .warning { width: 1fr; color: $warning; }
    ConfirmChange #accept { margin-top: 1; width: 1fr; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm.cancel")]

    def __init__(self, title: str, changes: list[tuple[str, str, str]], env: str,
                 protected: bool, notes: list[str] | None = None, *,
                 warnings: list[str] | None = None, accept: str | None = None) -> None:
        super().__init__()
        self.heading = title
        self.changes = changes
        self.env = env
        self.protected = protected
        self.notes = notes or []
        self.warnings = warnings or []
        self.accept = accept
        self.accepted = False

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 1), show_edge=False)
        table.add_column("", style="bold")
        table.add_column("now", style="red")
        table.add_column("")
        table.add_column("after", style="green")
        for what, old, new in self.changes:
            table.add_row(what, old, "→" if old != new else "=", new)
        with Vertical() as box:
            box.border_title = self.heading
            yield Static(table, id="changes")
            for note in self.notes:
                yield Static(note, classes="note")
            for line in self.warnings:
                yield Static(line, classes="warning")
            if self.accept:
                yield Checkbox(self.accept, id="accept")
            if self.protected:
                yield Label(f"{self.env!r} is protected: type its name to go on.", id="typed-hint")
                yield Input(placeholder=self.env, id="typed")
            with Horizontal():
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Go (enter)", id="go", variant="warning",
                             disabled=self.protected or bool(self.accept))

    def on_mount(self) -> None:
        if self.accept:
            self.query_one("#accept", Checkbox).focus()
        elif self.protected:
            self.query_one("#typed", Input).focus()
        else:
            self.query_one("#go", Button).focus()

    def _ready(self) -> bool:
        typed_ok = not self.protected or self.query_one("#typed", Input).value == self.env
        return typed_ok and (self.accepted or not self.accept)

    @on(Checkbox.Changed, "#accept")
    def _accepted(self, event: Checkbox.Changed) -> None:
        self.accepted = event.value
        self.query_one("#go", Button).disabled = not self._ready()
        if event.value:  # on to the next thing to do
            (self.query_one("#typed", Input) if self.protected
             else self.query_one("#go", Button)).focus()

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#go", Button).disabled = not self._ready()

    @on(Input.Submitted, "#typed")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value != self.env:
            self.notify(f"type {self.env!r} exactly", severity="warning")
        elif not self._ready():
            self.notify("tick the box above to accept first", severity="warning")
        else:
            self.dismiss(event.value)

    @on(Button.Pressed, "#go")
    def _go(self) -> None:
        if self._ready():
            self.dismiss(self.env if self.protected else "")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
