"""`cockpit init`: write a commented cockpit.toml with a staging and a prod environment."""

from __future__ import annotations

import argparse
from pathlib import Path

from cockpit.cli._common import common, renderer
from cockpit.config import FILENAME, loads, write_atomic
from cockpit.errors import UsageError
from cockpit.scan.detect import DEFAULT_HEALTH_PATH
from cockpit.template import (
    lab_values,
    render,
    render_for_scan,
    scan_or_none,
    secrets_for_scan,
    slug,
)


def provider_names() -> list[str]:
    """Built-in providers first, then any installed through the entry-point group."""
    from cockpit.plugins import provider_names as found

    names = [n for n in ("vps", "kubernetes", "fly") if n in found()]
    return names + [n for n in found() if n not in names]


class _Installed:
    """`--provider` choices, read from the installed metadata only when init runs or prints
    its help (reading it costs ~50 ms, which no other command should pay)."""

    def __contains__(self, name: object) -> bool:
        return name in provider_names()

    def __iter__(self):
        return iter(provider_names())


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", parents=[common()], help="write a commented cockpit.toml",
                       description=__doc__)
    p.add_argument("path", nargs="?", default=".", help="the app's directory (default: .)")
    p.add_argument("--name", help="app name (default: the directory name)")
    p.add_argument("--provider", default="vps", choices=_Installed())
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


def run(args: argparse.Namespace) -> int:
    out = renderer(args)
    root = Path(args.path).resolve()
    if args.interactive:
        from cockpit.screens.app import run as run_tui

        return run_tui(root / FILENAME, interactive_init=True)
    target = root / FILENAME
    if target.exists() and not args.force:
        raise UsageError(f"{target} already exists", hint="use --force to replace it (keeps .bak)")
    result = scan_or_none(root)
    secrets = list(args.secret)
    if result is not None:
        secrets += [n for n in secrets_for_scan(result) if n not in secrets]
    lab = lab_values() if args.lab else None
    vps = {"host": args.host, "user": args.user, "ssh_port": args.ssh_port}
    if lab:
        vps = {"host": args.host or lab["host"], "user": args.user or lab["user"],
               "ssh_port": args.ssh_port or lab["ssh_port"]}
    name = slug(args.name or root.name)
    host_ports, ports_note = None, ""
    if args.provider == "vps":
        host_ports, ports_note = free_host_ports(name, vps, lab)
        if ports_note:
            from cockpit.events import Message

            out.emit(Message(ports_note))
    if result is not None:
        text = render_for_scan(name, result, args.provider, vps, lab, port=args.port,
                               health=args.health_path, secrets=secrets, host_ports=host_ports)
    else:
        text = render(name, args.provider, int(args.port or 8000),
                      args.health_path or DEFAULT_HEALTH_PATH, secrets, vps, lab,
                      host_ports=host_ports)
    loads(text, target)  # never write a file that does not load
    write_atomic(target, text)
    out.result({"path": str(target), "app": name, "provider": args.provider,
                "host_ports": host_ports or {}},
               human=f"wrote {target} (app {name!r}, environments staging and prod, "
               f"provider {args.provider}). Next: `cockpit config check`.")
    return 0


def free_host_ports(name: str, vps: dict, lab: dict | None) -> tuple[dict[str, int] | None, str]:
    """Free host ports on the target, reserved there for app `name` (the host's port
    registry, `cockpit.providers.vps.ports`), when init can reach it: with `--lab` (the lab's
    host key fingerprint is trusted), or a `--host` whose key cockpit already knows. Returns
    ({env: host_port} or None, a note for the user); None keeps the defaults (8101, 8201) and
    `cockpit setup` checks them against the host's registry."""
    from cockpit.errors import CockpitError
    from cockpit.template import ENVS, domain_for

    host = vps.get("host")
    if not host:
        return None, ""
    port = int(vps.get("ssh_port") or 22)
    trusted = [lab["hostkey"]] if lab and lab.get("hostkey") else []
    if not lab:
        from cockpit.providers.vps.flow import host_key_known

        if not host_key_known(host, port):
            return None, (f"host ports: the defaults; {host}'s key is not known yet, so "
                          "`cockpit setup` checks them against the host's port registry")
    from cockpit.providers.vps import ports

    domains = {env: (domain_for(name, env, sub, lab) if lab else None) for env, _, sub in ENVS}
    try:
        chosen = ports.reserve_for_init(
            host=host, ssh_port=port, user=vps.get("user") or "deploy",
            identity_file=(lab or {}).get("ssh_key") or None, trusted=trusted, app=name,
            domains=domains, starts={env: p for env, p, _ in ENVS})
    except (CockpitError, OSError) as exc:
        what = getattr(exc, "what", None) or str(exc)
        return None, (f"host ports: the defaults; could not reach {host} to pick free ones "
                      f"({what}); `cockpit setup` checks them")
    return chosen, ("host ports " + ", ".join(f"{env} {p}" for env, p in chosen.items())
                    + f": free on {host} and reserved there for {name}")
