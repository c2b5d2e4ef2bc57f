"""`cockpit watch install` on the lab VPS: the watcher runs there as a container (restarted by
Docker) and keeps alerting while no cockpit process runs locally. Its only input is a 0600
file on the host; the alert URL is not in the container's configuration."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.alerts.conftest import APP
from tests.alerts.sinks import WebhookSink

pytestmark = pytest.mark.slow


def _no_local_cockpit() -> bool:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return not any("-m cockpit watch" in line and APP not in line and "install" not in line
                   for line in ps.splitlines()) and "cockpit watch staging" not in ps


def test_installed_watcher_alerts_without_cockpit_running(alert_app):
    from tests.vps.conftest import LAB_HOME

    with WebhookSink() as hook:
        out = alert_app.cli("alerts", "add", "staging", "--json", stdin=hook.url + "\n").stdout
        alert_id = json.loads(out.splitlines()[-1])["data"]["id"]
        installed = alert_app.cli("watch", "install", "staging", "--interval", "1", "--json",
                                  "--trust-host", alert_app.lab.ssh_hostkey_sha256,
                                  timeout=900)
        data = json.loads(installed.stdout.splitlines()[-1])["data"]
        name = data["container"]
        try:
            assert data["alerts"] == 1
            config = LAB_HOME / ".cockpit" / "watch" / f"{APP}-staging" / "watch.env"
            assert oct(config.stat().st_mode & 0o777) == "0o600"
            text = config.read_text()
            assert hook.url in text and "COCKPIT_WATCH_URL=https://" in text
            assert "SECRET" not in text  # thresholds, URL and alert URLs only
            inspect = json.loads(subprocess.run(["docker", "inspect", name], check=True,
                                                capture_output=True, text=True).stdout)[0]
            assert hook.url not in json.dumps(inspect["Config"])
            assert inspect["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"

            # nothing of cockpit runs here from now on: only docker and the sink
            assert _no_local_cockpit()
            [container] = alert_app.app_containers()
            subprocess.run(["docker", "stop", "-t", "1", container], check=True,
                           capture_output=True)
            assert hook.wait_for(lambda got: any("DOWN" in m["title"] for m in got), 90), \
                subprocess.run(["docker", "logs", name], capture_output=True, text=True).stdout
            # the container restarted mid-incident: no second "down" for the same incident
            subprocess.run(["docker", "restart", "-t", "1", name], check=True,
                           capture_output=True)
            subprocess.run(["docker", "start", container], check=True, capture_output=True)
            assert hook.wait_for(lambda got: any("RECOVERED" in m["title"] for m in got), 90)
            titles = [m["title"] for m in hook.received]
            assert sum("DOWN" in t for t in titles) == 1, titles
            down = next(m for m in hook.received if "DOWN" in m["title"])
            assert "Last release: " in down["message"] and "serving at install" in \
                down["message"]
        finally:
            alert_app.cli("watch", "uninstall", "staging", "--trust-host",
                          alert_app.lab.ssh_hostkey_sha256, check=False)
            alert_app.cli("alerts", "remove", "staging", alert_id, check=False)
        gone = subprocess.run(["docker", "ps", "-aq", "--filter", f"name={name}"],
                              capture_output=True, text=True).stdout.split()
        assert gone == []
