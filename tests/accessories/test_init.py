"""`cockpit init` / `cockpit demo --app`: the accessories the scan finds the app needs, written
into cockpit.toml (a client dependency or a postgres/redis URL in .env.example)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.accessories import for_scan, url_scheme_for_scan
from cockpit.config import loads
from cockpit.scan import scan
from cockpit.template import render_for_scan

HERE = Path(__file__).parent
CORPUS = HERE.parent / "corpus" / "apps"
LAB = {"ssh_key": "/k", "http_port": 8080, "https_port": 8443, "dns": "127.0.0.1:8053",
       "registry": "", "acme_ca": "https://127.0.0.1:14000/dir", "acme_ca_root": "/ca.pem",
       "acme_issuer_root": "", "caddy_admin": "", "base_image": "cockpit-lab/base:bookworm"}
VPS = {"host": "127.0.0.1", "user": "deploy", "ssh_port": 2222}


def _app(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


@pytest.mark.parametrize("files, kinds", [
    ({"requirements.txt": "flask\npsycopg2-binary==2.9.9\nredis>=5\n", "app.py": "import flask\n"},
     ["postgres", "redis"]),
    ({"package.json": '{"dependencies": {"express": "4", "pg": "8"}}', "index.js": "1\n"},
     ["postgres"]),
    ({"package.json": '{"dependencies": {"@prisma/client": "5"}}', "index.js": "1\n",
      "prisma/schema.prisma": 'datasource db {\n  provider = "postgresql"\n}\n'}, ["postgres"]),
    ({"requirements.txt": "flask\n", "app.py": "import flask\n",
      ".env.example": "DATABASE_URL=postgres://u:p@localhost/db\n"}, ["postgres"]),
    ({"requirements.txt": "flask\nrq\n", "app.py": "import flask\n"}, ["redis"]),
    ({"requirements.txt": "flask\n", "app.py": "import flask\n"}, []),
])
def test_the_scan_finds_the_accessories_an_app_needs(tmp_path, files, kinds):
    assert for_scan(scan(_app(tmp_path, files))) == kinds


def test_a_url_helper_alone_is_no_postgres():
    """django-split has dj-database-url and runs on its SQLite default: no accessory."""
    assert for_scan(scan(CORPUS / "django-split")) == []


def test_init_writes_the_accessory_and_leaves_the_url_out_of_the_secrets():
    result = scan(HERE / "notes_app")
    text = render_for_scan("notes", result, "vps", VPS, None)
    cfg = loads(text)
    env = cfg.env("prod")
    assert env.accessories["postgres"].image_ref == "postgres:16"
    assert "DATABASE_URL" not in env.secret_names


def test_on_the_lab_the_accessory_uses_the_lab_image_and_a_bridge_network():
    text = render_for_scan("notes", scan(HERE / "notes_app"), "vps", VPS, LAB)
    env = loads(text).env("staging")
    assert env.accessories["postgres"].image_ref == "cockpit-lab/postgres:bookworm"
    assert env.settings.network == "bridge"
    plain = render_for_scan("hello", scan(CORPUS / "flask-tutorial"), "vps", VPS, LAB)
    assert 'network = "host"' in plain and "[accessories" not in plain


def test_on_fly_the_url_is_a_secret_of_the_environment():
    text = render_for_scan("notes", scan(HERE / "notes_app"), "fly")
    assert "cockpit secrets set ENV DATABASE_URL" in text
    assert "DATABASE_URL" in loads(text).env("prod").secret_names


@pytest.mark.parametrize("requirements, scheme", [
    ("fastapi\nSQLAlchemy==2.0.36\nalembic\npsycopg[binary]==3.2.3\n", "postgresql+psycopg"),
    ("flask-sqlalchemy\nflask-migrate\npsycopg==3.2\n", "postgresql+psycopg"),
    ("sqlmodel\nasyncpg\n", "postgresql+asyncpg"),
    ("sqlalchemy\npsycopg2-binary\n", None),  # postgresql:// means psycopg2: the default
    ("sqlalchemy\npsycopg2\npsycopg\n", None),
    ("django\ndj-database-url\npsycopg[binary]\n", None),  # dj-database-url reads postgresql://
    ("psycopg[binary]\n", None),  # psycopg alone reads libpq URLs
])
def test_the_scan_finds_the_url_scheme_the_driver_needs(tmp_path, requirements, scheme):
    result = scan(_app(tmp_path, {"requirements.txt": requirements, "app.py": "import os\n"}))
    assert for_scan(result) == ["postgres"]
    assert url_scheme_for_scan(result) == scheme
    text = render_for_scan("notes", result, "vps", VPS, LAB)
    acc = loads(text).env("prod").accessories["postgres"]
    assert acc.url_scheme == scheme
    assert acc.scheme == (scheme or "postgresql")


def test_a_node_app_keeps_the_default_scheme(tmp_path):
    result = scan(_app(tmp_path, {"package.json": '{"dependencies": {"pg": "8"}}',
                                  "index.js": "1\n"}))
    assert url_scheme_for_scan(result) is None


def test_init_writes_the_scheme_of_the_trial_app():
    """The trial's FastAPI + SQLAlchemy 2 + Alembic + psycopg 3 app (notes_naive): cockpit init
    writes url_scheme, so its DATABASE_URL is postgresql+psycopg://; on Fly, where the user sets
    the URL, a comment says which scheme it needs."""
    result = scan(HERE / "notes_naive")
    text = render_for_scan("notes-naive", result, "vps", VPS, LAB)
    assert 'url_scheme = "postgresql+psycopg"' in text
    fly = render_for_scan("notes-naive", result, "fly")
    assert "DATABASE_URL to start with postgresql+psycopg://" in fly
    assert loads(fly).env("prod").accessories["postgres"].external is False  # loads as is
