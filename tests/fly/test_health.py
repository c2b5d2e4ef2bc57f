"""The dashboard's health sample for a Fly environment: the checks of the serving machines."""

from __future__ import annotations

import pytest

from cockpit import pipeline

from .conftest import IMAGE_V1, Recorder

pytestmark = pytest.mark.timeout(60)


def test_health_is_the_checks_of_the_serving_machines(project, emu):
    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)

    sample = provider.health(env)
    assert sample.ok and sample.env == "staging" and sample.error == ""
    assert sample.detail == "checks 2/2 passing on 2 machines"
    assert sample.latency_ms is not None and sample.url.endswith("/apps/shop-staging/machines")

    serving = emu.active("shop-staging")
    with emu.lock:  # the app's database goes away on one machine: its check turns critical
        serving[0].checks[0].update(status="critical", output="HTTP 500: db down")
    sample = provider.health(env)
    assert not sample.ok and sample.detail == "checks 1/2 passing on 2 machines"
    assert sample.error == f"check {serving[0].checks[0]['name']} on {serving[0].id}: " \
                           "critical (HTTP 500: db down)"


def test_health_of_an_app_with_nothing_serving_says_so(project, emu):
    ctx = project()
    env = ctx.config.env("staging")
    emu.create_app("shop-staging", org="acme")
    sample = pipeline.provider_for(ctx, env).health(env)
    assert not sample.ok and sample.error == "no machine serves (0 in the app)"


def test_health_with_a_refused_token_is_a_failing_sample_not_a_crash(project, emu):
    ctx = project()
    env = ctx.config.env("staging")
    emu.inject("GET", r"/apps/shop-staging/machines$", status=401, times=5)
    sample = pipeline.provider_for(ctx, env).health(env)
    assert not sample.ok and sample.error and sample.latency_ms is None
