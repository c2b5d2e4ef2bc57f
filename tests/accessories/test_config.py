"""`[accessories.<name>]` in cockpit.toml: defaults, strict keys, errors naming file:line:key, and
staging and prod never sharing one (no lab needed)."""

from __future__ import annotations

import pytest

from cockpit import accessories
from cockpit.config import loads
from cockpit.errors import ConfigError


def _toml(extra: str = "", *, network: str = "bridge", secrets: str = "",
          prod: str = "") -> str:
    return f"""[app]
name = "shop-app"
port = 8000

[environments.staging]
provider = "vps"
host = "203.0.113.10"
host_port = 8101
network = "{network}"

[environments.prod]
provider = "vps"
host = "203.0.113.10"
host_port = 8201
{prod}
{extra}
[secrets]
staging = [{secrets}]
"""


def test_defaults_come_from_the_kind_and_the_name():
    cfg = loads(_toml('[accessories.postgres]\nversion = "16"\n\n[accessories.redis]\n'))
    env = cfg.env("staging")
    pg, redis = env.accessories["postgres"], env.accessories["redis"]
    assert (pg.kind, pg.url_var, pg.image_ref) == ("postgres", "DATABASE_URL", "postgres:16")
    assert (redis.kind, redis.url_var, redis.image_ref) == ("redis", "REDIS_URL", "redis:7")
    assert accessories.database("shop-app", pg) == "shop_app"
    assert accessories.container_name("shop-app", "staging", "postgres", pg) \
        == "cockpit-shop-app-staging-postgres"
    assert accessories.network_name("shop-app", "prod") == "cockpit-shop-app-prod"
    assert accessories.url("shop-app", "postgres", pg, "abc") \
        == "postgresql://shop_app:abc@postgres:5432/shop_app"
    assert accessories.url("shop-app", "redis", redis, "abc") == "redis://default:abc@redis:6379/0"
    assert "accessories" in env.to_dict() and env.to_dict()["accessories"]["postgres"]
    # an accessory is part of what a release runs with
    assert env.config_hash != loads(_toml()).env("staging").config_hash


def test_a_named_accessory_with_its_own_variable():
    cfg = loads(_toml('[accessories.cache]\nkind = "redis"\nenv_var = "CACHE_URL"\n'))
    assert cfg.env("prod").accessories["cache"].url_var == "CACHE_URL"
    assert accessories.password_name("cache") == "ACCESSORY_CACHE_PASSWORD"


@pytest.mark.parametrize("extra, key, words", [
    ('[accessories.db]\nversion = "16"\n', "accessories.db", "missing key `kind`"),
    ('[accessories.postgres]\nkind = "mysql"\n', "accessories.postgres.kind",
     'expected "postgres" or "redis"'),
    ('[accessories.postgres]\nsize = 3\n', "accessories.postgres.size", "unknown key"),
    ('[accessories.redis]\ndatabase = "x"\n', "accessories.redis.database",
     "only a postgres accessory"),
    ('[accessories.postgres]\n\n[accessories.pg2]\nkind = "postgres"\n',
     "accessories.pg2.env_var", "also the URL of accessory 'postgres'"),
    ('[accessories.postgres]\nenv_var = "PORT"\n', "accessories.postgres.env_var", "reserved"),
    ('[accessories.postgres]\nurl_scheme = "postgresql+psycopg://"\n',
     "accessories.postgres.url_scheme", 'without "://"'),
    ('[accessories.postgres]\nurl_scheme = "mysql"\n', "accessories.postgres.url_scheme",
     '"postgresql+psycopg"'),
    ('[accessories.redis]\nurl_scheme = "postgresql"\n', "accessories.redis.url_scheme",
     "only a postgres accessory takes url_scheme"),
])
def test_bad_tables_name_file_line_and_key(extra, key, words):
    with pytest.raises(ConfigError) as exc:
        loads(_toml(extra))
    text = str(exc.value)
    assert f"{key}:" in text and words in text, text
    assert "cockpit.toml:" in (exc.value.where or "")


def test_the_url_is_not_also_a_secret_on_a_vps():
    with pytest.raises(ConfigError) as exc:
        loads(_toml("[accessories.postgres]\n", secrets='"DATABASE_URL"'))
    assert "secrets.staging:" in str(exc.value) and "set by accessory" in str(exc.value)


def test_host_network_is_refused_with_accessories():
    with pytest.raises(ConfigError) as exc:
        loads(_toml("[accessories.postgres]\n", network="host"))
    assert "environments.staging.network:" in str(exc.value)
    assert 'network = "bridge"' in str(exc.value)


@pytest.mark.parametrize("key", ["container_name", "volume"])
def test_an_accessory_shared_by_staging_and_prod_is_refused(key):
    with pytest.raises(ConfigError) as exc:
        loads(_toml(f'[accessories.postgres]\n{key} = "the-db"\n'))
    text = str(exc.value)
    assert f"accessories.postgres.{key}:" in text
    assert "shared by environments 'staging' and 'prod'" in text


def test_an_explicit_name_on_two_hosts_is_not_shared():
    cfg = loads(_toml('[accessories.postgres]\nvolume = "the-db"\n').replace(
        'host = "203.0.113.10"\nhost_port = 8201', 'host = "203.0.113.20"\nhost_port = 8201'))
    assert cfg.env("prod").accessories["postgres"].volume == "the-db"


def test_kubernetes_and_fly_take_the_url_from_the_keyring():
    text = """[app]
name = "shop"

[environments.prod]
provider = "fly"
app = "shop-prod"

[accessories.postgres]
"""
    env = loads(text).env("prod")
    assert "DATABASE_URL" in env.secret_names  # an external URL, a secret of the environment
    assert not accessories.hosted(env)


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "postgresql+asyncpg", "postgresql",
                                    "postgres"])
def test_url_scheme_sets_the_scheme_of_the_url(scheme):
    pg = loads(_toml(f'[accessories.postgres]\nurl_scheme = "{scheme}"\n')).env(
        "prod").accessories["postgres"]
    assert accessories.url("shop-app", "postgres", pg, "abc", host="10.0.0.5") \
        == f"{scheme}://shop_app:abc@10.0.0.5:5432/shop_app"


def test_url_scheme_counts_in_the_config_hash_only_when_set():
    """A table without the key keeps the hash it had before the key existed; setting it changes
    what the app runs with, so it is a new config."""
    plain = loads(_toml("[accessories.postgres]\n")).env("staging")
    same = loads(_toml("[accessories.postgres]\n")).env("staging")
    psycopg = loads(_toml('[accessories.postgres]\nurl_scheme = "postgresql+psycopg"\n')
                    ).env("staging")
    assert plain.config_hash == same.config_hash != psycopg.config_hash
    assert "url_scheme" not in str(accessories.AccessoryConfig(kind="redis").model_dump(
        exclude_defaults=True))
