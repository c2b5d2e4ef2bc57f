"""`.dockerignore`: keep secrets (.env*), history (.git) and dependency dirs out of the image.

docker init's list plus `.env*` (docker init keeps only `**/.env`), per stack.
"""

from __future__ import annotations

from cockpit.scan.model import ScanResult

COMMON = [
    "# Secrets and local config never go into an image",
    ".env",
    ".env.*",
    "!.env.example",
    "**/.env",
    "**/.env.*",
    "*.pem",
    "*.key",
    "cockpit.toml",
    "cockpit.toml.bak",
    ".cockpit-demo.json",
    "# scan --fix backups (app.py.orig, app.py.orig.1, ...) can hold a secret the fix moved",
    "**/*.orig",
    "**/*.orig.*",
    "# History, editors, CI",
    ".git",
    ".gitignore",
    ".github",
    ".idea",
    ".vscode",
    "**/.DS_Store",
    "# Container files themselves",
    "**/Dockerfile*",
    "**/compose.y*ml",
    "**/docker-compose*.y*ml",
    ".dockerignore",
]
BY_STACK = {
    "python": [
        "# Python",
        "**/__pycache__",
        "**/*.py[cod]",
        ".venv",
        "venv",
        "**/.pytest_cache",
        "**/.mypy_cache",
        "**/.ruff_cache",
        ".tox",
        "*.egg-info",
        "build",
        "dist",
        "db.sqlite3",
        "**/*.sqlite3",
        "**/*.sqlite",
        "# Flask's instance folder: local config and data, created empty in the image",
        "instance",
    ],
    "node": [
        "# Node",
        "**/node_modules",
        "**/.next",
        "**/.turbo",
        "**/.cache",
        "dist",
        "build",
        "out",
        "coverage",
        "npm-debug.log*",
        "yarn-error.log*",
    ],
    "go": ["# Go", "bin", "vendor", "*.test", "coverage.out"],
    "ruby": ["# Ruby", "vendor/bundle", "log/*", "tmp/*", "storage/*", "node_modules"],
    "php": ["# PHP", "vendor", "node_modules", "storage/logs/*"],
    "static": ["# Static", "node_modules"],
}


def render(result: ScanResult | None = None) -> str:
    stack = result.stack if result else "unknown"
    lines = ["# Written by cockpit: what must never reach the build context."]
    lines += COMMON
    lines += BY_STACK.get(stack, BY_STACK["python"] + BY_STACK["node"])
    return "\n".join(lines) + "\n"
