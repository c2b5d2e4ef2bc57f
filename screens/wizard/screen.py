"""The first-deploy wizard. Six pages in a ContentSwitcher (so back and forward keep every
entry); each blocking check (preflight, keyring, DNS/TLS, plan, deploy) runs in a thread
worker and reports back by message. The result is a validated, commented cockpit.toml."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from cockpit.screens.base import CockpitScreen
from cockpit.screens.messages import CoreEvent, RunFinished
from cockpit.screens.widgets.checklist import Checklist
from cockpit.screens.widgets.run_panel import RunPanel
from cockpit.screens.wizard.changes import ChangeQueue, ChangeReview, ChangesDecided
from cockpit.screens.wizard.draft import ENVS, PROVIDERS, Draft, lab_defaults, scan_project
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import (
    Button,
    ContentSwitcher,
    Footer,
    Header,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
)

from cockpit.template import slug

PAGES = [("scan", "Scan"), ("provider", "Provider"), ("secrets", "Secrets"),
         ("domain", "Domain & TLS"), ("review", "Review & deploy"), ("promote", "Promote")]

FIELDS: dict[str, list[tuple[str, str, str]]] = {  # provider -> (key, label, placeholder)
    "vps": [("host", "Host", "server.example.com"), ("user", "SSH user", "deploy"),
            ("ssh_port", "SSH port", "22"), ("identity_file", "Private key", "~/.ssh/id_ed25519")],
    "kubernetes": [("context", "Kube context", "(current context)"),
                   ("namespace_staging", "Namespace (staging)", ""),
                   ("namespace_prod", "Namespace (prod)", "")],
    "fly": [("org", "Fly org", "personal"), ("app_staging", "Fly app (staging)", ""),
            ("app_prod", "Fly app (prod)", "")],
}


@dataclasses.dataclass
class Checked(Message):
    """Preflight findings for the provider settings with this fingerprint."""

    fingerprint: str
    findings: list[Any]


@dataclasses.dataclass
class SecretsKnown(Message):
    status: dict[str, dict[str, bool]]  # env -> name -> is_set


@dataclasses.dataclass
class DomainChecked(Message):
    env: str
    status: Any


class WizardScreen(CockpitScreen):
    TITLE = "First deploy"
    BINDINGS = [
        Binding("ctrl+n", "next", "Next", id="wizard.next"),
        Binding("ctrl+b", "back", "Back", id="wizard.back"),
        Binding("escape", "back", "Back", show=False, id="wizard.escape"),
    ]
    DEFAULT_CSS = """
    WizardScreen #body { height: 1fr; }
    WizardScreen #steps { width: 24; padding: 1 1; border-right: vkey $panel-lighten-2; }
    WizardScreen #pages { width: 1fr; padding: 0 1; }
    WizardScreen .page { height: 1fr; }
    WizardScreen .field { height: auto; margin-top: 1; }
    WizardScreen .field Label { width: 22; padding: 1 1 0 0; }
    WizardScreen .field Input { width: 1fr; }
    WizardScreen .hint { color: $text-muted; margin-top: 1; }
    WizardScreen .result { margin-top: 1; height: auto; }
    WizardScreen .secret-row { height: 3; }
    WizardScreen .secret-row Label { width: 30; padding: 1 1 0 0; }
    WizardScreen .secret-row Input { width: 1fr; }
    WizardScreen .secret-row .state { width: 12; padding: 1 0 0 1; }
    WizardScreen .buttons { height: auto; margin-top: 1; }
    WizardScreen .buttons Button { margin-right: 2; }
    WizardScreen #toml { height: 12; border: round $panel-lighten-2; }
    WizardScreen #nav { height: 3; align-horizontal: right; padding: 0 1; }
    WizardScreen #nav Button { margin-left: 2; }
    WizardScreen .provider-fields { height: auto; display: none; }
    WizardScreen .provider-fields.shown { display: block; }
    WizardScreen Checklist { border: round $panel-lighten-2; padding: 0 1; height: auto; }
    """

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root).resolve()
        self.summary = scan_project(self.root)
        self.changes = ChangeQueue(self.root)  # fixes, then missing files: accept or skip each
        self.draft = Draft(root=self.root, name=slug(self.root.name),
                           port=self.summary.port or 8000,
                           health_path=self.summary.health_path or "/up",
                           secrets=list(self.summary.secret_vars), lab=lab_defaults())
        if self.draft.lab:
            self.draft.vps.update(host=self.draft.lab["host"], user=self.draft.lab["user"],
                                  ssh_port=self.draft.lab["ssh_port"],
                                  identity_file=self.draft.lab.get("ssh_key", ""))
        self.draft.domains = self.draft.default_domains()
        self.page = 0
        self.checked: str | None = None  # fingerprint of the provider settings that passed
        self.checks = 0  # preflight results received (tests wait on it)
        self.domain_status: dict[str, Any] = {}  # env -> DomainStatus of the last check
        self.secret_state: dict[str, dict[str, bool]] = {}
        self.deployed = False
        self.promoted = False
        self._ctx_text: str | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal(id="body"):
            yield Static("", id="steps")
            with ContentSwitcher(initial="scan", id="pages"):
                with VerticalScroll(id="scan", classes="page"):
                    yield Static(self._scan_text(), id="scan-summary")
                    yield ChangeReview(self.changes, id="changes")
                    yield from _field("name", "App name", self.draft.name)
                    yield from _field("port", "Port", str(self.draft.port))
                    yield from _field("health", "Health path", self.draft.health_path)
                with VerticalScroll(id="provider", classes="page"):
                    yield Label("Where should it run?")
                    with RadioSet(id="provider-choice"):
                        for name in _provider_names():
                            yield RadioButton(name, value=name == self.draft.provider, name=name,
                                              id=f"provider-{name}")
                    yield Static("", id="provider-help", classes="hint")
                    for provider, fields in FIELDS.items():
                        with Vertical(id=f"fields-{provider}", classes="provider-fields"):
                            for key, label, placeholder in fields:
                                value = self._initial(provider, key)
                                yield from _field(f"{provider}-{key}", label, value, placeholder)
                    with Horizontal(classes="buttons"):
                        yield Button("Check (preflight)", id="check", variant="primary")
                        yield Button("Prepare the target (setup)", id="setup")
                    yield Static("", id="preflight", classes="result")
                    yield Checklist(id="setup-steps", hide_empty=True)
                with VerticalScroll(id="secrets", classes="page"):
                    yield Static("Secret names the app reads (comma separated). Values go "
                                 "straight to the OS keyring; they are never shown again.",
                                 classes="hint")
                    yield from _field("secret-names", "Names", ", ".join(self.draft.secrets))
                    yield Vertical(id="secret-rows")
                with VerticalScroll(id="domain", classes="page"):
                    yield Static("A domain per environment (optional). Check looks up DNS, "
                                 "then follows the certificate as it is issued.", classes="hint")
                    for env in ENVS:
                        yield from _field(f"domain-{env}", f"Domain ({env})",
                                          self.draft.domains.get(env, ""), "app.example.com")
                        with Horizontal(classes="buttons"):
                            yield Button(f"Check {env}", id=f"domain-check-{env}")
                        yield Checklist(id=f"domain-steps-{env}", hide_empty=True)
                with Vertical(id="review", classes="page"):
                    with VerticalScroll(id="toml"):
                        yield Static("", id="toml-text")
                    with Horizontal(classes="buttons"):
                        yield Button("Show the plan", id="plan")
                        yield Button("Write cockpit.toml and deploy staging", id="deploy",
                                     variant="warning")
                    yield RunPanel(id="review-run")
                with Vertical(id="promote", classes="page"):
                    yield Static("", id="promote-diff")
                    yield from _field("typed", "Type prod", "", "prod")
                    with Horizontal(classes="buttons"):
                        yield Button("Promote staging → prod", id="promote-go",
                                     variant="warning", disabled=True)
                        yield Button("Finish: open the dashboard", id="finish",
                                     variant="success")
                    yield RunPanel(id="promote-run")
        with Horizontal(id="nav"):
            yield Button("Back", id="back")
            yield Button("Next", id="next", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.root.name
        self._show_provider_fields()
        self._go(0)
        if not self.changes.done:
            review = self.query_one("#changes", ChangeReview)
            review.focus()
            self.call_after_refresh(review.scroll_visible, animate=False)

    def _initial(self, provider: str, key: str) -> str:
        if provider == "vps":
            return str(self.draft.vps.get(key) or "")
        name = self.draft.name
        defaults = {"namespace_staging": f"{name}-staging", "namespace_prod": f"{name}-prod",
                    "app_staging": f"{name}-staging", "app_prod": f"{name}-prod"}
        return defaults.get(key, "")

    def _scan_text(self) -> Text:
        s = self.summary
        text = Text()
        text.append("What the scan found\n", style="bold")
        what = s.stack + (f" ({s.framework})" if s.framework else "")
        text.append(f"  app: {what}\n")
        text.append(f"  port: {s.port or 'not found (default 8000)'}\n")
        text.append(f"  health path: {s.health_path or 'not found (default /up)'}\n")
        text.append(f"  Dockerfile: {'yes' if s.has_dockerfile else 'no'}\n")
        text.append(f"  reads: {', '.join(s.env_vars) or 'no environment variables'}\n")
        if s.secret_vars:
            text.append(f"  secrets: {', '.join(s.secret_vars)}\n", style="yellow")
        if s.findings:
            text.append(f"  findings ({len(s.findings)}):\n", style="bold")
            for finding in s.findings[:6]:
                text.append(f"    {finding}\n", style="red" if finding.startswith("error")
                            else "yellow")
        else:
            text.append("  findings: none\n", style="green")
        return text

    def on_changes_decided(self, message: ChangesDecided) -> None:
        """A stage's accepted changes are written: scan again, so the summary, port, health
        path and secret names follow the fixed code (fields still holding the old scan's value
        are updated)."""
        old = self.summary
        self.summary = scan_project(self.root)
        self.query_one("#scan-summary", Static).update(self._scan_text())
        new = self.summary
        for field_id, before, after in (("port", old.port or 8000, new.port),
                                        ("health", old.health_path or "/up", new.health_path)):
            widget = self.query_one(f"#{field_id}", Input)
            if after and widget.value.strip() == str(before):
                widget.value = str(after)
        added = [n for n in new.secret_vars if n not in self.draft.secrets]
        if added:
            self.draft.secrets += added
            self.query_one("#secret-names", Input).value = ", ".join(self.draft.secrets)
        written = len(self.changes.written)
        if not message.final:
            return
        self.query_one("#name", Input).focus()
        self.notify(f"{written} file(s) written; Next (ctrl+n) goes on" if written
                    else "nothing written; Next (ctrl+n) goes on")

    # ------------------------------------------------------------------ navigation

    def _go(self, page: int) -> None:
        self.page = max(0, min(page, len(PAGES) - 1))
        key = PAGES[self.page][0]
        self.query_one(ContentSwitcher).current = key
        text = Text()
        for i, (_, label) in enumerate(PAGES):
            mark, style = ("▶", "bold") if i == self.page else (
                ("✓", "green") if i < self.page else ("○", "dim"))
            text.append(f"{mark} {i + 1} {label}\n", style=style)
        self.query_one("#steps", Static).update(text)
        self.query_one("#back", Button).disabled = self.page == 0
        self.query_one("#next", Button).disabled = self.page == len(PAGES) - 1
        getattr(self, f"_enter_{key}", lambda: None)()

    def action_next(self) -> None:
        problem = self._blocker()
        if problem:
            self.notify(problem, severity="warning")
            return
        self._go(self.page + 1)

    def action_back(self) -> None:
        if self.page == 0:
            return
        self._go(self.page - 1)

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    def _blocker(self) -> str | None:
        key = PAGES[self.page][0]
        if key == "scan":
            if not self.changes.done:
                left = len(self.changes.items) - self.changes.index
                return (f"accept (a) or skip (s) each proposed change first ({left} left in "
                        f"this step)")
            return self._read_scan()
        if key == "provider":
            self._read_provider()
            if self.checked != self._fingerprint():
                return "run the preflight check first (it must pass to go on)"
        if key == "secrets":
            missing = [n for n, ok in self.secret_state.get("staging", {}).items() if not ok]
            if missing:
                return f"staging still needs: {', '.join(missing)}"
        if key == "review" and not self.deployed:
            return "deploy staging first"
        return None

    # ------------------------------------------------------------------ reading the form

    def _value(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value.strip()

    def _read_scan(self) -> str | None:
        name = self._value("name")
        if slug(name) != name:
            return f"the app name must be lowercase a-z, 0-9 and '-' (like {slug(name)!r})"
        try:
            port = int(self._value("port"))
            if not 1 <= port <= 65535:
                raise ValueError
        except ValueError:
            return "the port must be a number 1-65535"
        health = self._value("health")
        if not health.startswith("/"):
            return "the health path starts with '/'"
        self.draft.name, self.draft.port, self.draft.health_path = name, port, health
        return None

    def _read_provider(self) -> None:
        radio = self.query_one("#provider-choice", RadioSet)
        if radio.pressed_button is not None:
            self.draft.provider = str(radio.pressed_button.name)
        for provider, fields in FIELDS.items():
            target = self.draft.vps if provider == "vps" else (
                self.draft.kube if provider == "kubernetes" else self.draft.fly)
            for key, _, _ in fields:
                target[key] = self._value(f"{provider}-{key}")

    def _fingerprint(self) -> str:
        d = self.draft
        return repr((d.name, d.provider, sorted(d.vps.items()), sorted(d.kube.items()),
                     sorted(d.fly.items())))

    def _read_domains(self) -> None:
        for env in ENVS:
            self.draft.domains[env] = self._value(f"domain-{env}")

    def _read_secret_names(self) -> None:
        raw = self._value("secret-names")
        names = [n.strip() for n in raw.replace(" ", ",").split(",") if n.strip()]
        self.draft.secrets = list(dict.fromkeys(names))

    # ------------------------------------------------------------------ the session's context

    def _use_draft(self) -> Any:
        """Point the session at the draft config (validated), rebuilt when the draft changed."""
        text = self.draft.render()
        if text != self._ctx_text or self.session._ctx is None:
            from cockpit.provider import Context, Options
            from cockpit.secrets import SecretStore
            from cockpit.state import Store

            cfg = self.draft.config()
            old = self.session._ctx
            trust = [t for t in [os.environ.get("COCKPIT_LAB_SSH_HOSTKEY_SHA256", "")] if t]
            if old is not None and old.config.app.name == cfg.app.name:
                store, clock = old.store, old.clock
                options = dataclasses.replace(old.options, trust_host=old.options.trust_host
                                              or trust)
            else:
                store, clock = Store.open(cfg.app.name), self.session.clock
                options = Options(ask=self.session._ask, trust_host=trust)
            ctx = Context(config=cfg, store=store, secrets=SecretStore(cfg.app.name),
                          options=options, clock=clock)
            self.session.reload(ctx)
            self._ctx_text = text
        return self.session.ctx

    # ------------------------------------------------------------------ provider page

    @on(RadioSet.Changed, "#provider-choice")
    def _provider_changed(self) -> None:
        self._read_provider()
        self._show_provider_fields()

    def _show_provider_fields(self) -> None:
        for provider in FIELDS:
            self.query_one(f"#fields-{provider}").set_class(provider == self.draft.provider,
                                                            "shown")
        help_text = PROVIDERS.get(self.draft.provider, "a provider plugin")
        self.query_one("#provider-help", Static).update(f"{self.draft.provider}: {help_text}")

    @on(Button.Pressed, "#check")
    def _check(self) -> None:
        self._start_check(setup=False)

    @on(Button.Pressed, "#setup")
    def _setup(self) -> None:
        self._start_check(setup=True)

    def _start_check(self, setup: bool) -> None:
        """Preflight both environments; with `setup`, prepare the target first (idempotent:
        edge, switch, directories, namespace: whatever the provider needs once)."""
        self._read_provider()
        try:
            self._use_draft()
        except Exception as exc:
            from cockpit.screens.widgets.error import summary

            self.query_one("#preflight", Static).update(Text(summary(exc), style="red"))
            return
        if setup:  # a protected environment (prod) is set up only after its name is typed
            from cockpit.screens.run import confirm_protected

            from cockpit.pipeline import setup_changes

            session = self.session
            confirm_protected(self.app, list(ENVS), "Set up",  # type: ignore[arg-type]
                              lambda env: setup_changes(session.env(env)),
                              lambda typed: self._run_check(True, typed))
        else:
            self._run_check(False, {})

    def _run_check(self, setup: bool, typed: dict[str, str]) -> None:
        fingerprint = self._fingerprint()
        session = self.session
        self.query_one("#preflight", Static).update(Text("checking…", style="dim"))

        steps = self.query_one("#setup-steps", Checklist)
        if setup:
            steps.reset()

        def emit(event) -> None:
            self.post_message(CoreEvent(event, run="setup"))

        def check() -> None:
            if setup:
                for env in ENVS:
                    session.setup(env, emit, typed=typed.get(env))
            findings = []
            for env in ENVS:
                findings += [(env, f) for f in session.preflight(env)]
            self.post_message(Checked(fingerprint, findings))

        self.run_worker(check, thread=True, exclusive=True, exit_on_error=False,
                        group="wizard",
                        description="setting up the target" if setup else "preflight")

    def on_checked(self, message: Checked) -> None:
        self.checks += 1
        errors = [f for _, f in message.findings if f.severity == "error"]
        text = Text()
        for env, finding in message.findings:
            style = {"error": "red", "warning": "yellow"}.get(finding.severity, "green")
            mark = "✗" if finding.severity == "error" else ("!" if finding.severity ==
                                                            "warning" else "✓")
            text.append(f"{mark} {env}: {finding.message}", style=style)
            if finding.fix and finding.severity != "info":
                text.append(f"  → {finding.fix}", style="dim")
            text.append("\n")
        if errors:
            hint = ("Prepare the target (setup) fixes what setup can; " if any(
                "setup" in (f.fix or "") for f in errors) else "")
            text.append(f"{hint}Fix the errors above, then check again.", style="bold red")
            self.checked = None
        else:
            text.append("Preflight passed: Next (ctrl+n) goes on.", style="bold green")
            self.checked = message.fingerprint
        self.query_one("#preflight", Static).update(text)

    # ------------------------------------------------------------------ secrets page

    def _enter_secrets(self) -> None:
        self._rebuild_secret_rows()

    @on(Input.Submitted, "#secret-names")
    def _names_submitted(self) -> None:
        self._rebuild_secret_rows()

    def _rebuild_secret_rows(self) -> None:
        self._read_secret_names()
        self._use_draft()
        rows = self.query_one("#secret-rows", Vertical)
        rows.remove_children()
        widgets = []
        for env in ENVS:
            for name in self.draft.secrets:
                row = Horizontal(
                    Label(f"{env} · {name}"),
                    Input(password=True, placeholder="type the value, enter saves",
                          id=f"secret-{env}-{name}", classes="secret-value"),
                    Static("…", classes="state", id=f"state-{env}-{name}"),
                    classes="secret-row")
                widgets.append(row)
        if not widgets:
            widgets.append(Static("No secrets: the app reads none (add names above).",
                                  classes="hint"))
        rows.mount_all(widgets)
        self._refresh_secret_state()

    def _refresh_secret_state(self) -> None:
        session = self.session

        def read() -> None:
            status = {env: {s.name: s.is_set for s in session.secret_status(env)}
                      for env in ENVS}
            self.post_message(SecretsKnown(status))

        self.run_worker(read, thread=True, exclusive=True, exit_on_error=False,
                        group="secrets", description="reading the keyring")

    def on_secrets_known(self, message: SecretsKnown) -> None:
        self.secret_state = message.status
        for env, names in message.status.items():
            for name, is_set in names.items():
                for state in self.query(f"#state-{env}-{name}"):
                    state.update(Text("✓ set", style="green") if is_set
                                 else Text("missing", style="yellow"))

    @on(Input.Submitted, ".secret-value")
    def _secret_submitted(self, event: Input.Submitted) -> None:
        value = event.value
        event.input.value = ""  # the typed value leaves the widget at once
        if not value:
            return
        _, env, name = (event.input.id or "").split("-", 2)
        session = self.session
        self.query_one(f"#state-{env}-{name}", Static).update(Text("saving…", style="dim"))

        held = [value]  # dropped as soon as the keyring has it

        def save() -> None:
            try:
                session.set_secret(env, name, held[0])
            finally:
                held.clear()

        self.run_worker(save, thread=True, exit_on_error=False, group="secrets",
                        description=f"saving {name} for {env}")

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState

        if event.worker.group == "secrets" and event.state == WorkerState.SUCCESS and (
                event.worker.description or "").startswith("saving"):
            self._refresh_secret_state()

    # ------------------------------------------------------------------ domain page

    @on(Button.Pressed, "#domain-check-staging")
    def _check_staging(self) -> None:
        self._check_domain("staging")

    @on(Button.Pressed, "#domain-check-prod")
    def _check_prod(self) -> None:
        self._check_domain("prod")

    def _check_domain(self, env: str) -> None:
        self._read_domains()
        domain = self.draft.domains.get(env)
        if not domain:
            self.notify(f"no domain for {env}: it is optional", severity="information")
            return
        self._use_draft()
        from cockpit.screens.run import confirm_protected

        from cockpit.pipeline import domain_changes, setup_changes

        session = self.session

        def changes(name: str) -> str:
            env_ = session.env(name)
            return f"{setup_changes(env_)}, and {domain_changes(env_, domain)}"

        # a protected environment (prod): setup and the domain change only after its name is typed
        confirm_protected(self.app, [env], "Set up the domain of",  # type: ignore[arg-type]
                          changes, lambda typed: self._run_domain(env, domain, typed.get(env)))

    def _run_domain(self, env: str, domain: str, typed: str | None) -> None:
        session = self.session
        steps = self.query_one(f"#domain-steps-{env}", Checklist)
        steps.reset()

        def emit(event) -> None:
            self.post_message(CoreEvent(event, run=f"domain:{env}"))

        def check() -> None:
            session.setup(env, emit, typed=typed)
            status = session.configure_domain(env, domain, emit, typed=typed)
            self.post_message(DomainChecked(env, status))

        self.run_worker(check, thread=True, exclusive=True, exit_on_error=False,
                        group=f"domain-{env}", description=f"domain of {env}")

    def on_core_event(self, message: CoreEvent) -> None:
        if message.run == "setup":
            self.query_one("#setup-steps", Checklist).apply(message.event)
        elif message.run.startswith("domain:"):
            env = message.run.split(":", 1)[1]
            self.query_one(f"#domain-steps-{env}", Checklist).apply(message.event)

    def on_domain_checked(self, message: DomainChecked) -> None:
        status = message.status
        self.domain_status[message.env] = status
        dns = "ok" if status.dns and status.dns.ok else (status.dns.error if status.dns else "?")
        tls = (f"issued by {status.tls.issuer}, {status.tls.days_left} days left"
               if status.tls and status.tls.ok else (status.tls.error if status.tls else "none"))
        ok = bool(status.tls and status.tls.ok)
        self.notify(f"{message.env}: DNS {dns}; certificate {tls}", timeout=6,
                    severity="information" if ok else "warning")

    # ------------------------------------------------------------------ review page

    def _enter_review(self) -> None:
        self._read_domains()
        try:
            self._use_draft()
            text = self.draft.render()
        except Exception as exc:
            from cockpit.screens.widgets.error import summary

            self.query_one("#toml-text", Static).update(Text(summary(exc), style="red"))
            return
        from rich.syntax import Syntax

        self.query_one("#toml-text", Static).update(
            Syntax(text, "toml", theme="ansi_dark", line_numbers=False, word_wrap=False))

    @on(Button.Pressed, "#plan")
    def _plan(self) -> None:
        self._use_draft()
        session = self.session
        self.query_one("#review-run", RunPanel).start(
            "Plan for staging", lambda emit: session.plan("staging", emit), "plan staging",
            done_text="plan ready: nothing has changed yet")

    @on(Button.Pressed, "#deploy")
    def _deploy(self) -> None:
        from cockpit.config import write_atomic

        panel = self.query_one("#review-run", RunPanel)
        if panel.running:
            return
        self._read_domains()
        self._use_draft()
        text = self.draft.render()
        self.draft.config()  # validated again right before the write
        write_atomic(self.draft.path, text)
        self.notify(f"wrote {self.draft.path}")
        from cockpit.screens.run import confirm_protected

        from cockpit.pipeline import setup_changes

        session = self.session

        def start(typed: dict[str, str]) -> None:
            def body(emit):
                session.setup("staging", emit, typed=typed.get("staging"))
                return session.deploy("staging", emit, typed=typed.get("staging"))

            worker = panel.start("Deploy staging", body, "Deploy staging")
            self.app.running = worker  # type: ignore[attr-defined]

        # staging asks only when cockpit.toml says `protected = true` for it
        confirm_protected(self.app, ["staging"], "Deploy",  # type: ignore[arg-type]
                          lambda env: f"{setup_changes(session.env(env))}, then deploy a new "
                          "build of the app", start)

    def on_run_finished(self, message: RunFinished) -> None:
        if message.error is not None:
            return
        if message.run == "Deploy staging":
            self.deployed = True
            self.notify("staging is live: Next (ctrl+n) to promote to prod")
        elif message.run == "Promote staging → prod":
            self.promoted = True
            self.notify("prod is live")

    # ------------------------------------------------------------------ promote page

    def _enter_promote(self) -> None:
        from cockpit.screens.run import promote_changes
        from rich.table import Table

        table = Table(box=None, title="What differs in prod", title_justify="left")
        table.add_column("", style="bold")
        table.add_column("staging", style="cyan")
        table.add_column("prod", style="magenta")
        for what, old, new in promote_changes(self.app, "staging", "prod"):  # type: ignore
            table.add_row(what, old, new)
        self.query_one("#promote-diff", Static).update(table)
        self.query_one("#typed", Input).focus()

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#promote-go", Button).disabled = event.value != "prod"

    @on(Button.Pressed, "#promote-go")
    def _promote(self) -> None:
        panel = self.query_one("#promote-run", RunPanel)
        if panel.running or self._value("typed") != "prod":
            return
        session = self.session

        def body(emit):  # the name typed on this page confirms prod's setup and the promote
            session.setup("prod", emit, typed="prod")
            return session.promote("staging", "prod", emit, typed="prod")

        worker = panel.start("Promote staging → prod", body, "Promote staging → prod")
        self.app.running = worker  # type: ignore[attr-defined]

    @on(Button.Pressed, "#finish")
    def _finish(self) -> None:
        if not self.draft.path.exists():
            self.notify("deploy staging first: that writes cockpit.toml", severity="warning")
            return
        self.app.wizard_done()  # type: ignore[attr-defined]


def _field(field_id: str, label: str, value: str, placeholder: str = "") -> ComposeResult:
    with Horizontal(classes="field"):
        yield Label(label)
        yield Input(value, placeholder=placeholder, id=field_id)


def _provider_names() -> list[str]:
    from cockpit.plugins import provider_names

    names = [n for n in ("vps", "kubernetes", "fly") if n in provider_names()]
    return names + [n for n in provider_names() if n not in names]
