"""Deploy timing and API call counts against the emulator (not a test; run it by hand):

    /work/venv/bin/python -m tests.fly.bench_deploy

Emulator delays: machine start 30 ms, first check result 60 ms after start. Reports, per
strategy and machine count: a healthy deploy's time and API calls, and how fast a crashing
image is rejected (the gate deadline is 60 s; the exit fails it at once).
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import time

from cockpit import pipeline
from cockpit.errors import GateFailed

from .conftest import IMAGE_CRASH, IMAGE_V1, IMAGE_V2, TOKEN, Recorder, make_ctx
from .emulator import FlyEmulator, User


def main() -> None:
    import keyring.core

    from cockpit import lab  # the token and secrets go through the lab's real keyring

    os.environ.update(lab.up(["keyring"]).as_env())
    keyring.core.init_backend()
    for strategy in ("rolling", "bluegreen"):
        for count in (1, 4, 10):
            with FlyEmulator(tokens={TOKEN: User("ops@example.com", {"acme"})}) as emu:
                emu.crash_images[IMAGE_CRASH] = 3
                root = pathlib.Path(tempfile.mkdtemp())
                os.environ["COCKPIT_STATE_DIR"] = str(root / "state")
                ctx = make_ctx(root, emu, count=count, strategy=strategy, deadline=60.0)
                pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
                n0, t = len(emu.calls), time.monotonic()
                pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
                took, calls = time.monotonic() - t, len(emu.calls) - n0
                t = time.monotonic()
                try:
                    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_CRASH)
                except GateFailed:
                    pass
                crash = time.monotonic() - t
                print(f"{strategy:9} count={count:2}: deploy {took:.2f}s, {calls} API calls; "
                      f"crashing image rejected in {crash:.2f}s (deadline 60s)")


if __name__ == "__main__":
    main()
