"""The keyboard model: help overlay, command palette, number keys, esc back."""

from __future__ import annotations

import pytest
from cockpit.screens.widgets.help import HelpScreen
from helpers import run_command, settle

pytestmark = pytest.mark.anyio

async def test_help_overlay_lists_every_key_of_the_screen(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        dashboard = app.screen
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(f"{keys} {what}" for keys, what in app.screen.rows)
        for binding in type(dashboard).BINDINGS:
            if binding.description:
                assert binding.description in text, binding.description
        for description in ("Help", "Commands", "Quit"):
            assert description in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is dashboard


async def test_number_keys_select_an_environment_and_l_opens_its_logs(app):
    from cockpit.screens.logs import LogsScreen

    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        assert app.screen.selected_env == "prod"
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LogsScreen) and app.screen.env == "prod"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.selected_env == "prod"


async def test_command_palette_opens_logs_of_an_environment(app):
    from cockpit.screens.logs import LogsScreen

    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await run_command(pilot, "logs staging")
        assert isinstance(app.screen, LogsScreen) and app.screen.env == "staging"


async def test_a_broken_cockpit_toml_shows_where_and_what_to_fix(tmp_path, tmp_state):
    from cockpit.screens.app import CockpitApp
    from cockpit.screens.widgets.error import BrokenConfigScreen

    from cockpit.session import Session

    (tmp_path / "cockpit.toml").write_text('[app]\nname = "x"\n[environments.staging\n')
    app = CockpitApp(Session(tmp_path / "cockpit.toml"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, BrokenConfigScreen)
        text = str(app.screen.error)
        assert "cockpit.toml:" in text and "invalid TOML" in text
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running


async def test_command_palette_offers_deploy_promote_rollback_logs_switch_and_theme(app):
    from cockpit.screens.commands import CockpitCommands

    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        names = [name for name, _, _ in CockpitCommands(app.screen)._commands()]
        for expected in ("Deploy staging", "Deploy prod", "Promote staging → prod",
                         "Rollback staging", "Logs prod", "Switch environment: prod",
                         "Releases staging"):
            assert expected in names
        system = [command.title.lower() for command in app.get_system_commands(app.screen)]
        assert any("theme" in title for title in system)


async def test_switch_environment_from_the_palette_focuses_its_panel(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await run_command(pilot, "switch environment: prod")
        assert app.current_env == "prod" and app.screen.selected_env == "prod"
