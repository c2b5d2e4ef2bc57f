"""Stack, framework, production start command, port, health path, env vars and services.

Detection order follows Railpack (first match wins: go, ruby, php, python, node, static); a
Procfile `web:` or a Dockerfile CMD is what the project declares, but the start command we
report is always a production one (never `flask run`, `runserver` or `next dev`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cockpit.scan.model import EnvVar, ScanResult
from cockpit.scan.project import GO_EXT, JS_EXT, PHP_EXT, PY_EXT, RB_EXT, Project

PY_MAIN_FILES = (
    "main.py",
    "app.py",
    "server.py",
    "start.py",
    "run.py",
    "bot.py",
    "hello.py",
    "wsgi.py",
    "application.py",
    "api.py",
)
NODE_MAIN_FILES = (
    "server.js",
    "index.js",
    "app.js",
    "main.js",
    "server.mjs",
    "index.mjs",
    "src/server.js",
    "src/index.js",
    "src/app.js",
    "src/main.js",
    "server.ts",
    "index.ts",
    "src/server.ts",
    "src/index.ts",
    "src/app.ts",
    "src/main.ts",
)
PY_SERVERS = (
    "gunicorn",
    "uvicorn",
    "waitress",
    "uwsgi",
    "hypercorn",
    "daphne",
    "granian",
    "fastapi[standard]",
    "uvicorn[standard]",
    "fastapi-cli",
)
PLATFORM_ENV = frozenset(
    {
        "PORT",
        "HOST",
        "HOSTNAME",
        "NODE_ENV",
        "PYTHONUNBUFFERED",
        "PYTHONPATH",
        "PYTHONDONTWRITEBYTECODE",
        "HOME",
        "PATH",
        "PWD",
        "USER",
        "SHELL",
        "CI",
        "TZ",
        "LANG",
        "TERM",
        "TMPDIR",
        "DJANGO_SETTINGS_MODULE",
        "FLASK_APP",
        "FLASK_ENV",
        "FLASK_DEBUG",
        "NEXT_RUNTIME",
        "NEXT_PHASE",
        "COCKPIT_RELEASE",
        "WEB_CONCURRENCY",
        "GUNICORN_CMD_ARGS",
        "K_SERVICE",
        "DEBUG",
    }
)
PLATFORM_PREFIXES = (
    "FLY_",
    "RAILWAY_",
    "RENDER_",
    "VERCEL_",
    "HEROKU_",
    "KUBERNETES_",
    "GITHUB_",
    "npm_",
    "COCKPIT_",
    "VITE_USER_",
)
SECRET_NAME = re.compile(
    r"(?i)key|secret|token|passw|pwd|credential|dsn|private|DATABASE_URL|MONGO\w*_UR[IL]|REDIS_URL")

# The path a gate probes when the scan found no health route: a guess, reported as one
# (finding `no-health-endpoint`); `cockpit init` and every generator use this same default.
DEFAULT_HEALTH_PATH = "/health"

HEALTH_RE = re.compile(
    r"""['"`]/?(health|healthz|healthcheck|health-check|_health|up|ready|readyz|livez|ping|status)/?['"`]"""
)
HEALTH_CONTEXT = re.compile(r"route|get|path|url|handle|==|case|match|app\.|router|mux|@", re.I)

# env var reads: (regex, name group, default-detector)
_PY_ENV = [
    re.compile(r"os\.environ\[\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]\s*\]"),
    re.compile(r"os\.(?:environ\.get|getenv)\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]\s*(,)?"),
    re.compile(
        r"(?<![\w.])(?:env|config)(?:\.(?:str|bool|int|float|list|json|url|db|db_url|"
        r"cache|cache_url|path))?\(\s*['\"]([A-Z_][A-Z0-9_]*)['\"]\s*(,)?"
    ),
]
_JS_ENV = re.compile(
    r"(?:process\.env|import\.meta\.env)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]\s*\])"
    r"(\s*(?:\|\||\?\?|\?))?"
)
_ASSIGNED = re.compile(r"\s*=(?!=)")
_JS_DESTRUCTURE = re.compile(r"\{([^{}]{1,400})\}\s*=\s*process\.env\b")
_GO_ENV = re.compile(r"os\.(Getenv|LookupEnv)\(\s*\"([A-Za-z_][A-Za-z0-9_]*)\"\s*\)")
_RB_ENV = re.compile(
    r"ENV(?:\[\s*['\"]([A-Z_][A-Z0-9_]*)['\"]\s*\]|\.fetch\(\s*['\"]([A-Z_][A-Z0-9_]*)['\"]\s*(,)?)"
)
_PHP_ENV = re.compile(r"\benv\(\s*['\"]([A-Z_][A-Z0-9_]*)['\"]\s*(,)?")

_SERVICE_URL = re.compile(r"\b(postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?)://")
_PY_SERVICE_DEPS = {
    "postgres": (
        "psycopg2",
        "psycopg2-binary",
        "psycopg",
        "psycopg-binary",
        "psycopg[binary]",
        "asyncpg",
        "pg8000",
        "dj-database-url",
    ),
    "redis": ("redis", "aioredis", "django-redis", "rq", "celery[redis]", "hiredis"),
    "mysql": ("mysqlclient", "pymysql", "mysql-connector-python", "aiomysql"),
    "mongodb": ("pymongo", "motor", "mongoengine"),
}
_NODE_SERVICE_DEPS = {
    "postgres": ("pg", "postgres", "pg-promise", "@neondatabase/serverless", "@vercel/postgres"),
    "redis": ("redis", "ioredis", "bull", "bullmq", "@upstash/redis", "connect-redis"),
    "mysql": ("mysql", "mysql2"),
    "mongodb": ("mongodb", "mongoose"),
}
_GO_SERVICE_DEPS = {
    "postgres": ("github.com/lib/pq", "github.com/jackc/pgx"),
    "redis": (
        "github.com/redis/go-redis",
        "github.com/go-redis/redis",
        "github.com/gomodule/redigo",
    ),
    "mysql": ("github.com/go-sql-driver/mysql",),
    "mongodb": ("go.mongodb.org/mongo-driver",),
}
_URL_SERVICE = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mongodb": "mongodb",
    "mongodb+srv": "mongodb",
    "redis": "redis",
    "rediss": "redis",
}


@dataclass
class AppInfo:
    """Where the web app object lives, for findings and fixes."""

    path: str | None = None
    line: int | None = None
    var: str | None = None
    factory: bool = False
    runs_main: bool = False  # production runs this file directly (python app.py / node server.js)
    prod_server: bool = True  # a production server is present (deps / declared start)
    extra: dict[str, str] = field(default_factory=dict)


def detect(p: Project) -> tuple[ScanResult, AppInfo]:
    res = ScanResult(root=str(p.root), stack="unknown")
    app = AppInfo()
    res.has_dockerfile = p.dockerfile is not None
    res.has_dockerignore = p.has(".dockerignore")
    if p.has("go.mod") or p.has("go.work") or (p.has("main.go") and not p.has("package.json")):
        _go(p, res, app)
    elif p.has("Gemfile") or p.has("config.ru"):
        _ruby(p, res, app)
    elif p.has("composer.json") or p.has("artisan"):
        _php(p, res, app)
    elif _is_python(p):
        _python(p, res, app)
    elif p.has("package.json"):
        _node(p, res, app)
    elif p.has("index.html") or p.has("public/index.html") or p.has("Staticfile"):
        res.stack = "static"
        res.static_dir = "public" if not p.has("index.html") and p.has("public/index.html") else "."
        res.start_command = "caddy file-server --root /srv --listen :${PORT:-8080}"
        res.port = 8080
        res.health_path = "/health"  # served by the generated Caddy config
    df = p.dockerfile
    if df is not None and df.exposed_port:
        # the project's own Dockerfile is what gets built: its last stage's EXPOSE is the
        # port the image serves on (fly launch reads `^EXPOSE\s+(\d+)` the same way)
        res.port = df.exposed_port
    res.env_vars = env_vars(p, skip=_other_entry_points(res))
    res.services = services(p, res)
    if res.health_path is None:
        res.health_path = health_path(p)
    declared = p.declared_start
    if (
        declared
        and not is_dev_start(p, declared.command)
        and res.stack != "static"
        and res.framework not in ("vite", "nextjs-static")
    ):
        res.start_command = declared.command
    return res, app


def is_dev_start(p: Project, command: str) -> bool:
    """A dev server, also when hidden behind `npm start` / `yarn start`."""
    if _is_dev_command(command):
        return True
    m = re.search(r"\b(?:npm|yarn|pnpm|bun)\s+(?:run\s+)?(start|[\w:-]+)\s*$", command.strip())
    if m and m.group(1) in p.scripts:
        return _is_dev_command(p.scripts[m.group(1)])
    return False


# ----------------------------------------------------------------------------- python


def _is_python(p: Project) -> bool:
    markers = (
        "requirements.txt",
        "pyproject.toml",
        "Pipfile",
        "setup.py",
        "manage.py",
        "requirements.in",
        "poetry.lock",
        "uv.lock",
    )
    return any(p.has(m) for m in markers) or any(p.has(m) for m in PY_MAIN_FILES)


