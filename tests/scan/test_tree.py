"""What the scanner reads: git's ignore rules, and never vendored, lock or binary files."""

from __future__ import annotations

from pathlib import Path

from cockpit.scan import scan
from cockpit.scan.files import _ignored, parse_gitignore, walk

SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_gitignore_rules_follow_git_semantics() -> None:
    rules = parse_gitignore("*.log\n/build\ndocs/**/*.tmp\nsecrets/\n!keep.log\n")
    assert _ignored(rules, "a/b/x.log", False)
    assert not _ignored(rules, "a/keep.log", False)
    assert _ignored(rules, "build", True)
    assert not _ignored(rules, "src/build", True)
    assert _ignored(rules, "docs/a/b/c.tmp", False)
    assert _ignored(rules, "x/secrets", True)
    assert not _ignored(rules, "x/secrets", False)


def test_ignored_vendored_and_lock_files_are_not_scanned(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "generated/\n.env\n",
            "generated/keys.py": f'API_KEY = "{SECRET}"\n',
            "node_modules/x/index.js": f'const apiKey = "{SECRET}";\n',
            "package-lock.json": f'{{"token": "{SECRET}"}}\n',
            ".venv2/pyvenv.cfg": "home = /usr\n",
            ".venv2/lib/x.py": f'API_KEY = "{SECRET}"\n',
            ".env": f"STRIPE_KEY={SECRET}\n",
            "app.py": "print('hi')\n",
        },
    )
    tree = walk(tmp_path)
    assert "app.py" in tree.files
    assert not any(f.startswith(("generated/", "node_modules/", ".venv2/")) for f in tree.files)
    assert [f for f in scan(tmp_path).findings if f.id == "hardcoded-secret"] == []


def test_a_committed_env_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path, {".env": f"DEBUG=1\nSTRIPE_SECRET_KEY={SECRET}\n", "app.py": "x = 1\n"})
    hits = [f for f in scan(tmp_path).findings if f.id == "hardcoded-secret"]
    assert [f.where for f in hits] == [".env:2"]


def test_scan_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "from flask import Flask\napp = Flask(__name__)\napp.run()\n"})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    scan(tmp_path)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_env_reads_writes_and_defaults(tmp_path: Path) -> None:
    write(tmp_path, {
        "main.py": 'import os\nA = os.environ["NEEDED"]\nos.environ["WRITTEN"] = "x"\n'
                   'B = os.environ.get("MAYBE")\nC = os.getenv("WITH_DEFAULT", "1")\n',
        "requirements.txt": "",
    })
    env = {e.name: e.required for e in scan(tmp_path).env_vars}
    assert env == {"NEEDED": True, "MAYBE": False, "WITH_DEFAULT": False}
    undeclared = [f.where for f in scan(tmp_path).findings if f.id == "undeclared-env"]
    assert undeclared == ["main.py:2"]
    (tmp_path / ".env.example").write_text("NEEDED=\n")
    assert [f for f in scan(tmp_path).findings if f.id == "undeclared-env"] == []


def test_identifier_like_values_are_not_secrets(tmp_path: Path) -> None:
    write(tmp_path, {"meta.py": 'META_SECRETS = "cockpit_secrets_digest"\n'
                                'secret_scope = "hello:staging"\n'})
    assert [f for f in scan(tmp_path).findings if f.id == "hardcoded-secret"] == []
