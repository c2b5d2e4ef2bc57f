"""The alerts and watch commands without the lab: start-up imports, the systemd unit, the
watcher container's input file and build context, argument errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile

TOML = """\
[app]
name = "hello"
port = 8000
health_path = "/up"

[environments.staging]
provider = "vps"
host = "127.0.0.1"
https_port = 8443
domain = "staging.hello.test"

[environments.prod]
provider = "vps"
host = "203.0.113.10"
domain = "hello.test"
"""


def cockpit(tmp_path, *args, stdin=None):  # noqa: ANN001
    return subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=tmp_path, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_cli_start_up_imports_no_apprise(tmp_path):
    code = ("import cockpit.cli, cockpit.watcher, cockpit.alerts; cockpit.cli.build_parser(); "
            "import sys; print('apprise' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_print_unit(tmp_path):
    (tmp_path / "cockpit.toml").write_text(TOML)
    out = cockpit(tmp_path, "watch", "prod", "--print-unit", "--interval", "15")
    assert out.returncode == 0, out.stderr
    unit = out.stdout
    assert "[Service]" in unit and "Restart=always" in unit and "WantedBy=default.target" in unit
    exec_line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert " -m cockpit watch prod --config " in exec_line and "--interval 15" in exec_line
    data = json.loads(cockpit(tmp_path, "watch", "--print-unit", "--json").stdout
                      .splitlines()[-1])["data"]
    assert data["name"] == "cockpit-watch-hello.service" and "staging prod" in data["unit"]


def test_bad_arguments_exit_2(tmp_path):
    (tmp_path / "cockpit.toml").write_text(TOML)
    assert cockpit(tmp_path, "watch", "--interval", "0").returncode == 2
    bad = cockpit(tmp_path, "watch", "prod", "--tls-days", "x", "--rounds", "1")
    assert bad.returncode == 2 and "tls" in bad.stderr.lower()
    assert cockpit(tmp_path, "watch", "install").returncode == 2
    argv_url = cockpit(tmp_path, "alerts", "add", "prod", "json://h.example.com/x")
    assert argv_url.returncode == 2 and "stdin" in argv_url.stderr
    assert "json://h.example.com/x" not in argv_url.stderr


def test_incidents_lists_what_the_store_holds(tmp_path, tmp_state):
    from cockpit.state import Store

    (tmp_path / "cockpit.toml").write_text(TOML)
    store = Store.open("hello")
    first = store.open_incident("prod", "down", "3 health probes in a row failed", at=1000.0)
    store.update_incident(first, alerted_at=1000.0, resolved_at=1600.0)
    store.open_incident("prod", "tls", "the TLS certificate expires in 14 days", at=2000.0)
    store.close()
    out = cockpit(tmp_path, "incidents", "prod", "--json")
    data = json.loads(out.stdout.splitlines()[-1])["data"]
    assert data["open"] == 1 and [i["kind"] for i in data["incidents"]] == ["tls", "down"]
    human = cockpit(tmp_path, "incidents", "prod").stdout
    assert "OPEN" in human and "resolved" in human and "expires in 14 days" in human


def test_watcher_container_input_and_context(tmp_path):
    from cockpit import config
    from cockpit.cli.watch import DOCKERFILE, build_context, env_file_text, target_for
    from cockpit.watcher import Thresholds, read_env_file

    (tmp_path / "cockpit.toml").write_text(TOML)
    cfg = config.load(tmp_path / "cockpit.toml")
    lab = target_for(cfg, cfg.env("staging"))
    assert lab.connect_to == ("127.0.0.1", 8443)  # a loopback host: dial the edge there
    real = target_for(cfg, cfg.env("prod"))
    assert real.connect_to is None and real.health_url == "https://hello.test/up"
    text = env_file_text(real, Thresholds(down_after=4), {"a1": "json://h.example.com/x"}, 20,
                         ("r1", "sha256:ab"), None)
    path = tmp_path / "watch.env"
    path.write_text(text)
    env = read_env_file(path)
    assert env["COCKPIT_WATCH_URL"] == "https://hello.test/up"
    assert env["COCKPIT_WATCH_ALERT_1"] == "json://h.example.com/x"
    assert Thresholds.from_env(env).down_after == 4 and env["COCKPIT_WATCH_INTERVAL"] == "20"
    with tarfile.open(fileobj=io.BytesIO(build_context(DOCKERFILE.format(apprise="9.9"))))as tar:
        names = set(tar.getnames())
    assert {"Dockerfile", "cockpit/watcher.py", "cockpit/alerts.py", "cockpit/state.py"} <= names
    assert not any(n.startswith("cockpit/cli") or n.endswith("secrets.py") for n in names)
