"""The secrets digest in release records, labels and annotations is keyed (HMAC-SHA256 with a
per-install key in the OS keyring), so a short value cannot be recovered from it.

Before the fix the digest was sha256("cockpit:<scope>:<name>\\0<value>") truncated: anyone who
read a label could hash guesses of a short value and find it in a second.
"""

from __future__ import annotations

import hashlib
import re
import textwrap

import pytest

from cockpit import config as config_mod
from cockpit.errors import SecretStoreError
from cockpit.secrets import SecretStore

SHORT = "hunter2x"  # a short value an attacker would find by brute force


def _unkeyed(scope: str, name: str, value: str) -> str:
    """What the digest was before: anyone can compute it from a guess."""
    return hashlib.sha256(f"cockpit:{scope}:{name}\0{value}".encode()).hexdigest()[:12]


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in ("COCKPIT_SECRETS_FROM_ENV", "COCKPIT_SECRETS_DIGEST_KEY",
                 "COCKPIT_SECRET_PROD_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "cockpit.toml"
    path.write_text(textwrap.dedent("""\
        [app]
        name = "digest-app"
        port = 8000

        [environments.staging]
        provider = "vps"
        host = "203.0.113.10"

        [environments.prod]
        provider = "vps"
        host = "203.0.113.11"

        [secrets]
        prod = ["SECRET_KEY"]
        """))
    cfg = config_mod.load(path)
    return cfg.env("prod")


def test_digest_is_keyed_by_an_install_key_kept_in_the_keyring(env, os_keyring):
    store = SecretStore("digest-app")
    store.set(env, "SECRET_KEY", SHORT)
    status = store.status_of(env, "SECRET_KEY")
    assert re.fullmatch(r"[0-9a-f]{12}", status.digest)  # same format as before
    assert status.digest != _unkeyed(env.secret_scope, "SECRET_KEY", SHORT)
    key = os_keyring[("cockpit:install", "secrets-digest-key")]
    assert len(key) >= 32
    digest = store.digest(env)
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    # a fresh store (a fresh process) reads the same key: digests are stable across runs
    again = SecretStore("digest-app")
    assert again.digest(env) == digest
    assert again.status_of(env, "SECRET_KEY").digest == status.digest
    assert SHORT not in digest + status.digest + key


def test_a_guess_of_the_value_does_not_reproduce_the_published_digest(env, monkeypatch):
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "prod")
    monkeypatch.setenv("SECRET_KEY", SHORT)
    monkeypatch.setenv("COCKPIT_SECRETS_DIGEST_KEY", "k" * 64)
    published = SecretStore("digest-app").digest(env)
    unkeyed_parts = f"SECRET_KEY={_unkeyed(env.secret_scope, 'SECRET_KEY', SHORT)}"
    assert published != hashlib.sha256(unkeyed_parts.encode()).hexdigest()[:16]
    monkeypatch.setenv("COCKPIT_SECRETS_DIGEST_KEY", "another-install-key-" * 3)
    assert SecretStore("digest-app").digest(env) != published  # the key decides it


def test_ci_mode_needs_a_digest_key_and_says_so(env, monkeypatch):
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "prod")
    monkeypatch.setenv("SECRET_KEY", SHORT)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    store = SecretStore("digest-app")
    with pytest.raises(SecretStoreError) as info:
        store.digest(env)
    assert "COCKPIT_SECRETS_DIGEST_KEY" in info.value.what + (info.value.hint or "")
    assert SHORT not in info.value.what + (info.value.hint or "")
    # listing what is set still works, without a digest
    status = store.status_of(env, "SECRET_KEY")
    assert status.is_set and status.digest is None
    monkeypatch.setenv("COCKPIT_SECRETS_DIGEST_KEY", "ci-key-" * 8)
    first = SecretStore("digest-app").digest(env)
    assert first == SecretStore("digest-app").digest(env)


def test_an_environment_without_secrets_needs_no_key(env, monkeypatch, tmp_path):
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "1")
    staging = config_mod.load(tmp_path / "cockpit.toml").env("staging")
    assert SecretStore("digest-app").digest(staging) == hashlib.sha256(b"").hexdigest()[:16]
