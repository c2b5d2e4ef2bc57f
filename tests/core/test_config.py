"""cockpit.toml: typed loading, located errors, separation, round trips and safe writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit import config
from cockpit.errors import ConfigError

GOOD = """\
# the app
[app]
name = "hello"   # keep me
port = 8000

[environments.staging]
provider = "vps"
host = "127.0.0.1"
host_port = 8101
domain = "staging.hello.test"

[environments.prod]
provider = "vps"
host = "127.0.0.1"
host_port = 8201
domain = "hello.test"

[secrets]
staging = ["SECRET_KEY"]
prod = ["SECRET_KEY"]
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        config.loads(text, "cockpit.toml")
    assert info.value.exit_code == 2
    return info.value.message


def test_good_file_loads_into_typed_models():
    cfg = config.loads(GOOD)
    assert cfg.app.name == "hello" and cfg.app.port == 8000
    prod = cfg.env("prod")
    assert prod.settings.host_port == 8201
    assert prod.protected and not cfg.env("staging").protected
    assert prod.secret_names == ["SECRET_KEY"]
    assert prod.secret_scope == "hello:prod"
    assert prod.config_hash.startswith("sha256:")
    assert prod.config_hash != cfg.env("staging").config_hash


def test_the_config_hash_covers_what_runs_not_how_cockpit_reaches_it():
    base = config.loads(GOOD).env("staging").config_hash

    def hash_with(old: str, new: str) -> str:
        assert old in GOOD
        return config.loads(GOOD.replace(old, new, 1)).env("staging").config_hash

    # access: the SSH key, admin port, gate timing, where secrets live: not drift
    reach = 'host_port = 8101\nidentity_file = "~/.ssh/other"\nedge_admin_port = 2020\n' \
            'ssh_timeout = 30.0\nsecret_scope = "elsewhere"\ngate = { deadline = 90.0 }'
    assert hash_with("host_port = 8101", reach) == base
    # what the release runs with: a different port, domain, replicas or secret names
    assert hash_with("host_port = 8101", "host_port = 8301") != base
    assert hash_with('domain = "staging.hello.test"', 'domain = "s.hello.test"') != base
    assert hash_with("host_port = 8101", "host_port = 8101\nreplicas = 2") != base
    assert hash_with('staging = ["SECRET_KEY"]', 'staging = ["SECRET_KEY", "X"]') != base


def test_every_provider_marks_its_endpoints_and_credentials_as_access_keys():
    from cockpit.providers.fly.settings import FlySettings
    from cockpit.providers.kubernetes.settings import KubernetesSettings
    from cockpit.providers.vps.settings import VpsSettings

    assert {"identity_file", "ssh_port", "edge_admin_port"} <= VpsSettings.access_keys()
    assert {"kubeconfig", "health_url"} <= KubernetesSettings.access_keys()
    assert {"api_url", "logs_url", "lease_ttl"} <= FlySettings.access_keys()
    assert not {"host_port", "container_name"} & VpsSettings.access_keys()
    assert not {"namespace", "replicas", "cpu"} & KubernetesSettings.access_keys()
    assert not {"app", "regions", "vm_size", "env"} & FlySettings.access_keys()


def test_error_names_file_line_column_key_and_expectation():
    text = GOOD.replace("host_port = 8201", 'host_port = "80a"')
    message = error_of(text)
    assert message.startswith("cockpit.toml:15:13: environments.prod.host_port: expected an "
                              "integer 1024-")
    assert message.endswith(', got "80a"')


def test_app_port_error_matches_the_documented_shape():
    text = GOOD.replace("port = 8000", 'port = "80a"')
    assert error_of(text) == 'cockpit.toml:4:8: app.port: expected an integer 1-65535, got "80a"'


def test_out_of_range_value_is_reported_with_the_range():
    assert "expected an integer 1-65535, got 70000" in error_of(
        GOOD.replace("port = 8000", "port = 70000"))


def test_unknown_key_lists_the_known_ones():
    message = error_of(GOOD.replace('host = "127.0.0.1"\nhost_port = 8101',
                                    'host = "127.0.0.1"\nhots = "x"\nhost_port = 8101'))
    assert message.startswith("cockpit.toml:9:8: environments.staging.hots: unknown key")
    assert "host" in message


def test_invalid_toml_is_located():
    message = error_of("[app]\nname = \"x\"\nport = = 3\n")
    assert message.startswith("cockpit.toml:3:")
    assert "invalid TOML" in message


