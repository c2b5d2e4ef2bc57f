"""What a scan returns: the detected stack and the findings that block a first deploy.

Plain dataclasses, no I/O. A finding never carries a secret value: hardcoded secrets are
reported by kind and location with the value shown as the redaction mask.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cockpit.models import Finding

SEVERITIES = ("error", "warning", "info")

FINDING_IDS = (
    "bind-localhost",
    "hardcoded-port",
    "dev-server",
    "debug-enabled",
    "no-build-step",
    "undeclared-env",
    "migrations-not-wired",
    "local-uploads",
    "no-health-endpoint",
    "hardcoded-secret",
    # a well-known default as a secret: SECRET_KEY = "dev", "changeme", django-insecure-...,
    # or an env lookup falling back to one (rules.weak_secrets)
    "weak-secret",
    "public-client-key",
    "test-fixture-secret",
    "sqlite-in-prod",
    "no-lockfile",
    "no-dockerignore",
    "root-container",
    "worker-not-deployed",  # a Procfile process other than web/release: cockpit runs web only
    "ambiguous-entry",  # several cmd/ servers or workspace packages: which one is deployed
    "official-base-image",  # the project's own Dockerfile pulls a literal image (no ARG)
)


@dataclass
class ScanFinding(Finding):
    """A `cockpit.models.Finding` plus the file and line it points at (`where` = "file:line")."""

    path: str | None = None
    line: int | None = None
    fixable: bool = False
    data: dict[str, Any] = field(default_factory=dict)  # rule-specific, never secret values

    @property
    def key(self) -> tuple[str, str]:
        """(id, where): what the corpus tests compare."""
        return (self.id, self.where or "")


@dataclass
class EnvVar:
    name: str
    required: bool  # read without a default
    where: str  # first place it is read, "file:line"
    build_time: bool = False  # NEXT_PUBLIC_* / VITE_*: baked in at build, needs a build arg
    secret: bool = False  # looks like a credential by its name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ScanResult:
    root: str
    stack: str  # python | node | go | ruby | php | static | unknown
    framework: str | None = None  # django | flask | fastapi | nextjs | express | vite | remix | ...
    start_command: str | None = None  # production start, `${PORT:-N}`-aware, shell syntax
    port: int | None = None
    health_path: str | None = None
    env_vars: list[EnvVar] = field(default_factory=list)
    services: list[str] = field(default_factory=list)  # postgres | redis | mysql | mongodb
    findings: list[ScanFinding] = field(default_factory=list)
    build_command: str | None = None
    # one-time step before traffic moves, ONE `sh -c` string, safe to repeat (a destructive
    # schema script carries its own "only when the schema is absent" guard)
    release_command: str | None = None
    install_command: str | None = None
    package_manager: str | None = None  # pip | uv | poetry | pipenv | npm | yarn | pnpm | bun | go
    lockfile: str | None = None
    dependency_file: str | None = None
    app_module: str | None = None  # python "pkg.module:app"
    entry_file: str | None = None
    static_dir: str | None = None  # what a static site / SPA serves
    # directories (relative to the app root) the app writes at run time: Flask instance/,
    # upload folders, a SQLite file's folder; the image creates them owned by the runtime user
    data_dirs: list[str] = field(default_factory=list)
    # plain (non-secret) env the image itself sets, e.g. DJANGO_SETTINGS_MODULE for split
    # settings: what `manage.py` and the WSGI server must agree on
    image_env: dict[str, str] = field(default_factory=dict)
    has_dockerfile: bool = False
    has_dockerignore: bool = False
    files_scanned: int = 0
    duration_s: float = 0.0

    @property
    def errors(self) -> list[ScanFinding]:
        return [f for f in self.findings if f.severity == "error"]

    def finding_keys(self) -> list[tuple[str, str]]:
        return sorted(f.key for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["findings"] = [
            {k: v for k, v in dataclasses.asdict(f).items() if k != "data"} | _public(f)
            for f in self.findings
        ]
        return data


def _public(f: ScanFinding) -> dict[str, Any]:
    """The parts of `data` that may be shown (secret kind and masked form, env var name)."""
    shown = {k: v for k, v in f.data.items() if k in ("kind", "masked", "name", "command")}
    return {"detail": shown} if shown else {}
