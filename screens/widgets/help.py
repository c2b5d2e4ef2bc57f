"""The `?` overlay: every key of the screen underneath, read from its active BINDINGS."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def binding_rows(screen: Screen) -> list[tuple[str, str]]:
    """(keys, description) for every active binding with a description, screen first."""
    rows: dict[str, list[str]] = {}
    order: list[str] = []
    for key, active in screen.active_bindings.items():
        binding = active.binding
        description = binding.description or binding.tooltip
        if not description or binding.system:
            continue
        label = binding.key_display or screen.app.get_key_display(binding)
        if description not in rows:
            rows[description] = []
            order.append(description)
        if label not in rows[description]:
            rows[description].append(label)
        del key
    return [(" ".join(rows[d]), d) for d in order]


class HelpScreen(ModalScreen[None]):
    """Lists the keys; any of esc, q or ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 64; height: auto; max-height: 90%;
        border: round $primary; background: $panel; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
    ]

    def __init__(self, target: Screen) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True, justify="right")
        table.add_column()
        self.rows = binding_rows(self.target)
        for keys, description in self.rows:
            table.add_row(Text(keys, style="bold"), description)
        with VerticalScroll() as scroll:
            scroll.border_title = f"Keys · {self.target.title or self.target.__class__.__name__}"
            scroll.border_subtitle = "esc closes"
            yield Static(table, id="help-table")

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)
