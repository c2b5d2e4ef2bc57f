"""Build the app image with the core builder and push it to the configured registry.

Fly machines run registry images. With `registry` set (e.g. "registry.fly.io", or the lab's
127.0.0.1:5000) the image is built by `cockpit.build`, tagged
`<registry>/<app>:<env>-<time>-<image id>` (cockpit.build.release_tag), pushed, and pinned
by the digest the registry returns.
registry.fly.io takes the Fly token as the password of user "x" (what `fly auth docker` does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cockpit.errors import ProviderError
from cockpit.events import Emit

if TYPE_CHECKING:
    from cockpit.config import Config, Environment


def build_and_push(config: Config, env: Environment, emit: Emit,
                   token: str | None = None) -> tuple[str, str]:
    """(registry/app@sha256:..., sha256:...) through cockpit.build.build_and_push; logs in to
    registry.fly.io with the token first. Raises ProviderError (never echoing the token)."""
    from cockpit.build import build_and_push as core

    registry = env.settings.registry.rstrip("/")
    repository = f"{registry}/{env.settings.app}"

    def login(client) -> None:
        if not (registry.endswith("registry.fly.io") and token):
            return
        try:
            client.login(username="x", password=token, registry=registry)
        except Exception as exc:  # noqa: BLE001 - docker raises many types; never echo args
            raise ProviderError(f"docker login to {registry} failed: {type(exc).__name__}",
                                where=repository,
                                hint="check the Fly token (FLY_API_TOKEN)") from None

    return core(config, repository, emit, env_name=env.name, login=login)
