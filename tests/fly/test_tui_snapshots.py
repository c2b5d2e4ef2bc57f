"""SVG snapshots of the TUI on Fly environments, through the provider contract, against the
Machines API emulator: the wizard's provider step (preflight with the token from the keyring),
the dashboard, the releases screen, the rollback confirmation and the logs screen.
Files: snapshots/fly/test_tui_snapshots/*.svg.

Deterministic by construction: a fixed clock for cockpit, a seeded emulator (machine ids, instance
ids and lease nonces come from counters, so the same requests give the same ids), a fixed
operator identity and pinned latency milliseconds (tests/tui_snapshots.py says why).
Update with `pytest tests/fly/test_tui_snapshots.py --snapshot-update`, then look at each SVG."""

from __future__ import annotations

import pytest

from tests.tui.helpers import click, leave_scan, settle, type_into, wait_until
from tests.tui_snapshots import (
    SIZE,
    ProviderScreens,
    hello_project,
    history,
    ready,
    wizard,
)

from .conftest import IMAGE_V1, IMAGE_V2, TOKEN, new_emulator

pytestmark = [pytest.mark.timeout(180)]


@pytest.fixture
def emu():
    """The conftest's emulator, seeded: ids repeat from run to run."""
    with new_emulator(seed="snapshots") as emulator:
        yield emulator


@pytest.fixture
def deployed(project, no_blink, steady_latency):
    """staging with two releases (v2 serving), prod promoted from staging's first."""
    return history(project(), IMAGE_V1, IMAGE_V2)


class TestScreens(ProviderScreens):
    LOG_LINES = 8  # two machines, started twice each (v1, v2), two lines a start


# --------------------------------------------------------------------------- the wizard


@pytest.fixture
def wizard_app(tmp_path, emu, os_keyring, tmp_state, monkeypatch, no_blink):
    """The wizard on a copy of examples/hello-app; the Fly token is in the keyring already
    (`cockpit secrets set ENV FLY_API_TOKEN`) and the apps' API is the emulator."""
    monkeypatch.delenv("FLY_API_TOKEN", raising=False)
    root = hello_project(tmp_path, monkeypatch)
    for env in ("staging", "prod"):
        os_keyring[(f"cockpit:hello:{env}", "FLY_API_TOKEN")] = TOKEN
    emu.create_app("hello-staging", org="acme")  # prod's app does not exist yet
    return wizard(root)


def test_wizard_provider_checked(snap_compare, wizard_app, emu):
    async def run_before(pilot):
        await settle(pilot)
        await leave_scan(pilot)
        screen = pilot.app.screen
        for env in ("staging", "prod"):  # where the Machines API is: not a wizard question
            screen.draft.overrides[env] = {"api_url": emu.api_url, "logs_url": emu.logs_url}
        await click(pilot, "#provider-fly")
        await type_into(pilot, "#fly-org", "acme")
        await click(pilot, "#check")
        await wait_until(pilot, lambda: screen.checks >= 1, tries=600)
        assert screen.checked is not None, str(screen.query_one("#preflight").render())
        await ready(pilot)

    assert snap_compare(wizard_app, terminal_size=SIZE, run_before=run_before)
