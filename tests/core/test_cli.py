"""The foundation commands end to end, as a user runs them: init, config check, secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "correct-horse-battery-staple-42"


def cockpit(*args: str, cwd: Path, stdin: str | None = None, env: dict | None = None):
    return subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_init_writes_a_commented_config_that_checks(tmp_path, tmp_state):
    (tmp_path / "app.py").write_text("print('hi')\n")
    done = cockpit("init", "--name", "shop", "--secret", "SECRET_KEY", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "cockpit.toml").read_text()
    assert text.startswith("# cockpit.toml")
    assert "[environments.staging]" in text and "[environments.prod]" in text
    check = cockpit("config", "check", "--json", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    result = json.loads(check.stdout.splitlines()[-1])
    assert result["ok"] and set(result["data"]["environments"]) == {"staging", "prod"}
    assert result["data"]["environments"]["prod"]["protected"] is True
    assert result["data"]["environments"]["prod"]["secrets"] == ["SECRET_KEY"]


def test_init_refuses_to_replace_an_existing_file(tmp_path, tmp_state):
    (tmp_path / "cockpit.toml").write_text("keep me\n")
    done = cockpit("init", cwd=tmp_path)
    assert done.returncode == 2
    assert "already exists" in done.stderr
    assert (tmp_path / "cockpit.toml").read_text() == "keep me\n"
    forced = cockpit("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0
    assert (tmp_path / "cockpit.toml.bak").read_text() == "keep me\n"


def test_config_check_on_a_broken_file_exits_2_with_a_location(tmp_path, tmp_state):
    cockpit("init", "--name", "shop", cwd=tmp_path)
    path = tmp_path / "cockpit.toml"
    lines = path.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith("port = "))
    lines[n] = 'port = "80a"'
    path.write_text("\n".join(lines) + "\n")
    before = path.read_text()
    done = cockpit("config", "check", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f'error: cockpit.toml:{n + 1}:8: app.port: expected an integer '
                                  '1-65535, got "80a"')
    assert "Traceback" not in done.stderr
    js = cockpit("config", "check", "--json", cwd=tmp_path)
    row = json.loads(js.stdout)
    assert row["ok"] is False and row["exit_code"] == 2 and row["kind"] == "config"
    assert path.read_text() == before


def test_commands_outside_an_app_say_how_to_start(tmp_path, tmp_state):
    done = cockpit("status", cwd=tmp_path)
    assert done.returncode == 2
    assert "cockpit init" in done.stderr


def test_secrets_live_only_in_the_keyring(tmp_path, tmp_state, keyring_backend, lab):
    cockpit("init", "--name", "vault-demo", "--secret", "SECRET_KEY", "--secret", "API_TOKEN",
            cwd=tmp_path)
    env = {"DBUS_SESSION_BUS_ADDRESS": lab.dbus_session_bus_address}
    listed = cockpit("secrets", "list", "staging", "--json", cwd=tmp_path, env=env)
    assert listed.returncode == 1  # something is missing
    rows = json.loads(listed.stdout)["data"]["secrets"]
    assert {r["name"]: r["set"] for r in rows} == {"SECRET_KEY": False, "API_TOKEN": False}

    stored = cockpit("secrets", "set", "staging", "SECRET_KEY", cwd=tmp_path, stdin=SECRET + "\n",
                     env=env)
    assert stored.returncode == 0, stored.stderr
    assert SECRET not in stored.stdout + stored.stderr
    assert keyring_backend.get_password("cockpit:vault-demo:staging", "SECRET_KEY") == SECRET

    listed = cockpit("secrets", "list", "staging", cwd=tmp_path, env=env)
    assert "SECRET_KEY" in listed.stdout and "set" in listed.stdout
    assert "API_TOKEN" in listed.stdout and "MISSING" in listed.stdout
    assert SECRET not in listed.stdout + listed.stderr

    # prod has its own scope: staging's value is not visible there
    prod = json.loads(cockpit("secrets", "list", "prod", "--json", cwd=tmp_path,
                              env=env).stdout)
    assert all(not r["set"] for r in prod["data"]["secrets"])

    # a value never comes from argv, and undeclared names are refused
    bad = cockpit("secrets", "set", "staging", "NOT_DECLARED", cwd=tmp_path, stdin="x" * 8,
                  env=env)
    assert bad.returncode == 2 and "not a secret of environment" in bad.stderr

    for root in (tmp_path, tmp_state):
        for file in Path(root).rglob("*"):
            if file.is_file():
                assert SECRET.encode() not in file.read_bytes(), file

    unset = cockpit("secrets", "unset", "staging", "SECRET_KEY", cwd=tmp_path, env=env)
    assert unset.returncode == 0
    assert keyring_backend.get_password("cockpit:vault-demo:staging", "SECRET_KEY") is None


def test_no_usable_keyring_is_a_clear_error_not_a_file(tmp_path, tmp_state):
    cockpit("init", "--name", "nokeys", "--secret", "SECRET_KEY", cwd=tmp_path)
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    done = cockpit("secrets", "set", "staging", "SECRET_KEY", cwd=tmp_path, stdin=SECRET,
                   env=env)
    assert done.returncode == 2
    assert "no usable keyring backend" in done.stderr
    assert "gnome-keyring" in done.stderr
    assert SECRET not in done.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(SECRET.encode() not in p.read_bytes() for p in files)


@pytest.mark.parametrize("argv", [["deploy", "--help"], ["secrets", "set", "--help"]])
def test_help_never_offers_a_value_argument(tmp_path, argv):
    done = cockpit(*argv, cwd=tmp_path)
    assert done.returncode == 0
    assert "--value" not in done.stdout


def test_ci_runners_read_secrets_from_the_environment_when_asked(tmp_path, tmp_state):
    cockpit("init", "--name", "ci-app", "--secret", "SECRET_KEY", cwd=tmp_path)
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "COCKPIT_SECRETS_FROM_ENV": "1", "COCKPIT_SECRET_PROD_SECRET_KEY": SECRET}
    prod = json.loads(cockpit("secrets", "list", "prod", "--json", cwd=tmp_path, env=env).stdout)
    assert prod["data"]["secrets"][0]["set"] is True
    staging = json.loads(cockpit("secrets", "list", "staging", "--json", cwd=tmp_path,
                                 env=env).stdout)
    assert staging["data"]["secrets"][0]["set"] is False  # scoped to prod only
    refused = cockpit("secrets", "set", "prod", "SECRET_KEY", cwd=tmp_path, stdin="x" * 9, env=env)
    assert refused.returncode == 2 and "nothing is stored" in refused.stderr
    without = cockpit("secrets", "list", "prod", cwd=tmp_path,
                      env={**env, "COCKPIT_SECRETS_FROM_ENV": ""})
    assert without.returncode == 2 and "no usable keyring" in without.stderr
