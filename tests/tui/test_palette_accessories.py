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
    from helpers import wait_run

    from cockpit.session import Session
    from tests.tui.conftest import make_context

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


async def test_restore_asks_with_the_newest_verified_backup_and_cancel_changes_nothing(
        project, monkeypatch):
    """`Restore prod postgres` says which backup it would restore and, prod being protected,
    wants its name typed; Esc leaves it all as it was. Without a backup it says how to make
    one."""
    from cockpit.screens.app import CockpitApp
    from cockpit.screens.run import RunScreen
    from cockpit.screens.widgets.confirmation import ConfirmChange

    from cockpit import backups
    from cockpit.session import Session
    from tests.tui.conftest import make_context

    project.write_text(project.read_text().replace("\n[environments.staging]",
                                                   ACCESSORY + "\n[environments.staging]", 1))
    app = CockpitApp(Session(project, ctx=make_context(project)), poll_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "Restore prod postgres" in _names(app)
        app.start_restore("prod", "postgres")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmChange | RunScreen)  # no backup: a notice
        where = backups.folder("hello", "prod", "postgres")
        where.mkdir(parents=True)
        for n, verified in ((1, True), (2, False)):  # the newest one did not verify
            dump = where / f"b{n}.dump"
            dump.write_bytes(b"PGDMP")
            backups.Backup(id=f"b{n}", app="hello", env="prod", accessory="postgres",
                           kind="postgres", file=str(dump), size=5, sha256="-",
                           created_at=1000.0 + n, image="i", verified=verified).save()
        app.start_restore("prod", "postgres")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmChange)
        assert app.screen.heading == "Restore postgres of prod from backup b1?"
        assert app.screen.protected
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmChange | RunScreen)
