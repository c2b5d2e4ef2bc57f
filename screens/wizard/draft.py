"""What the wizard has gathered, and the cockpit.toml it becomes. Pure: no Textual, no I/O
except reading the project for the scan summary, so it is tested on its own."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENVS = ("staging", "prod")
PROVIDERS = {
    "vps": "a server you reach over SSH: host, user and key (Docker on the host; Caddy + "
           "HAProxy are set up for you)",
    "kubernetes": "a cluster from your kubeconfig: context and one namespace per environment",
    "fly": "Fly.io Machines: org and one app per environment (token in the keyring)",
}


@dataclass
class ScanSummary:
    stack: str = "unknown"
    framework: str | None = None
    port: int | None = None
    health_path: str | None = None
    env_vars: list[str] = field(default_factory=list)
    secret_vars: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    has_dockerfile: bool = False


def scan_project(root: Path) -> ScanSummary:
    """The scanner's view when it is available; else a minimal reading of the Dockerfile."""
    try:
        from cockpit.scan import scan
    except ImportError:
        return _minimal_scan(root)
    result = scan(root)
    return ScanSummary(
        stack=result.stack, framework=result.framework, port=result.port,
        health_path=result.health_path,
        env_vars=[v.name for v in result.env_vars],
        secret_vars=[v.name for v in result.env_vars if v.secret],
        findings=[f"{f.severity}: {f.message}" + (f" ({f.where})" if f.where else "")
                  for f in result.findings],
        has_dockerfile=result.has_dockerfile,
    )


def _minimal_scan(root: Path) -> ScanSummary:
    summary = ScanSummary()
    dockerfile = root / "Dockerfile"
    if dockerfile.is_file():
        summary.has_dockerfile = True
        text = dockerfile.read_text(errors="replace")
        if m := re.search(r"^\s*EXPOSE\s+(\d+)", text, re.M):
            summary.port = int(m.group(1))
        if m := re.search(r"https?://[^/\s'\"]+(/[\w/.-]*)", text):
            summary.health_path = m.group(1)
    return summary




def lab_defaults() -> dict[str, Any] | None:
    """The local lab's addresses when its variables are exported (`scripts/lab env`)."""
    if not os.environ.get("COCKPIT_LAB_SSH_PORT"):
        return None
    from cockpit.template import lab_values

    return lab_values()


@dataclass
class Draft:
    root: Path
    name: str
    port: int = 8000
    health_path: str = "/up"
    provider: str = "vps"
    vps: dict[str, Any] = field(default_factory=lambda: {"host": "", "user": "deploy",
                                                         "ssh_port": 22, "identity_file": ""})
    kube: dict[str, str] = field(default_factory=dict)  # context, namespace_staging, ..._prod
    fly: dict[str, str] = field(default_factory=dict)  # org, app_staging, app_prod
    secrets: list[str] = field(default_factory=list)
    domains: dict[str, str] = field(default_factory=dict)
    lab: dict[str, Any] | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # env -> extra keys

    @property
    def path(self) -> Path:
        return self.root / "cockpit.toml"

    def render(self) -> str:
        """A commented cockpit.toml (the same template as `cockpit init`, then our answers)."""
        import tomlkit

        from cockpit.template import render

        vps = {"host": self.vps.get("host") or None, "user": self.vps.get("user") or None,
               "ssh_port": int(self.vps.get("ssh_port") or 22)}
        lab = self.lab if self.provider == "vps" else None
        build_args = None
        if lab:  # the lab images standing in for the official ones the Dockerfile names
            from cockpit.template import lab_build_args

            build_args = lab_build_args(self.root / "Dockerfile", lab) or None
        text = render(self.name, self.provider, int(self.port), self.health_path,
                      list(self.secrets), vps, lab, build_args=build_args)
        text = "# Written by the cockpit wizard; edit freely, comments are kept.\n" + text
        doc = tomlkit.parse(text)
        envs = doc["environments"]
        for env in ENVS:
            table = envs[env]
            if self.provider == "vps":
                key = self.vps.get("identity_file")
                if key:
                    table["identity_file"] = key
            elif self.provider == "kubernetes":
                if self.kube.get("context"):
                    table["context"] = self.kube["context"]
                table["namespace"] = self.kube.get(f"namespace_{env}") or f"{self.name}-{env}"
            elif self.provider == "fly":
                table["org"] = self.fly.get("org") or "personal"
                table["app"] = self.fly.get(f"app_{env}") or f"{self.name}-{env}"
            if self.provider == "vps" and self.lab:
                # The lab's edge: its admin port and the CA that signs its certificates.
                admin = os.environ.get("COCKPIT_LAB_CADDY_ADMIN", "")
                if admin.rpartition(":")[2].isdigit():
                    table["edge_admin_port"] = int(admin.rpartition(":")[2])
                if os.environ.get("COCKPIT_LAB_ACME_ISSUER_ROOT"):
                    table["edge_ca_file"] = os.environ["COCKPIT_LAB_ACME_ISSUER_ROOT"]
            domain = (self.domains.get(env) or "").strip()
            if domain:
                table["domain"] = domain
            elif "domain" in table:
                del table["domain"]
            for key, value in self.overrides.get(env, {}).items():
                table[key] = value
        return tomlkit.dumps(doc)

    def config(self):
        """The validated config (raises ConfigError naming the line and key)."""
        from cockpit.config import loads

        return loads(self.render(), self.path)

    def default_domains(self) -> dict[str, str]:
        if self.lab and self.provider == "vps":
            return {"staging": f"staging.{self.name}.test", "prod": f"prod.{self.name}.test"}
        return {"staging": "", "prod": ""}
