"""The reviewed changes a first deploy needs: the scan's safe fixes and the missing artifacts.

Shared by `cockpit demo` and the wizard's scan step: both show these as diffs and write only what
the user accepted, through `cockpit.scan.fixes.apply_fixes` (atomic, parse-checked, backed up).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def fix_plan(work: Path, result: Any):
    """The safe fixes of `cockpit scan --fix` for this scan (cockpit.scan.fixes.plan_fixes):
    a FixPlan, nothing written yet."""
    from cockpit.scan.fixes import plan_fixes

    return plan_fixes(work, result)


def missing_artifacts(work: Path, result: Any, app: str | None = None) -> list[Any]:
    """What a first deploy needs and the folder lacks, rendered by `cockpit generate` (nothing
    written): a FileChange (before None) for a missing Dockerfile and .dockerignore, in that
    order. An app that ships its own Dockerfile gets none. `app`: the app's name when it is
    chosen before its cockpit.toml exists (the demo), else the folder's."""
    from cockpit.generate import artifacts
    from cockpit.scan.fixes import FileChange

    out = []
    for kind, path in (("dockerfile", "Dockerfile"), ("dockerignore", ".dockerignore")):
        if (work / path).exists():
            continue
        for art in artifacts(kind, work, result, app=app):
            if not (work / art.path).exists():
                out.append(FileChange(art.path, None, art.content, [f"generate {art.kind}"]))
    return out


def write_changes(work: Path, changes: list[Any], secrets: list[Any] | None = None) -> Any:
    """Write these FileChanges with `apply_fixes` (atomic, refuses files changed since the
    plan, `.orig` backups of files git cannot restore). Returns its ApplyReport."""
    from cockpit.scan.fixes import FixPlan, apply_fixes

    return apply_fixes(FixPlan(root=work, changes=list(changes), secrets=list(secrets or [])))


def drop_backups(work: Path, backups: list[str]) -> None:
    """The work folder is a copy: the app's own folder is the original, so the `.orig` backups
    apply_fixes keeps (which can hold a moved secret's old value) do not stay in the build
    context."""
    for rel in backups:
        path = Path(rel) if Path(rel).is_absolute() else work / rel
        if work in path.resolve().parents:
            path.unlink(missing_ok=True)