def _python(p: Project, res: ScanResult, app: AppInfo) -> None:
    res.stack = "python"
    if p.has("uv.lock"):
        res.package_manager, res.lockfile = "uv", "uv.lock"
        res.install_command = "uv sync --locked --no-dev"
    elif p.has("poetry.lock"):
        res.package_manager, res.lockfile = "poetry", "poetry.lock"
        res.install_command = "poetry install --only main --no-root"
    elif p.has("Pipfile.lock"):
        res.package_manager, res.lockfile = "pipenv", "Pipfile.lock"
        res.dependency_file = "Pipfile" if p.has("Pipfile") else None
        res.install_command = "pipenv install --deploy --system"
    elif p.requirement_files:
        res.package_manager = "pip"
        res.dependency_file = p.requirement_files[0]
        res.install_command = f"pip install --no-cache-dir -r {res.dependency_file}"
    elif p.pyproject:
        res.package_manager, res.dependency_file = "pip", "pyproject.toml"
        res.install_command = (
            "pip install --no-cache-dir ." if pyproject_installs_project(p)
            else PYPROJECT_DEPS_INSTALL
        )
    elif p.has("Pipfile"):  # no lock yet: install what the Pipfile lists
        res.package_manager, res.dependency_file = "pipenv", "Pipfile"
        res.install_command = "pipenv install --skip-lock --system"
    if res.dependency_file is None:
        res.dependency_file = (
            p.requirement_files[0]
            if p.requirement_files
            else "pyproject.toml"
            if p.has("pyproject.toml")
            else None
        )
    py_files = p.files_with(PY_EXT)
    imports = _python_imports(p, py_files)
    fw = None
    if p.has_py_dep("django") or (p.has("manage.py") and "django" in (p.text("manage.py") or "")):
        fw = "django"
    elif p.has_py_dep("fastapi") or "fastapi" in imports:
        fw = "fastapi"
    elif p.has_py_dep("flask") or "flask" in imports:
        fw = "flask"
    elif p.has_py_dep("starlette") or "starlette" in imports:
        fw = "starlette"  # ASGI like FastAPI: uvicorn serves `module:app`
    res.framework = fw
    app.prod_server = p.has_py_dep(*PY_SERVERS)
    port_default = 8000
    if fw == "django":
        proj = _django_project(p)
        res.app_module = f"{proj}.wsgi" if proj else None
        res.entry_file = "manage.py" if p.has("manage.py") else None
        if proj and p.has_py_dep("uvicorn", "daphne", "channels") and not p.has_py_dep("gunicorn"):
            res.start_command = (
                f"uvicorn {proj}.asgi:application --host 0.0.0.0 --port ${{PORT:-{port_default}}}"
            )
        else:
            res.start_command = (
                f"gunicorn --bind 0.0.0.0:${{PORT:-{port_default}}} {proj or 'app'}.wsgi"
            )
        if p.has("manage.py"):
            res.release_command = "python manage.py migrate --noinput"
        settings = _django_settings(p)
        prod_settings = _django_production_settings(p)
        if prod_settings and proj:
            res.image_env["DJANGO_SETTINGS_MODULE"] = _module(prod_settings)
        if _django_sqlite_from_url(p, prod_settings or settings):
            # the app's SQLite default sits in the read-only app root; the image points
            # DATABASE_URL (a default: the environment's own value wins) at a data folder
            res.image_env["DATABASE_URL"] = DJANGO_SQLITE_URL
        if p.has("manage.py") and any(
            "STATIC_ROOT" in (p.text(s) or "") for s in (settings, prod_settings) if s
        ):
            res.build_command = "python manage.py collectstatic --noinput"
        res.port = port_default
    elif fw in ("flask", "fastapi", "starlette"):
        _find_app_object(p, py_files, fw, app)
        src = _src_root(p, app.path)
        module = (
            _module(app.path, src) if app.path else ("main" if fw == "fastapi" else "app")
        )
        var = app.var or "app"
        res.entry_file = app.path
        literal = _python_literal_port(p, app.path)
        port = _python_env_port(p, py_files) or literal or port_default
        res.port = port
        # a src/ package is importable once installed (`pip install .`); otherwise the
        # server is told where the code lives
        # (the generated Dockerfile installs the project itself only with pip; its uv and
        # poetry installs use --no-install-project / --no-root)
        installs_project = res.install_command == "pip install --no-cache-dir ."
        if fw == "flask":
            target = f"{module}:{var}()" if app.factory else f"{module}:{var}"
            target = app.extra.get("instance", target)
            res.app_module = target
            path_flag = f" --pythonpath {src}" if src and not installs_project else ""
            res.start_command = (
                f"gunicorn --bind 0.0.0.0:${{PORT:-{port}}}{path_flag} {shell_quote(target)}"
            )
            app.runs_main = not app.prod_server
        else:
            target = app.extra.get("instance", f"{module}:{var}")
            res.app_module = target
            factory = " --factory" if app.factory and "instance" not in app.extra else ""
            path_flag = f" --app-dir {src}" if src and not installs_project else ""
            res.start_command = (
                f"uvicorn {target}{factory}{path_flag} --host 0.0.0.0 --port ${{PORT:-{port}}}"
            )
    else:
        main = _python_main(p)
        res.entry_file = main
        app.path, app.line, app.runs_main = main, 1, True
        port = _python_env_port(p, py_files) or _python_literal_port(p, main) or port_default
        res.port = port
        if main:
            res.start_command = f"python3 {main}"
        _plain_server_line(p, main, app)
    declared = p.declared_start
    if declared:
        cmd = declared.command
        app.runs_main = bool(re.search(r"\bpython3?\s+(?!-m\s)(\S+\.py)", cmd)) or (
            app.runs_main
            and not re.search(r"gunicorn|uvicorn|waitress|hypercorn|daphne|uwsgi", cmd)
        )
    res.data_dirs = python_data_dirs(p, py_files, fw)
    if res.image_env.get("DATABASE_URL") == DJANGO_SQLITE_URL:
        res.data_dirs = sorted(set(res.data_dirs) | {"data"})
    if fw in ("flask", "fastapi") or res.release_command is None:
        step = python_release_step(p, res, fw)
        if step:
            res.release_command = step
    if "release" in p.procfile:
        res.release_command = p.procfile["release"].command


# An app (not a package) with a pyproject: install its [project] dependencies only. Building
# the project itself fails for many apps (setuptools refuses a flat layout with several
# top-level modules; hatchling wants a package named like the project) and is not needed:
# the server imports the code from the working directory.
PYPROJECT_DEPS_INSTALL = (
    "python3 -c 'import tomllib; print(\"\\n\".join(tomllib.load(open(\"pyproject.toml\", "
    "\"rb\"))[\"project\"][\"dependencies\"]))' > /tmp/requirements.txt "
    "&& pip install --no-cache-dir -r /tmp/requirements.txt"
)


def pyproject_installs_project(p: Project) -> bool:
    """Whether the build must `pip install .` a pyproject project: a src/ layout (the code is
    importable only once installed), or dependencies that are not a static `[project]
    dependencies` list (dynamic, or poetry's own table). Otherwise only the listed
    dependencies are installed (`PYPROJECT_DEPS_INSTALL`)."""
    project = p.pyproject.get("project")
    if not isinstance(project, dict) or not isinstance(project.get("dependencies"), list):
        return True
    if "dependencies" in (project.get("dynamic") or []):
        return True
    return any(f.startswith("src/") and f.count("/") == 2 and f.endswith("/__init__.py")
               for f in p.tree.files)


def shell_quote(word: str) -> str:
    """`word` as one POSIX shell word: unchanged when it has no shell metacharacters, else in
    single quotes (`flaskr:create_app()` -> `'flaskr:create_app()'`); `sh -c` gets it back
    verbatim."""
    import shlex

    return shlex.quote(word)


def _src_root(p: Project, rel: str | None) -> str | None:
    """"src" when the app file lives in a src/ layout package (src/<pkg>/...), else None."""
    if rel and rel.startswith("src/") and rel.count("/") >= 2 and not p.has("src/__init__.py"):
        return "src"
    return None


# ----------------------------------------------------------------------------- python: data, steps

_INSTANCE = re.compile(r"\binstance_path\b|instance_relative_config\s*=\s*True")
_DATA_ASSIGN = re.compile(
    r"(?m)^[ \t]*(?:app\.config\[\s*['\"]|\w+\.)?"
    r"(UPLOAD_(?:FOLDER|DIR|DIRECTORY|PATH|ROOT)|MEDIA_ROOT|DATA_(?:DIR|FOLDER|PATH))"
    r"(?:['\"]\s*\])?\s*(?::\s*[\w\[\]. |]+\s*)?=\s*(.+)$"
)
_DATA_KW = re.compile(
    r"\b(UPLOAD_(?:FOLDER|DIR|DIRECTORY|PATH|ROOT)|DATA_(?:DIR|FOLDER|PATH))\s*=\s*([^\n]+)"
)
_STR = re.compile(r"""(?<![\w])[rbuf]?(['"])((?:(?!\1)[^\\\n])*)\1""")
_SQLITE_URL = re.compile(r"""sqlite(?:\+\w+)?:///([^'"\s?]+)""")
_SQLITE_CONNECT = re.compile(r"""sqlite3\.connect\(\s*(['"])([^'"]+)\1""")
_SQLITE_FILE = re.compile(r"""(['"])([\w./-]+\.(?:sqlite3?|db))\1""")


