"""The generic CLI commands work for a Kubernetes environment (in-process, --json)."""

from __future__ import annotations

import json

import pytest

from cockpit import pipeline
from cockpit.cli import main

from .conftest import IMAGE_LEAKY, IMAGE_V1, IMAGE_V2, SECRET_STAGING, Recorder

pytestmark = pytest.mark.timeout(60)


def run_json(capsys, *argv: str) -> tuple[int, list[dict]]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_status_releases_and_logs_commands(project, emulator, capsys):
    ctx = project()
    config = str(ctx.config.path)
    first = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    second = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_LEAKY)
    capsys.readouterr()

    code, docs = run_json(capsys, "status", "staging", "--json", "--config", config)
    assert code == 0
    result = docs[-1]
    text = json.dumps(result)
    assert second.id in text and "shop-staging" in text
    code, docs = run_json(capsys, "releases", "staging", "--json", "--config", config)
    text = json.dumps(docs[-1])
    assert code == 0 and first.id in text and second.id in text

    code, docs = run_json(capsys, "logs", "staging", "--json", "--config", config)
    assert code == 0
    text = json.dumps(docs)
    assert "config SECRET_KEY=" in text and SECRET_STAGING not in text


def test_lock_status_command(project, emulator, capsys):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    capsys.readouterr()
    code, docs = run_json(capsys, "lock", "status", "staging", "--json", "--config",
                          str(ctx.config.path))
    assert code == 0
    assert docs[-1]["data"] == {"env": "staging", "lock": None}

