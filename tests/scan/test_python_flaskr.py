"""The Flask tutorial blog (flaskr), an app nobody here wrote, through scan, --fix and generate.

Real parts: the fixture is the public tutorial app (BSD), the fixed code is imported and served
by real Flask and gunicorn from a venv made here (pip install), the release command runs twice
with `sh -c` against a real SQLite file, and the generated CMD runs under `sh -c`.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cockpit.generate import artifacts
from cockpit.scan import scan
from cockpit.scan.fixes import apply_fixes, plan_fixes

FLASKR = Path(__file__).parents[1] / "corpus" / "apps" / "flask-tutorial"  # the corpus copy
# what a run of the app or the corpus test may leave in that folder, and its expectations
CORPUS_ONLY = shutil.ignore_patterns("instance", "corpus.toml", "__pycache__", ".pytest_cache")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real virtualenv holding flask and gunicorn (pip, from the configured indexes)."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    proc = subprocess.run(
        [str(root / "bin/pip"), "install", "-q", "flask", "gunicorn"],
        capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"pip install flask gunicorn failed:\n{proc.stderr[-2000:]}")
    return root


def fixed_flaskr(tmp_path: Path) -> Path:
    app = tmp_path / "flaskr"
    shutil.copytree(FLASKR, app, ignore=CORPUS_ONLY)
    apply_fixes(plan_fixes(app))
    return app


def app_env(venv: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


# ----------------------------------------------------------------------------- scan


def test_scan_reports_the_tutorial_app_as_a_reviewer_would() -> None:
    r = scan(FLASKR)
    assert (r.stack, r.framework) == ("python", "flask")
    assert r.app_module == "flaskr:create_app()"
    assert r.start_command == "gunicorn --bind 0.0.0.0:${PORT:-8000} 'flaskr:create_app()'"
    assert r.data_dirs == ["instance"]
    assert r.dependency_file == "pyproject.toml"
    ids = {f.id: f for f in r.findings}
    assert ids["dev-server"].fixable and ids["dev-server"].path == "pyproject.toml"
    assert ids["no-health-endpoint"].fixable
    weak = ids["weak-secret"]
    assert (weak.where, weak.severity, weak.fixable) == ("flaskr/__init__.py:11", "error", True)
    assert weak.data["kind"] == "weak-default" and '"dev"' in weak.message
    steps = ids["migrations-not-wired"]
    assert steps.where == "flaskr/db.py:41"  # @click.command("init-db")
    assert "init-db" in r.release_command


def test_a_declared_release_command_wires_the_schema_step(tmp_path: Path) -> None:
    app = tmp_path / "flaskr"
    shutil.copytree(FLASKR, app, ignore=CORPUS_ONLY)
    (app / "cockpit.toml").write_text('[app]\nname = "flaskr"\nrelease_command = "x"\n')
    assert "migrations-not-wired" not in {f.id for f in scan(app).findings}


# ----------------------------------------------------------------------------- fix


def test_fix_puts_health_inside_the_factory_and_everything_still_parses(tmp_path: Path) -> None:
    app = fixed_flaskr(tmp_path)
    for py in app.rglob("*.py"):
        ast.parse(py.read_text(), filename=str(py))
    init = (app / "flaskr/__init__.py").read_text()
    assert "@def" not in init
    tree = ast.parse(init)
    factory = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    assert factory.name == "create_app"
    health = [n for n in factory.body if isinstance(n, ast.FunctionDef) and n.name == "health"]
    assert health, "health route is not inside create_app"
    assert ast.unparse(health[0].decorator_list[0]) == "app.route('/health')"
    assert isinstance(factory.body[-1], ast.Return)  # still returns the app last
    assert factory.body.index(health[0]) == len(factory.body) - 2
    assert 'SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_hex(32)' in init
    assert '"dev"' not in init
    again = scan(app)
    assert again.health_path == "/health"
    assert not [f for f in again.findings if f.fixable]


def test_fix_adds_gunicorn_to_pyproject_keeping_its_formatting(tmp_path: Path) -> None:
    app = fixed_flaskr(tmp_path)
    before = (FLASKR / "pyproject.toml").read_text().splitlines()
    after = (app / "pyproject.toml").read_text().splitlines()
    added = [ln for ln in after if ln not in before]
    assert added == ['    "gunicorn>=23.0.0",']
    assert [ln for ln in before if ln not in after] == []
    assert scan(app).start_command.startswith("gunicorn ")
    assert "dev-server" not in {f.id for f in scan(app).findings}


def test_fixed_app_serves_health_and_real_pages_on_gunicorn(tmp_path: Path, venv: Path) -> None:
    """The rendered CMD, run by sh exactly as docker runs it, starts gunicorn on $PORT."""
    app = fixed_flaskr(tmp_path)
    result = scan(app)
    dockerfile = artifacts("dockerfile", app, result)[0].content
    cmd = json.loads(dockerfile.rsplit("CMD ", 1)[1])
    assert cmd[:2] == ["sh", "-c"]
    (app / "instance").mkdir()
    subprocess.run(["sh", "-c", result.release_command], cwd=app, env=app_env(venv), check=True,
                   capture_output=True)
    port = free_port()
    proc = subprocess.Popen(cmd, cwd=app, env=app_env(venv, PORT=str(port)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = http_get(port, "/health")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"gunicorn did not start:\n{out}")
                time.sleep(0.2)
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, body = http_get(port, "/")
        assert status == 200 and b"Posts" in body  # the blog index reads the schema
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_app_own_tests_pass_after_fix(tmp_path: Path, venv: Path) -> None:
    """No SECRET_KEY in the environment, as on a developer's machine: still green."""
    app = fixed_flaskr(tmp_path)
    subprocess.run([str(venv / "bin/pip"), "install", "-q", "pytest"], check=True,
                   capture_output=True, timeout=600)
    pytest_cmd = [str(venv / "bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    proc = subprocess.run(pytest_cmd, cwd=app, env=app_env(venv, PYTHONPATH=str(app)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]


# ----------------------------------------------------------------------------- release step


def test_schema_step_runs_once_and_a_redeploy_never_wipes_data(tmp_path: Path, venv: Path) -> None:
    app = fixed_flaskr(tmp_path)
    command = scan(app).release_command
    assert command is not None and "flask --app flaskr init-db" in command
    db = app / "instance/flaskr.sqlite"

    first = subprocess.run(["sh", "-c", command], cwd=app, env=app_env(venv),
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "Initialized the database." in first.stdout
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO user (username, password) VALUES ('alice', 'x')")
    second = subprocess.run(["sh", "-c", command], cwd=app, env=app_env(venv),
                            capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "Initialized" not in second.stdout and "skipped" in second.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT username FROM user").fetchall() == [("alice",)]


# ----------------------------------------------------------------------------- generate


def test_dockerfile_creates_instance_owned_by_the_app_user(tmp_path: Path) -> None:
    app = fixed_flaskr(tmp_path)
    text = artifacts("dockerfile", app)[0].content
    assert "ARG BUILD_IMAGE=python:3.12-slim" in text and "ARG BASE_IMAGE=python:3.12-slim" in text
    assert "FROM ${BUILD_IMAGE} AS build" in text
    runtime = text.split("AS runtime", 1)[1]
    assert "RUN mkdir -p /app/instance && chown 10001:10001 /app/instance" in runtime
    assert runtime.index("chown") < runtime.index("USER 10001:10001")
    assert "flaskr.__init__" not in text


def test_generate_does_not_claim_a_fix_scan_fix_does_not_do(tmp_path: Path) -> None:
    from cockpit.cli.generate import _notes

    app = tmp_path / "flaskr"
    shutil.copytree(FLASKR, app, ignore=CORPUS_ONLY)
    (app / "poetry.lock").write_text("")  # a lock: --fix cannot add the server
    notes = " ".join(_notes(scan(app)))
    assert "scan --fix adds the server dependency" not in notes
    plain = " ".join(_notes(scan(FLASKR)))
    assert "scan --fix adds the server dependency" in plain
