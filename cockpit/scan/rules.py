"""The readiness checks: each returns findings with a stable id, file:line, why, and fix.

Rules look only where the production start path goes (an `if __name__ == "__main__"` block is
ignored when gunicorn runs the app) and skip the pitfalls listed in the scan reference:
defaults (`process.env.PORT || 3000`), settings split into local files, temp files, platform
env vars, intentional SQLite with no way to tell, etc.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cockpit.scan.detect import DEV_COMMANDS, AppInfo, is_platform_env
from cockpit.scan.leaks import find_leaks, is_client_code
from cockpit.scan.model import ScanFinding, ScanResult
from cockpit.scan.project import GO_EXT, JS_EXT, PY_EXT, Project

Rule = Callable[[Project, ScanResult, AppInfo], list[ScanFinding]]


def _f(
    id: str,
    severity: str,
    message: str,
    fix: str,
    path: str | None = None,
    line: int | None = None,
    fixable: bool = False,
    **data: object,
) -> ScanFinding:
    where = f"{path}:{line}" if path and line else path
    return ScanFinding(
        id=id,
        severity=severity,
        message=message,
        where=where,
        fix=fix,
        path=path,
        line=line,
        fixable=fixable,
        data=dict(data),
    )


def _call_args(text: str, open_paren: int) -> tuple[str, int]:
    """The argument text of a call whose `(` is at open_paren, and the offset of its `)`."""
    depth, i, quote = 0, open_paren, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return text[open_paren + 1 : i], i
        i += 1
    return text[open_paren + 1 :], len(text)


_KW = re.compile(r"\b(host|port|debug|reload)\s*=\s*([^,)]+)")
_LOCAL = re.compile(r"""^['"](?:localhost|127\.0\.0\.1|::1)['"]$""")


def _reads_port(text: str) -> bool:
    return bool(re.search(r"""['"]PORT['"]|process\.env\.PORT|env\.PORT|Getenv\("PORT"\)""", text))


# ----------------------------------------------------------------------------- python servers


