"""Which variables `cockpit init` (and the demo) declare as secrets: credentials always; a
connection string only when the code has no default for it (no random value can stand in)."""

from __future__ import annotations

from pathlib import Path

from cockpit.scan import scan
from cockpit.template import is_connection_string, secrets_for_scan

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "apps"


def test_a_connection_string_with_a_default_is_not_a_secret_to_set() -> None:
    # config.py: os.environ.get("DATABASE_URL") or "sqlite:///app.db"
    assert secrets_for_scan(scan(CORPUS / "flask-migrate")) == ["SECRET_KEY"]


def test_a_required_connection_string_stays_a_secret(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        'import os\nDB = os.environ["DATABASE_URL"]\nKEY = os.environ["API_TOKEN"]\n')
    assert sorted(secrets_for_scan(scan(tmp_path))) == ["API_TOKEN", "DATABASE_URL"]


def test_connection_string_names() -> None:
    assert all(map(is_connection_string, ["DATABASE_URL", "REDIS_URL", "SENTRY_DSN", "MONGO_URI"]))
    assert not any(map(is_connection_string, ["SECRET_KEY", "API_TOKEN", "CURLY", "URLS"]))
