"""The whole VPS path on the lab, in order: setup, deploy staging, promote prod, deploy a new
version, rollback, a broken release, with a Pebble certificate checked and a load loop through
the edge during every switch (0 failed requests; the broken release never gets traffic).

The tests of this module run in file order and build on each other (one lab, one app).
"""

from __future__ import annotations

import os
import stat

import pytest

from tests.vps.conftest import APP, LAB_HOME, SECRETS

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(300)]

SEEN: dict[str, str] = {}


def _deploy(project, env: str, image: str | None = None, **options):
    from cockpit import pipeline

    ctx = project.ctx(**options)
    return pipeline.deploy(ctx, env, project.collect(), image=image)


def _served_release(project, env: str) -> str | None:
    from cockpit import pipeline

    state = pipeline.live(project.ctx(), env)
    return state.current.id if state.current else None


def test_setup_starts_the_edge_and_the_switch_and_is_idempotent(project):
    for env in ("staging", "prod"):
        proc = project.cli("setup", env, "--confirm", env, "--trust-host",
                           project.lab.ssh_hostkey_sha256, check=True)
        assert f"{env}: ready" in proc.stdout
    again = project.cli("setup", "staging", check=True)
    assert "config unchanged" in again.stdout
    edge = (LAB_HOME / ".cockpit" / "edge" / "Caddyfile").read_text()
    assert f"admin unix/{LAB_HOME}/.cockpit/edge/data/admin.sock" in edge  # no TCP admin
    switch = (LAB_HOME / ".cockpit" / "switch" / "haproxy.cfg").read_text()
    assert "mode 600 level admin" in switch and "ipv4@" not in switch
    assert "cockpit-edge" in again.stdout and "cockpit-switch" in again.stdout  # supervised


def test_first_deploy_builds_ships_and_serves_staging(project):
    release = _deploy(project, "staging")  # builds hello-app through the provider
    assert release.status == "healthy"
    SEEN["staging-1"] = release.id
    assert _served_release(project, "staging") == release.id


def test_domain_has_a_pebble_certificate_dns_and_redirect(project):
    from cockpit.pipeline import provider_for

    ctx = project.ctx()
    env = ctx.config.env("staging")
    status = provider_for(ctx, env).configure_domain(env, env.domain, project.collect())
    assert status.status == "issued"
    assert status.dns.ok and status.dns.records["A"] == ["127.0.0.1"]
    assert status.tls.ok and "Pebble" in status.tls.issuer
    assert status.tls.names == [env.domain] and status.tls.days_left > 30
    assert status.redirects_to_https is True

    # the dashboard's sample takes the same path: HTTPS through the edge, Host and SNI
    sample = provider_for(ctx, env).health(env)
    assert sample.ok and sample.status == 200 and sample.env == "staging", sample
    assert sample.url == f"https://{env.domain}:{env.settings.https_port}{env.app.health_path}"


def test_deploy_a_new_version_under_load_drops_nothing(project, load_loop):
    with load_loop("staging") as loop:
        release = _deploy(project, "staging", project.images["v2"])
    assert loop.failures == [] and loop.ok > 20
    assert set(loop.releases) <= {SEEN["staging-1"], release.id}
    assert release.id in loop.releases
    SEEN["staging-2"] = release.id


def test_promote_to_prod_twice_under_load(project, load_loop):
    from cockpit import pipeline

    first = pipeline.promote(project.ctx(confirm="prod"), "staging", "prod", project.collect())
    assert first.digest == pipeline.live(project.ctx(), "staging").current.digest
    assert first.promoted_from == f"staging/{SEEN['staging-2']}"
    _deploy(project, "staging", project.images["v3"])
    with load_loop("prod") as loop:  # promote onto an already serving prod
        second = pipeline.promote(project.ctx(confirm="prod"), "staging", "prod",
                                  project.collect())
    assert loop.failures == [] and loop.ok > 20
    assert set(loop.releases) <= {first.id, second.id}
    SEEN["prod-2"] = second.id


