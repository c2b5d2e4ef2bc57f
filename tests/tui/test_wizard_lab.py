"""The whole wizard to a first deploy on the lab's VPS, then promote, through the real parts:
sshd "VPS", Docker, Caddy + HAProxy, Pebble, the OS keyring (SecretService)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from helpers import click, error_text, leave_scan, settle, type_into, wait_until
from textual.widgets import Input

from tests.vps.conftest import clean_host

pytestmark = [pytest.mark.anyio, pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
APP = "tuiwiz"
SECRET = "tui-Lab-Secret-4410"


@pytest.fixture
def lab_project(lab, tmp_path: Path, tmp_state: Path, os_keyring):
    """hello-app as a fresh project; the lab VPS without this app; the keyring items the wizard
    stores are removed afterwards (os_keyring)."""
    root = tmp_path / APP
    root.mkdir()
    for name in ("Dockerfile", "app.py", ".dockerignore"):
        if (REPO / "examples" / "hello-app" / name).exists():
            shutil.copy(REPO / "examples" / "hello-app" / name, root / name)
    clean_host(APP)
    yield root
    clean_host(APP)


async def test_wizard_first_deploy_and_promote_on_the_lab_vps(lab, lab_project: Path):
    import time

    from cockpit.screens.app import CockpitApp
    from cockpit.screens.dashboard import DashboardScreen
    from cockpit.screens.widgets.run_panel import RunPanel

    from cockpit.config import load
    from cockpit.probes import http_health
    from cockpit.session import Session

    marks: list[tuple[str, float]] = [("start", time.monotonic())]

    def mark(stage: str) -> None:  # stage timings, printed with -s (the lab is shared: slow days)
        marks.append((stage, time.monotonic()))
        print(f"{stage}: {marks[-1][1] - marks[-2][1]:.1f}s")

    app = CockpitApp(Session(lab_project / "cockpit.toml"), wizard=True, poll_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.query_one("#name", Input).value == APP
        # Ports and a quick gate of our own on the shared lab host.
        for env, port in (("staging", 8510), ("prod", 8610)):
            screen.draft.overrides[env] = {"host_port": port, "drain_seconds": 1.0,
                                           "stop_timeout": 2}
        await leave_scan(pilot)  # scan → provider (vps, prefilled from the lab)
        assert screen.query_one("#vps-host", Input).value == lab.ssh_host
        await click(pilot, "#check")
        await wait_until(pilot, lambda: screen.checks or error_text(app), tries=1200)
        if screen.checked is None:  # e.g. the switch is not running yet: let the wizard set up
            assert "setup" in str(screen.query_one("#preflight").render())
            await click(pilot, "#setup")
            await settle(pilot)  # prod is protected: its name is typed before setup touches it
            await type_into(pilot, "#typed", "prod")
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.checks == 2 or error_text(app), tries=2400)
        assert screen.checked is not None, (error_text(app) or
                                            str(screen.query_one("#preflight").render()))
        mark("preflight")
        await pilot.press("ctrl+n")  # provider → secrets
        await pilot.pause()
        await type_into(pilot, "#secret-names", "SECRET_KEY")
        await pilot.press("enter")
        await settle(pilot)
        for env in ("staging", "prod"):
            await type_into(pilot, f"#secret-{env}-SECRET_KEY", SECRET)
            await pilot.press("enter")
            await settle(pilot)
        await wait_until(pilot, lambda: screen.secret_state.get("prod", {}).get("SECRET_KEY"),
                         tries=400)
        mark("secrets")
        await pilot.press("ctrl+n")  # secrets → domain
        await pilot.pause()
        assert screen.query_one("#domain-staging", Input).value == f"staging.{APP}.test"
        # Fresh names per run (the lab's Pebble and Caddy outlive test runs; so do their certs).
        suffix = uuid.uuid4().hex[:6]
        for env in ("staging", "prod"):
            await type_into(pilot, f"#domain-{env}", f"{env}.{APP}-{suffix}.test")
        await click(pilot, "#domain-check-staging")
        steps = screen.query_one("#domain-steps-staging")
        await wait_until(pilot, lambda: "staging" in screen.domain_status or error_text(app),
                         tries=3600)
        assert not error_text(app), error_text(app)
        status = screen.domain_status["staging"]
        assert status.dns.ok, status.dns.error
        assert status.tls.ok, f"no certificate from the lab's ACME CA: {status.tls.error}"
        assert steps.states()["tls"] == "done"
        mark("domain and certificate")
        await pilot.press("ctrl+n")  # domain → review
        await pilot.pause()
        await click(pilot, "#deploy")
        panel = screen.query_one("#review-run", RunPanel)
        await wait_until(pilot, lambda: panel.worker is not None and not panel.running,
                         tries=6000)
        assert panel.error is None, error_text(app) or panel.error
        mark("deploy staging")
        assert panel.result.status == "healthy"
        config = load(lab_project / "cockpit.toml")
        staging = config.env("staging")
        assert staging.secret_names == ["SECRET_KEY"]
        sample = http_health(f"https://{staging.domain}:{lab.https_port}/up",
                             host_header=staging.domain, verify=lab.acme_issuer_root,
                             connect_to=(lab.ssh_host, lab.https_port))
        assert sample.ok, sample.error
        await pilot.press("ctrl+n")  # review → promote
        await pilot.pause()
        await type_into(pilot, "#typed", "prod")
        await click(pilot, "#promote-go")
        promote = screen.query_one("#promote-run", RunPanel)
        await wait_until(pilot, lambda: promote.worker is not None and not promote.running,
                         tries=6000)
        mark("promote")
        assert promote.error is None, error_text(app) or promote.error
        assert promote.result.digest == panel.result.digest
        await click(pilot, "#finish")
        await settle(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        first = panel.result.id
        await wait_until(pilot, lambda: "healthy" in dashboard.panels["staging"].text("health"),
                         tries=600)
        assert first in dashboard.panels["staging"].text("release")

        # Deploy staging again from the dashboard, then roll back to the first release from
        # the releases screen: the real rollback path on the VPS.
        await pilot.press("1", "d")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        run = app.screen.query_one(RunPanel)
        await wait_until(pilot, lambda: run.worker is not None and not run.running, tries=6000)
        assert run.error is None, error_text(app) or run.error
        second = run.result.id
        assert second != first
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("h")
        releases = app.screen
        await wait_until(pilot, lambda: len(getattr(releases, "releases", [])) >= 2, tries=600)
        assert releases.current.id == second
        index = [r.id for r in releases.releases].index(first)
        for _ in range(index):
            await pilot.press("down")
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        back = app.screen.query_one(RunPanel)
        await wait_until(pilot, lambda: back.worker is not None and not back.running,
                         tries=6000)
        assert back.error is None, error_text(app) or back.error
        from cockpit import pipeline

        assert pipeline.live(app.session.ctx, "staging").current.id == first
        mark("redeploy and rollback")
        assert app.session.audit_log("staging")[0]["command"] == "rollback"

        # The live tail of staging, filtered.
        await pilot.press("l")
        logs = app.screen
        await wait_until(pilot, lambda: len(logs.view.lines) > 0, tries=600)
        await pilot.press("slash", *"GET", "enter")
        await pilot.pause()
        assert all("GET" in r.text.upper() or "GET" in r.source.upper()
                   for r in logs.view.visible_lines)
        files = [p for p in lab_project.rglob("*") if p.is_file()]
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