def test_inline_table_errors_point_inside_the_table():
    text = GOOD.replace('domain = "hello.test"', 'domain = "hello.test"\ngate = { count = "x" }')
    assert error_of(text).startswith("cockpit.toml:17:18: environments.prod.gate.count: "
                                     "expected an integer 1-100")


def test_unknown_provider_is_refused_with_choices():
    message = error_of(GOOD.replace('provider = "vps"\nhost = "127.0.0.1"\nhost_port = 8201',
                                    'provider = "heroku"\nhost = "127.0.0.1"\nhost_port = 8201'))
    assert "environments.prod.provider: unknown provider 'heroku'" in message
    assert "vps" in message


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (("host_port = 8201", "host_port = 8101"), "host port"),
        (('domain = "hello.test"', 'domain = "STAGING.hello.test"'), "domain"),
        (('host_port = 8201', 'host_port = 8201\ncontainer_name = "hello-staging"'),
         "container name"),
        (('[environments.prod]\nprovider = "vps"',
          '[environments.prod]\nsecret_scope = "hello:staging"\nprovider = "vps"'),
         "secret scope"),
    ],
)
def test_environments_must_not_share_resources(change, what):
    message = error_of(GOOD.replace(*change))
    assert f": {what} " in message
    assert "also used by environment 'staging'" in message
    assert message.startswith("cockpit.toml:")


def test_kubernetes_namespaces_and_fly_apps_must_differ():
    kube = """[app]\nname = "a"\n[environments.staging]\nprovider = "kubernetes"\n
namespace = "same"\n[environments.prod]\nprovider = "kubernetes"\nnamespace = "same"\n"""
    assert "namespace" in error_of(kube)
    fly = """[app]\nname = "a"\n[environments.staging]\nprovider = "fly"\napp = "a-x"\n
[environments.prod]\nprovider = "fly"\napp = "a-x"\n"""
    assert "Fly app" in error_of(fly)


def test_secret_names_must_be_env_var_names():
    assert "secrets.prod" in error_of(GOOD.replace('prod = ["SECRET_KEY"]', 'prod = ["a b"]'))
    assert "no environment named 'qa'" in error_of(GOOD + 'qa = ["X"]\n')


def test_round_trip_keeps_comments_and_order(tmp_path: Path):
    path = tmp_path / "cockpit.toml"
    path.write_text(GOOD)
    cfg = config.load(path)
    cfg.doc["environments"]["staging"]["host_port"] = 8111
    config.save(cfg)
    text = path.read_text()
    assert text == GOOD.replace("host_port = 8101", "host_port = 8111")
    assert (tmp_path / "cockpit.toml.bak").read_text() == GOOD


def test_an_invalid_edit_is_never_written(tmp_path: Path):
    path = tmp_path / "cockpit.toml"
    path.write_text(GOOD)

    def breaks(doc):
        doc["environments"]["prod"]["host_port"] = 8101

    with pytest.raises(ConfigError):
        config.edit(path, breaks)
    assert path.read_text() == GOOD
    assert not (tmp_path / "cockpit.toml.bak").exists()


def test_a_broken_file_is_not_overwritten_by_edit(tmp_path: Path):
    path = tmp_path / "cockpit.toml"
    broken = GOOD.replace("port = 8000", "port = ")
    path.write_text(broken)
    with pytest.raises(ConfigError):
        config.edit(path, lambda doc: None)
    assert path.read_text() == broken


def test_missing_file_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        config.find(tmp_path)
    assert "cockpit init" in (info.value.hint or "")


# ------------------------------------------------------------------ property tests


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text_gives_a_located_error_or_loads(text):
    try:
        config.loads(text, "cockpit.toml")
    except ConfigError as exc:
        assert exc.message.startswith("cockpit.toml:")
        line, col = exc.message.split(":")[1:3]
        assert int(line) >= 1 and int(col) >= 1


toml_scalars = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.text(max_size=30),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                          max_size=2),
)
FIELDS = [("app", "port"), ("app", "name"), ("app", "health_path"),
          ("environments.prod", "host_port"), ("environments.prod", "ssh_port"),
          ("environments.prod", "replicas"), ("environments.prod", "domain"),
          ("environments.prod", "network"), ("environments.prod", "gate"),
          ("environments.staging", "provider"), ("secrets", "prod")]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIELDS), toml_scalars)
