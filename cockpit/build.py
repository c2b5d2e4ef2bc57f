"""Build the app's image locally with the Docker SDK, and optionally push it to a registry.

The build streams its output as LogLine events. Build args come from `[app].build_args`
(e.g. BUILD_IMAGE, BASE_IMAGE, CADDY_IMAGE: the images a generated Dockerfile's FROM lines name,
official ones by default). The result is pinned: a registry push returns `repo@sha256:...`; a
local build returns the image id (`sha256:...`), which the VPS provider can ship without a
registry. A failed build says which step failed and, for the two failures a machine without
the official images or the registry's CA hits (a base image that cannot be pulled, a TLS
certificate a build step cannot verify), what to set.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
                error = chunk["error"].strip()
                raise ProviderError(f"docker build failed: {error}", where=f"build {tag}",
                                    hint=build_hint(error, last_lines, context / app.dockerfile,
                                                    dict(app.build_args)))
    except (APIError, BuildError) as exc:
        raise ProviderError(f"docker build failed: {exc}", where=f"build {tag}") from None
    if image_id is None:
        image_id = client.images.get(tag).id
    emit(StepFinished("build", f"{tag} {image_id[7:19]}", seconds=timer.seconds()))
    return image_id, image_id


_STEP_FROM = re.compile(r"^Step \d+/\d+ : FROM\s+(?:--\S+\s+)*(\S+)", re.IGNORECASE)
_TLS_ERRORS = ("CERTIFICATE_VERIFY_FAILED", "SELF_SIGNED_CERT_IN_CHAIN",
               "unable to get local issuer certificate", "self-signed certificate in certificate",
               "x509: certificate signed by unknown authority")


def _arg_defaults(dockerfile: Path) -> dict[str, str]:
    """`ARG NAME=value` pairs declared before the first FROM (what `${NAME}` in FROM means)."""
    out: dict[str, str] = {}
    try:
        lines = dockerfile.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        word = line.strip().split(None, 1)
        if not word or word[0].startswith("#"):
            continue
        if word[0].upper() == "FROM":
            break
        if word[0].upper() == "ARG" and len(word) == 2:
            for pair in word[1].split():
                name, eq, value = pair.partition("=")
                if eq:
                    out[name] = value.strip("\"'")
    return out


def build_hint(error: str, last_lines: list[str], dockerfile: Path,
               build_args: dict[str, str]) -> str:
    """What to do about a failed build: `error` is the engine's message, `last_lines` the
    build output before it (classic builder: "Step 2/9 : FROM ${BASE_IMAGE} AS build").

    A FROM step that fails names the image and the ARG that chose it: on a machine that cannot
    pull official images (the lab) `[app].build_args` points those ARGs at images it has
    (`cockpit init --lab` writes them). A TLS verification error in a step means the build's
    container does not trust the registry's certificate (a TLS-inspecting egress).
    """
    step = next((ln for ln in reversed(last_lines) if ln.startswith("Step ")), "")
    m = _STEP_FROM.match(step)
    if m:
        ref = m.group(1)
        arg = re.fullmatch(r"\$\{?(\w+)\}?", ref)
        if arg:
            name = arg.group(1)
            image = build_args.get(name) or _arg_defaults(dockerfile).get(name, ref)
            source = ("[app].build_args" if name in build_args
                      else f"the default of ARG {name} in {dockerfile.name}")
            return (f"the base image {image} ({source}) could not be pulled or found. "
                    f"Where official images cannot be pulled, set [app].build_args = "
                    f'{{ {name} = "<an image this engine has>" }} in cockpit.toml; on the lab, '
                    "run `cockpit init --lab`, which writes the lab's images for every ARG")
        return (f"the base image {ref} could not be pulled or found, and {dockerfile.name} "
                "names it directly: make it an ARG (`ARG BASE_IMAGE=...` before FROM, as "
                "`cockpit generate dockerfile` writes) so [app].build_args can replace it")
    if any(t.lower() in (error + "\n".join(last_lines)).lower() for t in _TLS_ERRORS):
        return ("a build step could not verify a registry's TLS certificate: this machine's "
                "egress uses its own CA, which the build's base image does not trust; on the "
                "lab, `cockpit init --lab` points the build stages at images that carry it")
    return "the build output above says which step failed"


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


def release_tag(env_name: str, image_id: str, now: float | None = None) -> str:
    """The one tag scheme for pushed images: `<env>-<YYYYmmdd-HHMMSS UTC>-<12 hex of the image
    id>` (e.g. `staging-20260529-120000-0123456789ab`), valid as a Docker tag (≤128 chars of
    [A-Za-z0-9_.-]). Releases are pinned by digest; the tag only says where an image came from."""
    import re
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    env = re.sub(r"[^A-Za-z0-9_.-]+", "-", env_name).strip("-.") or "env"
    return f"{env[:80]}-{stamp}-{image_id.split(':')[-1][:12]}"


def build_and_push(config: Config, repository: str, emit: Emit, *, env_name: str,
                   login: Callable[[Any], None] | None = None) -> tuple[str, str]:
    """Build the app image and push it to `repository` (registry/name) under `release_tag`:
    returns (`repository@sha256:...`, digest), so the target runs exactly what was pushed.
    `login(client)` logs the docker client in first (Fly's registry). Raises ProviderError."""
    image_id, _ = build_image(config, emit, tag=f"{config.app.name}:latest")
    if login is not None:
        login(docker_client())
    return push_image(image_id, repository, release_tag(env_name, image_id), emit)
