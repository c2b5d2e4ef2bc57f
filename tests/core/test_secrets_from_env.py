"""CI mode (`COCKPIT_SECRETS_FROM_ENV`): bare secret names serve only the environment the process
says it serves, so a job holding staging's values never deploys them to prod.

Before the fix, `COCKPIT_SECRETS_FROM_ENV=1` with no `COCKPIT_SECRET_PROD_<NAME>` fell back to a
bare `<NAME>` for every environment: staging's value went to prod.
"""

from __future__ import annotations

import textwrap

import pytest

from cockpit import config as config_mod
from cockpit.errors import SecretStoreError
from cockpit.secrets import SecretStore

STAGING_VALUE = "staging-only-value-9f8e7d"
PROD_VALUE = "prod-only-value-1a2b3c"


@pytest.fixture
def envs(tmp_path, monkeypatch):
    for name in ("COCKPIT_SECRETS_FROM_ENV", "COCKPIT_SECRET_PROD_SECRET_KEY",
                 "COCKPIT_SECRET_STAGING_SECRET_KEY", "SECRET_KEY",
                 "COCKPIT_SECRETS_DIGEST_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "cockpit.toml"
    path.write_text(textwrap.dedent("""\
        [app]
        name = "ci-app"
        port = 8000

        [environments.staging]
        provider = "vps"
        host = "203.0.113.10"

        [environments.prod]
        provider = "vps"
        host = "203.0.113.11"

        [secrets]
        staging = ["SECRET_KEY"]
        prod = ["SECRET_KEY"]
        """))
    cfg = config_mod.load(path)
    return cfg.env("staging"), cfg.env("prod")


def test_one_means_scoped_names_only(envs, monkeypatch):
    staging, prod = envs
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "1")
    monkeypatch.setenv("SECRET_KEY", STAGING_VALUE)  # a staging job's bare variable
    store = SecretStore("ci-app")
    assert store.get(prod, "SECRET_KEY") is None
    assert store.get(staging, "SECRET_KEY") is None
    with pytest.raises(SecretStoreError) as info:
        store.require(prod)
    assert "COCKPIT_SECRET_PROD_SECRET_KEY" in info.value.hint
    assert STAGING_VALUE not in str(info.value) + info.value.hint
    monkeypatch.setenv("COCKPIT_SECRET_PROD_SECRET_KEY", PROD_VALUE)
    assert store.require(prod) == {"SECRET_KEY": PROD_VALUE}


def test_bare_names_serve_only_the_environment_named(envs, monkeypatch):
    staging, prod = envs
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "staging")
    monkeypatch.setenv("SECRET_KEY", STAGING_VALUE)
    store = SecretStore("ci-app")
    assert store.get(staging, "SECRET_KEY") == STAGING_VALUE
    assert store.get(prod, "SECRET_KEY") is None  # never staging's value for prod
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "prod")
    monkeypatch.setenv("SECRET_KEY", PROD_VALUE)
    assert store.get(prod, "SECRET_KEY") == PROD_VALUE
    assert store.get(staging, "SECRET_KEY") is None
    # the scoped name still wins over the bare one
    monkeypatch.setenv("COCKPIT_SECRET_PROD_SECRET_KEY", "scoped-prod-value-77")
    assert store.get(prod, "SECRET_KEY") == "scoped-prod-value-77"


def test_off_values_read_the_keyring(monkeypatch):
    for value in ("", "0"):
        monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", value)
        assert not SecretStore.from_environment()
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "prod")
    assert SecretStore.from_environment()


def test_the_generated_workflow_names_the_environment_each_job_serves(envs, tmp_path):
    import yaml

    from cockpit.generate import github, spec_for

    (tmp_path / "app.py").write_text("import os\nKEY = os.environ['SECRET_KEY']\n")
    doc = yaml.safe_load(github.render(spec_for(tmp_path)))  # reads tmp_path/cockpit.toml
    staging_env = doc["jobs"]["deploy-staging"]["steps"][-1]["env"]
    prod_env = doc["jobs"]["promote-prod"]["steps"][-1]["env"]
    assert staging_env["COCKPIT_SECRETS_FROM_ENV"] == "staging"
    assert prod_env["COCKPIT_SECRETS_FROM_ENV"] == "prod"
    assert prod_env["SECRET_KEY"] == "${{ secrets.SECRET_KEY }}"
    assert prod_env["COCKPIT_SECRETS_DIGEST_KEY"] == "${{ secrets.COCKPIT_SECRETS_DIGEST_KEY }}"
