"""The error panel: what failed, where, what to do, and the chain of causes. No traceback."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cockpit.errors import CockpitError
from cockpit.output import inert
from cockpit.redaction import redact


def describe(error: BaseException) -> Text:
    """The full cause as text a person can act on (every string passes the redactor)."""
    text = Text()
    if isinstance(error, CockpitError):
        text.append(f"{error.kind}: ", style="bold red")
        text.append(redact(error.what) + "\n")
        if error.where:
            text.append("where: ", style="bold")
            text.append(redact(error.where) + "\n")
        if error.hint:
            text.append("what to do: ", style="bold green")
            text.append(redact(error.hint) + "\n")
        for line in getattr(error, "logs", None) or []:
            text.append("  │ " + inert(redact(str(line))) + "\n", style="dim")  # app output
    else:
        text.append(f"{type(error).__name__}: ", style="bold red")
        text.append(redact(str(error)) + "\n")
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    depth = 0
    while cause is not None and depth < 5:
        text.append("caused by ", style="dim")
        text.append(f"{type(cause).__name__}: ", style="bold")
        text.append(redact(str(cause)) + "\n")
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
        depth += 1
    return text


def summary(error: BaseException) -> str:
    if isinstance(error, CockpitError):
        return redact(error.what)
    return redact(f"{type(error).__name__}: {error}")


class ErrorScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ErrorScreen { align: center middle; }
    ErrorScreen > VerticalScroll { width: 90; height: auto; max-height: 80%;
                                   border: round $error; background: $panel; padding: 1 2; }
    """
    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="error.close")]

    def __init__(self, title: str, error: BaseException) -> None:
        super().__init__()
        self.heading = title
        self.error = error

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = self.heading
            box.border_subtitle = "esc closes"
            yield Static(describe(self.error), id="error-text")

    def action_close(self) -> None:
        self.dismiss(None)


class BrokenConfigScreen(ModalScreen[None]):
    """Shown instead of the dashboard when cockpit.toml does not load: where and what to fix."""

    DEFAULT_CSS = """
    BrokenConfigScreen { align: center middle; }
    BrokenConfigScreen > VerticalScroll { width: 90; height: auto; max-height: 80%;
                                          border: round $error; background: $panel;
                                          padding: 1 2; }
    """
    BINDINGS = [Binding("q,escape", "app.quit", "Quit", id="broken.quit")]

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "cockpit.toml does not load"
            box.border_subtitle = "fix it and start cockpit again · q quits"
            yield Static(describe(self.error), id="error-text")
