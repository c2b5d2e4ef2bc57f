"""`cockpit setup`, `cockpit domain` and `cockpit lock release` on a protected environment:
refused (exit 5) without `--confirm ENV`, saying what would change, with the target untouched;
with the typed name they go on. Protection is `protected = true|false` per environment
(default: prod and production), through the one `pipeline.confirm`. The CLI is run through its
entry function (the memory provider is registered in this process only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cockpit.cli import main
from cockpit.errors import EXIT_REFUSED
from cockpit.models import LockInfo

HELD = LockInfo(holder="alice@laptop", pid=4242, command="cockpit deploy prod",
                acquired_at=1_700_000_000.0, expires_at=1_700_000_600.0)


@pytest.fixture
def calls(project: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every provider call that changes a target, as (what, env); the lock is held everywhere."""
    from memory_provider import MemoryProvider

    seen: list[tuple[str, str]] = []
    real_domain = MemoryProvider.configure_domain
    monkeypatch.setattr(MemoryProvider, "setup",
                        lambda self, env, emit: seen.append(("setup", env.name)) or [])
    monkeypatch.setattr(MemoryProvider, "configure_domain",
                        lambda self, env, domain, emit: seen.append(("domain", env.name))
                        or real_domain(self, env, domain, emit))
    monkeypatch.setattr(MemoryProvider, "lock_status", lambda self, env: HELD, raising=False)
    monkeypatch.setattr(MemoryProvider, "lock_release",
                        lambda self, env: seen.append(("lock release", env.name)), raising=False)
    return seen


COMMANDS = {
    "setup": (["setup"], "setup", "prepare prod's target on the memory provider"),
    "domain": (["domain"], "domain", "point hello.test at prod"),
    "lock release": (["lock", "release"], "lock release", "held by alice@laptop"),
}


