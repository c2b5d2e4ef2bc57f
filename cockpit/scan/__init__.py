"""Deployment-readiness scan: what stack a project is, how it starts in production, and what
will break at its first deploy (stable finding ids, file:line, why, fix).

`scan(path)` is fast and side-effect free (it reads, never writes or runs anything), so the
TUI wizard can call it on every keystroke-sized change. `cockpit.scan.fixes` turns the fixable
findings into a reviewed diff.
"""

from __future__ import annotations

import time
from pathlib import Path

from cockpit.scan.model import FINDING_IDS, EnvVar, ScanFinding, ScanResult

__all__ = ["scan", "ScanResult", "ScanFinding", "EnvVar", "FINDING_IDS"]

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def scan(path: Path | str = ".") -> ScanResult:
    from cockpit.errors import UsageError
    from cockpit.scan.detect import detect
    from cockpit.scan.project import Project
    from cockpit.scan.rules import RULES

    started = time.perf_counter()
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory", hint="pass the project's root directory")
    project = Project(root)
    result, app = detect(project)
    findings: list[ScanFinding] = []
    for rule in RULES:
        findings.extend(rule(project, result, app))
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for f in findings:
        key = (f.id, f.where or "", f.message)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    unique.sort(key=lambda f: (_SEVERITY_ORDER.get(f.severity, 9), f.path or "", f.line or 0, f.id))
    result.findings = unique
    result.files_scanned = len(project.scannable)
    result.duration_s = round(time.perf_counter() - started, 4)
    return result
