"""The pipeline tells an environment's alert URLs when a deploy starts, finishes, or is rolled
back (cockpit.alerts.notify is tested against the real keyring and a webhook in tests/alerts;
here: that every run calls it, with the release, on the in-memory provider)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit import pipeline
from cockpit.errors import GateFailed
from tests.recorder import Recorder
from tests.tui.conftest import make_context

IMAGE = "registry/hello@sha256:" + "a" * 64


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict]]:
    from cockpit import alerts

    calls: list[tuple[str, str, dict]] = []
    monkeypatch.setattr(alerts, "notify", lambda ctx, env, kind, **facts:
                        calls.append((env, kind, facts)) or {"sent": [], "failed": [],
                                                             "error": None})
    return calls


def test_a_deploy_alerts_when_it_starts_and_when_it_serves(project: Path, sent) -> None:
    ctx = make_context(project)
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE)
    assert [(env, kind) for env, kind, _ in sent] == [("staging", "deploy_started"),
                                                     ("staging", "deploy_finished")]
    assert all(facts["release"] == release.id for _, _, facts in sent)
    assert "serves" in sent[-1][2]["what"]


def test_a_gate_failure_alerts_rolled_back_with_what_failed(project: Path, sent,
                                                           monkeypatch: pytest.MonkeyPatch):
    from memory_provider import MemoryProvider

    def failing(self, plan, emit):
        raise GateFailed("the health path answered 500 five times in a row")

    monkeypatch.setattr(MemoryProvider, "apply", failing)
    ctx = make_context(project)
    with pytest.raises(GateFailed):
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE)
    assert [kind for _, kind, _ in sent] == ["deploy_started", "rolled_back"]
    assert "answered 500" in sent[-1][2]["what"] and sent[-1][2]["since"]
