"""Fly, and Kubernetes with `external = true`: accessories are external. Their URL is a secret
of the environment (here from the CI mode's variables, no keyring), `accessories status` says
whether it is set, and restart/logs/backup are refused with what to do instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

TOML = """[app]
name = "shop"

[environments.prod]
provider = "{provider}"
{key} = "shop-prod"

[accessories.postgres]
{external}
[accessories.redis]
{external}
"""


@pytest.mark.parametrize("provider, key", [("fly", "app"), ("kubernetes", "namespace")])
def test_external_accessories(tmp_path, provider, key):
    # on Kubernetes cockpit runs them as StatefulSets unless a table says external = true
    external = "external = true\n" if provider == "kubernetes" else ""
    (tmp_path / "cockpit.toml").write_text(TOML.format(provider=provider, key=key,
                                                       external=external))
    env = {**os.environ, "COCKPIT_STATE_DIR": str(tmp_path / "state"),
           "COCKPIT_SECRETS_FROM_ENV": "1",
           "COCKPIT_SECRET_PROD_DATABASE_URL": "postgres://u:p@db.example.com/shop"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    proc = cli("accessories", "status", "prod", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = json.loads(proc.stdout.splitlines()[-1])["data"]["accessories"]
    assert [(a["name"], a["env_var"], a["health"]) for a in found] == [
        ("postgres", "DATABASE_URL", "set"), ("redis", "REDIS_URL", "missing")]
    assert "db.example.com" not in proc.stdout  # the URL is a secret: never shown
    for args in (("accessories", "restart", "prod"), ("backup", "prod", "postgres")):
        proc = cli(*args)
        assert proc.returncode == 2 and "external" in proc.stderr, proc.stderr
    check = json.loads(cli("config", "check", "--json").stdout.splitlines()[-1])
    assert {"DATABASE_URL", "REDIS_URL"} <= set(
        check["data"]["environments"]["prod"]["secrets"])