def python_data_dirs(p: Project, files: list[str], fw: str | None) -> list[str]:
    """Directories, relative to the app root, the Python app writes at run time.

    Sources: Flask's instance folder (`app.instance_path` or `instance_relative_config=True`
    in app code -> "instance"; Flask puts it beside the package or module that makes the app);
    UPLOAD_FOLDER / MEDIA_ROOT / DATA_DIR-style assignments whose value names a relative folder
    (joined with `instance_path` -> under instance/, with `__file__`/`root_path`/`basedir` ->
    beside that file, else from the working directory = app root); SQLite files named by a
    relative path or a `sqlite:///relative` URL (Flask-SQLAlchemy 3 resolves those in the
    instance folder). The app root itself and absolute or temporary paths are never returned:
    the root stays read-only. Returns a sorted, de-duplicated list such as ["instance"].
    """
    out: set[str] = set()
    flask_sqla = p.has_py_dep("flask-sqlalchemy")
    for rel in files:
        text = p.text(rel) or ""
        here = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if fw == "flask" and _INSTANCE.search(text) and "Flask(" in text:
            if not here.startswith("src/") and here != "src":
                out.add(_join(_package_parent(p, here), "instance"))
        if (
            "UPLOAD" in text or "MEDIA_ROOT" in text or "DATA_" in text
        ):
            for m in list(_DATA_ASSIGN.finditer(text)) + list(_DATA_KW.finditer(text)):
                value = m.group(2)
                if re.search(r"tempfile|gettempdir|['\"]/tmp", value):
                    continue
                d = _dir_of_value(p, value, here, is_file=False)
                if d:
                    out.add(d)
        if "sqlite" in text or ".db" in text or ".sqlite" in text:
            for m in _SQLITE_URL.finditer(text):
                path = m.group(1)
                if path.startswith("/") or path.startswith(":memory:"):
                    continue
                if flask_sqla and fw == "flask":
                    out.add(_join("instance", _dirname(path)))
                else:
                    out.add(_dirname(path))
            for m in _SQLITE_CONNECT.finditer(text):
                if not m.group(2).startswith("/") and m.group(2) != ":memory:":
                    out.add(_dirname(m.group(2)))
            for m in _SQLITE_FILE.finditer(text):
                line_start = text.rfind("\n", 0, m.start()) + 1
                line = text[line_start : m.end()]
                if "instance_path" in line:
                    out.add(_join(_package_parent(p, here), "instance"))
                elif "/" in m.group(2) and not m.group(2).startswith(("/", "~")):
                    out.add(_dirname(m.group(2)))  # "data/guestbook.db": from the app root
    return sorted(d for d in out if d and d != "." and not d.startswith(("..", "/")))


def _package_parent(p: Project, here: str) -> str:
    """The directory holding the top-level package `here` belongs to ("" = the app root)."""
    parts = here.split("/") if here else []
    while parts and p.has("/".join(parts) + "/__init__.py"):
        parts.pop()
    return "/".join(parts)


def _join(base: str, rel: str) -> str:
    import posixpath

    return posixpath.normpath(posixpath.join(base, rel)) if base else posixpath.normpath(rel)


def _dirname(path: str) -> str:
    import posixpath

    return posixpath.normpath(posixpath.dirname(path)) if "/" in path else "."


def _dir_of_value(p: Project, value: str, here: str, is_file: bool) -> str | None:
    """The app-relative folder an UPLOAD_FOLDER-style expression names, or None."""
    strings = [m.group(2) for m in _STR.finditer(value)]
    if not strings:
        return None
    if re.search(r"environ|getenv", value):
        strings = strings[-1:]  # os.environ.get("DATA_DIR", "var/data"): the default
    last = strings[-1].strip()
    if not last or last.startswith("/") or last.startswith("~") or "{" in last:
        return None
    if "instance_path" in value:
        base = _join(_package_parent(p, here), "instance")
    elif re.search(r"__file__|root_path|\bbasedir\b|BASE_PATH|APP_ROOT", value):
        base = here
    else:
        base = ""  # BASE_DIR (Django: the project root) or the working directory
    joined = _join(base, "/".join(s.strip("/") for s in strings if not s.startswith("/")))
    return _dirname(joined) if is_file else joined


_CLI_COMMAND = re.compile(
    r"""@(?:click|(\w+)\.cli)\.command\(\s*(?:(['"])([\w:-]+)\2)?[^)]*\)\s*\n"""
    r"""(?:\s*@[^\n]+\n)*\s*def\s+(\w+)\("""
)


def python_release_step(p: Project, res: ScanResult, fw: str | None) -> str | None:
    """The one-time step a Python app needs before it serves, as one `sh -c` string, or None.

    In order: Alembic through Flask-Migrate (`migrations/` with alembic's env.py and the
    flask-migrate dependency -> `flask --app <app> db upgrade`), plain Alembic (`alembic.ini`
    -> `alembic upgrade head`), then a Flask CLI command registered with `app.cli` that runs
    a schema (`executescript` / `open_resource("*.sql")` / `create_all(`), e.g. the tutorial's
    `init-db`. A schema script that DROPs tables is destructive when repeated: the command then
    runs only when the SQLite file has no table yet (a python3 check, no sqlite3 binary
    needed); when the file cannot be located no step is returned (never guess a wipe).
    """
    flask_app = _flask_app_arg(res)
    if (
        fw == "flask"
        and p.has_py_dep("flask-migrate")
        and (p.has("migrations/env.py") or p.has("migrations/alembic.ini"))
    ):
        return f"flask --app {flask_app} db upgrade"
    if p.has("alembic.ini"):
        return "alembic upgrade head"
    if fw != "flask":
        return None
    for rel in p.files_with(PY_EXT):
        text = p.text(rel) or ""
        if ".command(" not in text:
            continue
        for m in _CLI_COMMAND.finditer(text):
            name = m.group(3) or m.group(4).removesuffix("_command").replace("_", "-")
            owner = m.group(1)  # `@app.cli.command`; None for `@click.command`
            if owner is not None and re.search(
                rf"(?m)^{re.escape(owner)}\s*=\s*(?:\w+\.)?Blueprint\(", text
            ):
                continue  # a blueprint's command is namespaced: `flask <bp> <name>`
            if owner is None and not re.search(
                rf"\.cli\.add_command\(\s*{re.escape(m.group(4))}\b", text
            ):
                continue
            schema = _schema_of(p, rel, text, m.group(4))
            if schema is None:
                continue
            destructive, _sql = schema
            command = f"flask --app {flask_app} {name}"
            if not destructive:
                return command
            db = _sqlite_file(p, res)
            if db is None:
                return None
            return sqlite_guard(db, command)
    return None


def sqlite_guard(db: str, command: str) -> str:
    """`command` run only when the SQLite file `db` (app-relative) holds no table yet.

    The check is a python3 one-liner (the runtime image has python3, not the sqlite3 CLI): it
    exits 0 (run the step) when the file is missing or has no table, 1 otherwise, and also 1
    when the file cannot be read, so a doubtful case never runs a script that drops tables.
    """
    check = (
        "import os,sqlite3,sys; p=" + json_str(db) + "; "
        "sys.exit(1 if os.path.exists(p) and sqlite3.connect(p).execute("
        '"select count(*) from sqlite_master where type=?", ("table",)).fetchone()[0] else 0)'
    )
    return (
        f"if python3 -c {shell_quote(check)}; then {command}; "
        f"else echo 'schema present: {command.split()[-1]} skipped'; fi"
    )


def json_str(value: str) -> str:
    import json

    return json.dumps(value)


def _flask_app_arg(res: ScanResult) -> str:
    """What `flask --app` takes: the module for a `create_app`/`make_app` factory (Flask finds
    it) or a plain `app` object, else `module:name`, shell-quoted."""
    target = res.app_module or "app"
    module, _, obj = target.partition(":")
    if obj in ("create_app()", "make_app()", "app", "application", ""):
        return module
    return shell_quote(target)


def _schema_of(p: Project, rel: str, text: str, func: str) -> tuple[bool, str | None] | None:
    """(destructive, sql file) when CLI function `func` in `rel` builds a schema, else None.

    Follows calls one level: the command's body, and the bodies of same-module functions it
    calls (the tutorial's `init_db_command` -> `init_db`)."""
    bodies = [_func_body(text, func)]
    for called in re.findall(r"\b(\w+)\(", bodies[0] or ""):
        if called != func:
            body = _func_body(text, called)
            if body:
                bodies.append(body)
    joined = "\n".join(b for b in bodies if b)
    if "create_all(" in joined:
        return ("drop_all(" in joined, None)
    m = re.search(r"""(?:open_resource|open)\(\s*(?:[^)'"]*)(['"])([\w./-]+\.sql)\1""", joined)
    if not m and "executescript" not in joined:
        return None
    sql_name = m.group(2) if m else None
    sql = ""
    if sql_name:
        here = rel.rsplit("/", 1)[0] if "/" in rel else ""
        for cand in (_join(here, sql_name), sql_name):
            if p.has(cand):
                sql = p.tree.read(cand) or ""
                break
    destructive = bool(re.search(r"(?i)\bdrop\s+table\b|\bdelete\s+from\b", sql)) or (
        not sql and sql_name is not None
    )
    return (destructive, sql_name)


