"""`cockpit scan --fix`: a reviewed diff, applied without losing content or showing a secret."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cockpit.cli import main
from cockpit.scan import scan
from cockpit.scan.fixes import apply_fixes, dirty_files, plan_fixes

APPS = Path(__file__).parent / "apps"
AI_APPS = ["flask-debug", "express-apikey", "nextjs-dev", "django-sqlite", "fastapi-uploads",
           "express-uploads"]
SECRETS = {
    "flask-debug": "a8f5f167f44f4964e6c998dee827110c",
    "express-apikey": "sk-proj-Xq7Tz9LmN2vB4kR8wP1sD6fG3hJ5yU0eA9cV2bN7mQ4xZ1tK8",
    "django-sqlite": "django-insecure-7#k2m!x9$q@v3z&w8p^r5t*n1b(y6u)c4e0-h+j=f_s%l",
}


def copy_app(tmp_path: Path, app: str) -> Path:
    dest = tmp_path / app
    shutil.copytree(APPS / app, dest)
    return dest


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "HOME": str(root),
            "PATH": "/usr/bin:/bin",
        },
    ).stdout


@pytest.mark.parametrize("app", AI_APPS)
def test_fix_outside_git_keeps_every_original_in_a_backup(tmp_path: Path, app: str) -> None:
    root = copy_app(tmp_path, app)
    before = snapshot(root)
    plan = plan_fixes(root)
    assert not plan.empty
    report = apply_fixes(plan)
    after = snapshot(root)
    for rel, text in before.items():
        assert after[rel] == text or after[rel + ".orig"] == text, rel
    assert set(report.backups) == {c.path + ".orig" for c in plan.changes if not c.new}


@pytest.mark.parametrize("app", AI_APPS)
def test_fixed_findings_are_gone_on_the_next_scan(tmp_path: Path, app: str) -> None:
    root = copy_app(tmp_path, app)
    plan = plan_fixes(root)
    apply_fixes(plan)
    again = scan(root)
    assert [f for f in again.findings if f.fixable] == []
    assert plan_fixes(root, again).empty  # idempotent


def test_fixed_apps_bind_all_interfaces_read_port_and_have_health(tmp_path: Path) -> None:
    root = copy_app(tmp_path, "flask-debug")
    apply_fixes(plan_fixes(root))
    text = (root / "app.py").read_text()
    assert 'host="0.0.0.0", port=int(os.environ.get("PORT", 5000))' in text
    assert text.startswith("import os\n")
    assert "gunicorn==" in (root / "requirements.txt").read_text()
    result = scan(root)
    assert result.health_path == "/health"
    assert "SECRET_KEY=" in (root / ".env.example").read_text()
    compile(text, "app.py", "exec")


def test_fix_in_a_clean_git_tree_needs_no_backup(tmp_path: Path) -> None:
    root = copy_app(tmp_path, "fastapi-uploads")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    plan = plan_fixes(root)
    assert dirty_files(plan) == []
    report = apply_fixes(plan)
    assert report.backups == []
    assert git(root, "show", "HEAD:main.py") == (APPS / "fastapi-uploads/main.py").read_text()


def test_uncommitted_changes_are_named_and_backed_up(tmp_path: Path) -> None:
    root = copy_app(tmp_path, "fastapi-uploads")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    (root / "main.py").write_text((root / "main.py").read_text() + "\n# local edit\n")
    plan = plan_fixes(root)
    assert dirty_files(plan) == ["main.py"]
    report = apply_fixes(plan)
    assert report.backups == ["main.py.orig"]
    assert (root / "main.py.orig").read_text().endswith("# local edit\n")


def test_a_file_changed_after_the_diff_is_not_overwritten(tmp_path: Path) -> None:
    root = copy_app(tmp_path, "express-apikey")
    plan = plan_fixes(root)
    (root / "server.js").write_text("// rewritten meanwhile\n")
    report = apply_fixes(plan)
    assert "server.js" in report.skipped
    assert (root / "server.js").read_text() == "// rewritten meanwhile\n"


@pytest.mark.parametrize("app", sorted(SECRETS))
@pytest.mark.parametrize(
    "flags", [[], ["--json"], ["--fix", "--yes"], ["--fix", "--yes", "--json"], ["--fix"]]
)
def test_secret_value_appears_nowhere_in_output(tmp_path: Path, capsys, app: str, flags) -> None:
    root = copy_app(tmp_path, app)
    code = main(["scan", str(root), *flags])
    out, err = capsys.readouterr()
    assert code in (0, 1)
    secret = SECRETS[app]
    assert secret not in out and secret not in err
    assert secret[8:24] not in out + err
    assert "••••" in out + err


def test_moved_secret_is_reported_with_a_hint_in_json_mode(tmp_path: Path, capsys) -> None:
    import json

    root = copy_app(tmp_path, "express-apikey")
    main(["scan", str(root), "--fix", "--yes", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    result = [x for x in lines if x.get("type") == "result"][-1]["data"]
    moved = result["fix"]["secrets"]
    assert moved == [
        {
            "name": "OPENAI_API_KEY",
            "kind": "openai-api-key",
            "where": "server.js:5",
            "stored": [],
            "hint": moved[0]["hint"],
        }
    ]
    assert "cockpit secrets set ENV OPENAI_API_KEY" in moved[0]["hint"]
    assert "process.env.OPENAI_API_KEY" in (root / "server.js").read_text()


def test_pinned_port_in_start_script_is_dropped(tmp_path: Path) -> None:
    import json

    (tmp_path / "package.json").write_text(json.dumps(
        {"scripts": {"build": "next build", "start": "next start -p 3000"},
         "dependencies": {"next": "14.2.3"}}, indent=2))
    (tmp_path / "package-lock.json").write_text("{}")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "page.js").write_text("export default function P() { return null; }\n")
    assert ("hardcoded-port", "package.json:4") in scan(tmp_path).finding_keys()
    apply_fixes(plan_fixes(tmp_path))
    assert '"start": "next start"' in (tmp_path / "package.json").read_text()
    result = scan(tmp_path)
    assert result.findings == [] and result.health_path == "/api/health"
