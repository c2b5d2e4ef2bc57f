"""Build the app's image locally with the Docker SDK, and optionally push it to a registry.

The build streams its output as LogLine events. Build args come from `[app].build_args`
(e.g. BASE_IMAGE). The result is pinned: a registry push returns `repo@sha256:...`; a local
build returns the image id (`sha256:...`), which the VPS provider can ship without a registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cockpit.errors import ProviderError, UsageError
from cockpit.events import Emit, LogLine, StepFinished, StepStarted, Timer

if TYPE_CHECKING:
    from cockpit.config import Config


def docker_client():
    import docker
    from docker.errors import DockerException

    try:
        return docker.from_env(timeout=300)
    except DockerException as exc:
        raise ProviderError(
            f"cannot talk to the local Docker Engine: {exc}",
            hint="start Docker (or set DOCKER_HOST) on the machine that builds",
        ) from None


def build_image(config: Config, emit: Emit, *, tag: str | None = None) -> tuple[str, str]:
    """Build `[app]`'s Dockerfile; returns (image reference, digest) = (image id, image id)."""
    from docker.errors import APIError, BuildError

    app = config.app
    context = (config.root / app.context).resolve()
    if not (context / app.dockerfile).is_file():
        raise UsageError(f"no {app.dockerfile} in {context}",
                         hint="run `cockpit generate dockerfile` or set [app].dockerfile")
    tag = tag or f"{app.name}:latest"
    client = docker_client()
    emit(StepStarted("build", f"build {tag} from {app.dockerfile}"))
    timer = Timer()
    image_id = None
    last_lines: list[str] = []
    try:
        for chunk in client.api.build(path=str(context), dockerfile=app.dockerfile, tag=tag,
                                      buildargs=dict(app.build_args), rm=True, decode=True):
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    if line.strip():
                        last_lines = (last_lines + [line])[-20:]
                        emit(LogLine(source="build", line=line))
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            if "error" in chunk:
                raise ProviderError(f"docker build failed: {chunk['error'].strip()}",
                                    where=f"build {tag}",
                                    hint="the build output above says which step failed")
    except (APIError, BuildError) as exc:
        raise ProviderError(f"docker build failed: {exc}", where=f"build {tag}") from None
    if image_id is None:
        image_id = client.images.get(tag).id
    emit(StepFinished("build", f"{tag} {image_id[7:19]}", seconds=timer.seconds()))
    return image_id, image_id


def push_image(image_id: str, repository: str, tag: str, emit: Emit) -> tuple[str, str]:
    """Tag and push to `repository` (registry/name); returns (`repository@sha256:...`, digest)."""
    from docker.errors import APIError

    client = docker_client()
    emit(StepStarted("push", f"push {repository}:{tag}"))
    timer = Timer()
    try:
        client.api.tag(image_id, repository, tag)
        digest = None
        for chunk in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                raise ProviderError(f"push failed: {chunk['error']}", where=f"push {repository}")
            aux = chunk.get("aux") or {}
            if "Digest" in aux:
                digest = aux["Digest"]
    except APIError as exc:
        raise ProviderError(f"push failed: {exc}", where=f"push {repository}",
                            hint="is the registry running and reachable?") from None
    if not digest:
        raise ProviderError("the registry returned no digest", where=f"push {repository}")
    emit(StepFinished("push", f"{repository}@{digest[:19]}", seconds=timer.seconds()))
    return f"{repository}@{digest}", digest
