"""Approvals: plans waiting for a person before they may run on a protected environment.

Lists the unexpired, unapplied plans for protected environments (an agent's or `cockpit plan`'s),
shows the selected one (steps, destructive ones marked, what changes, expiry), and `a` asks for
the environment's name to be typed, as `cockpit approve PLAN_ID` does on a terminal. A rollback
plan onto another schema head is listed too (any environment): its detail names the migrations
in between, and typing the name there approves it with the schema accepted (`--accept-schema`).
The approval is bound to the plan's hash, single use and expiring (cockpit.plans).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cockpit.screens.base import CockpitScreen
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static


@dataclass
class PlansLoaded(Message):
    plans: list[Any]
    approvals: dict[str, dict[str, Any]]


class ApprovalsScreen(CockpitScreen):
    TITLE = "Approvals"
    BINDINGS = [
        Binding("escape", "back", "Back", id="approvals.back"),
        Binding("a", "approve", "Approve", id="approvals.approve",
                tooltip="type the environment's name to approve the selected plan"),
        Binding("ctrl+r", "reload", "Reload", id="approvals.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.plans: list[Any] = []
        self.approvals: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Static("loading plans…", id="status")
        table: DataTable = DataTable(id="approvals-table", cursor_type="row", zebra_stripes=True)
        table.add_column("plan", key="plan")
        table.add_column("env", key="env")
        table.add_column("action", key="action")
        table.add_column("made by", key="by")
        table.add_column("expires in", key="expires")
        table.add_column("approval", key="approval")
        yield table
        yield Static("", id="plan-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    def _now(self) -> float:
        return self.session.ctx.now()

    def action_reload(self) -> None:
        self.run_worker(self._load, thread=True, exclusive=True, group="approvals")

    def _load(self) -> None:
        from cockpit import plans

        ctx = self.session.ctx
        found = plans.pending(ctx)
        approvals = {p.plan_id: plans.approval_status(ctx, p.plan_id) for p in found}
        self.post_message(PlansLoaded(found, approvals))

    def on_plans_loaded(self, message: PlansLoaded) -> None:
        self.plans, self.approvals = message.plans, message.approvals
        table = self.query_one(DataTable)
        table.clear()
        now = self._now()
        for plan in self.plans:
            left = max(0, int(plan.expires_at - now))
            state = "approved" if self.approvals[plan.plan_id]["approved"] else "waiting"
            table.add_row(plan.plan_id, plan.env, plan.action,
                          (plan.client or plan.created_by)[:24], f"{left // 60}m{left % 60:02d}s",
                          state, key=plan.plan_id)
        self.query_one("#status", Static).update(
            f"{len(self.plans)} plan(s) wait for a person's approval; select one and press a"
            if self.plans else "no plan waits for an approval")
        self._detail()

    def _selected(self) -> Any | None:
        table = self.query_one(DataTable)
        if not self.plans or table.cursor_row is None or table.cursor_row >= len(self.plans):
            return None
        return self.plans[table.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _detail(self) -> None:
        from cockpit import plans
        from cockpit.output import inert

        plan = self._selected()
        text = "\n".join(inert(line) for line in plans.describe(plan, self._now())) if plan else ""
        self.query_one("#plan-detail", Static).update(text)

    def action_approve(self) -> None:
        from cockpit.screens.widgets.prompt import Ask

        plan = self._selected()
        if plan is None:
            self.notify("no plan selected", severity="warning")
            return

        def typed(value: str | None) -> None:
            if value is None:
                return
            self.run_worker(lambda: self._approve(plan.plan_id, value), thread=True,
                            group="approvals")

        if plan.schema_differs:
            question = (f"Plan {plan.plan_id} rolls back onto another schema head (a rollback "
                        "undoes no migration). Type the environment name "
                        f"({plan.env}) to accept the schema and approve it:")
        else:
            question = f"Type the environment name ({plan.env}) to approve plan {plan.plan_id}:"
        self.app.push_screen(Ask(question), typed)

    def _approve(self, plan_id: str, typed: str) -> None:
        from cockpit import plans
        from cockpit.errors import CockpitError

        try:
            plan = plans.get(self.session.ctx, plan_id)
            status = plans.approve(self.session.ctx, plan_id, typed,
                                   accept_schema=plan.schema_differs)
        except CockpitError as exc:
            self.app.call_from_thread(self.notify, exc.message, severity="error", timeout=6)
        else:
            until = time.strftime("%H:%M:%S", time.localtime(status["approval_expires_at"]))
            self.app.call_from_thread(self.notify, f"approved {plan_id} (single use, until "
                                      f"{until})", timeout=4)
        self._load()

    def action_back(self) -> None:
        self.app.pop_screen()
