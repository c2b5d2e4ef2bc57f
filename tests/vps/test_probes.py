"""The core probes every provider reuses: the gate's counting, TLS read from a live handshake
(a local TLS server with a throwaway certificate), DNS through a configured resolver."""

from __future__ import annotations

import socket

import pytest

from cockpit.events import HealthSample
from cockpit.probes import check_dns, check_tls, describe_failure, wait_healthy
from tests import certs


def _samples(*oks: bool):
    it = iter(oks)

    def fn() -> HealthSample:
        ok = next(it)
        return HealthSample(ok=ok, status=200 if ok else 503, latency_ms=1.0,
                            error="" if ok else "HTTP 503")

    return fn


def test_gate_needs_n_consecutive_successes():
    ok, samples = wait_healthy(_samples(True, False, True, True, True), 3, 0.001, 5)
    assert ok and len(samples) == 5


def test_gate_fails_at_its_deadline_and_says_why():
    ok, samples = wait_healthy(_samples(*([False] * 1000)), 3, 0.01, 0.05)
    assert not ok and 1 <= len(samples) < 1000
    assert "503" in describe_failure(samples) and "last failure: HTTP 503" in \
        describe_failure(samples)


@pytest.fixture
def tls_server(tmp_path):
    with certs.tls_server(tmp_path, "probe.test", "Probe Test CA", days=10) as server:
        yield server


def test_tls_details_come_from_the_live_handshake(tls_server):
    port, ca = tls_server
    info = check_tls("127.0.0.1", port, "probe.test", ca_file=ca)
    assert info.ok and info.issuer == "Probe Test CA" and info.names == ["probe.test"]
    assert info.days_left in (9, 10)


def test_an_untrusted_certificate_is_not_ok_but_still_described(tls_server):
    port, _ = tls_server
    info = check_tls("127.0.0.1", port, "probe.test")
    assert not info.ok and "does not verify" in info.error
    assert info.issuer == "Probe Test CA" and info.days_left is not None


def test_tls_to_a_closed_port_says_so():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    info = check_tls("127.0.0.1", port, "x.test", timeout=1)
    assert not info.ok and "handshake" in info.error


@pytest.mark.lab
def test_dns_through_the_labs_resolver(lab):
    good = check_dns("anything.zdt.test", "127.0.0.1", lab.dns)
    assert good.ok and good.records["A"] == ["127.0.0.1"]
    wrong = check_dns("anything.zdt.test", "127.0.0.2", lab.dns)
    assert not wrong.ok and "expected 127.0.0.2" in wrong.error
