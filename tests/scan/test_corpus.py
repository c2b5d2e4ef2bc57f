"""The corpus: small apps written the way AI assistants write them, each with the exact
findings a scan must report (id and file:line), and clean apps that must report none."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.scan import FINDING_IDS, scan

APPS = Path(__file__).parent / "apps"

EXPECTED: dict[str, set[tuple[str, str]]] = {
    "flask-debug": {
        ("hardcoded-secret", "app.py:5"),
        ("bind-localhost", "app.py:32"),
        ("debug-enabled", "app.py:32"),
        ("dev-server", "app.py:32"),
        ("hardcoded-port", "app.py:32"),
        ("no-health-endpoint", "app.py:4"),
        ("sqlite-in-prod", "app.py:11"),
        ("no-lockfile", "requirements.txt:1"),
    },
    "express-apikey": {
        ("hardcoded-secret", "server.js:5"),
        ("hardcoded-port", "server.js:4"),
        ("no-health-endpoint", "server.js:3"),
        ("no-lockfile", "package.json:1"),
        ("undeclared-env", "server.js:11"),
    },
    "nextjs-dev": {
        ("dev-server", "package.json:8"),
        ("no-build-step", "Dockerfile:6"),
        ("no-dockerignore", "Dockerfile:3"),
        ("root-container", "Dockerfile:1"),
        ("no-lockfile", "package.json:1"),
        ("no-health-endpoint", "package.json:1"),
        ("official-base-image", "Dockerfile:1"),
    },
    "django-sqlite": {
        ("hardcoded-secret", "mysite/settings.py:6"),
        ("debug-enabled", "mysite/settings.py:9"),
        ("dev-server", "requirements.txt:1"),
        ("migrations-not-wired", "blog/migrations/0001_initial.py:1"),
        ("sqlite-in-prod", "mysite/settings.py:28"),
        ("no-health-endpoint", "mysite/urls.py:6"),
    },
    "fastapi-uploads": {
        ("local-uploads", "main.py:8"),
        ("no-health-endpoint", "main.py:6"),
        ("undeclared-env", "main.py:11"),
    },
    "go-localhost": {
        ("bind-localhost", "main.go:25"),
        ("hardcoded-port", "main.go:25"),
        ("no-health-endpoint", "main.go:25"),
        ("no-lockfile", "go.mod:1"),
        ("undeclared-env", "main.go:17"),
    },
    "express-uploads": {
        ("bind-localhost", "index.js:22"),
        ("hardcoded-port", "index.js:22"),
        ("no-health-endpoint", "index.js:4"),
        ("local-uploads", "index.js:6"),
        ("sqlite-in-prod", "package.json:9"),
    },
}
CLEAN = ["clean-stdlib", "clean-flask", "clean-express", "clean-go", "clean-vite"]


@pytest.mark.parametrize("app", sorted(EXPECTED))
def test_ai_written_app_reports_exactly_the_expected_findings(app: str) -> None:
    result = scan(APPS / app)
    assert set(result.finding_keys()) == EXPECTED[app]
    assert len(result.findings) == len(EXPECTED[app])


@pytest.mark.parametrize("app", CLEAN)
def test_clean_app_reports_nothing(app: str) -> None:
    result = scan(APPS / app)
    assert result.findings == [], [f.key for f in result.findings]


def test_every_finding_has_severity_why_fix_and_a_known_id() -> None:
    for app in EXPECTED:
        for f in scan(APPS / app).findings:
            assert f.id in FINDING_IDS
            assert f.severity in ("error", "warning", "info")
            assert f.message and f.fix and f.where


@pytest.mark.parametrize(
    ("app", "stack", "framework", "start", "port", "health"),
    [
        (
            "flask-debug",
            "python",
            "flask",
            "gunicorn --bind 0.0.0.0:${PORT:-8000} app:app",
            8000,
            None,
        ),
        (
            "clean-flask",
            "python",
            "flask",
            "gunicorn --bind 0.0.0.0:${PORT:-8000} app:app",
            8000,
            "/health",
        ),
        (
            "django-sqlite",
            "python",
            "django",
            "gunicorn --bind 0.0.0.0:${PORT:-8000} mysite.wsgi",
            8000,
            None,
        ),
        (
            "fastapi-uploads",
            "python",
            "fastapi",
            "uvicorn main:app --host 0.0.0.0 --port ${PORT:-8000}",
            8000,
            None,
        ),
        ("clean-stdlib", "python", None, "python3 app.py", 8000, "/health"),
        ("express-apikey", "node", "express", "npm start", 3000, None),
        ("clean-express", "node", "express", "npm start", 3000, "/healthz"),
        ("nextjs-dev", "node", "nextjs", "npx next start", 3000, None),
        ("clean-vite", "node", "vite", "caddy run --config /etc/caddy/Caddyfile", 8080, "/health"),
        ("clean-go", "go", None, "./server", 8080, "/healthz"),
    ],
)
def test_detects_stack_start_command_port_and_health(
    app, stack, framework, start, port, health
) -> None:
    r = scan(APPS / app)
    assert (r.stack, r.framework, r.start_command, r.port, r.health_path) == (
        stack,
        framework,
        start,
        port,
        health,
    )


def test_detects_services_from_dependencies_and_urls() -> None:
    assert scan(APPS / "fastapi-uploads").services == ["postgres", "redis"]
    assert scan(APPS / "express-apikey").services == ["mongodb"]
    assert scan(APPS / "clean-stdlib").services == []


def test_env_vars_say_required_or_defaulted() -> None:
    env = {e.name: e for e in scan(APPS / "fastapi-uploads").env_vars}
    assert env["DATABASE_URL"].required and env["DATABASE_URL"].where == "main.py:11"
    assert not env["REDIS_URL"].required
    vite = {e.name: e for e in scan(APPS / "clean-vite").env_vars}
    assert vite["VITE_TITLE"].build_time


def test_django_release_command_is_migrate() -> None:
    assert scan(APPS / "django-sqlite").release_command == "python manage.py migrate --noinput"


def test_to_dict_is_json_and_masks_secrets() -> None:
    import json

    data = scan(APPS / "express-apikey").to_dict()
    text = json.dumps(data)
    assert "sk-proj-" not in text
    secret = [f for f in data["findings"] if f["id"] == "hardcoded-secret"][0]
    assert secret["detail"]["kind"] == "openai-api-key"
    assert secret["detail"]["masked"] == "••••"