def cli(capsys: pytest.CaptureFixture[str], project: Path, *argv: str) -> tuple[int, dict]:
    """Run `cockpit ARGV --json --config PROJECT`; the exit code and the last JSON object."""
    capsys.readouterr()
    code = main([*argv, "--json", "--config", str(project)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    return code, lines[-1]


def _setting(project: Path, env: str, protected: bool) -> None:
    text = project.read_text()
    head = f"[environments.{env}]\n"
    project.write_text(text.replace(head, f"{head}protected = {str(protected).lower()}\n"))


@pytest.mark.parametrize("command", list(COMMANDS))
def test_unconfirmed_prod_is_refused_saying_what_would_change(command, project, calls, capsys):
    argv, action, change = COMMANDS[command]
    before = project.read_text()
    code, doc = cli(capsys, project, *argv, "prod")
    assert code == EXIT_REFUSED == 5
    assert doc["type"] == "error" and doc["kind"] == "refused"
    assert f"{action} on 'prod' needs explicit confirmation: it would" in doc["error"]
    assert change in doc["error"]
    assert "--confirm prod" in doc["hint"]
    assert calls == []
    assert project.read_text() == before

    code, doc = cli(capsys, project, *argv, "prod", "--confirm", "staging")
    assert code == EXIT_REFUSED and "does not match" in doc["error"] and calls == []


@pytest.mark.parametrize("command", list(COMMANDS))
def test_confirmed_prod_goes_on(command, project, calls, capsys):
    argv, action, _ = COMMANDS[command]
    code, doc = cli(capsys, project, *argv, "prod", "--confirm", "prod")
    assert code == 0, doc
    assert calls == [(action, "prod")]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_staging_needs_no_confirmation(command, project, calls, capsys):
    argv, action, _ = COMMANDS[command]
    extra = ["--yes"] if command == "lock release" else []  # the ordinary yes/no, not --confirm
    code, doc = cli(capsys, project, *argv, "staging", *extra)
    assert code == 0, doc
    assert calls == [(action, "staging")]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_unprotected_prod_needs_no_confirmation(command, project, calls, capsys):
    _setting(project, "prod", False)
    argv, action, _ = COMMANDS[command]
    extra = ["--yes"] if command == "lock release" else []
    code, doc = cli(capsys, project, *argv, "prod", *extra)
    assert code == 0, doc
    assert calls == [(action, "prod")]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_protected_staging_needs_its_name(command, project, calls, capsys):
    _setting(project, "staging", True)
    argv, action, _ = COMMANDS[command]
    code, doc = cli(capsys, project, *argv, "staging", "--yes")
    assert code == EXIT_REFUSED, doc
    assert "--confirm staging" in doc["hint"] and calls == []
    code, doc = cli(capsys, project, *argv, "staging", "--confirm", "staging")
    assert code == 0, doc
    assert calls == [(action, "staging")]


def test_a_new_domain_for_prod_is_not_written_before_confirmation(project, calls, capsys):
    code, doc = cli(capsys, project, "domain", "prod", "www.hello.test")
    assert code == EXIT_REFUSED
    assert "write it to cockpit.toml (now hello.test)" in doc["error"]
    assert "www.hello.test" not in project.read_text() and calls == []
    code, doc = cli(capsys, project, "domain", "prod", "www.hello.test", "--confirm", "prod")
    assert code == 0 and 'domain = "www.hello.test"' in project.read_text()


def test_setup_says_what_each_provider_would_change(project) -> None:
    """The refusal names the provider's own parts (the VPS: edge route, switch, directories)."""
    from cockpit import pipeline
    from tests.tui.conftest import make_context

    env = make_context(project).config.env("prod")
    assert "prod's target on the memory provider" in pipeline.setup_changes(env)
    for provider, words in (("vps", "the edge route (Caddy site), the switch backend (HAProxy) "
                                    "and the host directories for prod"),
                            ("kubernetes", "namespace"), ("fly", "Fly app")):
        fake = type("Env", (), {"provider": provider, "name": "prod"})()
        assert words in pipeline.setup_changes(fake)


def test_lock_status_of_prod_is_a_read(project, calls, capsys):
    code, doc = cli(capsys, project, "lock", "status", "prod")
    assert code == 0 and doc["data"]["lock"]["holder"] == "alice@laptop" and calls == []


# --------------------------------------------------------------------------- the TUI's paths


@pytest.fixture
def setups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(what, env) for every setup and domain change the wizard makes on the memory target."""
    from memory_provider import MemoryProvider

    seen: list[tuple[str, str]] = []
    real_domain = MemoryProvider.configure_domain
    monkeypatch.setattr(MemoryProvider, "setup",
                        lambda self, env, emit: seen.append(("setup", env.name)) or [])
    monkeypatch.setattr(MemoryProvider, "configure_domain",
                        lambda self, env, domain, emit: seen.append(("domain", env.name))
                        or real_domain(self, env, domain, emit))
    return seen


@pytest.mark.anyio
async def test_wizard_setup_asks_prods_name_before_touching_any_target(wizard_app, setups):
    from cockpit.screens.widgets.confirmation import ConfirmChange
    from helpers import click, error_text, leave_scan, settle, type_into, wait_until

    app = wizard_app
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await leave_scan(pilot)
        await click(pilot, "#provider-memory")
        await click(pilot, "#setup")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmChange) and app.screen.env == "prod"
        assert any("prepare prod's target" in note for note in app.screen.notes)
        await pilot.press("escape")  # cancelled: nothing set up, staging included
        await settle(pilot)
        assert app.screen is screen and setups == []
        await click(pilot, "#setup")
        await settle(pilot)
        await type_into(pilot, "#typed", "prod")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.checks or error_text(app), tries=1200)
        assert not error_text(app), error_text(app)
        assert setups == [("setup", "staging"), ("setup", "prod")]


@pytest.mark.anyio
async def test_wizard_domain_check_of_prod_asks_its_name(wizard_app, setups):
    from cockpit.screens.widgets.confirmation import ConfirmChange
    from helpers import click, error_text, settle, type_into, wait_until, walk_past_secrets

    app = wizard_app
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await walk_past_secrets(pilot, pages=1)  # on the domain page
        await type_into(pilot, "#domain-prod", "hello.test")
        await click(pilot, "#domain-check-prod")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmChange) and app.screen.env == "prod"
        assert any("point hello.test at prod" in note for note in app.screen.notes)
        assert setups == []
        await type_into(pilot, "#typed", "prod")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "prod" in screen.domain_status or error_text(app),
                         tries=1200)
        assert not error_text(app), error_text(app)
        assert setups == [("setup", "prod"), ("domain", "prod")]