def test_arbitrary_field_values_give_a_located_error_or_load(field, value):
    doc = tomlkit.parse(GOOD)
    table = doc
    for part in field[0].split("."):
        table = table[part]
    table[field[1]] = value
    text = tomlkit.dumps(doc)
    try:
        config.loads(text, "cockpit.toml")
    except ConfigError as exc:
        where, _, rest = exc.message.partition(": ")
        name, line, col = where.split(":")
        assert name == "cockpit.toml" and int(line) >= 1 and int(col) >= 1
        assert rest


# --------------------------------------------------------------------------- env, volumes, release

PLAIN = GOOD.replace('port = 8000\n', '''port = 8000
release_command = "python3 -m flask --app flaskr init-db"

[app.env]
LOG_LEVEL = "info"
PUBLIC_URL = "https://hello.test"

[app.volumes]
data = "/app/instance"
''', 1).replace('domain = "staging.hello.test"\n', '''domain = "staging.hello.test"

[environments.staging.env]
LOG_LEVEL = "debug"
DJANGO_ALLOWED_HOSTS = "staging.hello.test"
''', 1)


def test_plain_env_merges_environment_over_app_and_is_shown():
    cfg = config.loads(PLAIN)
    staging, prod = cfg.env("staging"), cfg.env("prod")
    assert staging.plain_env == {"DJANGO_ALLOWED_HOSTS": "staging.hello.test",
                                 "LOG_LEVEL": "debug", "PUBLIC_URL": "https://hello.test"}
    assert prod.plain_env == {"LOG_LEVEL": "info", "PUBLIC_URL": "https://hello.test"}
    assert staging.volumes == {"data": "/app/instance"}
    assert staging.release_command == "python3 -m flask --app flaskr init-db"
    shown = staging.to_dict()
    assert shown["env"]["LOG_LEVEL"] == "debug" and shown["volumes"] == {"data": "/app/instance"}
    assert shown["release_command"].startswith("python3")


def test_env_volumes_and_release_command_are_part_of_the_config_hash():
    base = config.loads(PLAIN)

    def hashes(old: str, new: str) -> tuple[str, str]:
        assert old in PLAIN
        cfg = config.loads(PLAIN.replace(old, new, 1))
        return cfg.env("staging").config_hash, cfg.env("prod").config_hash

    staging, prod = base.env("staging").config_hash, base.env("prod").config_hash
    # an environment's own table changes only that environment
    assert hashes('LOG_LEVEL = "debug"', 'LOG_LEVEL = "warn"') != (staging, prod)
    assert hashes('LOG_LEVEL = "debug"', 'LOG_LEVEL = "warn"')[1] == prod
    # [app.env], volumes and the release command change every environment
    for old, new in (('LOG_LEVEL = "info"', 'LOG_LEVEL = "error"'),
                     ('data = "/app/instance"', 'data = "/data"'),
                     ("init-db", "init-db --quiet")):
        s, p = hashes(old, new)
        assert s != staging and p != prod, (old, new)
    # a file without the new keys keeps the hash it had before they existed
    assert config.loads(GOOD).env("prod").config_hash == config.loads(
        GOOD.replace("port = 8000\n", "port = 8000\n\n[app.env]\n", 1)).env("prod").config_hash


def test_a_plain_variable_that_is_also_a_secret_is_refused_with_file_line_key():
    text = PLAIN.replace('LOG_LEVEL = "info"', 'LOG_LEVEL = "info"\nSECRET_KEY = "dev"')
    message = error_of(text)
    assert message.startswith("cockpit.toml:9:14: app.env.SECRET_KEY: SECRET_KEY is also a "
                              "secret of environment 'staging'")
    text = PLAIN.replace('LOG_LEVEL = "debug"', 'LOG_LEVEL = "debug"\nSECRET_KEY = "x"')
    assert error_of(text).startswith("cockpit.toml:22:14: environments.staging.env.SECRET_KEY:")


def test_plain_env_names_and_values_are_checked():
    bad_name = error_of(PLAIN.replace('LOG_LEVEL = "info"', '"LOG-LEVEL" = "info"'))
    assert "app.env.LOG-LEVEL: expected an environment variable name" in bad_name
    assert bad_name.startswith("cockpit.toml:8:")
    newline = error_of(PLAIN.replace('LOG_LEVEL = "info"', 'LOG_LEVEL = "a\\nb"'))
    assert newline.startswith("cockpit.toml:8:13: app.env.LOG_LEVEL: a value must be one line")
    assert "PORT is reserved" in error_of(PLAIN.replace('LOG_LEVEL = "info"', 'PORT = "80"'))
    not_string = error_of(PLAIN.replace('LOG_LEVEL = "info"', "LOG_LEVEL = 3"))
    assert "app.env.LOG_LEVEL: expected" in not_string and not_string.endswith("got 3")


