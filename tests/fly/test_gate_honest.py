"""The one gate on Fly (count, fail fast on 5xx), an honest rolling undo, and a client that
survives the emulator's 429s (Fly's documented limits) and stray 5xx answers."""

from __future__ import annotations

import httpx
import pytest
from cockpit.providers.fly.api import FlyApi, FlyApiError

from cockpit import pipeline
from cockpit.errors import EXIT_FAILED, CockpitError, GateFailed
from tests.conftest import closing_contexts

from .conftest import IMAGE_BAD, IMAGE_V1, IMAGE_V2, TOKEN, Recorder

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def project(tmp_path, emu, monkeypatch):
    """Like conftest's `project`, with the token and secrets from the environment (the CI mode)
    instead of the lab's keyring: these tests are about the gate and the API, not the keyring."""
    from cockpit import config as config_mod
    from cockpit.provider import Context, Options
    from cockpit.secrets import SecretStore
    from cockpit.state import Store

    from .conftest import write_project

    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "1")
    monkeypatch.setenv("COCKPIT_SECRETS_DIGEST_KEY", "k" * 64)
    monkeypatch.delenv("FLY_API_TOKEN", raising=False)
    for env in ("STAGING", "PROD"):
        monkeypatch.setenv(f"COCKPIT_SECRET_{env}_FLY_API_TOKEN", TOKEN)
        monkeypatch.setenv(f"COCKPIT_SECRET_{env}_SECRET_KEY", f"s3cr3t-value-for-{env}")
    with closing_contexts() as made:
        def factory(**kw) -> Context:
            cfg = config_mod.load(write_project(tmp_path, emu, **kw))
            ctx = Context(config=cfg, store=Store.open("shop", root=tmp_path / "state"),
                          secrets=SecretStore("shop"), options=Options(confirm="prod", yes=True))
            made.append(ctx)
            return ctx

        yield factory


def _machine_reads(emu, app: str) -> list[tuple[str, str, int]]:
    return [c for c in emu.calls if c[0] == "GET"
            and c[1].startswith(f"/v1/apps/{app}/machines/") and c[1].count("/") == 5]


def test_a_release_answering_500_on_every_probe_fails_fast_not_at_the_deadline(project, emu):
    ctx = project(deadline=60.0, count=1, gate="")  # the 60 s deadline does not end this gate
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    with pytest.raises(GateFailed) as info:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_BAD)
    err = info.value
    assert err.reason == "5xx", err.what  # failed on the 5xx streak after the start period
    assert "answered 500" in err.what and "restored 1 machine" in err.what
    assert any("db down" in line for line in err.logs)
    assert {m.config["image"] for m in emu.active("shop-staging")} == {IMAGE_V1}


def test_gate_count_means_consecutive_passing_reads_on_fly(project, emu):
    ctx = project(count=1, deadline=20.0, gate="count = 6, interval = 0.25")
    assert ctx.config.env("staging").gate.count == 6
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    (machine,) = emu.active("shop-staging")
    reads = [c for c in _machine_reads(emu, "shop-staging") if machine.id in c[1]
             and c[2] == 200]
    assert len(reads) >= 6  # six passing reads in a row, not the first passing one


def test_rolling_undo_that_fails_says_so_and_does_not_exit_as_rolled_back(project, emu):
    ctx = project(deadline=1.0)
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    first = sorted(emu.active("shop-staging"), key=lambda m: (m.region, m.created_at, m.id))[0]
    # the update of the first machine goes through; its restore is refused
    emu.inject("POST", rf"/machines/{first.id}$", status=500, times=10, after=1)
    with pytest.raises(CockpitError) as info:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_BAD)
    err = info.value
    assert not isinstance(err, GateFailed) and err.exit_code == EXIT_FAILED
    assert "restored 1 machine" not in err.what
    assert f"{first.id} not restored" in err.what and "restored 0 of 1" in err.what
    assert "db down" in err.what and err.logs  # the gate's reason and log lines are kept
    assert {m.config["image"] for m in emu.active("shop-staging")} == {IMAGE_V1, IMAGE_BAD}
    assert good.id != info.value  # the failed release was not reported as rolled back


def test_a_429_storm_and_stray_5xx_are_survived(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    emu.inject("GET", r"/machines/[^/]+$", status=429, times=6)
    emu.stray_5xx(every=4, methods=("GET",))
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert release.status == "healthy"
    assert any(c[2] == 429 for c in emu.calls) and emu.strays
    assert {m.config["image"] for m in emu.active("shop-staging")} == {IMAGE_V2}


def test_the_emulator_rate_limits_get_machine_as_fly_documents(emu):
    emu.create_app("shop-staging", org="acme")
    api = FlyApi(emu.api_url, emu.logs_url, TOKEN, app="shop-staging")
    try:
        mid = api.request("POST", api.m(), op="create", json={"config": {"image": IMAGE_V1},
                                                               "region": "iad"},
                          idempotent=False)["id"]
    finally:
        api.close()
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        answers = [client.get(f"{emu.api_url}/apps/shop-staging/machines/{mid}")
                   for _ in range(14)]
    codes = [r.status_code for r in answers]
    assert codes[:10] == [200] * 10  # the burst of 10
    limited = [r for r in answers if r.status_code == 429]
    assert limited and all(int(r.headers["retry-after"]) >= 1 for r in limited)


def test_the_client_honours_retry_after_and_gives_up_clearly(emu):
    emu.create_app("shop-staging", org="acme")
    slept: list[float] = []
    api = FlyApi(emu.api_url, emu.logs_url, TOKEN, app="shop-staging", sleep=slept.append,
                 rate_retries=4)
    try:
        emu.inject("GET", r"/apps/shop-staging/machines$", status=429, times=3)
        assert api.list_machines() == []
        assert slept == [1.0, 1.0, 1.0]  # Retry-After: 1, three times
        slept.clear()
        emu.inject("GET", r"/apps/shop-staging/machines$", status=503, times=3)
        assert api.list_machines() == []
        assert slept == [0.2, 0.4, 0.8]  # 5xx on an idempotent call: exponential backoff
        slept.clear()
        emu.inject("GET", r"/apps/shop-staging/machines$", status=429, times=50)
        with pytest.raises(FlyApiError) as info:
            api.list_machines()
        assert info.value.status == 429 and "rate limited" in info.value.what
        assert len(slept) == 4
        slept.clear()
        emu.inject("POST", r"/apps/shop-staging/machines$", status=503, times=1)
        with pytest.raises(FlyApiError) as info:  # not idempotent: one try, and it says so
            api.request("POST", api.m(), op="create machine", json={"config": {}},
                        idempotent=False)
        assert "may have taken effect" in info.value.what and slept == []
    finally:
        api.close()
