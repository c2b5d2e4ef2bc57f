"""Python app shapes beyond the Flask tutorial, each written the way its framework's docs lay
it out: Django with split settings and split requirements, FastAPI with an APIRouter started
by `uvicorn.run(app)`, a pyproject-only src/ package, a Procfile with web, worker and release.

The Django case runs for real: the generated Dockerfile's collectstatic step and the release
command run with `sh -c` in a venv holding Django (pip install).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.generate import artifacts
from cockpit.generate.dockerfile import _cmd
from cockpit.scan import scan
from cockpit.scan.fixes import apply_fixes, plan_fixes


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def all_parse(root: Path) -> None:
    for py in root.rglob("*.py"):
        ast.parse(py.read_text(), filename=str(py))


# ----------------------------------------------------------------------------- Django

DJANGO = {
    "manage.py": '''#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings.development")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
''',
    "mysite/__init__.py": "",
    "mysite/settings/__init__.py": "",
    "mysite/settings/base.py": '''from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "notes",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
}
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "assets"]
MEDIA_ROOT = BASE_DIR / "media"
USE_TZ = True
''',
    "mysite/settings/development.py": '''from .base import *  # noqa: F401,F403

DEBUG = True
ALLOWED_HOSTS = ["*"]
''',
    "mysite/settings/production.py": '''import os

from .base import *  # noqa: F401,F403

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = os.environ["DJANGO_ALLOWED_HOSTS"].split(",")
''',
    "mysite/urls.py": '''from django.http import HttpResponse
from django.urls import path


def home(request):
    return HttpResponse("Team notes")


urlpatterns = [
    path("", home),
]
''',
    "mysite/wsgi.py": '''import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings.production")
application = get_wsgi_application()
''',
    "notes/__init__.py": "",
    "notes/models.py": '''from django.db import models


class Note(models.Model):
    text = models.TextField()
    attachment = models.FileField(upload_to="notes/", blank=True)
''',
    "notes/migrations/__init__.py": "",
    "notes/migrations/0001_initial.py": '''from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Note",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("text", models.TextField()),
                ("attachment", models.FileField(blank=True, upload_to="notes/")),
            ],
        ),
    ]
''',
    "assets/site.css": "body { font-family: sans-serif; }\n",
    "requirements/base.txt": "Django==5.1.4\n",
    "requirements/production.txt": "-r base.txt\ngunicorn==23.0.0\n",
    "requirements/development.txt": "-r base.txt\n",
}


@pytest.fixture
def django_app(tmp_path: Path) -> Path:
    return write(tmp_path / "mysite", DJANGO)


def test_django_split_settings_and_requirements(django_app: Path) -> None:
    r = scan(django_app)
    assert (r.framework, r.dependency_file) == ("django", "requirements/production.txt")
    assert r.start_command == "gunicorn --bind 0.0.0.0:${PORT:-8000} mysite.wsgi"
    assert r.release_command == "python manage.py migrate --noinput"
    assert r.build_command == "python manage.py collectstatic --noinput"
    assert r.image_env == {"DJANGO_SETTINGS_MODULE": "mysite.settings.production"}
    assert r.data_dirs == ["media"]
    env = {v.name: v for v in r.env_vars}
    assert (env["DJANGO_ALLOWED_HOSTS"].secret, env["DJANGO_ALLOWED_HOSTS"].required) == (
        False, True)
    assert env["DJANGO_SECRET_KEY"].secret
    ids = {f.id for f in r.findings}
    assert "dev-server" not in ids  # gunicorn is in what production installs
    assert "migrations-not-wired" in ids
    assert "debug-enabled" not in ids  # DEBUG = True is in development.py only


def test_django_sqlite_default_from_database_url_moves_to_a_data_folder(
        django_app: Path) -> None:
    prod = django_app / "mysite/settings/production.py"
    prod.write_text(prod.read_text() + (
        "\nimport dj_database_url\n\nDATABASES = {\"default\": dj_database_url.config("
        "default=f\"sqlite:///{BASE_DIR / 'db.sqlite3'}\")}\n"))
    r = scan(django_app)
    assert r.image_env["DATABASE_URL"] == "sqlite:////app/data/db.sqlite3"
    assert "data" in r.data_dirs
    runtime = artifacts("dockerfile", django_app)[0].content.split("AS runtime", 1)[1]
    assert "DATABASE_URL=sqlite:////app/data/db.sqlite3" in runtime
    assert "chown 10001:10001 /app/data" in runtime


def test_django_dockerfile_installs_production_and_collects_static_at_build(
        django_app: Path) -> None:
    text = artifacts("dockerfile", django_app)[0].content
    build, runtime = text.split("AS runtime", 1)
    assert "COPY requirements/production.txt ./requirements/production.txt" in build
    assert "COPY requirements/base.txt ./requirements/base.txt" in build
    assert "pip install -r requirements/production.txt" in build
    collect = next(ln for ln in build.splitlines() if "collectstatic" in ln)
    assert "DJANGO_SETTINGS_MODULE=mysite.settings.production" in collect
    assert "DJANGO_SECRET_KEY=build-only" in collect
    assert "build-only" not in runtime  # the placeholder never reaches the image
    assert "DJANGO_SETTINGS_MODULE=mysite.settings.production" in runtime
    assert "RUN mkdir -p /app/media && chown 10001:10001 /app/media" in runtime


@pytest.fixture(scope="module")
def django_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("djvenv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    proc = subprocess.run([str(root / "bin/pip"), "install", "-q", "Django==5.1.4"],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"pip install Django failed:\n{proc.stderr[-2000:]}")
    return root


def test_django_build_step_and_release_command_run_for_real(
        django_app: Path, django_venv: Path) -> None:
    """The collectstatic RUN line of the generated Dockerfile and the release command, each
    run by sh with the venv first on PATH (as /opt/venv/bin is in the image)."""
    text = artifacts("dockerfile", django_app)[0].content
    collect = next(ln for ln in text.splitlines() if "collectstatic" in ln)
    command = collect.removeprefix("RUN ").replace("/opt/venv/bin/", "")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{django_venv / 'bin'}:{env['PATH']}"
    proc = subprocess.run(["sh", "-c", command], cwd=django_app, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (django_app / "staticfiles/site.css").is_file()
    env |= {"DJANGO_SETTINGS_MODULE": "mysite.settings.production",
            "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "example.test"}
    release = scan(django_app).release_command
    for _ in range(2):  # a redeploy runs it again: migrate is idempotent
        proc = subprocess.run(["sh", "-c", release], cwd=django_app, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    assert "No migrations to apply" in proc.stdout


def test_django_container_healthcheck_passes_host_validation(
        django_app: Path, django_venv: Path) -> None:
    """After --fix adds /health, the generated HEALTHCHECK argv (run as the container runs it)
    passes against the real app served with production settings: it sends an allowed Host."""
    apply_fixes(plan_fixes(django_app))
    all_parse(django_app)
    text = artifacts("dockerfile", django_app)[0].content
    probe = json.loads(text.split("HEALTHCHECK", 1)[1].split("CMD ", 1)[1].splitlines()[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"PATH": f"{django_venv / 'bin'}:{env['PATH']}", "DJANGO_SECRET_KEY": "x" * 50,
            "DJANGO_SETTINGS_MODULE": "mysite.settings.production",
            "DJANGO_ALLOWED_HOSTS": "notes.example.test"}
    serve = ("import sys; from wsgiref.simple_server import make_server; "
             "from mysite.wsgi import application; "
             "s = make_server('127.0.0.1', 0, application); "
             "print(s.server_port, flush=True); s.serve_forever()")
    server = subprocess.Popen([str(django_venv / "bin/python"), "-c", serve], cwd=django_app,
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        port = server.stdout.readline().strip()
        assert port.isdigit()
        ok = subprocess.run(probe, env=env | {"PORT": port}, capture_output=True)
        assert ok.returncode == 0, ok.stderr
        # a Host the running app does not allow answers 400: host validation is really on
        bad = subprocess.run(probe, env=env | {"PORT": port, "DJANGO_ALLOWED_HOSTS": "x.test"},
                             capture_output=True)
        assert bad.returncode != 0
        assert subprocess.run([probe[0], probe[1], probe[2].replace("/health", "/nope")],
                              env=env | {"PORT": port}, capture_output=True).returncode != 0
    finally:
        server.terminate()
        server.wait(timeout=30)


# ----------------------------------------------------------------------------- FastAPI

FASTAPI = {
    "main.py": '''from fastapi import FastAPI

from routers import items

app = FastAPI(title="Inventory")

app.include_router(items.router)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app)
''',
    "routers/__init__.py": "",
    "routers/items.py": '''from fastapi import APIRouter

router = APIRouter()


@router.get("/items/")
async def list_items():
    return [{"name": "Widget"}]
''',
    "requirements.txt": "fastapi==0.115.6\nuvicorn==0.32.1\n",
}


def test_fastapi_on_the_uvicorn_cli_ignores_the_main_block(tmp_path: Path) -> None:
    """The image starts `uvicorn main:app --host 0.0.0.0`: the `uvicorn.run(app)` under
    `__main__` never runs there, so its loopback default is no finding (no false alarm)."""
    r = scan(write(tmp_path / "inventory", FASTAPI))
    assert r.start_command == "uvicorn main:app --host 0.0.0.0 --port ${PORT:-8000}"
    assert set(r.finding_keys()) == {("no-health-endpoint", "main.py:5")}


def test_fastapi_started_by_python_main_binds_loopback_and_health_goes_on_the_router(
        tmp_path: Path) -> None:
    """Started as its author wrote (`python main.py`): uvicorn.run(app) binds 127.0.0.1:8000."""
    app = write(tmp_path / "inventory", FASTAPI | {"Procfile": "web: python main.py\n"})
    r = scan(app)
    keys = set(r.finding_keys())
    assert {("bind-localhost", "main.py:12"), ("hardcoded-port", "main.py:12"),
            ("no-health-endpoint", "main.py:5")} <= keys
    apply_fixes(plan_fixes(app))
    all_parse(app)
    router = (app / "routers/items.py").read_text()
    assert '@router.get("/health")' in router
    assert "@app.get" not in (app / "main.py").read_text()
    assert 'uvicorn.run(app, host="0.0.0.0", port=int(os.environ.get("PORT", 8000)))' in (
        app / "main.py").read_text()
    again = scan(app)
    assert again.health_path == "/health"
    assert [f for f in again.findings if f.fixable] == []


def test_a_prefixed_router_is_not_used_for_health(tmp_path: Path) -> None:
    files = dict(FASTAPI)
    files["main.py"] = files["main.py"].replace(
        "app.include_router(items.router)", 'app.include_router(items.router, prefix="/api")')
    app = write(tmp_path / "inventory", files)
    apply_fixes(plan_fixes(app))
    all_parse(app)
    assert "/health" not in (app / "routers/items.py").read_text()
    assert '@app.get("/health")' in (app / "main.py").read_text()


# ----------------------------------------------------------------------------- src/ layout

SRC = {
    "pyproject.toml": '''[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "linkbox"
version = "0.3.0"
dependencies = ["flask>=3"]
''',
    "src/linkbox/__init__.py": "",
    "src/linkbox/app.py": '''from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "linkbox bookmarks"
''',
}


def test_src_layout_package_installs_and_starts_by_its_import_name(tmp_path: Path) -> None:
    app = write(tmp_path / "linkbox", SRC)
    r = scan(app)
    assert r.app_module == "linkbox.app:app"
    assert r.install_command == "pip install --no-cache-dir ."
    assert r.start_command == "gunicorn --bind 0.0.0.0:${PORT:-8000} linkbox.app:app"
    text = artifacts("dockerfile", app)[0].content
    assert "/opt/venv/bin/pip install ." in text
    apply_fixes(plan_fixes(app))
    all_parse(app)
    assert '"gunicorn>=23.0.0"' in (app / "pyproject.toml").read_text()


# ----------------------------------------------------------------------------- Procfile

PROCFILE = {
    "Procfile": "release: python migrate.py\nweb: gunicorn app:app\nworker: python worker.py\n",
    "requirements.txt": "Flask==3.1.0\ngunicorn==23.0.0\n",
    "app.py": '''from flask import Flask

app = Flask(__name__)


@app.route("/health")
def health():
    return "ok"
''',
    "migrate.py": "print('ok')\n",
    "worker.py": "print('working')\n",
}


def test_procfile_web_is_the_start_release_is_the_release_command_worker_is_reported(
        tmp_path: Path) -> None:
    app = write(tmp_path / "guestbook", PROCFILE)
    r = scan(app)
    assert r.start_command == "gunicorn app:app"
    assert r.release_command == "python migrate.py"
    worker = [f for f in r.findings if f.id == "worker-not-deployed"]
    assert [(f.severity, f.where) for f in worker] == [("info", "Procfile:3")]
    assert "migrations-not-wired" not in {f.id for f in r.findings}


# ----------------------------------------------------------------------------- guarantees


def test_server_dependency_goes_where_the_build_installs(tmp_path: Path) -> None:
    """requirements, pyproject [project], poetry and Pipfile, each keeping its layout; a lock
    makes it a manual step (an edited manifest would fail the frozen install)."""
    code = 'from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.get("/health")\n' \
           'def health():\n    return "ok"\n'
    cases = {
        "poetry": ("pyproject.toml", '[tool.poetry]\nname = "a"\nversion = "1"\n\n'
                   '[tool.poetry.dependencies]\npython = "^3.12"\nflask = "^3.0"  # web\n',
                   'gunicorn = "^23.0.0"'),
        "pipfile": ("Pipfile", '[packages]\nflask = "*"\n\n[dev-packages]\npytest = "*"\n',
                    'gunicorn = "==23.0.0"'),
        "requirements": ("requirements.txt", "flask==3.1.0\n", "gunicorn==23.0.0"),
    }
    for name, (rel, manifest, expect) in cases.items():
        app = write(tmp_path / name, {"app.py": code, rel: manifest})
        dev = [f for f in scan(app).findings if f.id == "dev-server"]
        assert dev and dev[0].fixable, name
        apply_fixes(plan_fixes(app))
        after = (app / rel).read_text()
        assert expect in after, (name, after)
        assert after.startswith(manifest.split("\n\n")[0]), name  # the rest is untouched
        assert "dev-server" not in {f.id for f in scan(app).findings}, name
    locked = write(tmp_path / "locked", {"app.py": code, "pyproject.toml": cases["poetry"][1],
                                         "poetry.lock": ""})
    dev = [f for f in scan(locked).findings if f.id == "dev-server"]
    assert dev and not dev[0].fixable and "poetry add gunicorn" in dev[0].fix


def test_a_fix_that_would_not_parse_is_never_written(tmp_path: Path, monkeypatch) -> None:
    """The parse check is central: whatever a fixer produces for a .py file, an unparsable
    result is dropped and its finding stays manual. The fixer here writes the exact line the
    old health fix wrote into the Flask tutorial."""
    import cockpit.scan.fixes as fixes

    app = write(tmp_path / "a", {"app.py": "from flask import Flask\n\napp = Flask(__name__)\n",
                                 "requirements.txt": "flask==3.1.0\ngunicorn==23.0.0\n"})

    def old_health_fix(work, result, f):  # noqa: ANN001
        text = work.get(f.path)
        work.put(f.path, text + '\n@def.get("/health")\ndef health():\n    return "ok"\n', "x")
        return True

    monkeypatch.setattr(fixes, "_add_python_health", old_health_fix)
    before = (app / "app.py").read_text()
    plan = plan_fixes(app)
    assert "app.py" not in [c.path for c in plan.changes]
    assert "no-health-endpoint" in {f.id for f in plan.manual}
    apply_fixes(plan)
    assert (app / "app.py").read_text() == before


@pytest.mark.parametrize("command, argv", [
    ("gunicorn --bind 0.0.0.0:${PORT:-8000} 'flaskr:create_app()'",
     ["--bind", "0.0.0.0:8000", "flaskr:create_app()"]),
    ("gunicorn 'flaskr:create_app()'", ["flaskr:create_app()"]),
    ("uvicorn main:app --host 0.0.0.0 --port ${PORT:-8000}",
     ["main:app", "--host", "0.0.0.0", "--port", "8000"]),
])
def test_rendered_cmd_starts_under_sh(tmp_path: Path, command: str, argv: list[str]) -> None:
    """The CMD's argv, run as docker runs it (exec form; sh -c when it needs a shell), reaches
    the server with the arguments intended: a fake server on PATH records them."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    server = command.split()[0]
    fake = bindir / server
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    cmd = json.loads(_cmd(command))
    if cmd[0] == "sh":
        assert subprocess.run(["sh", "-n", "-c", cmd[2]]).returncode == 0
    env = {"PATH": f"{bindir}:/usr/bin:/bin"}
    proc = subprocess.run(cmd if cmd[0] == "sh" else [str(fake), *cmd[1:]], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == argv


def test_module_paths_are_importable_names() -> None:
    from cockpit.scan.detect import _module

    assert _module("flaskr/__init__.py") == "flaskr"
    assert _module("src/linkbox/app.py", "src") == "linkbox.app"
    assert _module("app.py") == "app"
    assert not re.search(r"__init__", _module("a/b/__init__.py"))


def test_flask_debug_fixture_still_fixed_in_requirements(tmp_path: Path) -> None:
    app = tmp_path / "flask-debug"
    shutil.copytree(Path(__file__).parent / "apps/flask-debug", app)
    apply_fixes(plan_fixes(app))
    all_parse(app)
    assert "gunicorn==23.0.0" in (app / "requirements.txt").read_text()


def test_flask_migrate_and_alembic_steps(tmp_path: Path) -> None:
    migrate = write(tmp_path / "tasks", {
        "requirements.txt": "Flask==3.1.0\nFlask-SQLAlchemy==3.1.1\nFlask-Migrate==4.0.7\n"
                            "gunicorn==23.0.0\n",
        "app/__init__.py": "import os\n\nfrom flask import Flask\nfrom flask_migrate import "
                           "Migrate\nfrom flask_sqlalchemy import SQLAlchemy\n\napp = Flask("
                           "__name__)\napp.config['SQLALCHEMY_DATABASE_URI'] = os.environ.get("
                           "'DATABASE_URL') or 'sqlite:///app.db'\ndb = SQLAlchemy(app)\n"
                           "migrate = Migrate(app, db)\n",
        "migrations/alembic.ini": "[alembic]\n",
        "migrations/env.py": "from alembic import context\n",
        "migrations/versions/1a2b_tasks.py": "revision = '1a2b'\n",
    })
    r = scan(migrate)
    assert r.release_command == "flask --app app db upgrade"
    assert r.data_dirs == ["instance"]  # Flask-SQLAlchemy 3 puts sqlite:///app.db there
    assert ("migrations-not-wired", "migrations/env.py:1") in r.finding_keys()
    # DATABASE_URL unset -> SQLite: what production runs unless someone sets it
    assert ("sqlite-in-prod", "app/__init__.py:8") in r.finding_keys()
    alembic = write(tmp_path / "api", {
        "requirements.txt": "fastapi==0.115.6\nuvicorn==0.32.1\nalembic==1.14.0\n",
        "main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n",
        "alembic.ini": "[alembic]\nscript_location = alembic\n",
    })
    assert scan(alembic).release_command == "alembic upgrade head"


def test_factory_with_arguments_starts_from_its_module_level_instance(tmp_path: Path) -> None:
    """flasky's layout: `create_app(config_name)` in app/, `app = create_app(...)` in flasky.py;
    the server imports flasky:app (calling the factory bare would fail) and /health goes in
    the factory."""
    app = write(tmp_path / "flasky", {
        "requirements.txt": "flask==3.1.0\ngunicorn==23.0.0\n",
        "app/__init__.py": "from flask import Flask\n\n\ndef create_app(config_name):\n"
                           "    app = Flask(__name__)\n    return app\n",
        "flasky.py": "import os\n\nfrom app import create_app\n\n"
                     "app = create_app(os.getenv('FLASK_CONFIG') or 'default')\n",
    })
    r = scan(app)
    assert r.start_command == "gunicorn --bind 0.0.0.0:${PORT:-8000} flasky:app"
    apply_fixes(plan_fixes(app))
    all_parse(app)
    assert '@app.route("/health")' in (app / "app/__init__.py").read_text()


@pytest.mark.parametrize("layout", ["named", "inline"])
def test_starlette_health_goes_into_the_routes_list(tmp_path: Path, layout: str) -> None:
    head = ("from starlette.applications import Starlette\n"
            "from starlette.responses import PlainTextResponse\n"
            "from starlette.routing import Mount, Route\n\n\n"
            "async def home(request):\n    return PlainTextResponse('links')\n\n\n")
    body = ("routes = [\n    Route('/', home),\n]\n\napp = Starlette(routes=routes)\n"
            if layout == "named" else "app = Starlette(debug=False, routes=[Route('/', home)])\n")
    app = write(tmp_path / "links", {
        "pyproject.toml": '[project]\nname = "links"\nversion = "1"\n'
                          'dependencies = ["starlette>=0.40", "uvicorn>=0.30"]\n',
        "src/links/__init__.py": "", "src/links/app.py": head + body,
    })
    r = scan(app)
    assert r.start_command == "uvicorn links.app:app --host 0.0.0.0 --port ${PORT:-8000}"
    apply_fixes(plan_fixes(app))
    all_parse(app)
    text = (app / "src/links/app.py").read_text()
    assert 'Route("/health", health)' in text
    assert text.index("async def health(") < text.index('Route("/health"')
    assert scan(app).health_path == "/health"


def test_requirements_includes_and_constraints_are_copied_not_counted(tmp_path: Path) -> None:
    app = write(tmp_path / "inc", {
        "requirements.txt": "-r requirements/prod.txt\n-c constraints.txt\n",
        "requirements/prod.txt": "-r base.txt\n",
        "requirements/base.txt": "flask==3.1.0\n",
        "constraints.txt": "gunicorn==23.0.0\n",
        "app.py": "from flask import Flask\n\napp = Flask(__name__)\n",
    })
    r = scan(app)
    dev = [f for f in r.findings if f.id == "dev-server"]
    assert dev and dev[0].path == "requirements.txt"  # a constraint installs nothing
    build = artifacts("dockerfile", app, r)[0].content.split("AS runtime")[0]
    for rel in ("requirements.txt", "requirements/prod.txt", "requirements/base.txt",
                "constraints.txt"):
        assert f"COPY {rel} ./{rel}" in build


def test_src_layout_not_installed_by_the_build_gets_a_path_flag(tmp_path: Path) -> None:
    """uv/poetry installs in the generated Dockerfile skip the project itself
    (--no-install-project / --no-root): the server is told where src/ is."""
    files = {"pyproject.toml": '[project]\nname = "x"\nversion = "1"\n'
                               'dependencies = ["fastapi", "uvicorn"]\n',
             "uv.lock": "", "src/x/__init__.py": "",
             "src/x/main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n"}
    r = scan(write(tmp_path / "x", files))
    assert r.start_command == "uvicorn x.main:app --app-dir src --host 0.0.0.0 --port ${PORT:-8000}"


def test_apply_refuses_a_change_that_does_not_parse(tmp_path: Path) -> None:
    """Also at write time: a plan whose change was edited after planning (e.g. a partially
    accepted diff) never writes code that does not parse."""
    app = write(tmp_path / "a", {"app.py": "from flask import Flask\n\napp = Flask(__name__)\n",
                                 "requirements.txt": "flask==3.1.0\ngunicorn==23.0.0\n"})
    plan = plan_fixes(app)
    change = next(c for c in plan.changes if c.path == "app.py")
    change.after = change.after.replace("def health", "def def")
    report = apply_fixes(plan)
    assert "app.py" in report.skipped
    assert "def def" not in (app / "app.py").read_text()


def test_pipfile_without_lock_is_installed_from_the_pipfile(tmp_path: Path) -> None:
    """(Built and served on the lab by hand: pipenv --skip-lock --system fills /opt/venv.)"""
    app = write(tmp_path / "p", {"Pipfile": '[packages]\nflask = "*"\n',
                                 "app.py": "from flask import Flask\n\napp = Flask(__name__)\n"})
    r = scan(app)
    assert (r.package_manager, r.dependency_file) == ("pipenv", "Pipfile")
    text = artifacts("dockerfile", app, r)[0].content
    assert "COPY Pipfile ./" in text and "pipenv install --skip-lock --system" in text


def test_a_pyproject_app_installs_its_dependencies_not_a_build_of_itself(tmp_path: Path) -> None:
    """Flat layout, several top-level modules, no build backend: `pip install .` would fail
    (setuptools refuses the flat layout); the build installs the [project] dependencies. The
    extraction step runs here for real."""
    app = write(tmp_path / "flat", {
        "pyproject.toml": '[project]\nname = "flat"\nversion = "1"\ndependencies = [\n'
                          '    "flask>=3",\n    "gunicorn>=23; python_version >= \'3.8\'",\n]\n',
        "app.py": "from flask import Flask\n\nfrom config import NAME\n\napp = Flask(NAME)\n",
        "config.py": "NAME = 'flat'\n", "models.py": "",
    })
    r = scan(app)
    text = artifacts("dockerfile", app, r)[0].content
    assert "pip install ." not in text and "COPY pyproject.toml ./" in text
    extract = r.install_command.split(" && ")[0].replace("/tmp/requirements.txt",
                                                         str(tmp_path / "req.txt"))
    subprocess.run(["sh", "-c", extract], cwd=app, check=True)
    assert (tmp_path / "req.txt").read_text().splitlines() == [
        "flask>=3", "gunicorn>=23; python_version >= '3.8'"]


@pytest.mark.parametrize("line, expected", [
    ('UPLOAD_FOLDER = "uploads"', ["uploads"]),
    ('UPLOAD_FOLDER = os.path.join(basedir, "static", "uploads")', ["web/static/uploads"]),
    ('app.config["UPLOAD_FOLDER"] = os.path.join(app.instance_path, "uploads")',
     ["instance", "instance/uploads"]),
    ('UPLOAD_FOLDER = os.path.join(app.root_path, "media")', ["web/media"]),
    ('DATA_DIR = os.environ.get("DATA_DIR", "var/data")', ["var/data"]),
    ('UPLOAD_FOLDER = tempfile.mkdtemp()', []),
    ('UPLOAD_FOLDER = "/srv/uploads"', []),
    ('DATABASE = "data/app.db"', ["data"]),
])
def test_data_dirs_are_where_the_app_writes(tmp_path: Path, line: str, expected: list[str]) -> None:
    code = ("import os\nimport tempfile\n\nfrom flask import Flask\n\n"
            "basedir = os.path.abspath(os.path.dirname(__file__))\n"
            f"app = Flask(__name__)\n{line}\n")
    app = write(tmp_path / "w", {"requirements.txt": "flask==3.1.0\ngunicorn==23.0.0\n",
                                 "web/__init__.py": code})
    assert scan(app).data_dirs == expected
