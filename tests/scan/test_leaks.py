"""Secret rules: the real shapes are found, placeholders and templated values are not."""

from __future__ import annotations

import pytest

from cockpit.scan.leaks import find_leaks

FOUND = [
    ("config.py", 'AWS_ACCESS_KEY_ID = "AKIAZ3MSJV4WWBYBQKX7"\n', "aws-access-key"),
    (
        "pay.js",
        "const stripe = require('stripe')('sk_live_51HxQ2bLkTz8RvP0yW3mN6cD');\n",
        "stripe-secret-key",
    ),
    ("gh.py", 'token = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"\n', "github-token"),
    ("maps.js", 'const key = "AIzaSyD3k9Fh2LmQ8xVbN4pR7tW1yZ6cE0gJ5uA"\n', "google-api-key"),
    ("db.py", 'URL = "postgres://app:Xk9#mQ2vLp8w@db.example.com:5432/app"\n', "password-in-url"),
    (
        "settings.py",
        "SECRET_KEY = 'django-insecure-7#k2m!x9$q@v3z&w8p^r5t*n1b'\n",
        "django-secret-key",
    ),
    ("client.ts", 'const apiKey: string = "f3a9c2e8b7d14f6a9e0c5b2d8a7f1e3c";\n', "api-key"),
    (
        "id_rsa.pem",
        "-----BEGIN RSA PRIVATE KEY-----\n" + "MIIEow" * 20 + "\n-----END RSA PRIVATE KEY-----\n",
        "private-key",
    ),
]
NOT_FOUND = [
    ("a.py", 'API_KEY = "your-api-key-here"\n'),
    ("a.py", 'API_KEY = os.environ["API_KEY"]\n'),
    ("a.js", "const apiKey = process.env.API_KEY || 'changeme';\n"),
    ("a.py", 'SECRET_KEY = "${SECRET_KEY}"\n'),
    ("a.yml", 'token: "{{ .Values.token }}"\n'),
    ("a.py", 'password = "<password>"\n'),
    ("a.py", 'DB = "postgres://postgres:postgres@localhost:5432/app"\n'),
    ("a.py", 'TOKEN_URL = "https://auth.example.com/oauth/token"\n'),
    ("a.py", 'password_field = "password_confirmation"\n'),
    (".env.example", "STRIPE_SECRET_KEY=sk_live_51HxQ2bLkTz8RvP0yW3mN6cD\n"),
    ("a.py", 'api_key = "xxxxxxxxxxxxxxxxxxxx"\n'),
    ("a.py", 'secret = "abcdefghijklmnop"\n'),
    ("a.py", 'message = "Please enter your password and token below"\n'),
]


@pytest.mark.parametrize(("rel", "text", "kind"), FOUND)
def test_finds_real_secret_shapes(rel: str, text: str, kind: str) -> None:
    leaks = find_leaks(rel, text)
    assert [leak.kind for leak in leaks] == [kind]


@pytest.mark.parametrize(("rel", "text"), NOT_FOUND)
def test_skips_placeholders_references_and_templates(rel: str, text: str) -> None:
    assert find_leaks(rel, text) == []


def test_leak_repr_and_label_never_show_the_value() -> None:
    leak = find_leaks("k.py", 'API_KEY = "f3a9c2e8b7d14f6a9e0c5b2d8a7f1e3c"\n')[0]
    assert "f3a9c2e8" not in repr(leak) and "f3a9c2e8" not in leak.label()
    assert leak.label() == "API_KEY = ••••"
