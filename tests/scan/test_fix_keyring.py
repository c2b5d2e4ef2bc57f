"""`scan --fix` on a terminal with a cockpit.toml: the moved secret's value goes into the OS
keyring (the lab's SecretService) for the environments the user picks, and never to output."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

import cockpit.cli.scan as scan_cmd
from cockpit import config
from cockpit.cli import main
from cockpit.secrets import SecretStore

APPS = Path(__file__).parent / "apps"
VALUE = "a8f5f167f44f4964e6c998dee827110c"


@pytest.mark.timeout(120)
def test_moved_secret_is_stored_in_the_keyring_on_request(
        keyring_backend, tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    root = tmp_path / "app"
    shutil.copytree(APPS / "flask-debug", root)
    app = f"scanfix-{uuid.uuid4().hex[:6]}"
    (root / "cockpit.toml").write_text(
        f'[app]\nname = "{app}"\n\n'
        '[environments.staging]\nprovider = "vps"\nhost = "127.0.0.1"\n\n'
        '[environments.prod]\nprovider = "vps"\nhost = "127.0.0.2"\n\n'
        '[secrets]\nstaging = ["SECRET_KEY"]\n')
    questions: list[str] = []

    def ask(question: str) -> bool:
        questions.append(question)
        return question.startswith("Apply") or "'staging'" in question

    monkeypatch.setattr(scan_cmd, "ask", ask)
    monkeypatch.setattr(scan_cmd, "interactive", lambda: True)
    cfg = config.load(root / "cockpit.toml")
    store = SecretStore(app)
    try:
        main(["scan", str(root), "--fix"])
        out, err = capsys.readouterr()
        assert VALUE not in out + err
        assert any("keyring for 'prod'" in q for q in questions)
        assert store.get(cfg.env("staging"), "SECRET_KEY") == VALUE
        assert store.get(cfg.env("prod"), "SECRET_KEY") is None
        assert 'os.environ["SECRET_KEY"]' in (root / "app.py").read_text()
    finally:
        store.unset(cfg.env("staging"), "SECRET_KEY")
        store.unset(cfg.env("prod"), "SECRET_KEY")
