"""cockpit.toml values cannot smuggle lines into the files cockpit generates: control characters
are refused in every key and string value (file:line:key), and the Caddyfile renderer writes each
value as exactly one token, whatever reaches it."""

from __future__ import annotations

import pytest
from cockpit.providers.vps import caddy

from cockpit import config
from cockpit.errors import ConfigError

BASE = """\
[app]
name = "hello"
port = 8000

[environments.staging]
provider = "vps"
host = "127.0.0.1"
host_port = 8101
domain = "staging.hello.test"
"""


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.loads(text, "cockpit.toml")
    assert info.value.exit_code == 2
    return info.value


def test_a_newline_in_acme_ca_is_refused_with_file_line_and_key():
    text = BASE + 'acme_ca = "https://x\\nimport /etc/*"\n'
    exc = error_of(text)
    assert exc.where == "cockpit.toml:10:11"
    assert exc.what.startswith("environments.staging.acme_ca: ")
    assert "a newline at character 10" in exc.what
    assert "\n" not in exc.message  # the value is shown escaped, not printed raw


@pytest.mark.parametrize(("line", "key"), [
    ('acme_ca_root = "/r.pem\\r\\nimport /etc/*"', "environments.staging.acme_ca_root"),
    ('acme_email = "a@b.c\\u0000"', "environments.staging.acme_email"),
    ('secret_scope = "x\\u001b]0;t\\u0007"', "environments.staging.secret_scope"),
    ('identity_file = "~/.ssh/k\\nx"', "environments.staging.identity_file"),  # provider key
    ('user = "deploy\\u0085"', "environments.staging.user"),  # C1 (NEL)
    ('gate = { count = 3 }\nenv = { A = "1\\n2" }', "environments.staging.env.A"),
])
def test_control_characters_are_refused_in_every_string_key(line, key):
    exc = error_of(BASE + line + "\n")
    assert exc.what.startswith(key + ": "), exc.what
    assert exc.where.startswith("cockpit.toml:")


@pytest.mark.parametrize("text", [
    BASE.replace('name = "hello"', 'name = "hello"\nrelease_command = "a\\nrm -rf /"'),
    BASE.replace('name = "hello"', 'name = "hello"\nbuild_args = { X = "a\\rb" }'),
    BASE.replace('name = "hello"', 'name = "hello"\ncontext = """\n.\n"""'),
    BASE + '[secrets]\nstaging = ["A\\nB"]\n',
    BASE + '"bad\\nkey" = 1\n',
])
def test_control_characters_are_refused_in_app_secrets_and_keys(text):
    exc = error_of(text)
    assert "newline" in exc.what or "carriage return" in exc.what


def test_plain_configuration_may_hold_a_tab_but_nothing_else_does():
    ok = config.loads(BASE + '[environments.staging.env]\nLOG_FORMAT = "a\\tb"\n')
    assert ok.env("staging").plain_env == {"LOG_FORMAT": "a\tb"}
    assert "a tab" in error_of(BASE + 'user = "de\\tploy"\n').what


@pytest.mark.parametrize("value", ["https://x/{$HOME}", "https://x/`y`", "https://x\\\\y"])
def test_acme_ca_refuses_caddy_placeholders_and_quotes(value):
    exc = error_of(BASE + f'acme_ca = "{value}"\n')
    assert exc.what.startswith("environments.staging.acme_ca: expected an ACME directory URL")


def test_a_clean_file_still_loads():
    cfg = config.loads(BASE + 'acme_ca = "https://acme.test:14000/dir"\n'
                              'acme_email = "ops@hello.test"\nacme_ca_root = "/etc/ca root.pem"\n')
    assert cfg.env("staging").common.acme_ca == "https://acme.test:14000/dir"


# --------------------------------------------------------------------------- the Caddyfile


@pytest.mark.parametrize("field", ["acme_ca", "acme_ca_root", "acme_email"])
@pytest.mark.parametrize("evil", ["https://x\nimport /etc/*", "x\r}\n:80 {", "a\x00b",
                                  "https://x/{$SECRET}", "a`b", "a\\b", "x\u2028import y"])
