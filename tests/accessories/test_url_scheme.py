"""The URL scheme of a Postgres accessory, proven on the trial's app (tests/accessories/notes_naive:
FastAPI + SQLAlchemy 2 + Alembic + psycopg 3, `create_engine(os.environ["DATABASE_URL"])`).

Unit: a failed release command whose output shows SQLAlchemy refusing the URL gets a hint naming
`url_scheme`. Lab: the app's image runs its release command (`alembic upgrade head`) against a
scratch Postgres of the lab's image (`cockpit.lab.images.image_ref("postgres")`, the way the
corpus's container stage starts one) with the URL cockpit builds (`cockpit.accessories.url`):
with the scheme `cockpit init` writes from the scan it migrates; with `postgres://` (what cockpit
used to inject) and a bare `postgresql://` (psycopg2, absent) it fails the way the trial did, and
the failure's hint says what to set. Everything the lab part creates is removed at the end.
"""

from __future__ import annotations

import os
import secrets as pysecrets
import subprocess
import time
from pathlib import Path

import pytest

from cockpit import accessories
from cockpit.config import loads
from cockpit.release_phase import HINT, failure, hint_for
from cockpit.scan import scan
from cockpit.template import render_for_scan

HERE = Path(__file__).parent
APP_DIR = HERE / "notes_naive"
APP = "notes-naive"
IMAGE = "cockpit-test/notes-naive:url-scheme"
DB = "cockpit-test-url-scheme-postgres"
VPS = {"host": "127.0.0.1", "user": "deploy", "ssh_port": 2222}

TRIAL_TAIL = [  # the last lines of the trial's failed `alembic upgrade head` (naive.log)
    '  File "/opt/venv/lib/python3.11/site-packages/sqlalchemy/util/langhelpers.py", line 375, '
    "in load",
    "    raise exc.NoSuchModuleError(",
    "sqlalchemy.exc.NoSuchModuleError: Can't load plugin: sqlalchemy.dialects:postgres",
]


def test_a_refused_scheme_gets_a_hint_that_names_url_scheme():
    err = failure("20261130-020306-f38e67", 1, TRIAL_TAIL, None, where="deploy@lab")
    assert 'url_scheme = "postgresql+psycopg"' in (err.hint or "")
    assert "postgres:// scheme" in (err.hint or "")
    psycopg2 = ['  File "/opt/venv/lib/python3.11/site-packages/sqlalchemy/dialects/postgresql/'
                'psycopg2.py", line 690, in import_dbapi',
                "ModuleNotFoundError: No module named 'psycopg2'"]
    assert "load psycopg2" in hint_for(psycopg2) and "url_scheme" in hint_for(psycopg2)
    # anything else keeps the general hint
    assert hint_for(["django.db.utils.OperationalError: connection refused"]) == HINT
    assert failure("r1", 2, [], "r0", where="x").hint == HINT


def _accessory(scheme: str | None = "from the scan") -> accessories.AccessoryConfig:
    """The postgres accessory `cockpit init` writes for the app (its scan), or one with the
    given url_scheme (None: the key left out)."""
    text = render_for_scan(APP, scan(APP_DIR), "vps", VPS, None)
    acc = loads(text).env("staging").accessories["postgres"]
    if scheme == "from the scan":
        return acc
    return acc.model_copy(update={"url_scheme": scheme})


@pytest.fixture(scope="module")
def db(lab, tmp_path_factory):
    """The app's image and a scratch Postgres (lab image, generated password in an env file,
    port published on 127.0.0.1 only): yields (work dir, port, password)."""
    from cockpit.lab.images import build_args_for, image_ref
    from providers.vps.accessories import HEALTH_CMD
    from tests.stateful_lab import docker

    work = tmp_path_factory.mktemp("url-scheme")
    build = ["docker", "build", "-q"]
    for k, v in build_args_for(APP_DIR / "Dockerfile").items():
        build += ["--build-arg", f"{k}={v}"]
    proc = subprocess.run([*build, "-t", IMAGE, str(APP_DIR)], capture_output=True, text=True,
                          env={**os.environ, "DOCKER_BUILDKIT": "0"}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    password = pysecrets.token_hex(24)
    acc = _accessory()
    env_file = work / "postgres.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in
                                accessories.container_env(APP, acc, password).items()))
    docker("rm", "-f", "-v", DB, check=False)
    docker("run", "-d", "--name", DB, "--env-file", str(env_file), "-p", "127.0.0.1::5432",
           "--health-cmd", HEALTH_CMD["postgres"], "--health-interval", "1s",
           "--health-timeout", "5s", "--health-retries", "60", image_ref("postgres"))
    try:
        state = ""
        for _ in range(180):  # a deadline for the start, not a measured time
            state = docker("inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", DB,
                           check=False)
            if state == "running healthy" or not state.startswith("running"):
                break
            time.sleep(1)
        assert state == "running healthy", state + docker("logs", DB, check=False)
        port = int(docker("port", DB, "5432/tcp").splitlines()[0].rsplit(":", 1)[1])
        yield work, port, password
    finally:
        docker("rm", "-f", "-v", DB, check=False)
        docker("rmi", IMAGE, check=False)


def release(db, acc: accessories.AccessoryConfig, command: str = "alembic upgrade head"
            ) -> tuple[int, list[str]]:
    """Run `command` in a one-off container of the app's image with the URL cockpit builds for
    `acc` (in an env file, never on a command line), as a deploy's release command runs.
    Returns (exit status, output lines)."""
    work, port, password = db
    url = accessories.url(APP, "postgres", acc, password, host="127.0.0.1", port=port)
    env_file = work / "app.env"
    env_file.write_text(f"{acc.url_var}={url}\n")
    proc = subprocess.run(["docker", "run", "--rm", "--network", "host", "--env-file",
                           str(env_file), IMAGE, "sh", "-c", command],
                          capture_output=True, text=True, timeout=300)
    lines = (proc.stdout + proc.stderr).splitlines()
    assert password not in "\n".join(lines)
    return proc.returncode, lines


@pytest.mark.lab
@pytest.mark.timeout(900)
def test_the_old_scheme_fails_the_trials_release_command_and_the_hint_names_the_fix(db):
    status, lines = release(db, _accessory("postgres"))  # what cockpit injected before
    assert status != 0 and any("sqlalchemy.dialects:postgres" in ln for ln in lines), lines[-5:]
    assert "url_scheme" in hint_for(lines[-30:])
    status, lines = release(db, _accessory(None))  # the new default: psycopg2, not installed
    assert status != 0 and any("No module named 'psycopg2'" in ln for ln in lines), lines[-5:]
    assert 'url_scheme = "postgresql+psycopg"' in hint_for(lines[-30:])


@pytest.mark.lab
@pytest.mark.timeout(900)
def test_the_scheme_init_writes_runs_the_trials_release_command(db):
    acc = _accessory()
    assert acc.url_scheme == "postgresql+psycopg"
    status, lines = release(db, acc)
    assert status == 0, "\n".join(lines[-30:])
    assert any("Running upgrade  -> 0001" in ln for ln in lines), lines
    status, lines = release(db, acc, "alembic current")
    assert status == 0 and any("0001 (head)" in ln for ln in lines), lines
    # the app itself reads and writes through the same URL
    status, lines = release(db, acc, "python3 -c 'from app.main import create_note, list_notes, "
                            "NoteIn; create_note(NoteIn(title=\"hello\")); "
                            "print([n[\"title\"] for n in list_notes()])'")
    assert status == 0 and "['hello']" in lines[-1], lines[-10:]
