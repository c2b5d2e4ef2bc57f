"""On the lab: the watcher probes the deployed app through its public URL (the edge, TLS from
Pebble); a webhook sink and an SMTP sink receive the alerts. Stopping the app's container
gives one "down" alert after exactly 3 failed probes; starting it gives one "recovered"."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from tests.alerts.sinks import SmtpSink, WebhookSink

pytestmark = pytest.mark.slow


def _events(path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _wait(predicate, sink, timeout: float = 90.0) -> None:
    assert sink.wait_for(predicate, timeout), "the sink received no such alert in time"


def test_alert_urls_live_in_the_keyring_and_never_show(alert_app):
    url = "jsons://ops:Sup3rS3cretT0ken@hooks.example.com/alert/Tok3nInPath99"
    refused = alert_app.cli("alerts", "add", "staging", url, check=False)
    assert refused.returncode == 2 and "stdin" in refused.stderr
    added = json.loads(alert_app.cli("alerts", "add", "staging", "--json",
                                     stdin=url + "\n").stdout.splitlines()[-1])["data"]
    assert added["name"] == "jsons://hooks.example.com" and len(added["digest"]) == 12
    listed = alert_app.cli("alerts", "list", "staging", "--json").stdout
    human = alert_app.cli("alerts", "list", "staging").stdout
    for text in (listed, human, json.dumps(added)):
        assert "Sup3rS3cretT0ken" not in text and "Tok3nInPath99" not in text
    assert [a["id"] for a in json.loads(listed.splitlines()[-1])["data"]["alerts"]] == \
        [added["id"]]
    bad = alert_app.cli("alerts", "add", "staging", stdin="nosuchscheme://x\n", check=False)
    assert bad.returncode == 2 and "Apprise cannot use" in bad.stderr
    alert_app.cli("alerts", "remove", "staging", added["id"])
    assert json.loads(alert_app.cli("alerts", "list", "staging", "--json").stdout
                      .splitlines()[-1])["data"]["alerts"] == []


def test_down_then_recovered_once_each(alert_app, tmp_path):
    with WebhookSink() as hook, SmtpSink() as mail:
        ids = []
        for url in (hook.url, mail.url):
            out = alert_app.cli("alerts", "add", "staging", "--json", stdin=url + "\n").stdout
            ids.append(json.loads(out.splitlines()[-1])["data"]["id"])
        test = json.loads(alert_app.cli("alerts", "test", "staging", "--json").stdout
                          .splitlines()[-1])["data"]
        assert sorted(test["sent"]) == sorted(ids) and test["failed"] == []
        _wait(lambda got: len(got) == 1, hook)
        _wait(lambda got: len(got) == 1, mail)

        log = tmp_path / "watch.ndjson"
        with open(log, "w") as sink_file:
            watcher = subprocess.Popen(
                alert_app.argv("watch", "staging", "--interval", "1", "--json", "--trust-host",
                               alert_app.lab.ssh_hostkey_sha256),
                cwd=alert_app.app_dir, env=alert_app.env(), stdout=sink_file,
                stderr=subprocess.STDOUT)
        try:
            [container] = alert_app.app_containers()
            import time

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(
                    e.get("type") == "health" and e.get("ok") for e in _events(log)):
                time.sleep(0.5)
            assert any(e.get("type") == "health" and e.get("ok") for e in _events(log)), \
                log.read_text()[-2000:]
            subprocess.run(["docker", "stop", "-t", "1", container], check=True,
                           capture_output=True)
            _wait(lambda got: any("DOWN" in m.get("title", "") for m in got), hook)
            _wait(lambda got: any("DOWN" in m["subject"] for m in got), mail)
            subprocess.run(["docker", "start", container], check=True, capture_output=True)
            _wait(lambda got: any("RECOVERED" in m.get("title", "") for m in got), hook)
            _wait(lambda got: any("RECOVERED" in m["subject"] for m in got), mail)
        finally:
            watcher.send_signal(signal.SIGTERM)
            watcher.wait(timeout=30)

        titles = hook.titles()
        assert sum("DOWN" in t for t in titles) == 1, titles
        assert sum("RECOVERED" in t for t in titles) == 1, titles
        assert sum("DOWN" in s for s in mail.subjects()) == 1
        down = next(m for m in hook.received if "DOWN" in m["title"])
        body = down["message"]
        for expected in ("Environment: staging", "What: 3 health probes in a row failed",
                         "Since: ", "Last release: ", "Next: cockpit status staging"):
            assert expected in body, body
        assert down["type"] == "failure"

        # exactly 3 failed probes came between the last good one and the "down" alert
        events = _events(log)
        at = next(i for i, e in enumerate(events)
                  if e.get("type") == "message" and "alert down" in e.get("text", ""))
        before = [e for e in events[:at] if e.get("type") == "health"]
        streak = 0
        for e in reversed(before):
            if e["ok"]:
                break
            streak += 1
        assert streak == 3, [e.get("ok") for e in before[-6:]]

        incidents = json.loads(alert_app.cli("incidents", "staging", "--json").stdout
                               .splitlines()[-1])["data"]
        down_incidents = [i for i in incidents["incidents"] if i["kind"] == "down"]
        assert len(down_incidents) == 1 and down_incidents[0]["resolved_at"]
        assert incidents["open"] == 0
        status = json.loads(alert_app.cli("status", "staging", "--json", "--trust-host",
                                          alert_app.lab.ssh_hostkey_sha256).stdout
                            .splitlines()[-1])["data"]["environments"]["staging"]
        assert status["url"].startswith("https://staging.")
        assert status["health"]["last_sample"]["ok"] is True
        assert 0 < status["health"]["uptime_24h"] < 100 and status["health"]["p95_ms"] > 0
        assert status["incidents"] == []
        for alert_id in ids:
            alert_app.cli("alerts", "remove", "staging", alert_id)