def test_the_caddyfile_renderer_never_writes_a_raw_newline_from_a_value(field, evil):
    with pytest.raises(ValueError, match=field):
        caddy.render_site(key="hello-staging", domain="staging.hello.test",
                          upstream_port=8101, **{field: evil})


def test_the_caddyfile_renderer_quotes_a_value_with_spaces_or_quotes():
    text = caddy.render_site(key="hello-staging", domain="staging.hello.test",
                             upstream_port=8101, acme_ca="https://acme.test/dir",
                             acme_ca_root='/etc/ca "x" root.pem', acme_email="a@b.c")
    lines = text.splitlines()
    assert lines == ["# managed by cockpit: environment hello-staging",
                     "staging.hello.test {", "\ttls a@b.c {", "\t\tca https://acme.test/dir",
                     '\t\tca_root "/etc/ca \\"x\\" root.pem"', "\t}",
                     "\treverse_proxy 127.0.0.1:8101", "}"]
    with pytest.raises(ValueError, match="domain"):
        caddy.render_site(key="k", domain="a.test\nimport /etc/*", upstream_port=8101)
    with pytest.raises(ValueError, match="storage"):
        caddy.render_global(admin_port=2019, http_port=80, https_port=443,
                            storage="/d\nimport /etc/*", sites_dir="/s")
    text = caddy.render_global(admin_port=2019, http_port=80, https_port=443,
                               storage="/var/lib/cockpit edge", sites_dir="/s")
    assert '\t\troot "/var/lib/cockpit edge"' in text.splitlines()
    assert text.rstrip().endswith("import /s/*.caddy")


# ------------------------------------------------------------------ where the Fly token goes

FLY = """\
[app]
name = "shop"

[environments.staging]
provider = "fly"
app = "shop-staging"
"""


def test_fly_defaults_send_the_token_to_fly_over_https():
    s = config.loads(FLY).env("staging").settings
    assert s.api_url == "https://api.machines.dev/v1" and s.logs_url == "https://api.fly.io/api/v1"
    assert not s.trust_api_host
    # an access key: opting in is not a change of what the release runs
    trusted = FLY + 'trust_api_host = true\n'
    assert config.loads(trusted).env("staging").config_hash == \
        config.loads(FLY).env("staging").config_hash


@pytest.mark.parametrize(("line", "key", "says"), [
    ('api_url = "http://api.machines.dev/v1"', "api_url", "expected an https URL"),
    ('logs_url = "http://api.fly.io/api/v1"', "logs_url", "expected an https URL"),
    ('api_url = "https://evil.example/v1"', "api_url", "trust_api_host = true"),
    ('logs_url = "https://evil.example/api/v1"', "logs_url", "trust_api_host = true"),
    ('api_url = "https://api.machines.dev@evil.example/v1"', "api_url", "user:password@"),
    ('api_url = "http://10.0.0.5:4280/v1"\ntrust_api_host = true', "api_url", "https"),
])
def test_fly_refuses_a_token_destination_that_is_not_fly_over_https(line, key, says):
    exc = error_of(FLY + line + "\n")
    assert exc.what.startswith(f"environments.staging.{key}: "), exc.what
    assert says in exc.what, exc.what
    assert exc.where.startswith("cockpit.toml:")


@pytest.mark.parametrize("lines", [
    'api_url = "http://127.0.0.1:4280/v1"\nlogs_url = "http://127.0.0.1:4280/api/v1"',  # emulator
    'api_url = "http://localhost:4280/v1"',
    'api_url = "http://[::1]:4280/v1"',
    'api_url = "https://api.machines.dev/v1"',
    'api_url = "https://fly-proxy.internal.example/v1"\ntrust_api_host = true',
    'trust_api_host = true\nlogs_url = "https://logs.internal.example/api/v1"',
])
def test_fly_accepts_fly_loopback_or_an_opted_in_https_host(lines):
    assert config.loads(FLY + lines + "\n").env("staging").settings.api_url
