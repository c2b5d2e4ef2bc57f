"""Build the app image locally and push it to the configured registry (optional path).

Fly machines run registry images; with `registry` set (e.g. "registry.fly.io") the image is
built with the docker SDK, tagged `<registry>/<app>:cockpit-<time>`, pushed, and pinned by the
digest the registry returns.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cockpit.errors import ProviderError
from cockpit.events import Emit, StepFinished, StepStarted

if TYPE_CHECKING:
    from cockpit.config import Config, Environment


def build_and_push(config: Config, env: Environment, emit: Emit) -> tuple[str, str]:
    import docker  # lazy: heavy

    s = env.settings
    repo = f"{s.registry.rstrip('/')}/{s.app}"
    tag = "cockpit-" + time.strftime("%Y%m%d%H%M%S", time.gmtime())
    client = docker.from_env()
    emit(StepStarted(step="build", title=f"build {repo}:{tag}", env=env.name))
    try:
        client.images.build(path=str(config.root / config.app.context),
                            dockerfile=config.app.dockerfile, tag=f"{repo}:{tag}",
                            buildargs=dict(config.app.build_args), rm=True)
    except Exception as exc:  # noqa: BLE001 - docker raises many types
        raise ProviderError(f"image build failed: {exc}", where=str(config.root)) from None
    emit(StepFinished(step="build", env=env.name))
    emit(StepStarted(step="push", title=f"push {repo}:{tag}", env=env.name))
    digest = ""
    for chunk in client.images.push(repo, tag=tag, stream=True, decode=True):
        if "error" in chunk:
            raise ProviderError(f"push to {s.registry} failed: {chunk['error']}",
                                where=f"{repo}:{tag}")
        aux = chunk.get("aux") or {}
        digest = aux.get("Digest", digest)
    if not digest:
        raise ProviderError(f"push to {s.registry} returned no digest", where=f"{repo}:{tag}")
    emit(StepFinished(step="push", detail=digest, env=env.name))
    return f"{repo}@{digest}", digest
