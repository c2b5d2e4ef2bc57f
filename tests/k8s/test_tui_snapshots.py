"""SVG snapshots of the TUI on Kubernetes environments, through the provider contract, against
the API emulator: the wizard's provider step (preflight against the emulator), the dashboard,
the releases screen and the logs screen. Files: snapshots/k8s/test_tui_snapshots/*.svg.

Deterministic by construction: a fixed clock for cockpit (release ids, ages), the emulator's
counter-based pod names and content-hashed ReplicaSet names, a fixed operator identity, and the
dashboard's measured latency pinned (the probe itself is real: its status and verdict show).
Update with `pytest tests/k8s/test_tui_snapshots.py --snapshot-update`, then look at each SVG."""

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

from .conftest import IMAGE_V1, IMAGE_V2

pytestmark = [pytest.mark.timeout(180)]


@pytest.fixture
def deployed(project, no_blink, steady_latency):
    """staging with two releases (v2 serving), prod promoted from staging's first."""
    return history(project(), IMAGE_V1, IMAGE_V2)


class TestScreens(ProviderScreens):
    LOG_LINES = 2  # "listening" from each of the two pods of v2


# --------------------------------------------------------------------------- the wizard


@pytest.fixture
def wizard_app(tmp_path, emulator, os_keyring, tmp_state, monkeypatch, no_blink):
    """The wizard on a copy of examples/hello-app, KUBECONFIG pointing at the emulator."""
    root = hello_project(tmp_path, monkeypatch)
    monkeypatch.setenv("KUBECONFIG", str(emulator.write_kubeconfig(tmp_path / "kubeconfig",
                                                                   context="lab-cluster")))
    emulator.deny("create", "namespaces", "*")  # namespaces exist already: a typical tenant
    for ns in ("hello-staging", "hello-prod"):
        emulator.create("v1", "namespaces", "", {"metadata": {"name": ns}})
    return wizard(root)


def test_wizard_provider_checked(snap_compare, wizard_app):
    async def run_before(pilot):
        await settle(pilot)
        await leave_scan(pilot)
        await click(pilot, "#provider-kubernetes")
        await type_into(pilot, "#kubernetes-context", "lab-cluster")
        await click(pilot, "#check")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.checks >= 1, tries=600)
        assert screen.checked is not None, str(screen.query_one("#preflight").render())
        await ready(pilot)

    assert snap_compare(wizard_app, terminal_size=SIZE, run_before=run_before)

