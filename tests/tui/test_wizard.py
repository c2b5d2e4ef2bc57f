"""The first-deploy wizard, driven end to end over the in-memory provider (the same flow runs
against the lab's VPS in test_wizard_lab.py)."""

from __future__ import annotations

import pytest
from cockpit.screens.wizard.draft import Draft
from helpers import (
    SECRET,
    check_domain,
    click,
    leave_scan,
    promote_in_wizard,
    run_review,
    settle,
    type_into,
    type_secrets,
    walk_past_secrets,
    walk_to_secrets,
)
from memory_provider import TARGETS
from textual.widgets import Input

pytestmark = pytest.mark.anyio

async def test_whole_wizard_to_a_first_deploy_and_promote(wizard_app, fresh, os_keyring):
    from cockpit.screens.dashboard import DashboardScreen

    from cockpit.config import load

    app = wizard_app
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.query_one("#port", Input).value == "8000"  # from the scan
        await walk_past_secrets(pilot, pages=1)  # both secrets typed, on to the domain
        assert os_keyring[("cockpit:hello:staging", "SECRET_KEY")] == SECRET
        await check_domain(pilot)
        await pilot.press("ctrl+n")  # domain → review
        await pilot.pause()
        panel = await run_review(pilot, "#deploy")
        assert panel.error is None, panel.error
        assert screen.deployed
        config = load(fresh / "cockpit.toml")
        assert config.env("staging").domain == "staging.hello.test"
        assert config.env("prod").secret_names == ["SECRET_KEY"]
        assert (fresh / "cockpit.toml").read_text().startswith("# Written by the cockpit wizard")
        promote = await promote_in_wizard(pilot)  # review → promote, typed, run
        assert promote.error is None, promote.error
        staging, prod = (TARGETS[f"memory/hello-{e}"].current for e in ("staging", "prod"))
        assert prod.digest == staging.digest
        await click(pilot, "#finish")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)


async def test_back_and_forward_keep_what_was_entered(wizard_app):
    app = wizard_app
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_into(pilot, "#name", "my-shop")
        await leave_scan(pilot)
        await type_into(pilot, "#vps-host", "shop.example.com")
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert app.screen.query_one("#name", Input).value == "my-shop"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.screen.query_one("#vps-host", Input).value == "shop.example.com"


async def test_next_is_refused_until_the_preflight_passes(wizard_app):
    app = wizard_app
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await leave_scan(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.screen.page == 1


async def test_a_typed_secret_leaves_no_trace(wizard_app, fresh, tmp_state, tmp_path,
                                              os_keyring):
    """Not in the screen (SVG), not in files under the project or the state dir, not in the
    app's log view; only in the keyring."""
    from cockpit.screens.widgets.log_view import LogView

    app = wizard_app
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await walk_to_secrets(pilot)
        # Typed but not yet submitted: shown masked.
        await type_into(pilot, "#secret-staging-SECRET_KEY", SECRET)
        await pilot.pause()
        assert SECRET not in app.export_screenshot()
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.query_one("#secret-staging-SECRET_KEY", Input).value == ""
        await type_secrets(pilot)
        svg = app.export_screenshot()
        logs = [r.text for view in app.screen.query(LogView) for r in view.lines]
    assert SECRET not in svg
    assert not any(SECRET in line for line in logs)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    for env in ("staging", "prod"):  # where it went: the OS keyring
        assert os_keyring[(f"cockpit:hello:{env}", "SECRET_KEY")] == SECRET


def test_draft_renders_a_valid_commented_config_for_each_provider(tmp_path):
    from cockpit.config import loads

    for provider in ("vps", "kubernetes", "fly"):
        draft = Draft(root=tmp_path, name="shop", provider=provider, secrets=["SECRET_KEY"],
                      domains={"staging": "staging.shop.example", "prod": "shop.example"})
        draft.vps.update(host="vps.example", identity_file="~/.ssh/id_ed25519")
        draft.kube.update(context="lab", namespace_staging="shop-s", namespace_prod="shop-p")
        draft.fly.update(org="acme", app_staging="shop-s", app_prod="shop-p")
        text = draft.render()
        config = loads(text, tmp_path / "cockpit.toml")
        assert text.lstrip().startswith("#") and "# " in text
        assert config.env("prod").domain == "shop.example"
        assert config.env("staging").provider == provider
        assert config.env("prod").secret_names == ["SECRET_KEY"]