def test_volumes_need_absolute_paths_and_a_vps_provider():
    relative = error_of(PLAIN.replace('data = "/app/instance"', 'data = "instance"'))
    assert relative.startswith("cockpit.toml:12:8: app.volumes.data: expected an absolute path")
    twice = error_of(PLAIN.replace('data = "/app/instance"',
                                   'data = "/app/instance"\nmore = "/app/instance"'))
    assert "mounted by two volumes" in twice
    kube = """[app]\nname = "a"\n[app.volumes]\ndata = "/data"\n[environments.staging]
provider = "kubernetes"\nnamespace = "a"\n"""
    message = error_of(kube)
    assert message.startswith("cockpit.toml:6:12: environments.staging.provider: volumes need "
                              "provider vps")
    empty = error_of(PLAIN.replace("release_command = ", 'release_command = ""\n# '))
    assert "app.release_command: expected" in empty


def test_config_check_shows_plain_env_volumes_and_the_release_command(tmp_path):
    import json
    import subprocess
    import sys

    (tmp_path / "cockpit.toml").write_text(PLAIN)
    run = [sys.executable, "-m", "cockpit", "config", "check"]
    human = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "env LOG_LEVEL = 'debug' (from [environments.staging.env])" in human
    assert "env PUBLIC_URL = 'https://hello.test' (from [app.env])" in human
    assert "volume data: mounted at /app/instance" in human
    assert "release command (once per release, before traffic moves): python3 -m flask" in human
    out = subprocess.run([*run, "--json"], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout
    data = json.loads(out.splitlines()[-1])["data"]
    assert data["environments"]["prod"]["env"] == {"LOG_LEVEL": "info",
                                                   "PUBLIC_URL": "https://hello.test"}
    assert data["app"]["volumes"] == {"data": "/app/instance"}


def test_undeclared_env_stops_firing_for_plain_configuration(tmp_path):
    from cockpit.scan import scan

    (tmp_path / "app.py").write_text('import os\nLEVEL = os.environ["LOG_LEVEL"]\n'
                                     'HOSTS = os.environ["ALLOWED_HOSTS"]\n')

    def undeclared() -> set[str]:
        return {f.data.get("name") for f in scan(tmp_path).findings if f.id == "undeclared-env"}

    assert undeclared() == {"LOG_LEVEL", "ALLOWED_HOSTS"}
    (tmp_path / "cockpit.toml").write_text(
        '[app]\nname = "u"\n[app.env]\nLOG_LEVEL = "info"\n'
        '[environments.staging]\nprovider = "vps"\nhost = "h"\n'
        '[environments.staging.env]\nALLOWED_HOSTS = "staging.u.test"\n')
    assert undeclared() == set()


# --------------------------------------------------------------------------- init from a scan


def _scan_result(**kw):
    from cockpit.scan.model import EnvVar, ScanResult

    env = [EnvVar("DJANGO_ALLOWED_HOSTS", True, "mysite/settings.py:20"),
           EnvVar("CSRF_TRUSTED_ORIGINS", True, "mysite/settings.py:21"),
           EnvVar("LOG_LEVEL", False, "mysite/settings.py:22"),
           EnvVar("FEATURE_FLAGS", True, "mysite/settings.py:23"),
           EnvVar("DB_HOST", True, "mysite/settings.py:24"),
           EnvVar("API_BASE_URL", False, "mysite/settings.py:25"),
           EnvVar("SECRET_KEY", True, "mysite/settings.py:10", secret=True),
           EnvVar("DATABASE_PASSWORD", True, "mysite/settings.py:11"),
           EnvVar("PORT", False, "mysite/settings.py:12"),
           EnvVar("NEXT_PUBLIC_X", True, "a.js:1", build_time=True)]
    return ScanResult(**{"root": ".", "stack": "python", "framework": "django", "port": 8000,
                         "health_path": "/healthz", "env_vars": env,
                         "release_command": "python manage.py migrate --noinput",
                         "data_dirs": ["media", "var/db"], **kw})


def test_render_for_scan_fills_release_command_volumes_env_and_secrets():
    from cockpit.template import render_for_scan

    text = render_for_scan("shop", _scan_result(), "vps", {"host": "h", "user": "u"},
                           domains={"staging": "staging.shop.example", "prod": "shop.example"})
    cfg = config.loads(text)
    assert cfg.app.release_command == "python manage.py migrate --noinput"
    assert cfg.app.volumes == {"media": "/app/media", "var-db": "/app/var/db"}
    assert cfg.app.port == 8000 and cfg.app.health_path == "/healthz"
    staging, prod = cfg.env("staging"), cfg.env("prod")
    assert staging.plain_env == {"CSRF_TRUSTED_ORIGINS": "https://staging.shop.example",
                                 "DJANGO_ALLOWED_HOSTS": "staging.shop.example",
                                 "LOG_LEVEL": "info"}
    assert prod.plain_env["DJANGO_ALLOWED_HOSTS"] == "shop.example"
    assert staging.secret_names == ["SECRET_KEY", "DATABASE_PASSWORD"]
    assert '# FEATURE_FLAGS = ""' in text  # required, no value known: said, not invented
    assert '# DB_HOST = ""' in text and "API_BASE_URL" not in text  # another service's


def test_render_for_scan_on_the_lab_adds_build_args_for_the_dockerfile(tmp_path):
    from cockpit import template as init

    (tmp_path / "Dockerfile").write_text("ARG BASE_IMAGE=python:3.12-slim\nFROM ${BASE_IMAGE}\n")
    lab = {"host": "127.0.0.1", "user": "deploy", "ssh_port": 2222, "ssh_key": "/k",
           "http_port": 8080, "https_port": 8443, "dns": "127.0.0.1:8053", "registry": "",
           "acme_ca": "https://127.0.0.1:14000/dir", "acme_ca_root": "/ca.pem",
           "acme_issuer_root": "", "caddy_admin": "", "base_image": "cockpit-lab/base:bookworm"}
    result = _scan_result(root=str(tmp_path), stack="node", framework="express",
                          data_dirs=[], release_command=None)
    text = init.render_for_scan("shop", result, "vps", lab, lab)
    cfg = config.loads(text)
    assert cfg.app.build_args == init.lab_build_args(tmp_path / "Dockerfile", lab)
    assert cfg.app.build_args  # the lab's stand-in for the official base image
    assert cfg.env("staging").plain_env["DJANGO_ALLOWED_HOSTS"] == cfg.env("staging").domain
    assert cfg.app.env["NODE_ENV"] == "production"
    assert cfg.app.release_command is None and cfg.app.volumes == {}


def test_render_for_scan_leaves_volumes_as_a_comment_off_the_vps():
    from cockpit.template import render_for_scan

    text = render_for_scan("shop", _scan_result(), "kubernetes")
    cfg = config.loads(text)
    assert cfg.app.volumes == {} and "# [app.volumes] need provider vps" in text


def test_plain_env_reaches_the_kubernetes_pod_and_the_fly_machine():
    from cockpit.providers.fly.machines import base_config
    from cockpit.providers.kubernetes import manifests

    from cockpit.models import Release

    text = """[app]\nname = "shop"\n[app.env]\nLOG_LEVEL = "info"\nPUBLIC_URL = "https://a"
[environments.staging]\nprovider = "kubernetes"\nnamespace = "shop-staging"
[environments.staging.env]\nLOG_LEVEL = "debug"
[environments.prod]\nprovider = "fly"\napp = "shop-prod"\n"""
    cfg = config.loads(text)
    k8s = cfg.env("staging")
    release = Release(id="r1", app="shop", env="staging", image="img@sha256:" + "a" * 64,
                      digest="sha256:" + "a" * 64, config_hash=k8s.config_hash)
    pod = manifests.deployment(k8s, release, with_secret=False)["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["LOG_LEVEL"] == "debug" and env["PUBLIC_URL"] == "https://a"
    assert env["PORT"] == "8000" and env["COCKPIT_RELEASE"] == "r1"
    fly = base_config(cfg.env("prod"), "registry.fly.io/shop@sha256:" + "b" * 64)["env"]
    assert fly == {"LOG_LEVEL": "info", "PUBLIC_URL": "https://a", "PORT": "8000"}


def test_render_for_scan_mounts_volumes_under_the_apps_own_workdir(tmp_path):
    from cockpit.template import render_for_scan

    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim AS build\nWORKDIR /build\n"
                                         "FROM python:3.12-slim\nWORKDIR /srv/site\n")
    text = render_for_scan("shop", _scan_result(root=str(tmp_path), data_dirs=["instance"]))
    assert config.loads(text).app.volumes == {"instance": "/srv/site/instance"}
