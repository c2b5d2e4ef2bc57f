"""The watch window on Kubernetes (emulator): a release whose pods restart after the switch is
rolled back to the previous revision; --no-watch skips the window and says so."""

from __future__ import annotations

import pytest

from cockpit import pipeline
from cockpit.errors import GateFailed

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = pytest.mark.timeout(300)  # waits for the lab-wide keyring lock count too

WATCH = "watch = { seconds = 20, min_requests = 1000 }"


def _image(emulator) -> str:
    d = emulator.get("apps/v1", "deployments", "shop-staging", "shop")
    return d["spec"]["template"]["spec"]["containers"][0]["image"]


def test_a_restart_during_the_window_rolls_back(project, emulator):
    r1 = pipeline.deploy(project(), "staging", Recorder(), image=IMAGE_V1)  # no window (suite)
    ctx = project(extra=WATCH)
    rec = Recorder()

    def emit(event) -> None:
        rec(event)
        if event.type == "watch" and len(rec.of("watch")) == 2:
            emulator.image(IMAGE_V2, crash=True)  # the new pods start crashing

    with pytest.raises(GateFailed) as info:
        pipeline.deploy(ctx, "staging", emit, image=IMAGE_V2)
    exc = info.value
    assert exc.exit_code == 3
    assert "restart(s) of the release's instances during the window (pods of release" \
        in exc.what
    assert f"switched back to release {r1.id}" in exc.what
    samples = rec.of("watch")
    assert samples[0].ok and samples[0].restarts == 0 and not samples[-1].ok
    assert samples[-1].final and samples[-1].restarts >= 1

    assert _image(emulator) == IMAGE_V1
    assert pipeline.live(ctx, "staging").current.id == r1.id
    bad = next(r for r in ctx.store.releases("staging") if r.image == IMAGE_V2)
    assert bad.status == "rolled_back" and bad.meta["watch"]["restarts"] >= 1
    assert any(a["result"] == "rolled back by the watch window"
               for a in ctx.store.audit_log("staging"))


def test_a_quiet_window_passes_and_records_its_numbers(project, emulator):
    pipeline.deploy(project(), "staging", Recorder(), image=IMAGE_V1)
    ctx = project(extra="watch = { seconds = 2 }")
    rec = Recorder()
    release = pipeline.deploy(ctx, "staging", rec, image=IMAGE_V2)
    assert release.status == "healthy"
    watch = ctx.store.get_release("staging", release.id).meta["watch"]
    assert watch["restarts"] == 0 and watch["probes"] >= 2 and watch["p95_ms"] is not None
    assert "watch" in [e.step for e in rec.of("step_finished")]


def test_no_watch_skips_the_window_and_says_so(project, emulator):
    pipeline.deploy(project(), "staging", Recorder(), image=IMAGE_V1)
    ctx = project(extra=WATCH)
    ctx.options.no_watch = True
    rec = Recorder()
    pipeline.deploy(ctx, "staging", rec, image=IMAGE_V2)
    assert not rec.of("watch")
    assert any("watch window skipped (--no-watch)" in m.text for m in rec.of("message"))
