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
