"""The headline of a failed release command quotes its most telling output line (the exception,
not the traceback's footer), and the command line prints its output once."""
# ruff: noqa: E501  (the tracebacks below are quoted as printed)

from __future__ import annotations

import io
import json

from cockpit.events import LogLine, StepFailed, StepStarted
from cockpit.output import HumanRenderer, JsonRenderer
from cockpit.release_phase import HEADLINE_LIMIT, failure, headline

# `flask db upgrade` (Alembic) against a table that is not there: SQLAlchemy 2.0 ends its
# traceback with the SQL and a link, after the exception line
ALEMBIC = """\
INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.
INFO  [alembic.runtime.migration] Will assume transactional DDL.
INFO  [alembic.runtime.migration] Running upgrade 1a2b3c4d5e6f -> 9f8e7d6c5b4a, add tags
Traceback (most recent call last):
  File "/opt/venv/lib/python3.12/site-packages/sqlalchemy/engine/base.py", line 1967, in _exec_single_context
    self.dialect.do_execute(
  File "/opt/venv/lib/python3.12/site-packages/sqlalchemy/engine/default.py", line 941, in do_execute
    cursor.execute(statement, parameters)
psycopg2.errors.UndefinedTable: relation "no_such_table" does not exist
LINE 1: ALTER TABLE no_such_table ADD COLUMN tags TEXT
                    ^


The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/opt/venv/bin/flask", line 8, in <module>
    sys.exit(main())
  File "/opt/venv/lib/python3.12/site-packages/alembic/runtime/migration.py", line 627, in run_migrations
    step.migration_fn(**kw)
  File "/app/migrations/versions/9f8e7d6c5b4a_add_tags.py", line 21, in upgrade
    op.execute("ALTER TABLE no_such_table ADD COLUMN tags TEXT")
  File "/opt/venv/lib/python3.12/site-packages/sqlalchemy/engine/default.py", line 941, in do_execute
    cursor.execute(statement, parameters)
sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedTable) relation "no_such_table" does not exist
LINE 1: ALTER TABLE no_such_table ADD COLUMN tags TEXT
                    ^

[SQL: ALTER TABLE no_such_table ADD COLUMN tags TEXT]
(Background on this error at: https://sqlalche.me/e/20/f405)""".splitlines()

# `python manage.py migrate` (Django) creating a table that exists: a chained traceback
DJANGO = """\
Operations to perform:
  Apply all migrations: admin, auth, blog, contenttypes, sessions
Running migrations:
  Applying blog.0002_tags...Traceback (most recent call last):
  File "/usr/local/lib/python3.12/site-packages/django/db/backends/utils.py", line 87, in _execute
    return self.cursor.execute(sql)
psycopg.errors.DuplicateTable: relation "blog_tag" already exists

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/app/manage.py", line 22, in <module>
    main()
  File "/usr/local/lib/python3.12/site-packages/django/db/backends/utils.py", line 87, in _execute
    return self.cursor.execute(sql)
django.db.utils.ProgrammingError: relation "blog_tag" already exists""".splitlines()

# `npx prisma migrate deploy`: the database's error sits above a Rust debug dump
PRISMA = """\
Prisma schema loaded from prisma/schema.prisma
Datasource "db": PostgreSQL database "app", schema "public" at "db:5432"

3 migrations found in prisma/migrations

Applying migration `20261130000000_add_tags`
Error: P3018

A migration failed to apply. New migrations cannot be applied after a migration has failed. \
To apply the remaining migrations, please fix the migration first.

Migration name: 20261130000000_add_tags

Database error code: 42P07

Database error:
ERROR: relation "Tag" already exists

DbError { severity: "ERROR", parsed_severity: Some(Error), code: SqlState(E42P07), \
message: "relation \\"Tag\\" already exists", detail: None, hint: None }
""".splitlines()


