"""Reading each migration tool's output into a release's schema record, and finding the tool and
its probe in the release command (no lab: the outputs are what the tools print)."""

from __future__ import annotations

import pytest

from cockpit import schema
from cockpit.schema import MARK, SchemaProbeError

DJANGO_PLAN = """\
[X]  contenttypes.0001_initial
[X]  auth.0001_initial
[X]  contenttypes.0002_remove_content_type_name
[X]  auth.0002_alter_permission_name_max_length
[X]  notes.0001_initial
[X]  notes.0002_note_tags
[ ]  notes.0003_note_pinned
"""

DJANGO_LIST = """\
auth
 [X] 0001_initial
 [X] 0002_alter_permission_name_max_length
notes
 [X] 0001_initial
 [ ] 0002_note_tags
sessions
 (no migrations)
"""

ALEMBIC = f"""\
ae1027a6acf4 (head)
{MARK}
1975ea83b712 -> ae1027a6acf4 (head), add tags
3c2b1a000001 -> 1975ea83b712, add a column
<base> -> 3c2b1a000001, create notes table
"""

ALEMBIC_MERGE = f"""\
53fffde5ad50 (head) (mergepoint)
{MARK}
(27c6a30d7c24, ae1027a6acf4) -> 53fffde5ad50 (head) (mergepoint), merge branches
3c2b1a000001 -> 27c6a30d7c24, branch a
3c2b1a000001 -> ae1027a6acf4 (branchpoint), branch b
<base> -> 3c2b1a000001, create notes table
"""

PRISMA_OK = f"""\
Prisma schema loaded from prisma/schema.prisma
Datasource "db": PostgreSQL database "app", schema "public" at "postgres:5432"

2 migrations found in prisma/migrations

Database schema is up to date!
{MARK}
20240101000000_init
20240102000000_add_tags
migration_lock.toml
"""

PRISMA_PENDING = f"""\
Prisma schema loaded from prisma/schema.prisma
3 migrations found in prisma/migrations

Following migration have not yet been applied:
20240103000000_pinned

To apply migrations in development run prisma migrate dev.
{MARK}
20240101000000_init
20240102000000_add_tags
20240103000000_pinned
migration_lock.toml
"""


def test_django_plan_gives_the_last_applied_migration_per_app():
    rec = schema.parse("django", DJANGO_PLAN)
    assert rec["tool"] == "django"
    assert rec["head"] == {"contenttypes": "0002_remove_content_type_name",
                           "auth": "0002_alter_permission_name_max_length",
                           "notes": "0002_note_tags"}
    assert rec["applied"][-1] == "notes.0002_note_tags"
    assert "notes.0003_note_pinned" not in rec["applied"]


def test_django_per_app_listing_and_apps_without_migrations():
    rec = schema.parse("django", DJANGO_LIST)
    assert rec["head"] == {"auth": "0002_alter_permission_name_max_length",
                           "notes": "0001_initial"}
    assert rec["applied"] == ["auth.0001_initial", "auth.0002_alter_permission_name_max_length",
                              "notes.0001_initial"]


def test_django_output_without_migrations_is_an_error_naming_the_tool():
    with pytest.raises(SchemaProbeError, match="django"):
        schema.parse("django", "Traceback (most recent call last):\n  boom\n")


def test_alembic_current_and_history_give_the_head_and_the_chain_from_base():
    rec = schema.parse("alembic", ALEMBIC)
    assert rec["head"] == "ae1027a6acf4"
    assert rec["applied"] == ["3c2b1a000001", "1975ea83b712", "ae1027a6acf4"]
    assert rec["labels"]["ae1027a6acf4"] == "add tags"


def test_alembic_merge_point_walks_both_parents():
    rec = schema.parse("alembic", ALEMBIC_MERGE)
    assert rec["head"] == "53fffde5ad50"
    assert rec["applied"][0] == "3c2b1a000001" and rec["applied"][-1] == "53fffde5ad50"
    assert set(rec["applied"]) == {"3c2b1a000001", "27c6a30d7c24", "ae1027a6acf4",
                                   "53fffde5ad50"}


def test_alembic_empty_database_has_no_head_and_garbage_is_an_error():
    rec = schema.parse("alembic", f"{MARK}\n<base> -> 3c2b1a000001 (head), create\n")
    assert rec["head"] is None and rec["applied"] == []
    with pytest.raises(SchemaProbeError, match="alembic"):
        schema.parse("alembic", "sh: 1: alembic: not found\n")


def test_prisma_status_and_folder_give_the_last_applied_migration():
    rec = schema.parse("prisma", PRISMA_OK)
    assert rec == {"tool": "prisma", "head": "20240102000000_add_tags",
                   "applied": ["20240101000000_init", "20240102000000_add_tags"]}
    pending = schema.parse("prisma", PRISMA_PENDING)
    assert pending["head"] == "20240102000000_add_tags"
    with pytest.raises(SchemaProbeError, match="prisma"):
        schema.parse("prisma", "Error: P1001: Can't reach database server\n")


@pytest.mark.parametrize("command,tool,probe", [
    ("python manage.py migrate --noinput", "django", "python manage.py showmigrations --plan"),
    ("cd src && python manage.py collectstatic --noinput && python manage.py migrate",
     "django", "cd src && python manage.py showmigrations --plan"),
    ("flask db upgrade", "alembic", f"flask db current && echo '{MARK}' && flask db history"),
    ("flask --app notes db upgrade head", "alembic",
     f"flask --app notes db current && echo '{MARK}' && flask --app notes db history"),
    ("alembic -c conf/alembic.ini upgrade head", "alembic",
     f"alembic -c conf/alembic.ini current && echo '{MARK}' && "
     "alembic -c conf/alembic.ini history"),
    ("npx prisma migrate deploy", "prisma",
     f"npx prisma migrate status; echo '{MARK}'; ls -1 prisma/migrations"),
    ("npx prisma migrate deploy --schema db/schema.prisma", "prisma",
     f"npx prisma migrate status --schema db/schema.prisma; echo '{MARK}'; ls -1 db/migrations"),
])
def test_the_tool_and_its_probe_come_from_the_release_command(command, tool, probe):
    assert schema.detect(command) == tool
    assert schema.probe_for(command) == schema.Probe(tool, probe)


@pytest.mark.parametrize("command", [None, "", "python3 /app/migrate.py", "./bin/setup",
                                     "npm run build"])
def test_other_release_commands_have_no_probe(command):
    assert schema.detect(command) is None and schema.probe_for(command) is None


def test_django_4_2s_own_output_both_listings():
    """What Django 4.2's `showmigrations --plan` and `showmigrations` printed for a project with
    auth migrated to 0003 and a notes app (tests/schema/data, captured from a real run)."""
    from pathlib import Path

    data = Path(__file__).parent / "data"
    plan = schema.parse("django", (data / "django42_showmigrations_plan.txt").read_text())
    listing = schema.parse("django", (data / "django42_showmigrations.txt").read_text())
    head = {"contenttypes": "0001_initial", "auth": "0003_alter_user_email_max_length",
            "notes": "0001_initial"}
    assert plan["head"] == head and listing["head"] == head
    assert sorted(plan["applied"]) == sorted(listing["applied"])
    assert len(plan["applied"]) == 5