def python_server(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    out: list[ScanFinding] = []
    if res.stack != "python":
        return out
    fw = res.framework
    if fw in ("flask", "django", "fastapi") and not app.prod_server:
        server = {"flask": "gunicorn", "django": "gunicorn", "fastapi": "uvicorn"}[fw]
        run_call = _find_run_call(p, app.path) if fw == "flask" else None
        if run_call is None:
            target = server_dep_target(p, res)
            dep = (target[0] if target else res.dependency_file) or (
                "manage.py" if fw == "django" else app.path
            )
            how = (
                f"add {server} to {target[0]}"
                if target
                else _lock_add_hint(res, server)
            )
            out.append(
                _f(
                    "dev-server",
                    "error",
                    f"no production server in the dependencies: {fw} would run on its dev server",
                    f"{how} and start with `{res.start_command}`",
                    dep,
                    1,
                    fixable=target is not None,
                    server=server,
                    **({"dep_file": target[0], "dep_format": target[1]} if target else {}),
                )
            )
    # Only when production runs this file (python main.py): under gunicorn/uvicorn's CLI an
    # `if __name__ == "__main__": uvicorn.run(app)` block never runs (no false alarm)
    if not app.runs_main or not app.path:
        return out
    text = p.text(app.path) or ""
    reads_port = _reads_port(text)
    for m in re.finditer(
        r"\b(?:(\w+)\.run|uvicorn\.run|(?:waitress\.)?serve|web\.run_app|run_simple)\(", text
    ):
        var = m.group(1) if m.group(1) != "uvicorn" else None
        if var and var not in (app.var, "socketio") and not (fw is None and var == "app"):
            continue
        args, _ = _call_args(text, m.end() - 1)
        kwargs = {k: v.strip() for k, v in _KW.findall(args)}
        line = p.line_of(text, m.start())
        is_flask_run = fw == "flask" and var == app.var
        if is_flask_run:
            target = server_dep_target(p, res)
            out.append(
                _f(
                    "dev-server",
                    "error",
                    f"{var}.run() starts Flask's development server (Werkzeug), not for production",
                    f"add gunicorn to the dependencies and start with `{res.start_command}`",
                    app.path,
                    line,
                    fixable=target is not None,
                    server="gunicorn",
                    **({"dep_file": target[0], "dep_format": target[1]} if target else {}),
                )
            )
        host = kwargs.get("host")
        if (host is None and (is_flask_run or m.group(0).startswith("uvicorn"))) or (
            host and _LOCAL.match(host)
        ):
            out.append(
                _f(
                    "bind-localhost",
                    "error",
                    "listens on 127.0.0.1 only: nothing outside the container can reach it",
                    'bind 0.0.0.0 (host="0.0.0.0")',
                    app.path,
                    line,
                    fixable=True,
                )
            )
        port = kwargs.get("port")
        uvicorn_default = m.group(0).startswith("uvicorn")
        if (port is None and (is_flask_run or uvicorn_default) and not reads_port) or (
            port and port.isdigit() and not reads_port
        ):
            shown = port or ("8000" if uvicorn_default else "5000")
            out.append(
                _f(
                    "hardcoded-port",
                    "warning",
                    f"listens on port {shown} and ignores $PORT, which platforms set",
                    f'read the port: port=int(os.environ.get("PORT", {shown}))',
                    app.path,
                    line,
                    fixable=True,
                    port=int(shown),
                )
            )
        if kwargs.get("debug") == "True":
            out.append(
                _f(
                    "debug-enabled",
                    "error",
                    "debug=True: the interactive debugger lets anyone run code on the server",
                    'drive it from the environment: debug=os.environ.get("FLASK_DEBUG") == "1"',
                    app.path,
                    line,
                )
            )
        if kwargs.get("reload") == "True":
            out.append(
                _f(
                    "dev-server",
                    "error",
                    "reload=True runs the auto-reloader, a development mode",
                    "drop reload=True in production",
                    app.path,
                    line,
                )
            )
    if fw is None:
        for m in re.finditer(r"""\(\s*\(\s*(['"][^'"]*['"])\s*,\s*(\d{2,5})\s*\)""", text):
            line = p.line_of(text, m.start())
            if _LOCAL.match(m.group(1)):
                out.append(
                    _f(
                        "bind-localhost",
                        "error",
                        "listens on 127.0.0.1 only: nothing outside the container can reach it",
                        'bind "0.0.0.0"',
                        app.path,
                        line,
                        fixable=True,
                    )
                )
            if not reads_port:
                out.append(
                    _f(
                        "hardcoded-port",
                        "warning",
                        f"listens on port {m.group(2)} and ignores $PORT, which platforms set",
                        f'read the port: int(os.environ.get("PORT", {m.group(2)}))',
                        app.path,
                        line,
                        fixable=True,
                        port=int(m.group(2)),
                    )
                )
    return out


def server_dep_target(p: Project, res: ScanResult) -> tuple[str, str] | None:
    """(file, format) where `scan --fix` adds a production server: the file the generated
    Dockerfile installs from. Formats: "requirements" (the requirements file production
    installs, e.g. requirements.txt or requirements/production.txt), "pyproject" (`[project]
    dependencies`), "poetry" (`[tool.poetry.dependencies]`), "pipfile" (`[packages]`).
    None when a lockfile pins the install (uv.lock, poetry.lock, Pipfile.lock, pdm.lock): an
    edited manifest would make the frozen install fail, so the lock tool must add it."""
    if res.stack != "python" or any(
        p.has(lock) for lock in ("uv.lock", "poetry.lock", "Pipfile.lock", "pdm.lock")
    ):
        return None
    if res.dependency_file and res.dependency_file.endswith((".txt", ".in")):
        return (res.dependency_file, "requirements")
    if res.dependency_file == "pyproject.toml" and p.pyproject:
        if isinstance(p.pyproject.get("project"), dict):
            return ("pyproject.toml", "pyproject")
        if isinstance((p.pyproject.get("tool") or {}).get("poetry"), dict):
            return ("pyproject.toml", "poetry")
    if p.has("Pipfile"):
        return ("Pipfile", "pipfile")
    return None


def _lock_add_hint(res: ScanResult, server: str) -> str:
    tool = {"uv": f"uv add {server}", "poetry": f"poetry add {server}",
            "pipenv": f"pipenv install {server}"}.get(res.package_manager or "")
    return f"run `{tool}` (the lockfile pins the install)" if tool else f"add {server}"


def _find_run_call(p: Project, rel: str | None) -> int | None:
    text = p.text(rel) if rel else None
    if not text:
        return None
    m = re.search(r"\b\w+\.run\(", text)
    return m.start() if m else None


# ----------------------------------------------------------------------------- node and go servers


def node_server(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    out: list[ScanFinding] = []
    if res.stack != "node" or not app.path:
        return out
    text = p.text(app.path) or ""
    reads_port = _reads_port(text)
    for m in re.finditer(r"\.listen\(", text):
        args, _ = _call_args(text, m.end() - 1)
        parts = [a.strip() for a in _split_args(args)]
        line = p.line_of(text, m.start())
        if len(parts) >= 2 and _LOCAL.match(parts[1]):
            out.append(
                _f(
                    "bind-localhost",
                    "error",
                    "listens on localhost only: nothing outside the container can reach it",
                    "drop the host argument (Node then listens on all interfaces)",
                    app.path,
                    line,
                    fixable=True,
                )
            )
        if parts and re.fullmatch(r"['\"]?\d{2,5}['\"]?", parts[0]) and not reads_port:
            port = parts[0].strip("'\"")
            out.append(
                _f(
                    "hardcoded-port",
                    "warning",
                    f"listens on port {port} and ignores $PORT, which platforms set",
                    f"listen on process.env.PORT || {port}",
                    app.path,
                    line,
                    fixable=True,
                    port=int(port),
                )
            )
        elif parts and re.fullmatch(r"[A-Za-z_]\w*", parts[0]) and not reads_port:
            const = re.search(
                r"(?m)^\s*(?:const|let|var)\s+" + parts[0] + r"\s*=\s*['\"]?(\d{2,5})['\"]?\s*;?",
                text,
            )
            if const:
                out.append(
                    _f(
                        "hardcoded-port",
                        "warning",
                        f"listens on port {const.group(1)} and ignores $PORT, which platforms set",
                        f"const {parts[0]} = process.env.PORT || {const.group(1)}",
                        app.path,
                        p.line_of(
                            text, const.start() + len(const.group(0)) - len(const.group(0).lstrip())
                        ),
                        fixable=True,
                        port=int(const.group(1)),
                    )
                )
    return out


def _split_args(args: str) -> list[str]:
    parts, depth, buf, quote = [], 0, "", ""
    for c in args:
        if quote:
            buf += c
            if c == quote:
                quote = ""
            continue
        if c in "'\"`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(buf)
            buf = ""
            continue
        buf += c
    if buf.strip():
        parts.append(buf)
    return parts


def go_server(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    out: list[ScanFinding] = []
    if res.stack != "go":
        return out
    for rel in p.files_with(GO_EXT):
        text = p.text(rel) or ""
        reads_port = _reads_port(text)
        for m in re.finditer(
            r"(?:ListenAndServe(?:TLS)?|\.Run|\.Start|\.Listen)\(\s*\"([^\":]*):(\d{2,5})\"", text
        ):
            line = p.line_of(text, m.start())
            if m.group(1) in ("localhost", "127.0.0.1"):
                out.append(
                    _f(
                        "bind-localhost",
                        "error",
                        "listens on localhost only: nothing outside the container can reach it",
                        'listen on ":" + port (all interfaces)',
                        rel,
                        line,
                    )
                )
            if not reads_port:
                out.append(
                    _f(
                        "hardcoded-port",
                        "warning",
                        f"listens on port {m.group(2)} and ignores $PORT, which platforms set",
                        'read os.Getenv("PORT") with a default',
                        rel,
                        line,
                        port=int(m.group(2)),
                    )
                )
    return out


# ----------------------------------------------------------------------------- start path


def dev_server(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    out: list[ScanFinding] = []
    start = p.scripts.get("start")
    if start and DEV_COMMANDS.search(start):
        out.append(
            _f(
                "dev-server",
                "error",
                f"the start script runs a development server (`{start}`)",
                f"start with `{_prod_for(start, res)}` after building",
                "package.json",
                p.script_line("start"),
                fixable=_prod_for(start, res) != "",
                command=start,
            )
        )
    for name, decl in p.procfile.items():
        if DEV_COMMANDS.search(decl.command):
            out.append(
                _f(
                    "dev-server",
                    "error",
                    f"Procfile `{name}` runs a development server",
                    f"use `{res.start_command}`",
                    decl.path,
                    decl.line,
                    fixable=name == "web",
                )
            )
    df = p.dockerfile
    if df:
        for decl in (df.entrypoint, df.cmd):
            if decl and DEV_COMMANDS.search(decl.command):
                out.append(
                    _f(
                        "dev-server",
                        "error",
                        "the Dockerfile starts a development server",
                        f"use `{res.start_command}` (cockpit generate dockerfile)",
                        decl.path,
                        decl.line,
                    )
                )
    return out


def _prod_for(start: str, res: ScanResult) -> str:
    if re.search(r"\bnext\s+dev\b", start):
        return re.sub(r"\bnext\s+dev\b", "next start", start)
    if re.search(r"\bnodemon\b", start) and not re.search(r"\.ts\b", start):
        return re.sub(r"\bnodemon\b", "node", start)
    if re.search(r"\bnode\s+--watch\s+", start):
        return re.sub(r"\bnode\s+--watch\s+", "node ", start)
    if re.search(r"\bremix\s+dev\b", start):
        return "remix-serve ./build/server/index.js"
    return ""


def debug_enabled(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    out: list[ScanFinding] = []
    if res.framework == "django":
        for rel in p.files_with(PY_EXT):
            name = rel.rsplit("/", 1)[-1]
            if not (name == "settings.py" or "/settings/" in rel):
                continue
            if (
                re.search(r"(?:^|/)(?:local|dev|development|test|tests|testing|ci)[\w]*\.py$", rel)
                or "/settings/" in rel
                and name not in ("base.py", "prod.py", "production.py", "common.py", "__init__.py")
            ):
                continue
            text = p.text(rel) or ""
            m = re.search(r"(?m)^DEBUG\s*=\s*True\b", text)
            if m:
                out.append(
                    _f(
                        "debug-enabled",
                        "error",
                        "DEBUG = True shows stack traces and settings to anyone",
                        'DEBUG = os.environ.get("DJANGO_DEBUG") == "1"',
                        rel,
                        p.line_of(text, m.start()),
                    )
                )
    for rel in ("Procfile", "Dockerfile", "fly.toml", "app.json"):
        text = p.text(rel)
        if not text:
            continue
        m = re.search(
            r"\bFLASK_DEBUG[=\s\"']+(?:1|true)|\bFLASK_ENV[=\s\"']+development|"
            r"\bNODE_ENV[=\s\"']+development",
            text,
            re.I,
        )
        if m:
            out.append(
                _f(
                    "debug-enabled",
                    "error",
                    "production runs in debug/development mode",
                    "remove it; production must not run in debug mode",
                    rel,
                    p.line_of(text, m.start()),
                )
            )
    return out


_BUILD_IN_DOCKERFILE = re.compile(
    r"(?:npm|yarn|pnpm|bun)\s+(?:run\s+)?build|next\s+build|"
    r"vite\s+build|\btsc\b|remix\s+build|react-router\s+build"
)


def no_build_step(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    out: list[ScanFinding] = []
    if res.stack == "node":
        start = p.scripts.get("start", "")
        needs_build = res.framework in ("nextjs", "nextjs-static", "remix", "vite") or bool(
            re.search(r"\b(?:dist|build|out|\.next)/", start)
        )
        df = p.dockerfile
        if df and needs_build and "build" in p.scripts and not _BUILD_IN_DOCKERFILE.search(df.text):
            decl = df.cmd or df.entrypoint
            out.append(
                _f(
                    "no-build-step",
                    "error",
                    "the Dockerfile never runs the build script, so the start command has "
                    "nothing to serve",
                    f"run `{res.build_command}` in the image (cockpit generate dockerfile)",
                    df.path,
                    decl.line if decl else df.stages[-1][0],
                )
            )
        m = re.search(r"\b(?:node|bun)\s+([\w./-]*(?:dist|build|out)/[\w./-]+)", start)
        if m and not (p.root / m.group(1)).exists() and "build" not in p.scripts:
            out.append(
                _f(
                    "no-build-step",
                    "error",
                    f"start runs {m.group(1)}, which does not exist, and no build script makes it",
                    'add a "build" script (e.g. "tsc") and run it before start',
                    "package.json",
                    p.script_line("start"),
                )
            )
    if res.framework == "django" and res.build_command and p.dockerfile:
        if "collectstatic" not in p.dockerfile.text:
            df = p.dockerfile
            out.append(
                _f(
                    "no-build-step",
                    "warning",
                    "STATIC_ROOT is set but the image never runs collectstatic",
                    "RUN python manage.py collectstatic --noinput in the Dockerfile",
                    df.path,
                    df.stages[-1][0] if df.stages else 1,
                )
            )
    return out


# ----------------------------------------------------------------------------- env, data, health


def undeclared_env(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    declared = set(p.config_secret_names) | p.config_env_names
    for rel in (".env.example", ".env.sample", ".env.template", ".env.dist", "example.env"):
        text = p.text(rel)
        if text:
            declared.update(re.findall(r"(?m)^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", text))
    out = []
    for var in res.env_vars:
        if not var.required or var.name in declared or is_platform_env(var.name):
            continue
        path, _, line = var.where.rpartition(":")
        out.append(
            _f(
                "undeclared-env",
                "warning",
                f"reads ${var.name} without a default and nothing declares it",
                f"list it in .env.example and set it per environment "
                f"(cockpit secrets set ENV {var.name})"
                if var.secret
                else "list it in .env.example and set it per environment",
                path,
                int(line),
                fixable=True,
                name=var.name,
            )
        )
    return out


_MIGRATE = re.compile(
    r"manage\.py\s+migrate|alembic\s+upgrade|prisma\s+migrate\s+deploy|"
    r"db:migrate|db:prepare|artisan\s+migrate|knex\s+migrate|flask\s+db\s+upgrade|"
    r"call_command\(\s*['\"]migrate|command\.upgrade\(|migrate\s+--noinput"
)


def migrations_not_wired(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    where: tuple[str, int] | None = None
    command = None
    if res.framework == "django":
        own = sorted(f for f in p.tree.files if re.search(r"(?:^|/)migrations/0\d{3}_\w+\.py$", f))
        if own:
            where = (own[0], 1)
        elif p.has("manage.py"):
            where = ("manage.py", 1)
        command = "python manage.py migrate --noinput"
    elif p.has("alembic.ini"):
        where, command = ("alembic.ini", 1), "alembic upgrade head"
    elif res.stack == "python" and res.release_command:
        where, command = _python_step_where(p, res.release_command), res.release_command
    elif p.has("prisma/schema.prisma") and p.has_dir("prisma/migrations"):
        where, command = ("prisma/schema.prisma", 1), "npx prisma migrate deploy"
    elif p.has_dir("db/migrate") and res.stack == "ruby":
        where, command = ("Gemfile", 1), "bundle exec rails db:migrate"
    elif p.has_dir("database/migrations") and res.stack == "php":
        where, command = ("artisan", 1), "php artisan migrate --force"
    if where is None:
        return []
    res.release_command = res.release_command or command
    places = [
        "Procfile",
        "Dockerfile",
        "fly.toml",
        "railway.json",
        "railway.toml",
        "render.yaml",
        "app.json",
        "entrypoint.sh",
        "docker-entrypoint.sh",
        "start.sh",
        "release.sh",
        "bin/start",
        "bin/release",
        "scripts/start.sh",
        "cockpit.toml",
        "package.json",
    ]
    for rel in places:
        text = p.text(rel)
        if text and _MIGRATE.search(text):
            return []
    if "release" in p.procfile or _configured_release(p):
        return []  # the project declares its one-time step; cockpit runs it
    for rel in p.app_code:
        text = p.text(rel) or ""
        if ("migrate" in text or "upgrade(" in text) and _MIGRATE.search(text):
            return []
    message = "the project has database migrations but nothing runs them on deploy"
    fix = f"run `{command}` once per release (a release step, not on every replica's boot)"
    step = re.search(r"flask --app \S+ (?!db upgrade)([\w:-]+)", command or "")
    if step:  # a Flask CLI schema command (the tutorial's init-db)
        guarded = command.startswith("if ")
        message = (f"the app creates its schema with `flask {step.group(1)}`, which nothing runs "
                   "on deploy: every page that reads the database fails")
        fix = ("run it once per release as the release command (`cockpit init` writes "
               "[app] release_command)"
               + ("; it drops tables, so the command runs it only while the schema is absent"
                  if guarded else ""))
    return [
        _f(
            "migrations-not-wired",
            "warning",
            message,
            fix,
            where[0],
            where[1],
            command=command,
        )
    ]


def _configured_release(p: Project) -> bool:
    """cockpit.toml sets `[app] release_command`: the deploy runs it before traffic moves."""
    data = p._toml("cockpit.toml")
    return bool(((data.get("app") or {}).get("release_command") or "").strip())


# SQLAlchemy and what wraps it (Flask-SQLAlchemy, SQLModel, Alembic's env.py): it reads the
# driver from the URL's scheme
_SQLALCHEMY = ("sqlalchemy", "flask-sqlalchemy", "sqlmodel", "alembic", "flask-migrate")
_PSYCOPG3 = ("psycopg", "psycopg-binary", "psycopg-c", "psycopg[binary]", "psycopg[c]",
             "psycopg[pool]")
_PSYCOPG2 = ("psycopg2", "psycopg2-binary")


def postgres_url_scheme(p: Project, stack: str | None) -> str | None:
    """The scheme a Postgres URL needs for this project's driver, or None when the default
    `postgresql` works. A Python app on SQLAlchemy (sqlalchemy, Flask-SQLAlchemy, SQLModel,
    Alembic, Flask-Migrate) takes its driver from the scheme, and a bare `postgresql://` means
    psycopg2 (SQLAlchemy's docs, "PostgreSQL dialect": psycopg2 is the default DBAPI; 1.4+ has
    no `postgres` dialect at all): without psycopg2 in its dependencies, psycopg 3 gives
    "postgresql+psycopg", else asyncpg "postgresql+asyncpg", else pg8000 "postgresql+pg8000".
    Django (dj-database-url), Prisma, node-postgres and Go clients read `postgresql://` as is.
    Source: the project's dependency files (Project.py_deps)."""
    if stack != "python" or not p.has_py_dep(*_SQLALCHEMY) or p.has_py_dep(*_PSYCOPG2):
        return None
    for deps, scheme in ((_PSYCOPG3, "postgresql+psycopg"), (("asyncpg",), "postgresql+asyncpg"),
                         (("pg8000",), "postgresql+pg8000")):
        if p.has_py_dep(*deps):
            return scheme
    return None


def accessory_url_scheme(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    """cockpit.toml has a Postgres accessory (cockpit runs it) whose URL the app's SQLAlchemy
    driver cannot use: no `url_scheme` (postgresql:// loads psycopg2, which the app lacks) or
    `url_scheme = "postgres"` (no such dialect): the release command fails on it. An error at
    the accessory's table, fixed by the scheme `postgres_url_scheme` names. A scheme naming a
    driver (`postgresql+...`) is the user's choice and never flagged."""
    data = p._toml("cockpit.toml")
    tables = data.get("accessories")
    need = postgres_url_scheme(p, res.stack) if isinstance(tables, dict) else None
    if not need:
        return []
    text = p.text("cockpit.toml") or ""
    out = []
    for name, table in tables.items():
        if not isinstance(table, dict) or table.get("kind", name) != "postgres" \
                or table.get("external"):
            continue
        have = str(table.get("url_scheme") or "postgresql")
        if "+" in have:
            continue
        m = re.search(rf"(?m)^\s*\[accessories\.{re.escape(name)}\]", text)
        why = ("which SQLAlchemy has no dialect for (NoSuchModuleError)" if have == "postgres"
               else "which SQLAlchemy reads as psycopg2, and the app does not install it")
        out.append(_f(
            "accessory-url-scheme", "error",
            f"accessory {name!r} gives the app a {have}:// URL, {why}: the release command "
            "and the app fail to connect",
            f'add url_scheme = "{need}" to [accessories.{name}] in cockpit.toml',
            "cockpit.toml", p.line_of(text, m.start()) if m else 1, fixable=True,
            url_scheme=need, accessory=name))
    return out


def _python_step_where(p: Project, command: str) -> tuple[str, int]:
    """Where a Python one-time step is defined: migrations/env.py for `db upgrade`, else the
    line declaring the CLI command (`@click.command("init-db")`), else the dependency file."""
    if "db upgrade" in command and p.has("migrations/env.py"):
        return ("migrations/env.py", 1)
    m = re.search(r"flask --app \S+ ([\w:-]+)", command)
    if m:
        name = m.group(1)
        for rel in p.files_with(PY_EXT):
            text = p.text(rel) or ""
            hit = re.search(r"""\.command\(\s*['"]""" + re.escape(name) + "['\"]", text)
            if hit:
                return (rel, p.line_of(text, hit.start()))
    return (p.requirement_files[0] if p.requirement_files else "pyproject.toml", 1)


_UPLOAD_CONST = re.compile(
    r"(?m)^\s*(?:app\.config\[\s*['\"])?(UPLOAD_(?:FOLDER|DIR|DIRECTORY|PATH|ROOT)|MEDIA_ROOT)"
    r"(?:['\"]\s*\])?\s*(?::\s*\w+\s*)?=\s*(.+)$"
)
_OBJECT_STORAGE_PY = (
    "boto3",
    "django-storages",
    "google-cloud-storage",
    "azure-storage-blob",
    "minio",
    "cloudinary",
    "django-storages[s3]",
    "s3fs",
    "aioboto3",
)
_OBJECT_STORAGE_JS = {
    "@aws-sdk/client-s3",
    "aws-sdk",
    "@google-cloud/storage",
    "minio",
    "cloudinary",
    "multer-s3",
    "@azure/storage-blob",
    "@vercel/blob",
}


def local_uploads(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    out: list[ScanFinding] = []
    why = (
        "uploads are written to the container's disk: lost on every deploy, not shared by replicas"
    )
    fix = "store uploads in object storage (S3-compatible) or mount a volume"
    if res.stack == "python" and not p.has_py_dep(*_OBJECT_STORAGE_PY):
        for rel in p.files_with(PY_EXT):
            text = p.text(rel) or ""
            if (
                "UPLOAD" not in text
                and "MEDIA_ROOT" not in text
                and "UploadFile" not in text
                and "request.files" not in text
            ):
                continue
            hit = None
            for m in _UPLOAD_CONST.finditer(text):
                value = m.group(2)
                if re.search(r"tempfile|/tmp|gettempdir|environ|getenv|env\(", value):
                    continue
                if m.group(1) == "MEDIA_ROOT" and not _django_uses_files(p):
                    continue
                hit = m.start(1)
                break
            if hit is None and ("UploadFile" in text or "request.files" in text):
                m = re.search(
                    r"open\([^)\n]*['\"]wb['\"]|\.save\(\s*(?:os\.path\.join|f['\"]|['\"])", text
                )
                if m and "tempfile" not in text[max(0, m.start() - 200) : m.start()]:
                    hit = m.start()
            if hit is not None:
                out.append(_f("local-uploads", "warning", why, fix, rel, p.line_of(text, hit)))
    if res.stack == "node" and not (p.node_deps & _OBJECT_STORAGE_JS):
        for rel in p.files_with(JS_EXT):
            text = p.text(rel) or ""
            if "multer" not in text:
                continue
            m = re.search(r"multer\(\s*\{\s*dest\s*:|multer\.diskStorage\(", text)
            if m:
                out.append(
                    _f("local-uploads", "warning", why, fix, rel, p.line_of(text, m.start()))
                )
    return out


def _django_uses_files(p: Project) -> bool:
    for rel in p.files_with(PY_EXT):
        text = p.text(rel) or ""
        if "FileField" in text or "ImageField" in text or "request.FILES" in text:
            return True
    return False


def no_health_endpoint(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    if res.health_path or res.stack in ("unknown", "static") or not (res.framework or app.path):
        return []
    path, line = app.path, app.line
    if res.framework == "django":
        urls = sorted(p.tree.glob_names("urls.py"), key=lambda r: (r.count("/"), r))
        path, line = (
            (urls[0], _line_of_pattern(p, urls[0], r"urlpatterns\s*=")) if urls else (None, None)
        )
    if path is None and res.framework:
        path, line = res.dependency_file, 1
    if path is None:
        return []
    return [
        _f(
            "no-health-endpoint",
            "warning",
            "no health endpoint: a deploy cannot tell a healthy release from a broken one",
            "add GET /health answering 200 (cheap, no auth, no database)",
            path,
            line or 1,
            fixable=res.framework
            in ("flask", "fastapi", "starlette", "express", "fastify", "hono", "django")
            or (res.framework == "nextjs" and _next_router_dir(p) is not None)
            or (res.stack == "go" and go_mux_site(p) is not None),
        )
    ]


_GO_MUX = re.compile(r"(?m)^(?P<indent>[ \t]+)(?P<var>\w+)\s*:=\s*http\.NewServeMux\(\)[ \t]*$")


def go_mux_site(p: Project) -> tuple[str, re.Match[str]] | None:
    """Where a Go app makes its net/http ServeMux (`mux := http.NewServeMux()`): (file, match
    with groups indent and var), the first in path order outside tests and vendor/; None when
    the app has none (a router library or http.HandleFunc on the default mux)."""
    for rel in sorted(p.files_with(GO_EXT)):
        if rel.endswith("_test.go") or rel.startswith("vendor/"):
            continue
        m = _GO_MUX.search(p.text(rel) or "")
        if m:
            return rel, m
    return None


def _next_router_dir(p: Project) -> str | None:
    for d in ("app", "src/app", "pages", "src/pages"):
        if p.has_dir(d):
            return d
    return None


def _line_of_pattern(p: Project, rel: str, pattern: str) -> int:
    text = p.text(rel) or ""
    m = re.search(pattern, text)
    return p.line_of(text, m.start()) if m else 1


def hardcoded_secrets(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    from cockpit.redaction import MASK

    out = []
    for rel in p.scannable:
        text = p.text(rel)
        if not text:
            continue
        for leak in find_leaks(rel, text):
            label = leak.name or leak.kind
            if leak.exposure != "secret":
                # A browser-public key or a test fixture: a note, never an error, never moved.
                if leak.exposure in ("test", "dev") and not leak.shaped:
                    continue  # a keyword match in a test or dev-only settings: not deployed
                out.append(
                    _f(
                        "public-client-key" if leak.exposure == "public" else "test-fixture-secret",
                        "info",
                        f"{leak.kind.replace('-', ' ')} ({leak.label()}): {leak.why}",
                        "nothing to move; if it was ever a live credential, rotate it"
                        if leak.exposure == "test"
                        else "keep it in the client code; limit what the key may do",
                        rel,
                        leak.line,
                        kind=leak.kind,
                        masked=MASK,
                    )
                )
                continue
            # In browser code process.env.X is undefined after bundling: the user moves the
            # call to a server, --fix does not.
            fixable = (leak.quoted and bool(leak.name) and rel.endswith(PY_EXT + JS_EXT)
                       and not is_client_code(rel, text))
            out.append(
                _f(
                    "hardcoded-secret",
                    "error",
                    f"{leak.kind.replace('-', ' ')} in the source ({leak.label()})",
                    f"move it to an env var ({_env_name(label)}) and rotate it: it is in "
                    "the history",
                    rel,
                    leak.line,
                    fixable=fixable,
                    kind=leak.kind,
                    masked=MASK,
                    name=_env_name(label),
                )
            )
    return out


# ----------------------------------------------------------------------------- weak defaults

# Well-known placeholder secrets (compared lower-cased, without -, _ and spaces): what tutorials,
# framework templates and AI assistants write as a "for now" value.
WEAK_SECRETS = frozenset({
    "dev", "development", "changeme", "changethis", "changeit", "secret", "secretkey",
    "mysecret", "mysecretkey", "supersecret", "supersecretkey", "yoursecretkey", "yoursecret",
    "password", "passw0rd", "insecure", "default", "admin", "test", "testing", "keyboardcat",
    "12345", "123456", "qwerty", "notasecret", "replaceme", "todo", "xxx",
    "youwillneverguess", "hardtoguessstring", "keepitsecret", "keepitsecretkeepitsafe",
    "thisisasecret", "topsecret", "secret123", "changemeplease", "devkey", "devsecret",
    "developmentkey", "unsafe", "notsecure", "insecurekey",
})
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")  # "SECRET_KEY" names a variable
_WEAK_ASSIGN = re.compile(
    r"""(?P<name>\b[A-Za-z_]*(?:SECRET|secret|Secret|PASSWORD|password|Password|PASSWD|passwd|"""
    r"""TOKEN|token|_KEY|_key|Key)[A-Za-z_]*)(?P<close>['"]\s*\])?\s*(?::\s*[\w.\[\]]+\s*)?"""
    r"""(?:=(?!=)|:)\s*(?P<q>['"])(?P<val>[^'"\n]{1,80})(?P=q)"""
)


# `os.environ.get("X") or "dev"`, `os.environ.get("X", "dev")`, `os.getenv("X", "dev")`: a
# weak value used whenever the variable is missing
_WEAK_FALLBACK = re.compile(
    r"""os\.(?:environ\.get|getenv)\(\s*(['"])(?P<env>[A-Za-z_]\w*)\1\s*"""
    r"""(?:,\s*(?P<q>['"])(?P<val>[^'"\n]{1,80})(?P=q)\s*\)|\)\s*or\s*(?P<q2>['"])"""
    r"""(?P<val2>[^'"\n]{1,80})(?P=q2))"""
)


_SECRET_WORD = re.compile(r"(?i)secret|passw|token|(?:^|_|\b)key$|api_?key|private|credential")
# a name that labels a secret rather than holding one: SECRET_NAME, TOKEN_HEADER, KEY_FILE
_LABEL_SUFFIX = re.compile(r"(?i)_(?:name|names|id|header|field|env|var|path|file|url|len|length"
                           r"|prefix|type|scope|ttl|expiry|expires|timeout|version)$")


def secret_like(name: str) -> bool:
    """True when a variable or setting name says it holds a credential (SECRET_KEY, JWT_SECRET,
    ADMIN_PASSWORD, api_token), false for names that label one (SECRET_NAME, TOKEN_HEADER) and
    for names with no such word (COCKPIT_RELEASE, LOG_LEVEL)."""
    last = name.split(".")[-1]
    return bool(_SECRET_WORD.search(last)) and not _LABEL_SUFFIX.search(last)


def weak_value(value: str | None) -> str | None:
    """How to show `value` when it is a well-known weak default, else None: the word itself
    for the public placeholders ("dev"), `django-insecure-…` for Django's template key (its
    random tail is not shown)."""
    if value is None:
        return None
    if value.startswith("django-insecure-"):
        return "django-insecure-…"
    if re.sub(r"[\s_-]+", "", value.lower()) in WEAK_SECRETS:
        return value
    return None


def weak_secrets(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    """A secret-named setting (SECRET_KEY, app.secret_key, JWT_SECRET, ADMIN_PASSWORD, ...)
    assigned a well-known default in Python app code, or an env lookup falling back to one
    (`os.environ.get("SECRET_KEY") or "you-will-never-guess"`): `weak-secret` with data
    kind "weak-default" (id `weak-secret`, apart from leaked credentials: the value is public
    knowledge, rotating means choosing one), an error, because anyone can sign sessions or
    log in with it. A line
    the general secret scan already reports is not reported twice. Fixable: the literal (or
    the whole lookup with its fallback) becomes `os.environ["NAME"]` (data `span` = offsets of
    what is replaced). The value shown (`masked`) is the public placeholder, never a random
    tail."""
    from cockpit.scan.leaks import find_leaks

    out: list[ScanFinding] = []
    for rel in p.files_with(PY_EXT):
        text = p.text(rel) or ""
        if not re.search(r"(?i)secret|passw|token|key", text):
            continue
        hits = []
        for m in _WEAK_ASSIGN.finditer(text):
            shown = weak_value(m.group("val"))
            if shown is None or not secret_like(m.group("name")) or _ENV_NAME.match(m.group("val")):
                continue
            hits.append((m, shown))
        for m in _WEAK_FALLBACK.finditer(text):
            shown = weak_value(m.group("val") or m.group("val2"))
            if shown is not None and secret_like(m.group("env")):
                hits.append((m, shown))
        if not hits:
            continue
        leak_lines = {leak.line for leak in find_leaks(rel, text)}
        seen: set[int] = set()
        for m, shown in hits:
            line = p.line_of(text, m.start())
            if line in leak_lines or line in seen:
                continue
            seen.add(line)
            fallback = "env" in m.groupdict()
            label = m.group("env") if fallback else m.group("name")
            name = m.group("env") if fallback else _env_name(label.split(".")[-1])
            # the span replaced by the fix: the literal, or the whole env-lookup-with-fallback
            span = (m.start(), m.end()) if fallback else (m.start("q"), m.end("val") + 1)
            out.append(
                _f(
                    "weak-secret",
                    "error",
                    f"weak default secret: {label} "
                    + ("falls back to" if fallback else "is")
                    + f" the well-known value \"{shown}\"; anyone can forge sessions or sign "
                    "in with it",
                    f"read it from the environment ({name}) with no default and set a random "
                    f"value per environment (cockpit secrets set ENV {name})",
                    rel,
                    line,
                    fixable=True,
                    kind="weak-default",
                    masked=shown,
                    name=name,
                    span=span,
                )
            )
    return out


# ----------------------------------------------------------------------------- processes


def procfile_processes(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    """Procfile processes other than `web` and `release` (a worker, a clock): cockpit deploys
    the web process and runs release as the release command; the others are not deployed."""
    out = []
    for name, decl in p.procfile.items():
        if name in ("web", "release"):
            continue
        out.append(
            _f(
                "worker-not-deployed",
                "info",
                f"Procfile `{name}` ({decl.command}) is not deployed: cockpit runs the web "
                "process and the release command",
                "run it as a separate app or accessory, or fold it into the web process",
                decl.path,
                decl.line,
                command=decl.command,
            )
        )
    return out


def _env_name(name: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"[^A-Za-z0-9]+", "_", snake).strip("_").upper() or "SECRET"


def _python_sqlite_in_tests_only(text: str, offset: int) -> bool:
    """The SQLite URL sits in a testing branch (`if app.testing`, `TESTING = True` config
    class, `:memory:`): not what production runs."""
    line_start = text.rfind("\n", 0, offset) + 1
    line = text[line_start : text.find("\n", offset) if "\n" in text[offset:] else len(text)]
    if ":memory:" in line or re.search(r"sqlite(?:\+\w+)?://(?:['\"]|$)", line):
        return True
    head = text[max(0, offset - 400) : offset]
    return bool(re.search(r"(?i)class \w*test\w*\b[^\n]*:\s*(?:\n[ \t]+[^\n]*){0,8}$|"
                          r"\bif\b[^\n]*test", head))


def sqlite_in_prod(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    out = []
    why = "SQLite lives on the container's disk: data is lost on deploy and not shared by replicas"
    fix = "use Postgres through DATABASE_URL, or a volume with a single instance"
    pat = re.compile(r"django\.db\.backends\.sqlite3|sqlite(?:\+\w+)?:///|sqlite3\.connect\(")
    for rel in p.files_with(PY_EXT + JS_EXT):
        text = p.text(rel) or ""
        if "sqlite" not in text:
            continue
        for m in pat.finditer(text):
            line_start = text.rfind("\n", 0, m.start()) + 1
            line_end = text.find("\n", m.end())
            line = text[line_start : line_end if line_end >= 0 else len(text)]
            if rel.endswith(PY_EXT) and not _python_sqlite_in_tests_only(text, m.start()):
                pass  # Python: an env fallback to SQLite is what production runs unless set
            elif re.search(r"environ|getenv|process\.env|env\(|config\(|\bor\b|\|\||\?\?", line):
                continue  # a default for local runs; production sets DATABASE_URL
            out.append(_f("sqlite-in-prod", "warning", why, fix, rel, p.line_of(text, m.start())))
            break
    schema = p.text("prisma/schema.prisma") or ""
    m = re.search(r"provider\s*=\s*\"sqlite\"", schema)
    if m:
        out.append(
            _f(
                "sqlite-in-prod",
                "warning",
                why,
                fix,
                "prisma/schema.prisma",
                p.line_of(schema, m.start()),
            )
        )
    for dep in ("better-sqlite3", "sqlite3"):
        if dep in p.node_prod_deps:
            out.append(
                _f(
                    "sqlite-in-prod",
                    "warning",
                    why,
                    fix,
                    "package.json",
                    p.json_key_line("package.json", dep),
                )
            )
            break
    return out


_FROZEN = {
    "npm": "npm ci",
    "pnpm": "pnpm install --frozen-lockfile",
    "yarn": "yarn install --frozen-lockfile",
    "bun": "bun install --frozen-lockfile",
}


def no_lockfile(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    out = []
    locks = ("poetry.lock", "uv.lock", "Pipfile.lock", "pdm.lock")
    if res.stack == "node" and p.node_deps and not res.lockfile \
            and "workspace_root" not in app.extra:  # the lockfile is the workspace's
        out.append(
            _f(
                "no-lockfile",
                "warning",
                "no lockfile: every build may install different dependency versions",
                f"commit a lockfile ({res.package_manager} install writes one) and install "
                f"with `{_FROZEN.get(res.package_manager or 'npm', 'a frozen lockfile')}`",
                "package.json",
                1,
            )
        )
    if res.stack == "python" and not any(p.has(lk) for lk in locks):
        if p.has("requirements.txt"):
            text = p.text("requirements.txt") or ""
            for i, line in enumerate(text.splitlines(), start=1):
                line = line.split("#", 1)[0].strip()
                if (
                    not line
                    or line.startswith(("-", "git+", "http"))
                    or "==" in line
                    or "@" in line
                ):
                    continue
                out.append(
                    _f(
                        "no-lockfile",
                        "warning",
                        "unpinned requirement: every build may install a different version",
                        "pin exact versions (pip freeze, pip-compile or uv pip compile)",
                        "requirements.txt",
                        i,
                    )
                )
                break
        elif p.pyproject and not p.requirement_files:
            deps = (p.pyproject.get("project") or {}).get("dependencies") or (
                (p.pyproject.get("tool") or {}).get("poetry") or {}
            ).get("dependencies")
            if deps:
                out.append(
                    _f(
                        "no-lockfile",
                        "warning",
                        "no lockfile: every build may install different dependency versions",
                        "commit uv.lock (uv lock) or poetry.lock",
                        "pyproject.toml",
                        1,
                    )
                )
        elif p.has("Pipfile"):
            out.append(
                _f(
                    "no-lockfile",
                    "warning",
                    "Pipfile without Pipfile.lock",
                    "run pipenv lock and commit Pipfile.lock",
                    "Pipfile",
                    1,
                )
            )
    if (
        res.stack == "go"
        and p.has("go.mod")
        and not p.has("go.sum")
        and "require" in (p.text("go.mod") or "")
    ):
        out.append(
            _f(
                "no-lockfile",
                "warning",
                "go.mod requires modules but go.sum is missing",
                "run go mod tidy and commit go.sum",
                "go.mod",
                1,
            )
        )
    return out


def dockerfile_rules(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    df = p.dockerfile
    if not df:
        return []
    out = []
    if df.copies_context and not p.has(".dockerignore"):
        out.append(
            _f(
                "no-dockerignore",
                "warning",
                "COPY . without a .dockerignore puts .git, .env and dependency dirs in the image",
                "add a .dockerignore (cockpit scan --fix writes one)",
                df.path,
                df.copies_context,
                fixable=True,
            )
        )
    if df.stages:
        from_line, image = df.stages[-1]
        nonroot_base = re.search(r"nonroot|chainguard|distroless.*:nonroot", image)
        drops = re.search(r"gosu|su-exec|setpriv|runuser|chroot", df.text)
        if df.final_users:
            line, user = df.final_users[-1]
            if user.split(":")[0].strip() in ("root", "0"):
                out.append(
                    _f(
                        "root-container",
                        "warning",
                        "the container runs as root",
                        "run as an unprivileged user (USER 10001)",
                        df.path,
                        line,
                    )
                )
        elif not nonroot_base and not drops:
            out.append(
                _f(
                    "root-container",
                    "warning",
                    "no USER in the final stage: the container runs as root",
                    "add a non-root user and USER it (cockpit generate dockerfile does)",
                    df.path,
                    from_line,
                )
            )
    return out


def start_script_port(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    """`next start -p 3000` / `--port 3000` in the start script ignores the platform's $PORT."""
    start = p.scripts.get("start", "")
    m = re.search(
        r"\b(?:next|remix-serve|react-router-serve|serve|vite)\b[^&|;]*?"
        r"\s(?:-p|--port)[ =](\d{2,5})\b",
        start,
    )
    if not m:
        return []
    return [
        _f(
            "hardcoded-port",
            "warning",
            f"the start script pins port {m.group(1)} and ignores $PORT, which platforms set",
            f"drop `{m.group(0).split()[-2]} {m.group(1)}` (the server reads $PORT)",
            "package.json",
            p.script_line("start"),
            fixable=True,
            port=int(m.group(1)),
            command=start,
        )
    ]


# ----------------------------------------------------------------------------- entry, own image


def ambiguous_entry(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    """Which package is the app: a workspace root with no single deployable package (error:
    nothing would start), several Go main packages that serve (warning: one was picked), a
    Node app with no start command and no entry file (error)."""
    out: list[ScanFinding] = []
    if "workspace_candidates" in app.extra:
        cands = [c for c in app.extra["workspace_candidates"].split(",") if c]
        where = "pnpm-workspace.yaml" if p.has("pnpm-workspace.yaml") else "package.json"
        if cands:
            msg = (f"a workspace with {len(cands)} deployable packages "
                   f"({', '.join(cands)}): cockpit cannot tell which one to deploy")
        else:
            pkgs = app.extra.get("workspace_packages", "").replace(",", ", ") or "none"
            msg = ("a workspace whose packages (" + pkgs + ") have no production start script: "
                   "nothing would start")
        out.append(_f(
            "ambiguous-entry", "error", msg,
            "scan and deploy one package (cockpit scan <dir>, built from the workspace root "
            "with `pnpm --filter <name> build`), or give that package a `start` script",
            where, 1, candidates=",".join(cands),
        ))
    elif res.stack == "node" and not res.start_command and not res.has_dockerfile:
        out.append(_f(
            "ambiguous-entry", "error",
            "no start script and no entry file (server.js, index.js, src/index.ts...): "
            "nothing says how this app starts",
            'add a "start" script to package.json (e.g. "node server.js")',
            "package.json", p.script_line("start") if "start" in p.scripts else 1,
        ))
    if "workspace_root" in app.extra:
        root = app.extra["workspace_root"]
        linked = sorted(n for n, v in (p.package_json.get("dependencies") or {}).items()
                        if isinstance(v, str) and v.startswith("workspace:"))
        why = (f"it depends on {', '.join(linked)} from the workspace" if linked
               else "its lockfile is the workspace's")
        out.append(_f(
            "ambiguous-entry", "error" if linked else "warning",
            f"this directory is one package of the workspace at {root}: built alone, {why}",
            f"scan and deploy from the workspace root (cockpit scan {root}): it builds this "
            "package with the workspace's lockfile and filter-aware commands",
            "package.json", 1, workspace_root=root,
        ))
    if res.stack == "go" and app.extra.get("go_candidates"):
        cands = app.extra["go_candidates"].split(",")
        chosen = app.extra.get("go_chosen", cands[0])
        kind = "serve HTTP" if app.extra.get("go_serving") else "are main packages"
        out.append(_f(
            "ambiguous-entry", "warning",
            f"{len(cands)} packages {kind} ({', '.join(cands)}); the image builds ./{chosen}",
            f"if ./{chosen} is not the web server, build the right one: edit the `go build` "
            "line of the Dockerfile (or keep one main package under cmd/ that listens)",
            f"{chosen}/main.go" if p.has(f"{chosen}/main.go") else (res.dependency_file or None),
            1, candidates=",".join(cands),
        ))
    return out


_ARG_REF = re.compile(r"^\$\{?(\w+)\}?$")


def own_dockerfile(p: Project, res: ScanResult, app: AppInfo) -> list[ScanFinding]:
    """The project's own Dockerfile: cockpit builds it as it is. A FROM that names an image
    literally (not through a top-level ARG) can only be built where that image can be
    pulled: the lab substitutes ARG-named bases only (`build_args_for`). And with no health
    route cockpit can read, the gate's health path is a guess."""
    df = p.dockerfile
    if df is None:
        return []
    out: list[ScanFinding] = []
    stage_names = set(re.findall(r"(?im)^\s*FROM\s+\S+\s+AS\s+(\S+)", df.text))
    literal = []
    for line, image in df.stages:
        if not image or image.lower() == "scratch" or image in stage_names:
            continue
        if _ARG_REF.match(image) or "$" in image:
            continue
        literal.append((line, image))
    if literal:
        line, image = literal[0]
        names = ", ".join(dict.fromkeys(i for _, i in literal))
        out.append(_f(
            "official-base-image", "info",
            f"the project's Dockerfile builds from {names}: each must be pullable where "
            "the image is built (the lab's offline engine substitutes only ARG-named bases)",
            "to let a mirror or the lab stand in: `ARG BASE_IMAGE=" + image
            + "` before the first FROM and `FROM ${BASE_IMAGE}`",
            df.path, line, images=names,
        ))
    if res.stack == "unknown" and not res.health_path:
        from cockpit.scan.detect import DEFAULT_HEALTH_PATH

        port = f" on port {res.port} (its EXPOSE)" if res.port else ""
        out.append(_f(
            "no-health-endpoint", "info",
            f"cockpit cannot read this stack's routes: the gate will probe "
            f"{DEFAULT_HEALTH_PATH}{port}, a guess",
            "set health_path in cockpit.toml to a route the app answers with 2xx",
            df.path, (df.expose[0][0] if df.expose else 1),
        ))
    return out


RULES: list[Rule] = [
    python_server,
    node_server,
    go_server,
    dev_server,
    debug_enabled,
    no_build_step,
    undeclared_env,
    migrations_not_wired,
    accessory_url_scheme,
    local_uploads,
    no_health_endpoint,
    hardcoded_secrets,
    weak_secrets,
    procfile_processes,
    sqlite_in_prod,
    no_lockfile,
    dockerfile_rules,
    start_script_port,
    ambiguous_entry,
    own_dockerfile,
]
