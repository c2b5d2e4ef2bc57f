"""The kubernetes provider (work in progress: see its issue). Heavy libraries are imported lazily."""

from __future__ import annotations

from cockpit.providers.kubernetes.settings import KubernetesSettings


class KubernetesProvider:
    name = "kubernetes"
    settings_model = KubernetesSettings

    def __init__(self, ctx) -> None:
        self.ctx = ctx
