"""`cockpit scan [PATH] [--fix]`: what stack this is, how it starts in production, and what will
break at the first deploy. Exit code 1 when an error-severity finding remains (like a linter).

`--fix` shows the safe fixes as a unified diff first and applies them on yes (`--yes` for CI).
Files with uncommitted changes are named before anything is written; every edited file that
git could not restore gets a `<file>.orig` backup. A hardcoded secret moved to an env var can go
straight into the keyring when a cockpit.toml is there (asked on a terminal; reported in
--json/--yes mode). Secret values are never printed: they show as ••••.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cockpit.cli._common import ask, common, interactive, renderer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan",
        parents=[common(yes=True)],
        help="find what blocks a first deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", nargs="?", default=".", help="project directory (default: .)")
    p.add_argument("--fix", action="store_true", help="show the safe fixes as a diff, apply on yes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cockpit.scan import scan

    out = renderer(args)
    root = Path(args.path)
    result = scan(root)
    data: dict[str, Any] = {"scan": result.to_dict()}
    if not out.json:
        out.text(_summary(result))
    if args.fix:
        data["fix"] = _fix(args, out, root, result)
        if data["fix"].get("applied"):
            result = scan(root)
            data["after"] = result.to_dict()
            if not out.json:
                left = len(result.findings)
                out.text(
                    f"\nafter the fixes: {left} finding{'s' if left != 1 else ''} left"
                    + (" (see above for what needs a person)" if left else "")
                )
    out.result(data, human=None)
    return 1 if result.errors else 0


def _summary(result) -> str:
    lines = [
        f"{result.root}: {result.stack}" + (f" / {result.framework}" if result.framework else "")
    ]
    rows = [
        ("start", result.start_command),
        ("port", result.port),
        ("health", result.health_path),
        ("build", result.build_command),
        ("release", result.release_command),
        ("services", ", ".join(result.services) or None),
    ]
    for name, value in rows:
        if value:
            lines.append(f"  {name:<9}{value}")
    if result.env_vars:
        names = ", ".join(e.name + ("" if e.required else "?") for e in result.env_vars)
        lines.append(f"  {'env':<9}{names}  (? = has a default)")
    if not result.findings:
        lines.append("\nno findings: nothing blocks a first deploy that a scan can see")
        return "\n".join(lines)
    counts = {
        s: sum(1 for f in result.findings if f.severity == s) for s in ("error", "warning", "info")
    }
    lines.append(
        "\n" + ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
    )
    for f in result.findings:
        mark = " (fixable)" if f.fixable else ""
        lines.append(f"  {f.severity:<7} {f.id:<21} {f.where or '':<28} {f.message}{mark}")
        if f.fix:
            lines.append(f"  {'':<7} {'':<21} {'':<28} fix: {f.fix}")
    return "\n".join(lines)


def _fix(args: argparse.Namespace, out: Any, root: Path, result) -> dict[str, Any]:
    from cockpit.scan.fixes import apply_fixes, dirty_files, plan_fixes

    plan = plan_fixes(root, result)
    info: dict[str, Any] = plan.to_dict() | {"applied": False}
    if plan.empty:
        if not out.json:
            out.text(
                "\nnothing to fix automatically"
                + (f"; {len(plan.manual)} finding(s) need a person" if plan.manual else "")
            )
        return info
    dirty = dirty_files(plan)
    info["dirty"] = dirty
    if not out.json:
        out.text("\nproposed changes:\n" + plan.diff())
        for rel in dirty:
            out.text(f"warning: {rel} has uncommitted changes; a {rel}.orig backup is kept")
    if not (args.yes or ask(f"Apply these changes to {len(plan.changes)} file(s)?")):
        if not out.json:
            out.text("not applied" + ("" if interactive() else " (re-run with --yes to apply)"))
        return info
    report = apply_fixes(plan)
    info["applied"] = bool(report.written)
    info |= report.to_dict()
    if not out.json:
        out.text(f"wrote {', '.join(report.written) or 'nothing'}")
        if report.backups:
            out.text(
                f"backups: {', '.join(report.backups)} (delete them once reviewed; "
                "they may hold the old values)"
            )
        for rel in report.skipped:
            out.text(f"skipped {rel}: it changed since the diff was made; run the scan again")
    info["secrets"] = _offer_keyring(args, out, root, plan)
    return info


def _offer_keyring(args: argparse.Namespace, out: Any, root: Path, plan) -> list[dict[str, Any]]:
    """Moved secrets: store the value in the keyring on request, else say how to set it."""
    moved = []
    cfg = None
    if plan.secrets and (root / "cockpit.toml").exists():
        from cockpit import config
        from cockpit.errors import CockpitError

        try:
            cfg = config.load(root / "cockpit.toml")
        except CockpitError as exc:
            if not out.json:
                out.text(
                    f"warning: cockpit.toml does not load ({exc.message}); not offering the keyring"
                )
    for secret in plan.secrets:
        entry = secret.to_dict() | {"stored": []}
        if cfg is not None and not out.json and not args.yes and interactive():
            from cockpit.secrets import SecretStore

            store = SecretStore(cfg.app.name)
            for env in cfg.environments.values():
                if ask(f"Store {secret.name}'s old value in the keyring for {env.name!r}?"):
                    store.set(env, secret.name, secret.value)
                    entry["stored"].append(env.name)
                    if secret.name not in env.secret_names:
                        out.text(
                            f'  add "{secret.name}" to [secrets] {env.name} in cockpit.toml '
                            "so deploys pass it"
                        )
        if not entry["stored"]:
            entry["hint"] = (
                f"set it: cockpit secrets set ENV {secret.name} (and rotate it: the old "
                "value is in the history)"
            )
            if not out.json:
                out.text(f"{secret.name}: now read from the environment; {entry['hint']}")
        moved.append(entry)
    return moved