def _func_body(text: str, name: str) -> str | None:
    m = re.search(rf"(?m)^([ \t]*)def {re.escape(name)}\(", text)
    if not m:
        return None
    indent = len(m.group(1))
    lines = text[m.end() :].split("\n")
    body = [lines[0]]
    for line in lines[1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        body.append(line)
    return "\n".join(body)


def _sqlite_file(p: Project, res: ScanResult) -> str | None:
    """The app-relative SQLite file the app opens: `os.path.join(app.instance_path, "x.sqlite")`
    -> instance/x.sqlite, a relative `sqlite:///` URL, or a relative `sqlite3.connect` path."""
    for rel in p.files_with(PY_EXT):
        text = p.text(rel) or ""
        here = rel.rsplit("/", 1)[0] if "/" in rel else ""
        m = re.search(
            r"""instance_path\s*,\s*(['"])([\w./-]+\.(?:sqlite3?|db))\1""", text
        )
        if m:
            return _join(_join(_package_parent(p, here), "instance"), m.group(2))
        m = _SQLITE_URL.search(text)
        if m and not m.group(1).startswith("/"):
            base = "instance" if p.has_py_dep("flask-sqlalchemy") else ""
            return _join(base, m.group(1))
        m = _SQLITE_CONNECT.search(text)
        if m and not m.group(2).startswith("/") and m.group(2) != ":memory:":
            return m.group(2)
    return None


def _python_imports(p: Project, files: list[str]) -> set[str]:
    found: set[str] = set()
    pat = re.compile(r"(?m)^\s*(?:from|import)\s+(flask|fastapi|django|starlette)\b")
    for rel in files[:400]:
        text = p.text(rel)
        if text and any(n in text for n in ("flask", "fastapi", "django", "starlette")):
            found.update(pat.findall(text))
    return found


def _module(rel: str, src: str | None = None) -> str:
    """The importable module name of a file: `flaskr/__init__.py` -> `flaskr`,
    `src/pkg/app.py` (src layout, src="src") -> `pkg.app`, `app.py` -> `app`."""
    if src and rel.startswith(src + "/"):
        rel = rel[len(src) + 1 :]
    if rel.endswith(".py"):
        rel = rel[:-3]
    if rel.endswith("/__init__"):
        rel = rel[: -len("/__init__")]
    return rel.replace("/", ".")


def _find_app_object(p: Project, files: list[str], fw: str, app: AppInfo) -> None:
    cls = {"flask": "Flask", "starlette": "Starlette"}.get(fw, "FastAPI")
    pat = re.compile(rf"(?m)^(\w+)\s*(?::\s*[\w.]+\s*)?=\s*(?:\w+\.)?{cls}\(")
    factory = re.compile(r"(?m)^def (create_app|make_app|app_factory)\(")
    best: tuple[int, str, int, str, bool] | None = None
    for rel in files:
        text = p.text(rel)
        if not text or cls not in text:
            continue
        m = pat.search(text)
        is_factory = False
        if m is None:
            m = factory.search(text)
            is_factory = m is not None
        if m is None:
            continue
        name = rel.rsplit("/", 1)[-1]
        rank = rel.count("/") * 10 + (0 if name in PY_MAIN_FILES else 5) + (3 if is_factory else 0)
        cand = (rank, rel, p.line_of(text, m.start()), m.group(1), is_factory)
        if best is None or cand < best:
            best = cand
    if best:
        _, app.path, app.line, app.var, app.factory = best
    if app.factory and app.var:
        # `app = create_app(os.getenv("FLASK_CONFIG") or "default")` at module level (flasky,
        # cookiecutters): the server imports that instance; the factory may need arguments
        inst = re.compile(rf"(?m)^(\w+)\s*=\s*(?:\w+\.)?{re.escape(app.var)}\(")
        for rel in sorted(files, key=lambda r: (r.count("/"), r)):
            text = p.text(rel) or ""
            m = inst.search(text) if app.var in text else None
            if m and rel != app.path:
                app.extra["instance"] = f"{_module(rel, _src_root(p, rel))}:{m.group(1)}"
                break


def _python_main(p: Project) -> str | None:
    for name in PY_MAIN_FILES:
        if p.has(name):
            return name
    scripts = (p.pyproject.get("project") or {}).get("scripts") or {}
    for target in scripts.values():
        if isinstance(target, str) and ":" in target:
            rel = target.split(":")[0].replace(".", "/") + ".py"
            if p.has(rel):
                return rel
    roots = [f for f in p.files_with(PY_EXT) if "/" not in f]
    for rel in roots:
        if "__main__" in (p.text(rel) or ""):
            return rel
    return None


_PY_PORT_ENV = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|env(?:\.int)?|config)\(\s*['"]PORT['"]\s*,\s*(?:default\s*=\s*)?(?:int\()?['"]?(\d{2,5})"""
)
_PY_READS_PORT = re.compile(r"""['"]PORT['"]""")


def _python_env_port(p: Project, files: list[str]) -> int | None:
    for rel in files:
        text = p.text(rel) or ""
        if "PORT" in text:
            m = _PY_PORT_ENV.search(text)
            if m:
                return int(m.group(1))
    return None


def _python_literal_port(p: Project, rel: str | None) -> int | None:
    if not rel:
        return None
    text = p.text(rel) or ""
    m = re.search(r"\.run\([^)]*\bport\s*=\s*(\d{2,5})", text) or re.search(
        r"\(\s*\(\s*['\"][^'\"]*['\"]\s*,\s*(\d{2,5})\s*\)", text
    )
    return int(m.group(1)) if m else None


def _plain_server_line(p: Project, rel: str | None, app: AppInfo) -> None:
    text = p.text(rel) if rel else None
    if not text:
        return
    m = re.search(r"HTTPServer\(|\.bind\(\s*\(|serve\(|run_app\(|make_server\(|\.run\(", text)
    if m:
        app.line = p.line_of(text, m.start())


def _django_project(p: Project) -> str | None:
    for rel in p.tree.glob_names("settings.py"):
        text = p.text(rel) or ""
        m = re.search(r"""WSGI_APPLICATION\s*=\s*['"]([\w.]+)\.wsgi\.application['"]""", text)
        if m:
            return m.group(1)
    for rel in p.tree.glob_names("wsgi.py"):
        if rel.count("/") == 1:
            return rel.split("/")[0]
    return None


DJANGO_SQLITE_URL = "sqlite:////app/data/db.sqlite3"


def _django_sqlite_from_url(p: Project, settings: str | None) -> bool:
    """The settings take the database from DATABASE_URL (dj-database-url's `config()`,
    django-environ's `env.db()`) with a SQLite default: the image can then point the default
    at a writable folder without touching the code."""
    text = p.text(settings) if settings else None
    if not text:
        return False
    m = re.search(r"dj_database_url\.config\(|\benv\.db(?:_url)?\(", text)
    if not m:
        return False
    from cockpit.scan.rules import _call_args

    args, _ = _call_args(text, text.index("(", m.start()))
    return "sqlite" in args


def _django_production_settings(p: Project) -> str | None:
    """The production module of split settings (`<proj>/settings/production.py` or prod.py),
    None when settings are a single file."""
    cands = sorted(
        (r for r in p.tree.files if re.search(r"(?:^|/)settings/(?:production|prod)\.py$", r)),
        key=lambda r: (r.count("/"), r),
    )
    return cands[0] if cands else None


def _django_settings(p: Project) -> str | None:
    cands = [
        r
        for r in p.tree.files
        if r.endswith("settings.py")
        or re.search(r"/settings/(?:base|prod|production|common)\.py$", r)
    ]
    cands.sort(key=lambda r: (r.count("/"), r))
    return cands[0] if cands else None


# ----------------------------------------------------------------------------- node


def node_package_manager(p: Project) -> tuple[str, str | None]:
    for lock, pm in (
        ("pnpm-lock.yaml", "pnpm"),
        ("yarn.lock", "yarn"),
        ("bun.lockb", "bun"),
        ("bun.lock", "bun"),
        ("package-lock.json", "npm"),
        ("npm-shrinkwrap.json", "npm"),
    ):
        if p.has(lock):
            return pm, lock
    declared = str(p.package_json.get("packageManager") or "")
    for pm in ("pnpm", "yarn", "bun"):
        if declared.startswith(pm):
            return pm, None
    return "npm", None


_NODE_INSTALL = {
    "npm": "npm ci",
    "pnpm": "pnpm install --frozen-lockfile",
    "yarn": "yarn install --frozen-lockfile",
    "bun": "bun install --frozen-lockfile",
}


def _node_install_command(p: Project, pm: str, lock: str | None) -> str:
    """The frozen install for the package manager; Yarn 2+ (packageManager yarn@2.., or a
    .yarnrc.yml) spells it `--immutable`."""
    if not lock:
        return f"{pm} install"
    declared = str(p.package_json.get("packageManager") or "")
    if pm == "yarn" and (re.match(r"yarn@(?:[2-9]|\d{2})", declared) or p.has(".yarnrc.yml")):
        return "yarn install --immutable"
    return _NODE_INSTALL[pm]


def _node(p: Project, res: ScanResult, app: AppInfo) -> None:
    packages = workspace_packages(p)
    if packages is not None and not _root_is_app(p):
        _node_workspace(p, res, app, packages)
        return
    _node_app(p, res, app)
    above = workspace_root_above(p.root)
    if above is not None:
        app.extra["workspace_root"] = above


def _node_app(p: Project, res: ScanResult, app: AppInfo) -> None:
    res.stack = "node"
    deps = p.node_deps
    scripts = p.scripts
    pm, lock = node_package_manager(p)
    res.package_manager, res.lockfile = pm, lock
    res.dependency_file = "package.json"
    res.install_command = _node_install_command(p, pm, lock)
    run = "npm run" if pm == "npm" else pm
    if "build" in scripts:
        res.build_command = f"{run} build"
    start = scripts.get("start", "")
    if "next" in deps:
        res.framework = "nextjs"
        config = next(
            (
                p.text(n) or ""
                for n in ("next.config.js", "next.config.mjs", "next.config.ts")
                if p.has(n)
            ),
            "",
        )
        if re.search(r"output\s*:\s*['\"]export['\"]", config):
            res.framework = "nextjs-static"
            res.static_dir = "out"
        res.port = 3000
        res.start_command = (
            f"{pm} start" if re.search(r"\bnext\s+start\b", start) else "npx next start"
        )
        if next_output(p.root) == "standalone":
            # `next start` refuses this output; the build writes its own minimal server
            res.start_command = "node .next/standalone/server.js"
    elif any(d.startswith("@remix-run/") for d in deps) or "@react-router/serve" in deps:
        res.framework = "remix"
        res.port = 3000
        res.start_command = (
            f"{pm} start"
            if start and not _is_dev_command(start)
            else ("npx remix-serve ./build/server/index.js")
        )
    elif "vite" in deps and not (deps & {"express", "fastify", "koa", "hono", "@sveltejs/kit"}):
        res.framework = "vite"
        res.static_dir = vite_out_dir(p)
        res.port = 8080
        res.health_path = "/health"  # served by the generated Caddy config
        res.start_command = "caddy run --config /etc/caddy/Caddyfile"
    else:
        for fw in ("express", "fastify", "koa", "hono", "@nestjs/core"):
            if fw in deps:
                res.framework = fw.replace("@nestjs/core", "nestjs")
                break
        entry = _node_entry(p)
        res.entry_file = entry
        app.path, app.runs_main = entry, True
        res.port = _node_port(p, entry) or 3000
        prod = next((scripts[n] for n in ("start:prod", "start:production")
                     if re.match(r"\s*node\s", scripts.get(n, ""))), None)
        if prod and (not start or _is_dev_command(start) or _dev_tool_start(p, start)):
            # `nest start` and the like run a CLI from devDependencies; the project's own
            # production script runs the build output with node
            res.start_command = prod.strip()
        elif start and not _is_dev_command(start):
            res.start_command = f"{pm} start"
        elif entry:
            res.start_command = f"node {entry}"
        _node_app_line(p, entry, app)
    if res.framework in ("nextjs-static",):
        res.start_command = "caddy run --config /etc/caddy/Caddyfile"
        res.port = 8080
        res.health_path = "/health"
    for rel in ("prisma/schema.prisma",):
        if p.has(rel) and p.has_dir("prisma/migrations"):
            res.release_command = "npx prisma migrate deploy"
    if res.framework not in ("vite", "nextjs-static"):
        res.data_dirs = node_data_dirs(p)[0]


NEXT_CONFIGS = ("next.config.js", "next.config.mjs", "next.config.ts", "next.config.cjs")
VITE_CONFIGS = ("vite.config.ts", "vite.config.js", "vite.config.mjs", "vite.config.mts",
                "vite.config.cjs", "vite.config.cts")


def next_output(root: Path | str) -> str | None:
    """`output` of next.config.{js,mjs,ts,cjs} in `root`: "standalone", "export" or None.

    Source: Next.js docs, `output` option (next.config.js reference)."""
    for name in NEXT_CONFIGS:
        try:
            text = (Path(root) / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        m = re.search(r"""\boutput\s*:\s*['"`](standalone|export)['"`]""", text)
        return m.group(1) if m else None
    return None


_OUTDIR_FLAG = re.compile(r"""\bvite\s+build\b[^&|;]*?\s--outDir(?:=|\s+)(['"]?)([^\s'"&|;]+)\1""")


def vite_out_dir(p: Project) -> str:
    """Where `vite build` writes, relative to the project: `--outDir X` / `--outDir=X` in the
    build script (the CLI overrides the config), else `build.outDir` in vite.config.*, else
    "dist" (Vite's default). Source: Vite docs, build.outDir and the `vite build` CLI."""
    scripts = p.scripts
    seen = set()
    queue = ["build"]
    while queue:
        name = queue.pop(0)
        if name in seen or name not in scripts:
            continue
        seen.add(name)
        m = _OUTDIR_FLAG.search(scripts[name])
        if m:
            return _clean_dir(m.group(2))
        queue += re.findall(r"\b(?:npm\s+run|pnpm(?:\s+run)?|yarn(?:\s+run)?|bun\s+run)\s+"
                            r"([\w:.-]+)", scripts[name])
    for name in VITE_CONFIGS:
        text = p.text(name)
        if text:
            m = re.search(r"""\boutDir\s*:\s*['"`]([^'"`]+)['"`]""", text)
            if m:
                return _clean_dir(m.group(1))
    return "dist"


def _clean_dir(raw: str) -> str:
    out = raw.strip().rstrip("/")
    while out.startswith("./"):
        out = out[2:]
    return out or "."


# ----------------------------------------------------------------------------- node version

# The Node major a generated Dockerfile defaults to when the project pins none: Node 26, the
# Active LTS line since 2026-10-28 (nodejs/Release schedule: 24 moved to Maintenance on
# 2026-10-20, 22 is in Maintenance until 2027-04, 20 reached end of life on 2026-04-30).
NODE_LTS = 26
_LTS_CODENAMES = {"argon": 4, "boron": 6, "carbon": 8, "dubnium": 10, "erbium": 12,
                  "fermium": 14, "gallium": 16, "hydrogen": 18, "iron": 20, "jod": 22,
                  "krypton": 24}


def node_major(root: Path | str) -> tuple[int, str]:
    """(Node major, where it came from) for a project's image.

    An exact pin in `.nvmrc` or `.node-version` wins when it satisfies package.json
    `engines.node` (or there is none); else the highest major `engines.node` allows, preferring
    even (LTS) lines up to `NODE_LTS`; else `NODE_LTS` ("default"). Unreadable values are
    ignored. Sources: nvm's .nvmrc format (a version, `lts/<codename>`, `lts/*`, `node`),
    npm's semver ranges for `engines`."""
    import json

    root = Path(root)
    engines = None
    try:
        data = json.loads((root / "package.json").read_text(encoding="utf-8"))
        node = (data.get("engines") or {}).get("node") if isinstance(data, dict) else None
        engines = node if isinstance(node, str) and node.strip() else None
    except (OSError, ValueError, AttributeError):
        pass
    for name in (".nvmrc", ".node-version"):
        try:
            raw = (root / name).read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, IndexError):
            continue
        major = _pinned_major(raw)
        if major and (engines is None or _range_allows(engines, major)):
            return major, name
    if engines:
        allowed = [m for m in range(4, NODE_LTS + 4) if _range_allows(engines, m)]
        if allowed:
            lts = [m for m in allowed if m <= NODE_LTS and m % 2 == 0]
            return (max(lts) if lts else min(allowed)), "package.json engines.node"
    return NODE_LTS, "default"


def _pinned_major(raw: str) -> int | None:
    raw = raw.lower().lstrip("v")
    if raw in ("node", "stable", "latest", "current", "lts/*", "lts"):
        return NODE_LTS
    if raw.startswith("lts/"):
        return _LTS_CODENAMES.get(raw[4:])
    m = re.match(r"(\d+)", raw)
    return int(m.group(1)) if m else None


def _range_allows(spec: str, major: int) -> bool:
    """Whether an npm semver range admits some version of `major` (tried at .0.0, at a high
    minor of that line and at each version of that line the range names)."""
    tried = {(major, 0, 0), (major, 99, 99)}
    for m in re.finditer(r"(\d+)\.(\d+)(?:\.(\d+))?", spec):
        if int(m.group(1)) == major:
            tried.add((major, int(m.group(2)), int(m.group(3) or 0)))
    return any(_range_has(spec, v) for v in tried)


def _range_has(spec: str, v: tuple[int, int, int]) -> bool:
    for alt in spec.split("||"):
        alt = re.sub(r"\s*-\s+", " - ", alt.strip())
        hyphen = re.fullmatch(r"(\S+) - (\S+)", alt)
        comps = ([f">={hyphen.group(1)}", f"<={hyphen.group(2)}"] if hyphen
                 else re.findall(r"(?:[<>]=?|=|\^|~)?\s*[v\dx*.]+", alt) or ["*"])
        if all(_comp_has(c.replace(" ", ""), v) for c in comps):
            return True
    return False


def _comp_has(comp: str, v: tuple[int, int, int]) -> bool:
    m = re.fullmatch(r"([<>]=?|=|\^|~)?v?(\d+|[x*])?(?:\.(\d+|[x*]))?(?:\.(\d+|[x*]))?.*", comp)
    if not m:
        return True
    op = m.group(1) or ""
    parts = [None if (g is None or g in "x*") else int(g) for g in m.group(2, 3, 4)]
    if parts[0] is None:
        return True
    lo = tuple(x or 0 for x in parts)
    known = len([x for x in parts if x is not None])
    if op in ("", "="):
        return v[:known] == tuple(parts[:known])
    if op == "^":
        return v >= lo and v[0] == lo[0] if lo[0] else v >= lo and v[:2] == lo[:2]
    if op == "~":
        return v >= lo and v[: max(1, min(2, known))] == lo[: max(1, min(2, known))]
    if op == ">=":
        return v >= lo
    if op == ">":
        return v[:known] > tuple(parts[:known])
    if op == "<=":
        return v[:known] <= tuple(parts[:known])
    if op == "<":
        return v < lo
    return True


# ----------------------------------------------------------------------------- node workspaces


def workspace_packages(p: Project) -> list[str] | None:
    """Package directories of an npm/yarn/pnpm workspace rooted here (sorted), None if the
    root is not a workspace. Globs come from pnpm-workspace.yaml `packages:` or package.json
    `workspaces` (a list or `{packages: [...]}`); `!` globs exclude."""
    import fnmatch

    globs: list[str] = []
    text = p.text("pnpm-workspace.yaml")
    if text is not None:
        in_packages = False
        for line in text.splitlines():
            if re.match(r"^packages\s*:", line):
                in_packages = True
                continue
            if in_packages:
                m = re.match(r"""^\s+-\s*['"]?([^'"#]+?)['"]?\s*(?:#.*)?$""", line)
                if m:
                    globs.append(m.group(1))
                elif line.strip() and not line.startswith((" ", "\t", "#")):
                    in_packages = False
    ws = p.package_json.get("workspaces")
    if isinstance(ws, dict):
        ws = ws.get("packages")
    if isinstance(ws, list):
        globs += [g for g in ws if isinstance(g, str)]
    if text is None and not globs:
        return None
    include = [g.strip().rstrip("/").removeprefix("./") for g in globs if not g.startswith("!")]
    exclude = [g[1:].strip().rstrip("/").removeprefix("./") for g in globs if g.startswith("!")]

    def matches(d: str, g: str) -> bool:
        if "**" not in g and d.count("/") != g.count("/"):
            return False
        return fnmatch.fnmatchcase(d, g)

    dirs = sorted(f[: -len("/package.json")] for f in p.tree.files if f.endswith("/package.json"))
    return [d for d in dirs if any(matches(d, g) for g in include)
            and not any(matches(d, g) for g in exclude)]


def workspace_root_above(root: Path) -> str | None:
    """The relative path ("../..") to a workspace root above `root` that lists it as one of
    its packages (pnpm-workspace.yaml or package.json `workspaces`), None when there is
    none within four levels (a `.git` directory stops the search)."""
    here = Path(root).resolve()
    for depth in range(1, 5):
        if (here / ".git").exists():
            return None
        parent = here.parent
        if parent == here:
            return None
        here = parent
        if not ((here / "pnpm-workspace.yaml").is_file() or (here / "package.json").is_file()):
            continue
        if not (here / "pnpm-workspace.yaml").is_file():
            text = (here / "package.json").read_text(encoding="utf-8", errors="replace")
            if '"workspaces"' not in text:
                continue
        rel = Path(root).resolve().relative_to(here).as_posix()
        if rel in (workspace_packages(Project(here)) or []):
            return "/".join([".."] * depth)
    return None


_WS_RUNNER = re.compile(r"\s-r\b|--recursive|--filter|\bturbo\b|\blerna\b|\bnx\b|"
                        r"--workspaces?\b|\bworkspaces\s+foreach\b|\bconcurrently\b")


def _root_is_app(p: Project) -> bool:
    """A workspace root that is itself the app: a production start script of its own."""
    start = p.scripts.get("start", "")
    return bool(start) and not _is_dev_command(start) and not _WS_RUNNER.search(start)


def _deployable(sub: Project) -> bool:
    start = sub.scripts.get("start", "")
    if start and not _is_dev_command(start):
        return True
    deps = sub.node_deps
    return "next" in deps or ("vite" in deps and "build" in sub.scripts and sub.has("index.html"))


def _node_workspace(p: Project, res: ScanResult, app: AppInfo, packages: list[str]) -> None:
    """A workspace scanned from its root: the one deployable package (a production start, a
    Next.js app or a Vite SPA) gets filter-aware commands run from the root (one install over
    the whole workspace, the package's build with its workspace dependencies, its start with
    paths from the root); none or several leave `start_command` None and
    `app.extra["workspace_candidates"]` for the `ambiguous-entry` error."""
    res.stack = "node"
    pm, lock = node_package_manager(p)
    res.package_manager, res.lockfile = pm, lock
    res.dependency_file = "package.json"
    res.install_command = _node_install_command(p, pm, lock)
    subs = {d: Project(p.root / d) for d in packages}
    deployable = [d for d in packages if _deployable(subs[d])]
    app.extra["workspace_packages"] = ",".join(packages)
    if len(deployable) != 1:
        app.extra["workspace_candidates"] = ",".join(deployable)
        return
    d = deployable[0]
    sub = subs[d]
    name = str(sub.package_json.get("name") or d)
    inner, inner_app = ScanResult(root=str(sub.root), stack="unknown"), AppInfo()
    _node_app(sub, inner, inner_app)
    res.framework, res.port = inner.framework, inner.port
    res.release_command = inner.release_command
    res.health_path = inner.health_path if inner.framework == "vite" else None
    res.static_dir = f"{d}/{inner.static_dir}" if inner.static_dir else None
    res.entry_file = f"{d}/{inner.entry_file}" if inner.entry_file else None
    if inner_app.path:
        app.path, app.line, app.var = f"{d}/{inner_app.path}", inner_app.line, inner_app.var
    app.runs_main = inner_app.runs_main
    app.extra.update(workspace_package=d, workspace_name=name)
    if "build" in sub.scripts:
        res.build_command = {
            "pnpm": f"pnpm --filter {name}... build",
            "yarn": f"yarn workspace {name} run build",
            "bun": f"bun run --filter {name} build",
        }.get(pm, f"npm run build --workspace {d}")
    start = sub.scripts.get("start", "")
    m = re.fullmatch(r"\s*node\s+((?:--?\S+\s+)*)(\S+)(.*)", start)
    if inner.framework == "vite" or inner.framework == "nextjs-static":
        res.start_command = inner.start_command
    elif inner.start_command and inner.start_command.startswith("node .next/standalone/"):
        # where the traced server lands depends on outputFileTracingRoot; `next start` in
        # the package works either way (it warns that standalone output exists)
        res.start_command = f"cd {d} && {start or 'next start'}"
    elif m:
        res.start_command = f"node {m.group(1)}{d}/{m.group(2).removeprefix('./')}{m.group(3)}"
    elif start:
        res.start_command = f"cd {d} && {start}"
    elif inner.start_command:
        res.start_command = f"cd {d} && {inner.start_command}"
    if inner.framework not in ("vite", "nextjs-static"):
        # relative paths resolve from where the start command runs: the root, or the package
        runs_in = d if (res.start_command or "").startswith(f"cd {d} ") else ""
        res.data_dirs = node_data_dirs(sub, prefix=d, cwd=runs_in)[0]


_JS_STR = r"""['"`]([^'"`$\n]+)['"`]"""
_JS_DIRNAME = re.compile(r"path\.(?:join|resolve)\(\s*(?:__dirname|process\.cwd\(\))\s*,\s*"
                         r"((?:['\"`][^'\"`$\n]+['\"`]\s*,?\s*)+)\)")
_JS_PATH = r"|path\.(?:join|resolve)\([^)\n]*\)"
_JS_DATA = [
    # multer({ dest: 'uploads/' }), diskStorage({ destination: 'uploads' }) or cb(null, 'x')
    (re.compile(r"\b(?:dest|destination)\s*:\s*(" + _JS_STR + _JS_PATH + ")"), False),
    (re.compile(r"\bcb\(\s*null\s*,\s*(" + _JS_STR + _JS_PATH + ")"), False),
    # fs.mkdirSync('data', ...) / mkdir('uploads', { recursive: true })
    (re.compile(r"\bmkdir(?:Sync)?\(\s*(" + _JS_STR + _JS_PATH + ")"), False),
    # better-sqlite3 / sqlite3 / sqlite: new Database('data/app.db'), filename: 'x.db'
    (re.compile(r"\b(?:new\s+)?(?:\w+\.)?Database\(\s*(" + _JS_STR + _JS_PATH + ")"), True),
    (re.compile(r"\bfilename\s*:\s*(" + _JS_STR + _JS_PATH + ")"), True),
]


def node_data_dirs(p: Project, prefix: str = "", cwd: str = "") -> tuple[list[str], bool]:
    """(directories relative to the app root that the Node app writes at run time, whether it
    writes files directly in the app root).

    `p` may be one package of a workspace deployed from the workspace root: `__dirname`
    paths are then reported under `prefix` (the package's folder) and working-directory
    relative paths under `cwd` (where the start command runs, relative to that root).

    Sources: multer's `dest` / diskStorage `destination`, `fs.mkdir(Sync)` of a literal
    folder, SQLite files opened by better-sqlite3 / sqlite3 (`new Database(path)`,
    `filename:`). Paths are literals or `path.join(__dirname | process.cwd(), 'a', 'b')`
    (from the file's folder or the app root). Absolute, temporary and `:memory:` paths are
    skipped; the app root itself is never a data dir (it stays read-only; the second value
    says the root directory must accept new files, e.g. `new Database('app.db')`)."""
    import posixpath

    out: set[str] = set()
    root_files = False
    for rel in p.files_with(JS_EXT):
        text = p.text(rel) or ""
        if not re.search(r"dest|mkdir|Database|filename|\bcb\(", text):
            continue
        here = rel.rsplit("/", 1)[0] if "/" in rel else ""
        for regex, is_file in _JS_DATA:
            for m in regex.finditer(text):
                expr = m.group(1)
                literal = m.group(2)
                if literal is not None:
                    path = literal
                else:
                    j = _JS_DIRNAME.match(expr)
                    if not j:
                        continue
                    parts = re.findall(r"['\"`]([^'\"`]+)['\"`]", j.group(1))
                    base = (posixpath.join(prefix, here) if prefix else here) \
                        if "__dirname" in expr else cwd
                    path = posixpath.join(base, *parts) if base else posixpath.join(*parts)
                    literal = None
                if (path.startswith(("/", "~", ":memory:", "file:")) or "tmp" in path.split("/")
                        or "://" in path or not re.fullmatch(r"[\w./-]+", path)):
                    continue
                if literal is not None and cwd:
                    path = posixpath.join(cwd, path)
                path = posixpath.normpath(path)
                d = posixpath.dirname(path) if is_file else path
                if d in ("", "."):
                    root_files = root_files or is_file
                elif not d.startswith(".."):
                    out.add(d)
    return sorted(out), root_files


def _dev_tool_start(p: Project, start: str) -> bool:
    """The start script's command is a package that is only a devDependency (nest, ts-node,
    tsx...): gone once dev dependencies are pruned from the image."""
    word = start.split()[0] if start.split() else ""
    dev = p.package_json.get("devDependencies") or {}
    names = {"nest": "@nestjs/cli"}
    pkg = names.get(word, word)
    return isinstance(dev, dict) and pkg in dev and pkg not in p.node_prod_deps


def _node_entry(p: Project) -> str | None:
    start = p.scripts.get("start", "")
    m = re.search(
        r"\b(?:node|nodemon|ts-node|tsx|bun)\s+(?:--\S+\s+)*([\w./-]+\.[cm]?[jt]s)\b", start
    )
    if m and p.has(m.group(1).lstrip("./")):
        return m.group(1).lstrip("./")
    main = p.package_json.get("main")
    if isinstance(main, str) and p.has(main.lstrip("./")):
        return main.lstrip("./")
    for name in NODE_MAIN_FILES:
        if p.has(name):
            return name
    if m:
        return m.group(1).lstrip("./")
    return None


_NODE_PORT_ENV = re.compile(r"process\.env\.PORT\s*(?:\|\||\?\?)\s*['\"]?(\d{2,5})")
_NODE_PORT_CONST = re.compile(r"(?i)\b(?:const|let|var)\s+port\s*=\s*['\"]?(\d{2,5})\b")
_NODE_LISTEN_LIT = re.compile(r"\.listen\(\s*['\"]?(\d{2,5})\b")


def _node_port(p: Project, entry: str | None) -> int | None:
    files = [entry] if entry else []
    files += [f for f in p.files_with(JS_EXT) if f != entry][:200]
    for rel in files:
        text = p.text(rel) or ""
        for regex in (_NODE_PORT_ENV, _NODE_PORT_CONST, _NODE_LISTEN_LIT):
            m = regex.search(text)
            if m:
                return int(m.group(1))
    return None


def _node_app_line(p: Project, entry: str | None, app: AppInfo) -> None:
    text = p.text(entry) if entry else None
    if not text:
        return
    m = re.search(
        r"(?m)^\s*(?:const|let|var)\s+(\w+)\s*=\s*(?:express|fastify|Koa|new Koa|new Hono|"
        r"createServer|http\.createServer)\(",
        text,
    )
    if m:
        app.line, app.var = p.line_of(text, m.start()), m.group(1)
    else:
        m = re.search(r"\.listen\(", text)
        app.line = p.line_of(text, m.start()) if m else 1


# ----------------------------------------------------------------------------- go, ruby, php


def _go(p: Project, res: ScanResult, app: AppInfo) -> None:
    res.stack = "go"
    res.package_manager = "go"
    res.dependency_file = "go.mod" if p.has("go.mod") else None
    res.lockfile = "go.sum" if p.has("go.sum") else None
    mod = p.text("go.mod") or ""
    for fw, needle in (
        ("gin", "gin-gonic/gin"),
        ("echo", "labstack/echo"),
        ("fiber", "gofiber/fiber"),
        ("chi", "go-chi/chi"),
        ("gorilla", "gorilla/mux"),
    ):
        if needle in mod:
            res.framework = fw
            break
    target, files = _go_target(p, app)
    res.build_command = f"CGO_ENABLED=0 go build -ldflags='-s -w' -o server {target}"
    res.install_command = "go mod download"
    res.start_command = "./server"
    port = None
    for rel in files + [f for f in p.files_with(GO_EXT) if f not in files]:
        text = p.text(rel) or ""
        m = re.search(
            r"(?:ListenAndServe(?:TLS)?|\.Run|\.Start|\.Listen)\(\s*\"[^\":]*:(\d{2,5})\"", text
        )
        if m:
            port = int(m.group(1))
            app.path, app.line = rel, p.line_of(text, m.start())
            break
        m = _GO_PORT_DEFAULT.search(text) if rel in files else None
        if m and port is None:
            port = int(m.group(1))
        if "ListenAndServe" in text or "func main()" in text:
            app.path = app.path or rel
    res.port = port or 8080
    res.entry_file = app.path
    app.runs_main = True


_GO_SERVES = re.compile(
    r"\bListenAndServe(?:TLS)?\(|\bhttp\.Serve\(|\.Serve\(\s*\w+\s*\)|\.Run\(\s*(?:\"|\w)|"
    r"\bgin\.(?:Default|New)\(\)|\becho\.New\(\)|\bfiber\.New\(|"
    r"\.Start\(\s*(?:\"|\w)|\.Listen\(\s*(?:\"|\w)|\bnet\.Listen\("
)
# port := os.Getenv("PORT"); if port == "" { port = "8080" }
_GO_PORT_DEFAULT = re.compile(
    r"(?i)\b(?:http_?|listen_?|server_?|web_?|app_?)?port\s*:?=\s*\":?(\d{2,5})\"")
_GO_PREFERRED = ("server", "api", "web", "app", "http", "httpd", "serve", "service")


def _go_target(p: Project, app: AppInfo) -> tuple[str, list[str]]:
    """(package to build, its .go files): the root package when it is `package main`, else
    the one main package under cmd/ that serves HTTP (ListenAndServe, http.Serve, a router's
    Run/Start/Listen). Several servers: the one with a conventional name (server, api, web...)
    or the first, with `app.extra["go_candidates"]` set for the `ambiguous-entry` warning;
    no server: the same choice among all main packages."""
    pkgs: dict[str, list[str]] = {}
    for rel in p.files_with(GO_EXT):
        d = rel.rsplit("/", 1)[0] if "/" in rel else "."
        pkgs.setdefault(d, []).append(rel)

    def is_main(files: list[str]) -> bool:
        return any(re.search(r"(?m)^package\s+main\b", p.text(f) or "") for f in files)

    if "." in pkgs and is_main(pkgs["."]):
        return ".", pkgs["."]
    mains = sorted(d for d, fs in pkgs.items() if d.startswith("cmd/") and is_main(fs))
    if not mains:
        mains = sorted(d for d, fs in pkgs.items() if is_main(fs))
    if not mains:
        return ".", []
    serving = [d for d in mains if any(_GO_SERVES.search(p.text(f) or "") for f in pkgs[d])]
    pool = serving or mains
    if len(pool) == 1:
        return "./" + pool[0], pkgs[pool[0]]
    named = [d for name in _GO_PREFERRED for d in pool if d.rsplit("/", 1)[-1] == name]
    chosen = named[0] if named else pool[0]
    app.extra["go_candidates"] = ",".join(pool)
    app.extra["go_chosen"] = chosen
    app.extra["go_serving"] = "1" if serving else ""
    return "./" + chosen, pkgs[chosen]


def _ruby(p: Project, res: ScanResult, app: AppInfo) -> None:
    res.stack = "ruby"
    res.package_manager = "bundler"
    res.dependency_file = "Gemfile" if p.has("Gemfile") else None
    res.lockfile = "Gemfile.lock" if p.has("Gemfile.lock") else None
    res.install_command = "bundle install"
    res.port = 3000
    if p.has("bin/rails") or "rails" in (p.text("Gemfile") or ""):
        res.framework = "rails"
        res.start_command = "bundle exec rails server -b 0.0.0.0 -p ${PORT:-3000}"
        res.release_command = "bundle exec rails db:prepare"
        res.health_path = "/up" if "rails/health" in (p.text("config/routes.rb") or "") else None
    else:
        res.start_command = "bundle exec rackup config.ru -o 0.0.0.0 -p ${PORT:-3000}"


def _php(p: Project, res: ScanResult, app: AppInfo) -> None:
    res.stack = "php"
    res.package_manager = "composer"
    res.dependency_file = "composer.json" if p.has("composer.json") else None
    res.lockfile = "composer.lock" if p.has("composer.lock") else None
    res.install_command = "composer install --no-dev --optimize-autoloader"
    res.port = 8080
    if p.has("artisan"):
        res.framework = "laravel"
        res.release_command = "php artisan migrate --force"
        res.health_path = "/up"
    res.start_command = "frankenphp php-server --listen :${PORT:-8080} --root public/"


# ----------------------------------------------------------------------------- cross-stack


DEV_COMMANDS = re.compile(
    r"\bnext\s+dev\b|(?:^|[\s;&|])vite(?:\s+(?:--\S+|serve|dev|preview)\b|\s*$)|\bvite\s+preview\b|"
    r"\bnodemon\b|\bts-node-dev\b|\breact-scripts\s+start\b|\b(?:npm\s+run|yarn|pnpm|bun(?:\s+run)?)\s+dev\b|"
    r"\bremix\s+dev\b|\bnuxt\s+dev\b|\bastro\s+dev\b|\bwebpack\s+serve\b|\bwebpack-dev-server\b|"
    r"\btsx\s+watch\b|\bnode\s+--watch\b|\bflask\s+run\b|\bmanage\.py\s+runserver\b|"
    r"\buvicorn\b.*\s--reload\b|\bfastapi\s+dev\b|\bartisan\s+serve\b|\bng\s+serve\b|\bvue-cli-service\s+serve\b"
)


def _is_dev_command(command: str) -> bool:
    return bool(DEV_COMMANDS.search(command))


def _other_entry_points(res: ScanResult):  # noqa: ANN202
    """A predicate for files of main packages that are not deployed: in a Go module whose
    deployed binary is `cmd/<name>`, every other `cmd/<x>/` (a migrate tool, a worker) runs
    elsewhere, so what it reads is not the deployed app's configuration. None otherwise."""
    entry = res.entry_file or ""
    if res.stack != "go" or not entry.startswith("cmd/") or entry.count("/") < 2:
        return None
    own = entry.rsplit("/", 1)[0] + "/"
    return lambda rel: rel.startswith("cmd/") and not rel.startswith(own)


def env_vars(p: Project, skip=None) -> list[EnvVar]:  # noqa: ANN001
    """The variables the app's code reads ({name: EnvVar}, first read wins its `where`);
    files for which `skip(rel)` is true are not read (entry points that are not deployed)."""
    found: dict[str, EnvVar] = {}

    def add(name: str, required: bool, rel: str, text: str, offset: int) -> None:
        build = name.startswith(("NEXT_PUBLIC_", "VITE_", "REACT_APP_", "PUBLIC_"))
        where = f"{rel}:{p.line_of(text, offset)}"
        cur = found.get(name)
        if cur is None:
            found[name] = EnvVar(name, required, where, build, bool(SECRET_NAME.search(name)))
        elif required and not cur.required:
            cur.required, cur.where = True, where

    for rel in p.app_code:
        text = p.text(rel)
        if not text or (skip is not None and skip(rel)):
            continue
        if rel.endswith(PY_EXT):
            if (
                "environ" not in text
                and "getenv" not in text
                and "env(" not in text
                and "config(" not in text
            ):
                continue
            for i, regex in enumerate(_PY_ENV):
                for m in regex.finditer(text):
                    if _ASSIGNED.match(text, m.end()):
                        continue  # os.environ["X"] = ...: a write, not a read
                    # .get()/getenv() tolerate a missing var by contract; env()/config() raise
                    has_default = i == 1 or (i == 2 and bool(m.group(2)))
                    if i == 2 and not has_default:
                        tail = text[m.end() : m.end() + 80]
                        has_default = "default" in tail.split(")")[0]
                    add(m.group(1), not has_default, rel, text, m.start())
        elif rel.endswith(JS_EXT):
            if "env" not in text:
                continue
            for m in _JS_ENV.finditer(text):
                if not m.group(3) and _ASSIGNED.match(text, m.end()):
                    continue
                add(m.group(1) or m.group(2), not m.group(3), rel, text, m.start())
            for m in _JS_DESTRUCTURE.finditer(text):
                for part in m.group(1).split(","):
                    part = part.strip()
                    name = re.match(r"[A-Za-z_]\w*", part)
                    if name:
                        add(name.group(0), "=" not in part, rel, text, m.start())
        elif rel.endswith(GO_EXT):
            for m in _GO_ENV.finditer(text):
                add(m.group(2), m.group(1) == "Getenv", rel, text, m.start())
        elif rel.endswith(RB_EXT):
            for m in _RB_ENV.finditer(text):
                add(m.group(1) or m.group(2), not m.group(3), rel, text, m.start())
        elif rel.endswith(PHP_EXT):
            for m in _PHP_ENV.finditer(text):
                add(m.group(1), not m.group(2), rel, text, m.start())
    return [found[k] for k in sorted(found)]


def is_platform_env(name: str) -> bool:
    return name in PLATFORM_ENV or name.startswith(PLATFORM_PREFIXES)


def services(p: Project, res: ScanResult) -> list[str]:
    out: set[str] = set()
    if res.stack == "python":
        for service, names in _PY_SERVICE_DEPS.items():
            if p.has_py_dep(*names):
                out.add(service)
    if p.package_json:
        for service, names in _NODE_SERVICE_DEPS.items():
            if p.node_deps & set(names):
                out.add(service)
        schema = p.text("prisma/schema.prisma") or ""
        m = re.search(r"provider\s*=\s*\"(postgresql|mysql|mongodb)\"", schema)
        if m:
            out.add({"postgresql": "postgres"}.get(m.group(1), m.group(1)))
    mod = p.text("go.mod") or ""
    for service, names in _GO_SERVICE_DEPS.items():
        if any(n in mod for n in names):
            out.add(service)
    sources = list(p.app_code) + [
        f
        for f in (
            ".env.example",
            ".env.sample",
            "docker-compose.yml",
            "compose.yaml",
            "compose.yml",
        )
        if p.has(f)
    ]
    for rel in sources:
        text = p.text(rel) or ""
        if "://" in text:
            for m in _SERVICE_URL.finditer(text):
                out.add(_URL_SERVICE[m.group(1)])
        if rel.endswith("settings.py") and "django.db.backends.postgresql" in text:
            out.add("postgres")
        if rel.endswith("settings.py") and "django.db.backends.mysql" in text:
            out.add("mysql")
    return sorted(out)


_ROUTE_FILE = re.compile(
    r"(?:^|/)(?:src/)?(app|pages)/(api/)?(health|healthz|up|ping|ready|status)"
    r"(?:/route|/index)?\.[jt]sx?$"
)


def health_path(p: Project) -> str | None:
    for rel in p.app_code:
        m = _ROUTE_FILE.search(rel)
        if m:
            return "/" + (m.group(2) or "") + m.group(3)
    for rel in p.app_code:
        text = p.text(rel)
        if not text:
            continue
        for m in HEALTH_RE.finditer(text):
            line_start = text.rfind("\n", 0, m.start()) + 1
            context = text[line_start : m.start()]
            if HEALTH_CONTEXT.search(context) or rel.endswith("urls.py"):
                path = m.group(1)
                return f"/{path}"
    return None


__all__ = [
    "AppInfo",
    "detect",
    "env_vars",
    "services",
    "health_path",
    "is_platform_env",
    "node_package_manager",
    "PY_SERVERS",
    "DEV_COMMANDS",
    "RB_EXT",
    "PHP_EXT",
]
