"""Deployment artifacts from a scan and cockpit.toml: Dockerfile, .dockerignore, compose,
GitHub Actions, Kubernetes manifests, a Helm chart, fly.toml.

Generators are pure: `artifacts(kind, root)` returns (path, content) pairs and writes nothing;
the `generate` command shows a diff for any existing file and asks before replacing it.
cockpit.toml is optional: without one, the scan's answers (name from the directory, port,
health path, services, env vars) are used with a staging and a prod environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.scan.detect import DEFAULT_HEALTH_PATH  # one default for init, generate, demo
from cockpit.scan.model import ScanResult

KINDS = ("dockerfile", "dockerignore", "compose", "github", "kubernetes", "helm", "fly")


@dataclass
class Artifact:
    path: str  # relative to the project root
    content: str
    kind: str


@dataclass
class EnvSpec:
    name: str
    domain: str | None = None
    replicas: int = 1
    protected: bool = False
    namespace: str | None = None
    provider: str | None = None
    fly_app: str | None = None
    region: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # plain configuration (name -> value)


@dataclass
class Spec:
    """Everything a generator needs, from cockpit.toml when present, else from the scan."""

    app: str
    port: int
    health_path: str
    scan: ScanResult
    environments: list[EnvSpec] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # names only
    env: list[str] = field(default_factory=list)  # non-secret env var names the code reads
    build_args: dict[str, str] = field(default_factory=dict)
    release_command: str | None = None  # cockpit.toml's, else the scan's
    volumes: dict[str, str] = field(default_factory=dict)  # volume name -> path in container
    app_env: dict[str, str] = field(default_factory=dict)  # [app.env]: plain, every environment
    accessories: dict[str, Any] = field(default_factory=dict)  # [accessories.*] by name

    @property
    def staging(self) -> EnvSpec:
        for e in self.environments:
            if not e.protected:
                return e
        return self.environments[0]

    @property
    def prod(self) -> EnvSpec:
        for e in self.environments:
            if e.protected:
                return e
        return self.environments[-1]


def app_name(root: Path) -> str:
    """The app name for a folder: its name as `cockpit.template.slug` makes it (one slug)."""
    from cockpit.template import slug

    return slug(root.resolve().name)


def spec_for(root: Path | str, result: ScanResult | None = None, config: Any = None) -> Spec:
    from cockpit.scan import scan
    from cockpit.scan.detect import is_platform_env

    root = Path(root)
    result = result or scan(root)
    if config is None and (root / "cockpit.toml").exists():
        from cockpit import config as config_mod

        config = config_mod.load(root / "cockpit.toml")
    secret_names: list[str] = []
    envs: list[EnvSpec] = []
    if config is not None:
        app = config.app.name
        port = config.app.port
        health = config.app.health_path
        build_args = dict(config.app.build_args)
        for env in config.environments.values():
            settings = env.settings
            envs.append(
                EnvSpec(
                    name=env.name,
                    domain=env.domain,
                    replicas=env.common.replicas,
                    protected=env.protected,
                    provider=env.provider,
                    namespace=getattr(settings, "namespace", None),
                    fly_app=getattr(settings, "app", None) if env.provider == "fly" else None,
                    region=(list(getattr(settings, "regions", None) or []) or [None])[0],
                    env=env.plain_env,
                )
            )
            secret_names += [n for n in env.secret_names if n not in secret_names]
        release_command = config.app.release_command or result.release_command
        volumes = dict(config.app.volumes)
        app_env = dict(config.app.env)
    else:
        app = app_name(root)
        port = result.port or 8000
        health = result.health_path or DEFAULT_HEALTH_PATH
        build_args = {}
        envs = [EnvSpec("staging"), EnvSpec("prod", protected=True, replicas=2)]
        release_command = result.release_command
        volumes = scan_volumes(result)
        app_env = {}
    for var in result.env_vars:
        if var.secret and not is_platform_env(var.name) and var.name not in secret_names:
            secret_names.append(var.name)
    plain = [
        v.name
        for v in result.env_vars
        if not var_is_secret(v.name, secret_names)
        and not is_platform_env(v.name)
        and not v.build_time
    ]
    return Spec(
        app=app,
        port=port,
        health_path=health,
        scan=result,
        environments=envs,
        secrets=secret_names,
        env=plain,
        build_args=build_args,
        release_command=release_command,
        volumes=volumes,
        app_env=app_env,
        accessories=dict(next(iter(config.environments.values())).accessories)
        if config is not None and config.environments else {},
    )


def scan_volumes(result: ScanResult, workdir: str = "/app") -> dict[str, str]:
    """Volumes for the directories the app writes at run time (ScanResult.data_dirs, relative
    to the app root): volume name (the directory, '/' -> '-') -> `<workdir>/<dir>` (the
    generated images' WORKDIR is /app). `instance` -> {"instance": "/app/instance"}."""
    out: dict[str, str] = {}
    for rel in getattr(result, "data_dirs", None) or []:
        rel = rel.strip("/").removeprefix("./")
        if not rel or ".." in rel.split("/"):
            continue
        name = re.sub(r"[^a-z0-9_.-]+", "-", rel.lower()).strip("-.")[:63] or "data"
        out.setdefault(name, f"{workdir.rstrip('/')}/{rel}")
    return out


def var_is_secret(name: str, secrets: list[str]) -> bool:
    return name in secrets


def artifacts(
    kind: str, root: Path | str, result: ScanResult | None = None, config: Any = None,
    app: str | None = None,
) -> list[Artifact]:
    """The files one kind (or "all") consists of, rendered; nothing is written. `app` names
    the app when no cockpit.toml does yet (default: the config's name, else the folder's).

    "all" leaves out the Dockerfile when the project ships its own (one cockpit did not
    generate) and the scan has no error or warning on it: that is the image cockpit builds.
    A Dockerfile with findings (runs as root, never builds, starts a dev server) is offered
    for replacement; `kind="dockerfile"` always renders one."""
    spec = spec_for(root, result, config)
    if app and config is None and not (Path(root) / "cockpit.toml").exists():
        spec.app = app
    kinds = KINDS if kind == "all" else (kind,)
    if kind == "all" and own_dockerfile(Path(root)) and not dockerfile_findings(spec.scan):
        kinds = tuple(k for k in kinds if k != "dockerfile")
    out: list[Artifact] = []
    for k in kinds:
        out.extend(render(k, spec))
    return out


def dockerfile_findings(result: ScanResult) -> list[Any]:
    """Errors and warnings the scan reports on the project's Dockerfile itself (a missing
    .dockerignore is not one: generating a .dockerignore fixes it)."""
    return [f for f in result.findings if f.severity in ("error", "warning")
            and (f.path or "").lower() == "dockerfile" and f.id != "no-dockerignore"]


def own_dockerfile(root: Path) -> bool:
    """Whether `root` has a Dockerfile that `cockpit generate dockerfile` did not write."""
    for name in ("Dockerfile", "dockerfile"):
        try:
            head = (root / name).read_text(encoding="utf-8", errors="replace")[:200]
        except OSError:
            continue
        return not head.startswith("# Generated by `cockpit generate dockerfile`")
    return False


def render(kind: str, spec: Spec) -> list[Artifact]:
    from cockpit.errors import UsageError

    if kind == "dockerfile":
        from cockpit.generate.dockerfile import render as r

        return [Artifact("Dockerfile", r(spec), kind)]
    if kind == "dockerignore":
        from cockpit.generate.dockerignore import render as r

        return [Artifact(".dockerignore", r(spec.scan), kind)]
    if kind == "compose":
        from cockpit.generate.compose import render as r

        return [Artifact("compose.yaml", r(spec), kind)]
    if kind == "github":
        from cockpit.generate.github import render as r

        return [Artifact(".github/workflows/deploy.yml", r(spec), kind)]
    if kind == "kubernetes":
        from cockpit.generate.kubernetes import render_all

        return [Artifact(p, c, kind) for p, c in render_all(spec)]
    if kind == "helm":
        from cockpit.generate.helm import render_all

        return [Artifact(p, c, kind) for p, c in render_all(spec)]
    if kind == "fly":
        from cockpit.generate.fly import render as r

        return [Artifact("fly.toml", r(spec), kind)]
    raise UsageError(f"unknown artifact {kind!r}", hint=f"one of: {', '.join(KINDS)}, all")
