"""A weak default is a finding only where the name holds a credential: a release label that
defaults to "dev", or a constant naming the SECRET_KEY variable, are not secrets (both are in
examples/hello-app, whose scan must stay clean)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.scan import scan
from cockpit.scan.rules import secret_like

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["SECRET_KEY", "app.secret_key", "JWT_SECRET", "ADMIN_PASSWORD",
                                  "api_token", "STRIPE_API_KEY", "SESSION_SECRET"])
def test_credential_names_are_secret_like(name: str) -> None:
    assert secret_like(name)


@pytest.mark.parametrize("name", ["COCKPIT_RELEASE", "SECRET_NAME", "TOKEN_HEADER", "KEY_FILE",
                                  "LOG_LEVEL", "SECRET_KEY_PATH", "monkey"])
def test_names_that_label_or_hold_no_credential_are_not(name: str) -> None:
    assert not secret_like(name)


def test_release_label_and_secret_name_constant_are_not_weak_secrets(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import os\n"
        'RELEASE = os.environ.get("COCKPIT_RELEASE", "dev")\n'
        'SECRET_NAME = "SECRET_KEY"\n'
        'SECRET_KEY = os.environ.get("SECRET_KEY", "dev")\n'
    )
    found = [f.key for f in scan(tmp_path).findings if f.id == "weak-secret"]
    assert found == [("weak-secret", "app.py:4")]


def test_the_example_app_scans_clean() -> None:
    assert scan(REPO / "examples" / "hello-app").findings == []
