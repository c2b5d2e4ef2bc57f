"""Custom domains: exact DNS records to create, then polling until the cert is issued."""

from __future__ import annotations

import pytest

from cockpit import pipeline
from cockpit.events import Message
from tests import certs

from .conftest import Recorder

pytestmark = pytest.mark.timeout(60)


def test_domain_shows_exact_dns_records_and_waits_until_issued(project, emu):
    ctx = project()
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    rec = Recorder()
    status = provider.configure_domain(env, "shop.example.com", rec)
    assert status.status == "issued"
    app = emu.apps["shop-staging"]
    v4 = [i["ip"] for i in app.ips if "." in i["ip"]]
    v6 = [i["ip"] for i in app.ips if ":" in i["ip"]]
    assert v4 and v6  # addresses were allocated so A and AAAA have values
    got = {(r["type"], r["name"], r["value"]) for r in status.records_to_create}
    assert ("A", "shop.example.com", v4[0]) in got
    assert ("AAAA", "shop.example.com", v6[0]) in got
    assert ("CNAME", "shop.example.com", "shop-staging.fly.dev") in got
    assert ("CNAME", "_acme-challenge.shop.example.com",
            f"shop.example.com.{app.id[:6]}.flydns.net") in got
    assert ("TXT", "_fly-ownership.shop.example.com", f"app-{app.id}") in got
    assert all(r["purpose"] for r in status.records_to_create)
    shown = [e.text for e in rec.of("message") if isinstance(e, Message)]
    assert any("AAAA" in t and v6[0] in t and "_acme-challenge" in t for t in shown)
    assert "shop.example.com" in app.certs and app.certs["shop.example.com"]["issued"]


def test_domain_still_pending_reports_what_to_fix(project, emu):
    emu.cert_issue_after = 10_000
    ctx = project(cert_timeout=0.5)
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    rec = Recorder()
    status = provider.configure_domain(env, "shop.example.com", rec)
    assert status.status == "pending"
    assert len(status.records_to_create) == 5
    warnings = [e.text for e in rec.of("message") if e.level == "warning"]
    assert any("no A/AAAA or CNAME record" in w and "create the DNS records" in w
               for w in warnings)


def test_status_lists_certificates(project, emu):
    from .conftest import IMAGE_V1

    ctx = project()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    provider.configure_domain(env, "shop.example.com", Recorder())
    status = provider.status(env)
    assert status["certificates"] == [{"hostname": "shop.example.com", "status": "active"}]
    assert status["regions"] == ["ams", "iad"]
    assert all(m["health"] == "healthy" and m["checks"] for m in status["machines"])
    assert status["current"] and status["lock"] is None
    ctx2 = project(extra='domain = "shop.example.com"')
    tls = pipeline.live(ctx2, "staging").tls
    assert tls is not None and tls.ok and tls.names == ["shop.example.com"]
    assert tls.days_left is not None and tls.days_left >= 88


@pytest.fixture
def tls_server(tmp_path):
    """A loopback TLS server presenting a certificate for shop.example.com."""
    with certs.tls_server(tmp_path, "shop.example.com", "Test Fly CA", days=90) as (port, ca):
        yield f"127.0.0.1:{port}", ca


def test_issued_certificate_is_checked_with_the_core_tls_probe(project, emu, tls_server):
    address, ca_file = tls_server
    ctx = project(tls_probe=True,
                  extra=f'tls_probe_address = "{address}"\ntls_ca_file = "{ca_file}"')
    env = ctx.config.env("staging")
    status = pipeline.provider_for(ctx, env).configure_domain(env, "shop.example.com",
                                                              Recorder())
    assert status.status == "issued"
    assert status.tls is not None and status.tls.ok, status.tls
    assert status.tls.names == ["shop.example.com"] and status.tls.issuer == "Test Fly CA"
