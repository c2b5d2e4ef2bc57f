"""The wizard's scan step, part two: what the app needs changed before a first deploy, one
change at a time, each shown as a diff to accept (`a`) or skip (`s`).

First the safe fixes of `cockpit scan --fix` (cockpit.scan.fixes.plan_fixes, one diff per
file, moved secret values masked), then, once those are written, the files a deploy needs and
the project lacks (Dockerfile, .dockerignore from `cockpit generate`), each shown whole before
it is written. Accepted changes are written with `apply_fixes` (atomic, `.orig` backups of
files git could not restore). `ChangeQueue` is the pure part (no Textual); `ChangeReview`
shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Static


@dataclass
class Proposal:
    """One file to change: `change` is a cockpit.scan.fixes.FileChange, `kind` "fix" or
    "generate", `diff` the unified diff shown (secret values masked), `decision` None until
    accepted ("accept") or skipped ("skip")."""

    change: Any
    kind: str
    diff: str
    decision: str | None = None

    @property
    def path(self) -> str:
        return self.change.path


@dataclass
class ChangeQueue:
    """The proposals for the project at `root`, stage by stage: "fixes", then "generate",
    then "done". Deciding the last proposal of a stage writes the accepted ones and loads the
    next stage from a fresh scan (generated files follow the fixed code)."""

    root: Path
    stage: str = "fixes"
    items: list[Proposal] = field(default_factory=list)
    index: int = 0
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    manual: list[str] = field(default_factory=list)  # "id file:line" no fix covers (at first)
    _secrets: list[Any] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._load_fixes()

    @property
    def current(self) -> Proposal | None:
        return self.items[self.index] if self.index < len(self.items) else None

    @property
    def done(self) -> bool:
        return self.stage == "done"

    def decide(self, accept: bool) -> None:
        """Accept or skip the current proposal; the stage's last decision writes."""
        item = self.current
        if item is None:
            return
        item.decision = "accept" if accept else "skip"
        if not accept:
            self.skipped.append(item.path)
        self.index += 1
        if self.index < len(self.items):
            return
        accepted = [i.change for i in self.items if i.decision == "accept"]
        if accepted:
            from cockpit.changes import write_changes

            report = write_changes(self.root, accepted, self._secrets)
            self.written += report.written
            self.backups += report.backups
            self.skipped += report.skipped
        self._secrets = []
        if self.stage == "fixes":
            self._load_artifacts()
        else:
            self._finish()

    def _load_fixes(self) -> None:
        from cockpit.changes import fix_plan
        from cockpit.scan import scan
        from cockpit.scan.fixes import FixPlan

        plan = fix_plan(self.root, scan(self.root))
        self.manual = [f"{f.id} {f.where or ''}".strip() for f in plan.manual]
        self._secrets = list(plan.secrets)  # only to mask their values in the diffs
        self.stage, self.index = "fixes", 0
        self.items = [Proposal(ch, "fix", FixPlan(self.root, [ch], plan.secrets).diff())
                      for ch in plan.changes]
        if not self.items:
            self._load_artifacts()

    def _load_artifacts(self) -> None:
        from cockpit.changes import missing_artifacts
        from cockpit.scan import scan
        from cockpit.scan.fixes import FixPlan

        self.stage, self.index = "generate", 0
        self.items = [Proposal(ch, "generate", FixPlan(self.root, [ch]).diff())
                      for ch in missing_artifacts(self.root, scan(self.root))]
        if not self.items:
            self._finish()

    def _finish(self) -> None:
        self.stage, self.index, self.items = "done", 0, []


class ChangesDecided(Message):
    """A stage's proposals were all accepted or skipped and the accepted ones written;
    `final`: no stage is left (the scan step may go on)."""

    def __init__(self, final: bool) -> None:
        super().__init__()
        self.final = final


class ChangeReview(Vertical, can_focus=True):
    """The current proposal of a ChangeQueue: what and why, its diff, Accept (a) and Skip (s)."""

    BINDINGS = [
        Binding("a", "accept", "Accept change", id="wizard.accept"),
        Binding("s", "skip", "Skip change", id="wizard.skip"),
    ]
    DEFAULT_CSS = """
    ChangeReview { height: auto; border: round $panel-lighten-2; padding: 0 1; margin-top: 1; }
    ChangeReview:focus { border: round $accent; }
    ChangeReview #change-diff { height: auto; max-height: 12; }
    ChangeReview .buttons { height: auto; }
    ChangeReview .buttons Button { margin-right: 2; }
    """

    def __init__(self, queue: ChangeQueue, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.queue = queue

    def compose(self) -> ComposeResult:
        yield Static("", id="change-title")
        with VerticalScroll(id="change-diff"):
            yield Static("", id="change-text")
        with Horizontal(classes="buttons", id="change-buttons"):
            yield Button("Accept (a)", id="change-accept", variant="success")
            yield Button("Skip (s)", id="change-skip")

    def on_mount(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        q = self.queue
        item = q.current
        self.query_one("#change-buttons").display = item is not None
        self.query_one("#change-diff").display = item is not None
        title = self.query_one("#change-title", Static)
        if item is None:
            self.border_title = "Changes"
            title.update(self._summary())
            return
        what = "fix" if item.kind == "fix" else ("new file" if item.change.new else "generate")
        self.border_title = (f"{'Fix' if q.stage == 'fixes' else 'Generate'} "
                             f"{q.index + 1} of {len(q.items)}")
        reasons = "; ".join(item.change.reasons)
        title.update(Text.assemble((item.path, "bold"), (f"  {what}", "cyan"),
                                   (f": {reasons}" if reasons else "", "dim")))
        body = Syntax(item.diff, "diff", theme="ansi_dark", line_numbers=False, word_wrap=True)
        self.query_one("#change-text", Static).update(body)

    def _summary(self) -> Group:
        q = self.queue
        lines = []
        if not (q.written or q.skipped):
            lines.append(Text("Nothing to change: the scan proposes no fix and no file is "
                              "missing.", style="green"))
        if q.written:
            lines.append(Text.assemble(("written: ", "bold green"), ", ".join(q.written)))
        if q.skipped:
            lines.append(Text.assemble(("skipped: ", "bold yellow"), ", ".join(q.skipped)))
        if q.backups:
            lines.append(Text.assemble(("backups: ", "dim"), ", ".join(q.backups)))
        lines.append(Text("What no fix covers is in the findings above.", style="dim"))
        return Group(*lines)

    def action_accept(self) -> None:
        self._decide(True)

    def action_skip(self) -> None:
        self._decide(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("change-accept", "change-skip"):
            event.stop()
            self._decide(event.button.id == "change-accept")

    def _decide(self, accept: bool) -> None:
        if self.queue.done:
            return
        stage = self.queue.stage
        self.queue.decide(accept)
        self.refresh_view()
        self.call_after_refresh(self.scroll_visible, animate=False)
        if self.queue.stage != stage:
            self.post_message(ChangesDecided(final=self.queue.done))
