"""Scanning arbitrary file contents never crashes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit.scan import scan

NAMES = st.sampled_from(
    [
        "app.py",
        "main.py",
        "manage.py",
        "server.js",
        "package.json",
        "requirements.txt",
        "pyproject.toml",
        "Dockerfile",
        "Procfile",
        ".env",
        ".gitignore",
        "go.mod",
        "main.go",
        "mysite/settings.py",
        "urls.py",
        "prisma/schema.prisma",
        ".env.example",
        "index.html",
    ]
)
SNIPPETS = st.sampled_from(
    [
        "app.run(",
        "app = Flask(",
        "FastAPI(",
        ".listen(",
        '"scripts": {',
        "DEBUG = True",
        "os.environ[",
        "process.env.",
        "sk_live_",
        "-----BEGIN RSA PRIVATE KEY-----",
        "FROM ",
        "USER root",
        "COPY . .",
        "next dev",
        "**/",
        "!",
        "[",
        "(",
        '"',
        "'",
        "\\",
        "\n",
        "\x00",
        "postgres://a:b@c/d",
        "UPLOAD_FOLDER =",
        "sqlite:///",
        'ListenAndServe("',
    ]
)
CONTENT = st.lists(st.one_of(st.text(max_size=40), SNIPPETS), max_size=25).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(NAMES, CONTENT, max_size=8))
def test_scanning_arbitrary_files_never_crashes(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        result = scan(root)
        result.to_dict()
        for f in result.findings:
            assert f.where


FIXABLE = st.sampled_from([
    "from flask import Flask\napp = Flask(__name__)\n", "app.run(debug=True)\n",
    "app.run(host='127.0.0.1', port=5000)\n", 'API_KEY = "f3a9c2e8b7d14f6a9e0c5b2d8a7f1e3c"\n',
    "const express = require('express');\nconst app = express();\n", "app.listen(3000);\n",
    "app.listen(3000, 'localhost');\n", "os.environ['NEEDED']\n", "process.env.NEEDED_TOO\n",
    "import os\n", "if __name__ == '__main__':\n    pass\n", "\n", "# comment\n",
])
FIX_NAMES = st.sampled_from(["app.py", "main.py", "server.js", "requirements.txt",
                             "package.json", "Dockerfile", ".env.example"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(FIX_NAMES, st.lists(st.one_of(FIXABLE, st.text(max_size=20)),
                                           max_size=12).map("".join), min_size=1, max_size=5))
def test_fix_never_loses_content(files: dict[str, str]) -> None:
    from cockpit.scan.fixes import apply_fixes, plan_fixes

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            (root / rel).write_text(text, encoding="utf-8", errors="surrogatepass")
        before = {p.name: p.read_bytes() for p in root.iterdir()}
        apply_fixes(plan_fixes(root))
        after = {p.name: p.read_bytes() for p in root.iterdir()}
        for name, data in before.items():
            assert after[name] == data or after.get(name + ".orig") == data, name
