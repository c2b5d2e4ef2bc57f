"""The watch window on Fly (emulator): a machine of the new release whose process exits after
the switch (an exit event: Fly restarts it by its restart policy) rolls the release back to the
previous one."""

from __future__ import annotations

import pytest

from cockpit import pipeline
from cockpit.errors import GateFailed

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = pytest.mark.timeout(300)  # waits for the lab-wide keyring lock count too


def _images(emu) -> set[str]:
    return {m.config["image"] for m in emu.active("shop-staging")}


def test_a_restart_during_the_window_rolls_back(project, emu):
    r1 = pipeline.deploy(project(), "staging", Recorder(), image=IMAGE_V1)  # no window (suite)
    ctx = project(extra="watch = { seconds = 20, min_requests = 1000 }")
    rec = Recorder()

    def emit(event) -> None:
        rec(event)
        if event.type == "watch" and len(rec.of("watch")) == 2:
            machine = next(m for m in emu.active("shop-staging")
                           if m.config["image"] == IMAGE_V2)
            emu.crash_images[IMAGE_V2] = 1  # its process exits now (Fly records an exit event)
            with emu.lock:
                emu._schedule(0.0, emu.apps["shop-staging"], machine, "crash")

    with pytest.raises(GateFailed) as info:
        pipeline.deploy(ctx, "staging", emit, image=IMAGE_V2)
    exc = info.value
    assert exc.exit_code == 3
    assert "1 restart(s) of the release's instances during the window (machines of release" \
        in exc.what
    assert f"switched back to release {r1.id}" in exc.what
    assert rec.of("watch")[0].ok and not rec.of("watch")[-1].ok

    assert _images(emu) == {IMAGE_V1}
    assert pipeline.live(ctx, "staging").current.id == r1.id
    bad = next(r for r in ctx.store.releases("staging") if r.image == IMAGE_V2)
    assert bad.status == "rolled_back" and bad.meta["watch"]["restarts"] == 1
    assert any(a["result"] == "rolled back by the watch window"
               for a in ctx.store.audit_log("staging"))
