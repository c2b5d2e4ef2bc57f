"""What makes a TUI snapshot over a real provider deterministic, shared by the Kubernetes and
Fly snapshot tests (tests/k8s/test_tui_snapshots.py, tests/fly/test_tui_snapshots.py).

- a fixed clock for cockpit (release ids, ages): `fixed_context(ctx, at=T0)`;
- a fixed operator identity (`COCKPIT_OPERATOR`, the same variable CI jobs use), instead of
  user@hostname, which differs between machines;
- no blinking cursor;
- the dashboard's measured latency pinned (`steady_latency`): the probe itself is real, its
  HTTP status and verdict are what the snapshot shows; only the milliseconds would wobble.

The fixtures `no_blink` and `steady_latency` are in tests/conftest.py.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SIZE = (120, 40)
T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC, the fixed clock of every TUI test
OPERATOR = "ops@laptop"
LATENCY_MS = 12.0


def fixed_context(ctx, at: float = T0):
    """The same context (config, store, keyring) with cockpit's clock stopped at `at`."""
    return dataclasses.replace(ctx, clock=lambda: at)


def clean_lab_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wizard prefills the lab VPS when COCKPIT_LAB_* is exported; these tests want none."""
    for key in list(os.environ):
        if key.startswith("COCKPIT_LAB_"):
            monkeypatch.delenv(key)


async def ready(pilot) -> None:
    """Workers done, messages handled, toasts gone: the frame to compare."""
    from tests.tui.helpers import settle

    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()
