"""The generated Dockerfile names the app, not the folder it sits in: `cockpit demo` copies an
app to a work folder (`--dir /tmp/x/work`) and generates its Dockerfile before it writes the
cockpit.toml that names the app, so it hands the name over; a cockpit.toml's name wins."""

from __future__ import annotations

import shutil
from pathlib import Path

from cockpit.changes import missing_artifacts
from cockpit.generate import artifacts
from cockpit.scan import scan

APP = Path(__file__).parent.parent / "scan" / "apps" / "clean-flask"


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(APP, work)
    for generated in ("Dockerfile", ".dockerignore", "cockpit.toml"):
        (work / generated).unlink(missing_ok=True)
    return work


def _build_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("# Build: "))


def test_the_dockerfile_comment_builds_the_app_by_its_name(tmp_path: Path) -> None:
    work = _work(tmp_path)
    assert _build_line(artifacts("dockerfile", work)[0].content) == \
        "# Build: docker build -t work ."  # no name given, no cockpit.toml: the folder's
    changes = missing_artifacts(work, scan(work), app="notes-api")
    dockerfile = next(c for c in changes if c.path == "Dockerfile")
    assert _build_line(dockerfile.after) == "# Build: docker build -t notes-api ."


def test_a_cockpit_toml_name_wins_over_a_given_one(tmp_path: Path) -> None:
    work = _work(tmp_path)
    (work / "cockpit.toml").write_text('[app]\nname = "from-toml"\n')
    art = artifacts("dockerfile", work, app="notes-api")[0]
    assert _build_line(art.content) == "# Build: docker build -t from-toml ."
