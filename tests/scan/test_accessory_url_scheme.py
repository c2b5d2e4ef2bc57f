"""`accessory-url-scheme`: a cockpit.toml whose Postgres accessory would hand a SQLAlchemy app a
URL its driver cannot load (the trial's failed `alembic upgrade head`) is an error of the scan at
the accessory's table, and `cockpit scan --fix` writes the `url_scheme` the app needs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cockpit.config import load
from cockpit.scan import scan
from cockpit.scan.fixes import apply_fixes, plan_fixes

NAIVE = Path(__file__).parent.parent / "accessories" / "notes_naive"
TOML = """[app]
name = "notes-naive"
port = 8000

[environments.staging]
provider = "vps"
host = "203.0.113.10"
host_port = 8101

# the database
[accessories.postgres]
version = "16"
{extra}
"""


def _project(tmp_path: Path, extra: str = "", requirements: str | None = None) -> Path:
    root = tmp_path / "app"
    shutil.copytree(NAIVE, root)
    if requirements is not None:
        (root / "requirements.txt").write_text(requirements)
    (root / "cockpit.toml").write_text(TOML.format(extra=extra))
    return root


def _findings(root: Path):
    return [f for f in scan(root).findings if f.id == "accessory-url-scheme"]


@pytest.mark.parametrize("extra, words", [
    ("", "postgresql:// URL, which SQLAlchemy reads as psycopg2"),
    ('url_scheme = "postgres"', "postgres:// URL, which SQLAlchemy has no dialect for"),
])
def test_a_url_the_driver_cannot_load_is_an_error_at_the_table(tmp_path, extra, words):
    [f] = _findings(_project(tmp_path, extra))
    assert f.severity == "error" and f.where == "cockpit.toml:11", f.where
    assert words in f.message
    assert f.fix == ('add url_scheme = "postgresql+psycopg" to [accessories.postgres] in '
                     "cockpit.toml")


@pytest.mark.parametrize("extra, requirements", [
    ('url_scheme = "postgresql+psycopg"', None),
    ('url_scheme = "postgresql+asyncpg"', None),  # a driver the user chose
    ("", "SQLAlchemy==2.0.36\nalembic\npsycopg2-binary\n"),  # postgresql:// is psycopg2's
    ("", "django\ndj-database-url\npsycopg[binary]\n"),  # no SQLAlchemy
])
def test_a_url_the_driver_loads_is_no_finding(tmp_path, extra, requirements):
    assert _findings(_project(tmp_path, extra, requirements)) == []


def test_fix_writes_the_scheme_and_keeps_the_comments(tmp_path):
    root = _project(tmp_path)
    plan = plan_fixes(root)
    assert "accessory-url-scheme cockpit.toml:11" in plan.fixed
    apply_fixes(plan)
    text = (root / "cockpit.toml").read_text()
    assert "# the database" in text and 'url_scheme = "postgresql+psycopg"' in text
    assert load(root / "cockpit.toml").env("staging").accessories["postgres"].scheme \
        == "postgresql+psycopg"
    assert _findings(root) == []
