"""`cockpit init`: write a commented cockpit.toml with a staging and a prod environment."""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

from cockpit.commands._common import common, renderer
from cockpit.config import FILENAME, loads, write_atomic
from cockpit.errors import UsageError

SECRETISH = re.compile(r"(SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|PRIVATE|CREDENTIAL|_KEY$)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", parents=[common()], help="write a commented cockpit.toml",
                       description=__doc__)
    p.add_argument("path", nargs="?", default=".", help="the app's directory (default: .)")
    p.add_argument("--name", help="app name (default: the directory name)")
    p.add_argument("--provider", default="vps", choices=["vps", "kubernetes", "fly"])
    p.add_argument("--port", type=int, help="port the app listens on (default: from the scan)")
    p.add_argument("--health-path", help="health endpoint (default: from the scan, else /up)")
    p.add_argument("--host", default=None, help="VPS host (vps provider)")
    p.add_argument("--user", default=None, help="SSH user (vps provider)")
    p.add_argument("--ssh-port", type=int, default=None, help="SSH port (vps provider)")
    p.add_argument("--secret", action="append", default=[], metavar="NAME",
                   help="a secret name both environments need (repeatable)")
    p.add_argument("--lab", action="store_true",
                   help="fill in the local lab's addresses (from `scripts/lab env`)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing cockpit.toml (the old one is kept as .bak)")
    p.add_argument("--interactive", action="store_true", help="open the TUI wizard instead")
    p.set_defaults(func=run)


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40].strip("-")
    return slug or "app"


def _scan_defaults(root: Path) -> dict:
    try:
        from cockpit.scan import scan  # the scanner, when present
    except ImportError:
        return {}
    try:
        result = scan(root)
    except Exception:
        return {}
    data = result.to_dict() if hasattr(result, "to_dict") else {}
    return data


def render(name: str, provider: str, port: int, health: str, secrets: list[str],
           vps: dict | None = None, lab: dict | None = None) -> str:
    lab = lab or {}
    vps = vps or {}
    q = json.dumps
    lines = [
        "# cockpit.toml: how this app is built, where it runs, which secrets it needs.",
        "# Secret VALUES never go here: `cockpit secrets set ENV NAME` puts them in the OS keyring.",
        "",
        "[app]",
        f"name = {q(name)}",
        'context = "."             # build context, relative to this file',
        'dockerfile = "Dockerfile"',
        f"port = {port}               # the port the app listens on inside its container",
        f"health_path = {q(health)}       # must answer 2xx when the app can serve",
    ]
    if lab.get("base_image"):
        lines += ["", "[app.build_args]", f"BASE_IMAGE = {q(lab['base_image'])}"]
    envs = [("staging", 8101, "staging"), ("prod", 8201, "prod")]
    for env, host_port, sub in envs:
        lines += ["", f"[environments.{env}]", f"provider = {q(provider)}"]
        if env == "prod":
            lines.append("# prod is protected: actions need `--confirm prod` or the typed name")
        if provider == "vps":
            lines += [
                f"host = {q(vps.get('host') or 'your-server.example.com')}",
                f"user = {q(vps.get('user') or 'deploy')}",
                f"ssh_port = {vps.get('ssh_port') or 22}",
                f"host_port = {host_port}           # this environment's loopback port on the host",
            ]
            if lab:
                lines += [
                    f"identity_file = {q(lab['ssh_key'])}",
                    'network = "host"           # lab: containers share the host network',
                    f"http_port = {lab['http_port']}",
                    f"https_port = {lab['https_port']}",
                    f"dns_resolver = {q(lab['dns'])}",
                ]
                if lab.get("registry"):
                    lines.append(f"registry = {q(lab['registry'])}")
                lines += [
                    f"domain = {q(f'{sub}.{name}.test')}",
                    f"acme_ca = {q(lab['acme_ca'])}",
                    f"acme_ca_root = {q(lab['acme_ca_root'])}",
                ]
                if lab.get("acme_issuer_root"):  # the edge gate verifies Pebble's certificates
                    lines.append(f"edge_ca_file = {q(lab['acme_issuer_root'])}")
                admin = str(lab.get("caddy_admin") or "").rpartition(":")[2]
                if admin.isdigit() and admin != "2019":
                    lines.append(f"edge_admin_port = {admin}")
            else:
                lines.append(f"# domain = \"{sub}.example.com\"")
        elif provider == "kubernetes":
            lines += [f"namespace = {q(f'{name}-{env}')}",
                      '# kubeconfig = "~/.kube/config"',
                      '# context = "my-cluster"',
                      '# image_repository = "registry.example.com/app"  # the cluster pulls here',
                      f"# domain = \"{sub}.example.com\""]
        elif provider == "fly":
            lines += [f"app = {q(f'{name}-{env}')}", 'org = "personal"', 'regions = ["iad"]',
                      f"# domain = \"{sub}.example.com\""]
        lines += ["replicas = 1", "", f"[environments.{env}.gate]",
                  "count = 3                  # consecutive 2xx answers before traffic switches",
                  "deadline = 60.0            # seconds before the gate gives up"]
    lines += ["", "[secrets]", "# the names each environment needs"]
    for env, _, _ in envs:
        lines.append(f"{env} = {q(secrets)}")
    return "\n".join(lines) + "\n"


