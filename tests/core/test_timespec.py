"""One `--since` grammar: the core parses, every provider translates the same answer."""

from __future__ import annotations

import pytest

from cockpit.errors import UsageError
from cockpit.timespec import parse_since, since_age

NOW = 1_780_000_000.0


@pytest.mark.parametrize("text,back", [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400),
                                       ("1.5h", 5400), ("90", 90), (" 10m ", 600)])
def test_durations_count_back_from_now(text, back):
    assert parse_since(text, NOW) == NOW - back


def test_times_are_rfc3339_and_naive_means_utc():
    assert parse_since("2026-05-28T20:26:40Z", NOW) == 1_780_000_000.0
    assert parse_since("2026-05-28T22:26:40+02:00", NOW) == 1_780_000_000.0
    assert parse_since("2026-05-28T20:26:40", NOW) == 1_780_000_000.0


@pytest.mark.parametrize("bad", ["yesterday", "5 minutes", "-5m", "10w", "2026-13-01T00:00:00Z"])
def test_anything_else_is_a_usage_error_naming_the_value(bad):
    with pytest.raises(UsageError) as err:
        parse_since(bad, NOW)
    assert repr(bad.strip()) in err.value.message and "30s" in (err.value.hint or "")


def test_a_time_in_the_future_is_refused():
    with pytest.raises(UsageError, match="future"):
        parse_since("2026-05-28T21:26:40Z", NOW)


def test_providers_translate_the_same_answer():
    from cockpit.providers.fly.logs import parse_since as fly
    from cockpit.providers.kubernetes.logs import parse_since as kube

    assert fly("5m", NOW) == NOW - 300
    assert kube("5m", NOW) == since_age("5m", NOW) == 300
    assert kube("2026-05-28T20:16:40Z", NOW) == 600
    assert parse_since("", NOW) is None and kube(None) is None


def test_the_cli_refuses_a_bad_since_before_connecting(capsys):
    from cockpit.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["logs", "staging", "--since", "yesterday"])
    assert exc.value.code == 2
    assert "not a duration or a time" in capsys.readouterr().err


def test_one_tag_scheme_for_every_provider():
    from cockpit.build import release_tag

    tag = release_tag("staging", "sha256:" + "0123456789ab" * 5, now=NOW)
    assert tag == "staging-20260528-202640-0123456789ab"
    odd = release_tag("pr 42/feature", "sha256:ab", now=NOW)
    assert odd.startswith("pr-42-feature-") and len(odd) <= 128
