"""Deploy timing and API call counts against the emulator (not a test; run it by hand):

    .venv/bin/python -m tests.fly.bench_deploy

With Fly's defaults where they cost time: `swap_wait` 10 s (bluegreen: blue keeps serving while
the proxy learns green, as flyctl), the default gate (3 passing reads 0.5 s apart), and the
emulator's rate limits (429 with Retry-After at Fly's documented per-machine limits). Emulator
delays: machine start 30 ms, first check result 60 ms after start. Reports, per strategy and
machine count: a healthy deploy's time and API calls (429s included), how fast a crashing image
is rejected and how fast an image whose checks answer 500 is (the gate deadline is 60 s; an
exit fails it at once, a 5xx streak after the 5 s start period).

The token and secrets come from the environment (the CI mode), not the keyring.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import time

from cockpit import config as config_mod
from cockpit import pipeline
from cockpit.errors import GateFailed
from cockpit.provider import Context, Options
from cockpit.secrets import SecretStore
from cockpit.state import Store

from .conftest import IMAGE_BAD, IMAGE_CRASH, IMAGE_V1, IMAGE_V2, TOKEN, Recorder, write_project
from .emulator import FlyEmulator, User


def _ctx(root: pathlib.Path, emu: FlyEmulator, **kw) -> Context:
    cfg = config_mod.load(write_project(root, emu, **kw))
    return Context(config=cfg, store=Store.open("shop", root=root / "state"),
                   secrets=SecretStore("shop"), options=Options(confirm="prod", yes=True))


def _rejected(ctx: Context, image: str) -> float:
    t = time.monotonic()
    try:
        pipeline.deploy(ctx, "staging", Recorder(), image=image)
    except GateFailed:
        pass
    return time.monotonic() - t


def main() -> None:
    os.environ.update({
        "COCKPIT_SECRETS_FROM_ENV": "1", "COCKPIT_SECRETS_DIGEST_KEY": "b" * 64,
        "COCKPIT_WATCH_SECONDS": "0",  # the watch window after a switch is not the deploy
        "COCKPIT_SECRET_STAGING_FLY_API_TOKEN": TOKEN,
        "COCKPIT_SECRET_STAGING_SECRET_KEY": "bench-secret-value",
        "COCKPIT_SECRET_PROD_FLY_API_TOKEN": TOKEN,
        "COCKPIT_SECRET_PROD_SECRET_KEY": "bench-secret-value",
    })
    for strategy in ("rolling", "bluegreen"):
        for count in (1, 4, 10):
            with FlyEmulator(tokens={TOKEN: User("ops@example.com", {"acme"})}) as emu:
                emu.crash_images[IMAGE_CRASH] = 3
                emu.fail_images[IMAGE_BAD] = "HTTP GET /up: 500 Internal Server Error"
                root = pathlib.Path(tempfile.mkdtemp())
                os.environ["COCKPIT_STATE_DIR"] = str(root / "state")
                ctx = _ctx(root, emu, count=count, strategy=strategy, deadline=60.0, gate="",
                           swap_wait=10.0)
                pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
                n0, t = len(emu.calls), time.monotonic()
                pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
                took = time.monotonic() - t
                calls = emu.calls[n0:]
                limited = sum(1 for c in calls if c[2] == 429)
                crash = _rejected(ctx, IMAGE_CRASH)
                bad = _rejected(ctx, IMAGE_BAD)
                print(f"{strategy:9} count={count:2}: deploy {took:.2f}s, {len(calls)} API calls "
                      f"({limited} answered 429); crashing image rejected in {crash:.2f}s, "
                      f"500-answering image in {bad:.2f}s (deadline 60s)", flush=True)


if __name__ == "__main__":
    main()