def test_alembic_quotes_the_sqlalchemy_exception_not_its_background_link():
    assert headline(ALEMBIC) == ('sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedTable)'
                                 ' relation "no_such_table" does not exist')
    err = failure("r2", 1, ALEMBIC, "r1", where="deploy@lab")
    assert "exited with status 1 (sqlalchemy.exc.ProgrammingError: " in err.what
    assert "Background on this error" not in err.what
    assert err.logs == ALEMBIC[-30:]  # the tail itself is unchanged


def test_django_quotes_the_last_exception_of_a_chained_traceback():
    assert headline(DJANGO) == ('django.db.utils.ProgrammingError: relation "blog_tag" '
                                "already exists")


def test_prisma_quotes_the_database_error_not_its_debug_dump():
    assert headline(PRISMA) == 'ERROR: relation "Tag" already exists'
    assert headline(["Error: P1001: Can't reach database server at `db`:`5432`", "",
                     "Please make sure your database server is running at `db`:`5432`."]) \
        == "Error: P1001: Can't reach database server at `db`:`5432`"


def test_other_tools_and_the_fallbacks():
    assert headline(["Running release", "sh: 1: ./migrate: not found"]) == \
        "sh: 1: ./migrate: not found"  # nothing error-like: the last non-empty line
    assert headline(["psql:/app/schema.sql:3: ERROR:  syntax error at or near \"TABL\"",
                     "LINE 1: CREATE TABL x();"]).startswith("psql:/app/schema.sql:3: ERROR:")
    assert headline(["fatal: not a git repository", "  ", ""]) == "fatal: not a git repository"
    assert headline(["(Background on this error at: https://sqlalche.me/e/20/e3q8)"]) == \
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)"  # only a footer: itself
    assert headline(["x" * 1000]) == "x" * (HEADLINE_LIMIT - 1) + "…"
    assert headline([]) == "no output"


def test_a_plain_exit_without_output_says_so_once():
    err = failure("r2", 3, [], None, where="deploy@lab")
    assert "exited with status 3 (no output); the new release was not started and nothing " \
           "serves yet" in err.what
    assert err.logs == [] and err.status == 3


def _run(renderer, lines: list[str], err) -> None:
    renderer.emit(StepStarted("release_command", "release command: flask db upgrade", env="prod"))
    for line in lines:
        renderer.emit(LogLine(source="release", line=line, env="prod"))
    renderer.emit(StepFailed("release_command", err.what, env="prod"))
    renderer.error(err)


def test_the_command_line_prints_the_output_once_and_json_keeps_the_tail():
    err = failure("r2", 1, ALEMBIC[-30:], "r1", where="deploy@lab")
    out, human = io.StringIO(), io.StringIO()
    _run(HumanRenderer(out, human), ALEMBIC, err)
    text = human.getvalue()
    assert text.count("(Background on this error at") == 1  # as it ran, not again in the error
    assert text.count("File \"/app/migrations/versions/9f8e7d6c5b4a_add_tags.py\"") == 1
    assert "last log lines" not in text and "its output is above" in text
    assert "error: deploy@lab: the release command of release r2 exited with status 1 " \
           "(sqlalchemy.exc.ProgrammingError:" in text
    jout = io.StringIO()
    _run(JsonRenderer(jout), ALEMBIC, err)
    row = json.loads(jout.getvalue().splitlines()[-1])
    assert row["logs"] == ALEMBIC[-30:] and row["exit_status"] == 1


def test_a_tail_the_command_line_did_not_show_is_still_printed():
    err = failure("r2", 1, ["ModuleNotFoundError: No module named 'app'"], None, where="x")
    human = io.StringIO()
    renderer = HumanRenderer(io.StringIO(), human)
    renderer.emit(LogLine(source="release", line="something else", env="prod"))
    renderer.error(err)
    assert "last log lines:" in human.getvalue()
    assert human.getvalue().count("No module named 'app'") == 2  # headline, then the tail
