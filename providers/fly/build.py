"""Build the app image with the core builder and push it to the configured registry.

Fly machines run registry images. With `registry` set (e.g. "registry.fly.io", or the lab's
127.0.0.1:5000) the image is built by `cockpit.build`, tagged
`<registry>/<app>:cockpit-<time>`, pushed, and pinned by the digest the registry returns.
registry.fly.io takes the Fly token as the password of user "x" (what `fly auth docker` does).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cockpit.errors import ProviderError
from cockpit.events import Emit

if TYPE_CHECKING:
    from cockpit.config import Config, Environment


def build_and_push(config: Config, env: Environment, emit: Emit,
                   token: str | None = None) -> tuple[str, str]:
    from cockpit.build import build_image, docker_client, push_image

    s = env.settings
    registry = s.registry.rstrip("/")
    repository = f"{registry}/{s.app}"
    tag = "cockpit-" + time.strftime("%Y%m%d%H%M%S", time.gmtime())
    image_id, _ = build_image(config, emit, tag=f"{repository}:{tag}")
    if registry.endswith("registry.fly.io") and token:
        try:
            docker_client().login(username="x", password=token, registry=registry)
        except Exception as exc:  # noqa: BLE001 - docker raises many types; never echo args
            raise ProviderError(f"docker login to {registry} failed: {type(exc).__name__}",
                                where=repository,
                                hint="check the Fly token (FLY_API_TOKEN)") from None
    return push_image(image_id, repository, tag, emit)
