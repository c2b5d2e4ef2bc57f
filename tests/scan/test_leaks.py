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


CLIENT = [
    ("src/firebase.js", 'import { initializeApp } from "firebase/app";\n', True),
    ("src/App.jsx", "export default function App() { return null; }\n", True),
    ("components/Pay.tsx", '"use client";\nexport const x = 1;\n', True),
    ("index.html", "<script></script>\n", True),
    ("server.js", 'const express = require("express");\n', False),
    ("src/index.ts", 'import express from "express";\napp.listen(3000);\n', False),
    ("pages/api/pay.js", "export default function handler(req, res) {}\n", False),
    ("app/page.tsx", 'import Link from "next/link";\nexport default function P() {}\n', False),
    ("app/api/pay/route.ts", "export async function POST() {}\n", False),
    ("src/db.js", "const key = process.env.DB_KEY;\n", False),
    ("main.py", "print(1)\n", False),
]


@pytest.mark.parametrize(("rel", "text", "client"), CLIENT)
def test_client_code_is_told_from_server_code(rel: str, text: str, client: bool) -> None:
    from cockpit.scan.leaks import is_client_code

    assert is_client_code(rel, text) is client


EXPOSURE = [
    (".env.test", "STRIPE_SECRET_KEY=sk_test_51E1Ki3ylOjt6o0NpUmkVO8JmR8y4EMf\n", "test"),
    ("spec/models/user_spec.rb", "KEY = 'AKIA454ML6LG4TJFCZ4K'\n", "test"),
    ("pkg/api/client_test.go", 'const t = "ghp_pXjYdOhCgOIPOZx9eRmm0EqlTaWEITclorXw"\n', "test"),
    ("src/stripe.ts", 'export const pk = "pk_live_51NNern66nVberACpdclsxHKifxi5CvQ";\n', "public"),
    (".env", "VITE_MAPS_API_KEY=Xk9vT2mQ7nW4rL8pZ5bD4sF1\n", "public"),
    (".env", "NEXT_PUBLIC_STRIPE_KEY=sk_live_51KgcjnCqaXNv1syeefnLOpaMxxNDi9L\n", "secret"),
    ("server/maps.js", 'const express = require("express");\n'
     'const key = "AIzaXNQ6Fq5axtjRNmHkW5vQ7CF5puzQqmOBZZW";\n', "secret"),
]


@pytest.mark.parametrize(("rel", "text", "exposure"), EXPOSURE)
def test_exposure_follows_where_the_value_ships(rel: str, text: str, exposure: str) -> None:
    leaks = find_leaks(rel, text)
    assert [leak.exposure for leak in leaks] == [exposure]
    assert leaks[0].severity == ("error" if exposure == "secret" else "info")


NOT_FOUND_NEW = [
    ("a.js", 'jwt.sign(payload, "${JWT_SECRET}")\n'),
    ("a.js", "jwt.sign(payload, process.env.JWT_SECRET)\n"),
    ("a.py", 'jwt.decode(token, key, algorithms=["HS256"])\n'),
    ("a.py", 'URL = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"\n'),
    ("a.js", "fetch(u, { headers: { Authorization: `Bearer ${token}` } })\n"),
    ("s.yaml", "kind: Secret\nstringData:\n  password: '{{ .Values.password }}'\n  user: app\n"),
    ("s.yaml", "kind: Secret\ndata:\n  LOG_LEVEL: aW5mbw==\n"),
    ("c.yml", "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: postgres\n"),
    ("ingress.yaml", "spec:\n  tls:\n    - secretName: orders-tls-cert\n"),
    ("Dockerfile", "ARG NPM_TOKEN\nENV API_KEY=$API_KEY\n"),
]


@pytest.mark.parametrize(("rel", "text"), NOT_FOUND_NEW)
def test_new_rules_skip_references_templates_and_samples(rel: str, text: str) -> None:
    assert find_leaks(rel, text) == []
