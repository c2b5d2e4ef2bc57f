"""Build the app image and push it where the cluster pulls from (cockpit.build.build_and_push:
one tag scheme for every provider, pinned by digest)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cockpit.config import Config
    from cockpit.events import Emit


def build_and_push(config: Config, repository: str, emit: Emit, *,
                   env_name: str) -> tuple[str, str]:
    """(repository@sha256:..., sha256:...): the cluster runs exactly what was pushed."""
    from cockpit.build import build_and_push as core

    return core(config, repository, emit, env_name=env_name)