def test_prod_needs_its_typed_name(project):
    from cockpit import pipeline
    from cockpit.errors import Refused

    with pytest.raises(Refused):
        pipeline.promote(project.ctx(), "staging", "prod", project.collect())


def test_rollback_restores_the_previous_release_under_load(project, load_loop):
    from cockpit import pipeline

    before = pipeline.live(project.ctx(), "staging").current
    with load_loop("staging") as loop:
        back = pipeline.rollback(project.ctx(), "staging", project.collect())
    assert loop.failures == [] and loop.ok > 20
    assert back.id == SEEN["staging-2"]
    assert _served_release(project, "staging") == back.id
    releases = {r.id: r for r in pipeline.live(project.ctx(), "staging").releases}
    assert releases[before.id].status == "rolled_back"


def test_a_broken_release_never_gets_traffic(project, load_loop):
    from cockpit.errors import GateFailed

    serving = _served_release(project, "staging")
    with load_loop("staging") as loop, pytest.raises(GateFailed) as failed:
        _deploy(project, "staging", project.images["broken"])
    assert loop.failures == [] and loop.ok > 20
    assert set(loop.releases) == {serving}
    assert "failed its health gate on the host" in failed.value.what
    assert any('"GET /up" 500' in line for line in failed.value.logs)
    assert _served_release(project, "staging") == serving


def test_releases_come_from_the_hosts_labels(project):
    from cockpit.pipeline import provider_for

    ctx = project.ctx()
    env = ctx.config.env("staging")
    state = provider_for(ctx, env).live(env)
    ids = [r.id for r in state.releases]
    assert SEEN["staging-1"] in ids and SEEN["staging-2"] in ids
    assert [i.name for i in state.instances if i.serving] == [
        f"{APP}-staging-{state.current.id}"]
    assert any(r.status == "failed" for r in state.releases)
    proc = project.cli("releases", "staging", "--json", check=True)
    assert state.current.id in proc.stdout


def test_status_and_logs_through_the_cli(project):
    status = project.cli("status", "staging", "--json", check=True)
    assert '"serving": true' in status.stdout
    logs = project.cli("logs", "staging", "--tail", "5", check=True)
    current = _served_release(project, "staging")
    lines = logs.stdout.strip().splitlines()
    assert len(lines) == 5 and all(line.startswith(f"{current}/") for line in lines)
    assert all('"GET /' in line for line in lines)


def test_env_file_is_0600_and_no_secret_leaked_anywhere(project):
    releases = LAB_HOME / ".cockpit" / "apps" / APP
    env_files = list(releases.rglob("*.env"))
    assert env_files
    for f in env_files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    values = list(SECRETS.values())
    places: list[tuple[str, bytes]] = []
    for base in (project.app_dir, project.state_dir):
        for f in base.rglob("*"):
            if f.is_file():
                places.append((str(f), f.read_bytes()))
    for f in releases.rglob("*"):  # the host's app dir, except the env files themselves
        if f.is_file() and f.suffix != ".env":
            places.append((str(f), f.read_bytes()))
    for path in (LAB_HOME / ".cockpit" / "edge", LAB_HOME / ".cockpit" / "switch"):
        for f in path.rglob("*"):
            if f.is_file() and f.stat().st_size < 5_000_000 and not f.is_socket():
                places.append((str(f), f.read_bytes()))
    ctx = project.ctx()
    journal = [str(r.steps) for env in ("staging", "prod") for r in ctx.store.runs(env, 100)]
    audit = [str(a) for a in ctx.store.audit_log(None, 1000)]
    places += [("journal", "\n".join(journal).encode()), ("audit", "\n".join(audit).encode()),
               ("output", "\n".join(project.outputs).encode())]
    for where, blob in places:
        for value in values:
            assert value.encode() not in blob, f"secret value found in {where}"
    # and the app really got its secret
    env_text = sorted(env_files, key=os.path.getmtime)[-1].read_text()
    assert env_text.startswith("SECRET_KEY=")