def lab_values() -> dict:
    env = os.environ
    if not env.get("COCKPIT_LAB_SSH_PORT"):
        raise UsageError("--lab needs the lab's variables", hint="eval \"$(scripts/lab env)\"")
    return {
        "host": env.get("COCKPIT_LAB_SSH_HOST", "127.0.0.1"),
        "user": env.get("COCKPIT_LAB_SSH_USER", "deploy"),
        "ssh_port": int(env["COCKPIT_LAB_SSH_PORT"]),
        "ssh_key": env.get("COCKPIT_LAB_SSH_KEY", ""),
        "http_port": int(env.get("COCKPIT_LAB_HTTP_PORT", "8080")),
        "https_port": int(env.get("COCKPIT_LAB_HTTPS_PORT", "8443")),
        "dns": env.get("COCKPIT_LAB_DNS", "127.0.0.1:8053"),
        "registry": env.get("COCKPIT_LAB_REGISTRY", ""),
        "acme_ca": env.get("COCKPIT_LAB_ACME_CA", "https://127.0.0.1:14000/dir"),
        "acme_ca_root": env.get("COCKPIT_LAB_ACME_CA_ROOT", ""),
        "acme_issuer_root": env.get("COCKPIT_LAB_ACME_ISSUER_ROOT", ""),
        "caddy_admin": env.get("COCKPIT_LAB_CADDY_ADMIN", ""),
        "base_image": env.get("COCKPIT_LAB_BASE_IMAGE", ""),
    }


def run(args: argparse.Namespace) -> int:
    out = renderer(args)
    root = Path(args.path).resolve()
    if args.interactive:
        from cockpit.screens.app import run as run_tui

        return run_tui(root / FILENAME, interactive_init=True)
    target = root / FILENAME
    if target.exists() and not args.force:
        raise UsageError(f"{target} already exists", hint="use --force to replace it (keeps .bak)")
    scanned = _scan_defaults(root)
    port = args.port or scanned.get("port") or 8000
    health = args.health_path or scanned.get("health_path") or "/up"
    secrets = list(args.secret)
    for var in scanned.get("env_vars", []) or []:
        name = var if isinstance(var, str) else var.get("name", "")
        if name and SECRETISH.search(name) and name not in secrets:
            secrets.append(name)
    lab = lab_values() if args.lab else None
    vps = {"host": args.host, "user": args.user, "ssh_port": args.ssh_port}
    if lab:
        vps = {"host": args.host or lab["host"], "user": args.user or lab["user"],
               "ssh_port": args.ssh_port or lab["ssh_port"]}
    name = _slug(args.name or root.name)
    text = render(name, args.provider, int(port), health, secrets, vps, lab)
    loads(text, target)  # never write a file that does not load
    write_atomic(target, text)
    out.result({"path": str(target), "app": name, "provider": args.provider},
               human=f"wrote {target} (app {name!r}, environments staging and prod, "
               f"provider {args.provider}). Next: `cockpit config check`.")
    return 0
