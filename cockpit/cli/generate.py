"""`cockpit generate [KIND]`: deployment artifacts from a scan and cockpit.toml.

KIND is one of dockerfile, dockerignore, compose, github, kubernetes, helm, fly, or all (the
default). New files are written; an existing file that would change is shown as a diff and
replaced only on yes (`--yes` accepts). Files git could not restore get a `.orig` backup.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cockpit.cli._common import ask, common, renderer

KIND_CHOICES = (
    "dockerfile",
    "dockerignore",
    "compose",
    "github",
    "kubernetes",
    "helm",
    "fly",
    "all",
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        parents=[common(yes=True)],
        help="write Dockerfile, compose, CI workflow, k8s, Helm, fly.toml",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "kind",
        nargs="?",
        default="all",
        choices=KIND_CHOICES,
        metavar="KIND",
        help=f"one of: {', '.join(KIND_CHOICES)} (default: all)",
    )
    p.add_argument(
        "--dir",
        "-C",
        default=".",
        metavar="PATH",
        help="project directory (default: the one holding --config, else .)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cockpit.generate import artifacts
    from cockpit.scan import scan
    from cockpit.scan.fixes import FileChange, FixPlan, apply_fixes

    out = renderer(args)
    cfg = None
    root = Path(args.dir)
    if getattr(args, "config", None):
        from cockpit import config

        cfg = config.load(Path(args.config))
        if args.dir == ".":
            root = cfg.root
    result = scan(root)
    arts = artifacts(args.kind, root, result, cfg)
    files: list[dict[str, Any]] = []
    accepted = FixPlan(root=root)
    diffs = []
    for art in arts:
        path = root / art.path
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current == art.content:
            files.append({"path": art.path, "kind": art.kind, "status": "unchanged"})
            continue
        change = FileChange(art.path, current, art.content, [f"generate {art.kind}"])
        if current is None:
            accepted.changes.append(change)
            files.append({"path": art.path, "kind": art.kind, "status": "created"})
            continue
        diff = FixPlan(root=root, changes=[change]).diff()
        diffs.append(diff)
        if not out.json:
            out.text(f"{art.path} exists and differs:\n{diff}")
        if args.yes or ask(f"Replace {art.path}?"):
            accepted.changes.append(change)
            files.append({"path": art.path, "kind": art.kind, "status": "updated"})
        else:
            files.append(
                {
                    "path": art.path,
                    "kind": art.kind,
                    "status": "kept",
                    "hint": "re-run with --yes to replace it",
                }
            )
    report = apply_fixes(accepted)
    for entry in files:
        if entry["path"] in report.skipped:
            entry["status"] = "skipped"
            entry["hint"] = "the file changed while generating; run again"
    notes = _notes(result)
    if not out.json:
        for entry in files:
            extra = f" ({entry['hint']})" if entry.get("hint") else ""
            out.text(f"  {entry['status']:<9} {entry['path']}{extra}")
        if report.backups:
            out.text(f"backups: {', '.join(report.backups)}")
        for note in notes:
            out.text(f"note: {note}")
    out.result({"files": files, "backups": report.backups, "notes": notes, "diff": "".join(diffs)})
    return 0


def _notes(result) -> list[str]:
    notes = []
    blocking = {f.id for f in result.findings if f.severity == "error"}
    if "dev-server" in blocking:
        fixable = any(f.id == "dev-server" and f.fixable for f in result.findings)
        fix = next((f.fix for f in result.findings if f.id == "dev-server"), "")
        notes.append(
            "the scan found a development server; the artifacts use "
            f"`{result.start_command}` "
            + ("(cockpit scan --fix adds the server dependency)" if fixable else f"({fix})")
        )
    if "hardcoded-secret" in blocking:
        notes.append("a hardcoded secret is still in the source: cockpit scan --fix moves it")
    from cockpit.generate import dockerfile_findings, own_dockerfile

    if own_dockerfile(Path(result.root)) and not dockerfile_findings(result):
        notes.append("the project's own Dockerfile is the image cockpit builds; it was left "
                     "as it is (`cockpit generate dockerfile` shows what cockpit would write)")
    elif result.stack == "unknown":
        notes.append("the stack was not recognised; review the generated Dockerfile")
    return notes
