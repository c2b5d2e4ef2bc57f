"""Secret values never leave the keyring except inside the Secret object's data."""

from __future__ import annotations

import base64

import pytest
import yaml

from cockpit import pipeline
from cockpit.errors import GateFailed
from cockpit.redaction import MASK

from .conftest import IMAGE_LEAKY, IMAGE_V1, SECRET_PROD, SECRET_STAGING, Recorder

pytestmark = pytest.mark.timeout(90)
LEAKY_CRASH = "registry.example.test/shop@sha256:" + "f" * 64


def forms(value: str) -> list[str]:
    return [value, base64.b64encode(value.encode()).decode()]


def test_no_secret_value_in_events_state_errors_or_api_requests(project, emulator, tmp_state):
    emulator.image(LEAKY_CRASH, crash=True, log_env=["SECRET_KEY"],
                   crash_logs=["fatal: bad key", "exiting"])
    ctx = project()
    rec = Recorder()
    pipeline.deploy(ctx, "staging", rec, image=IMAGE_V1)
    with pytest.raises(GateFailed) as failed:
        pipeline.deploy(ctx, "staging", rec, image=LEAKY_CRASH)
    pipeline.deploy(ctx, "staging", rec, image=IMAGE_LEAKY)
    env = ctx.config.env("staging")
    logs = list(pipeline.provider_for(ctx, env).logs(env, follow=False))
    # the app did print it: the test would prove nothing otherwise
    assert any(SECRET_STAGING in line for pod in emulator.list("v1", "pods", "shop-staging")
               for line in emulator.pod_logs("shop-staging", pod["metadata"]["name"]))
    pipeline.promote(ctx, "staging", "prod", rec)
    pipeline.rollback(ctx, "staging", rec)
    state = pipeline.live(ctx, "staging").to_dict()
    ctx.store.close()

    secrets = forms(SECRET_STAGING) + forms(SECRET_PROD)
    err = failed.value
    assert any(line.endswith(f"config SECRET_KEY={MASK}") for line in err.logs)
    visible = [rec.text(), err.what, err.hint or "", "\n".join(err.logs), repr(state),
               "\n".join(f"{line.source} {line.line}" for line in logs)]
    for blob in visible:
        for value in secrets:
            assert value not in blob
    for path in tmp_state.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in secrets:
                assert value.encode() not in data, f"secret in {path}"

    secret_objects = 0
    for req in emulator.requests:
        text = req["path"] + repr(req["query"]) + req["body"]
        if not any(value in text for value in secrets):
            continue
        assert req["content_type"] == "application/apply-patch+yaml"
        assert "/secrets/" in req["path"]
        obj = yaml.safe_load(req["body"])
        assert obj["kind"] == "Secret"
        obj.pop("data")
        rest = req["path"] + repr(req["query"]) + repr(obj)
        assert not any(value in rest for value in secrets)
        secret_objects += 1
    assert secret_objects >= 3  # staging x3 releases' secrets + prod's
