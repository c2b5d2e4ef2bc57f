"""The vps provider (work in progress: see its issue). Heavy libraries are imported lazily."""

from __future__ import annotations

from cockpit.providers.vps.settings import VpsSettings


class VpsProvider:
    name = "vps"
    settings_model = VpsSettings

    def __init__(self, ctx) -> None:
        self.ctx = ctx
