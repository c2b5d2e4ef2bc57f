"""Build the app image with the docker SDK and push it where the cluster pulls from."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cockpit.config import Config
    from cockpit.events import Emit


def build_and_push(config: Config, repository: str, emit: Emit, *,
                   env_name: str) -> tuple[str, str]:
    """(repository@sha256:..., sha256:...): the cluster runs exactly what was pushed."""
    from cockpit.build import build_image, push_image

    image_id, _ = build_image(config, emit)
    tag = f"{env_name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{image_id[7:19]}"
    return push_image(image_id, repository, tag, emit)
