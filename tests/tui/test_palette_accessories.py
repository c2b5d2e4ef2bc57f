"""The command palette offers what the CLI does for an app's accessories: their status
(`cockpit accessories status ENV`) and a verified backup (`cockpit backup ENV NAME`), per
environment and accessory; an app without accessories gets neither."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

ACCESSORY = '\n[accessories.postgres]\nkind = "postgres"\nexternal = true\n'


def _names(app) -> list[str]:  # noqa: ANN001
    from cockpit.screens.commands import CockpitCommands

    return [name for name, _, _ in CockpitCommands(app.screen)._commands()]


async def test_no_accessory_actions_without_accessories(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        names = _names(app)
        assert "Deploy staging" in names
        assert not [n for n in names if n.startswith(("Accessories", "Backup"))]


async def test_palette_offers_accessories_status_and_backup(project, monkeypatch):
    from cockpit.screens.app import CockpitApp
    from cockpit.screens.run import RunScreen
    from cockpit.screens.widgets.log_view import LogView
    from conftest import make_context
    from helpers import wait_run

    from cockpit.session import Session

    project.write_text(project.read_text().replace("\n[environments.staging]",
                                                   ACCESSORY + "\n[environments.staging]", 1))
    app = CockpitApp(Session(project, ctx=make_context(project)), poll_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        names = _names(app)
        for env in ("staging", "prod"):
            assert f"Accessories {env}" in names and f"Backup {env} postgres" in names
        app.show_accessories("prod")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        await wait_run(pilot)
        await pilot.pause()
        text = "\n".join(r.text for r in app.screen.query_one(LogView).lines)
        assert "postgres: postgres external set · URL from the keyring as DATABASE_URL" in text
