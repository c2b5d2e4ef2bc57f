"""The generic CLI drives Fly environments through the same commands (in-process)."""

from __future__ import annotations

import json

import pytest

from cockpit import cli
from cockpit.provider import Provider

from .conftest import IMAGE_V1, IMAGE_V2, TOKEN

pytestmark = pytest.mark.timeout(60)


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _records(text):
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def test_fly_provider_meets_the_contract(project):
    ctx = project()
    from cockpit.pipeline import provider_for

    assert isinstance(provider_for(ctx, ctx.config.env("staging")), Provider)


def test_deploy_status_rollback_and_lock_from_the_cli(project, emu, capsys):
    ctx = project()
    cfg = str(ctx.config.path)
    code, out, err = _run(capsys, "deploy", "staging", "--image", IMAGE_V1, "--json",
                          "--config", cfg)
    assert code == 0, err
    code, out, err = _run(capsys, "deploy", "staging", "--image", IMAGE_V2, "--json",
                          "--config", cfg)
    assert code == 0, err
    assert TOKEN not in out + err
    code, out, err = _run(capsys, "status", "staging", "--json", "--config", cfg)
    assert code == 0, err
    assert IMAGE_V2.split("@")[1][:12] in out or "sha256:" + "2" * 12 in out
    code, out, err = _run(capsys, "rollback", "staging", "--json", "--config", cfg)
    assert code == 0, err
    assert {m.config["image"] for m in emu.active("shop-staging")} == {IMAGE_V1}

    mid = emu.active("shop-staging")[0].id
    emu.grab_lease("shop-staging", mid, "alice@example.com", description="stuck deploy")
    code, out, err = _run(capsys, "lock", "status", "staging", "--json", "--config", cfg)
    assert code == 0 and "alice@example.com" in out
    code, out, err = _run(capsys, "lock", "release", "staging", "--yes", "--json",
                          "--config", cfg)
    assert code == 0, err
    assert emu.leases_held() == []
