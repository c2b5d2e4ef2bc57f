"""The fly provider (work in progress: see its issue). Heavy libraries are imported lazily."""

from __future__ import annotations

from cockpit.providers.fly.settings import FlySettings


class FlyProvider:
    name = "fly"
    settings_model = FlySettings

    def __init__(self, ctx) -> None:
        self.ctx = ctx
