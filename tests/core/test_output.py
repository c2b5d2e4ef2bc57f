"""Renderers: NDJSON for machines, lines for humans, both redacted."""

from __future__ import annotations

import io
import json

from cockpit.errors import GateFailed
from cockpit.events import HealthSample, LogLine, Message, StepFinished, StepStarted
from cockpit.output import HumanRenderer, JsonRenderer
from cockpit.redaction import MASK, REDACTOR, RedactingFilter


def test_json_renderer_writes_one_object_per_line_and_a_result():
    out = io.StringIO()
    r = JsonRenderer(out)
    r.emit(StepStarted("lock", "take the deploy lock", env="staging"))
    r.emit(HealthSample(ok=True, status=200, latency_ms=3.5, env="staging"))
    r.result({"release": "r1"})
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [row["type"] for row in rows] == ["step_started", "health", "result"]
    assert rows[0] == {"type": "step_started", "step": "lock", "title": "take the deploy lock",
                       "env": "staging"}
    assert rows[-1] == {"type": "result", "ok": True, "data": {"release": "r1"}}


def test_errors_in_json_carry_kind_exit_code_and_logs():
    out = io.StringIO()
    JsonRenderer(out).error(GateFailed("health gate failed", where="staging", logs=["boom"]))
    row = json.loads(out.getvalue())
    assert row["ok"] is False and row["kind"] == "gate" and row["exit_code"] == 3
    assert row["logs"] == ["boom"]


def test_every_renderer_masks_known_secret_values():
    secret = "s3cr3t-value-xyz"
    REDACTOR.add(secret)
    try:
        jout, hout, herr = io.StringIO(), io.StringIO(), io.StringIO()
        events = [LogLine(source="web-1", line=f"token={secret}"),
                  Message(f"oops {secret}"), StepFinished("env", detail=secret)]
        human = HumanRenderer(hout, herr)
        for event in events:
            JsonRenderer(jout).emit(event)
            human.emit(event)
        human.error(GateFailed(f"failed with {secret}", logs=[secret]))
        human.text(f"result {secret}")
        JsonRenderer(jout).result({"nested": [{"x": secret}]})
        for text in (jout.getvalue(), hout.getvalue(), herr.getvalue()):
            assert secret not in text
            assert MASK in text
    finally:
        REDACTOR.clear()


def test_logging_filter_masks_secrets():
    import logging

    secret = "another-secret-123"
    REDACTOR.add(secret)
    try:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.addFilter(RedactingFilter())
        log = logging.getLogger("cockpit.test")
        log.addHandler(handler)
        log.warning("value is %s", secret)
        log.removeHandler(handler)
        assert stream.getvalue().strip() == f"value is {MASK}"
    finally:
        REDACTOR.clear()


def test_short_values_are_not_treated_as_secrets():
    REDACTOR.add("ab")
    assert REDACTOR.redact("abc ab") == "abc ab"
