"""The release command and a volume on the lab VPS: an app that keeps SQLite on local disk.

The release command creates the schema in the environment's volume only when it is absent; the
app's page reads it. Deploy → the page answers; a row written; deploy again → the row is still
there (a redeploy never wipes data); a failing release command → the deploy fails with exit 1,
the output tail and the exit status, and the previous release keeps serving.

Its own app name, ports and volume, so it never touches another test's containers.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.vps.conftest import clean_host

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(600)]

APP = "relstep"
PORT = 8960  # staging's loopback port on the lab host (+1, +2: its slots)
PROD_PORT = 8970
VOLUME = f"cockpit-{APP}-staging-data"
PROD_VOLUME = f"cockpit-{APP}-prod-data"

APP_PY = '''\
import json, os, sqlite3
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DB = os.path.join(os.environ["DATA_DIR"], "app.db")


class H(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/up":
            return self._send(200, "ok")
        try:
            with sqlite3.connect(DB) as db:
                rows = [r[0] for r in db.execute("SELECT text FROM notes ORDER BY id")]
        except sqlite3.Error as exc:
            return self._send(500, json.dumps({"error": str(exc)}))
        self._send(200, json.dumps({"greeting": os.environ.get("GREETING"), "notes": rows,
                                    "release": os.environ.get("COCKPIT_RELEASE")}))

    def do_POST(self):
        text = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        with sqlite3.connect(DB) as db:
            db.execute("INSERT INTO notes (text) VALUES (?)", (text,))
        self._send(201, "{}")

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), H).serve_forever()
'''

# A schema script that would destroy data if it ran again: it runs only when the schema is absent.
INIT_DB_PY = '''\
import os, sqlite3

db = sqlite3.connect(os.path.join(os.environ["DATA_DIR"], "app.db"))
if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'notes'").fetchone():
    print("schema present: nothing to do")
else:
    db.executescript("DROP TABLE IF EXISTS notes; "
                     "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);")
    print("schema created in", os.environ["DATA_DIR"])
db.commit()
'''

DOCKERFILE = '''\
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
ENV PYTHONUNBUFFERED=1
WORKDIR /app
COPY app.py init_db.py /app/
RUN mkdir -p /data && chown 10001:10001 /data
USER 10001:10001
CMD ["python3", "/app/app.py"]
'''


def _toml(lab, release_command: str) -> str:
    env = ""
    for name, port in (("staging", PORT), ("prod", PROD_PORT)):
        env += lab.vps_table(name, port, keep_releases=3, drain_seconds=1.0, stop_timeout=2,
                             gate={"count": 2, "interval": 0.2, "timeout": 3.0,
                                   "deadline": 20.0}) + "\n"
    return textwrap.dedent(f"""\
        [app]
        name = "{APP}"
        port = 8000
        health_path = "/up"
        release_command = {json.dumps(release_command)}

        [app.env]
        DATA_DIR = "/data"
        GREETING = "from app"

        [app.volumes]
        data = "/data"

        """) + env + '\n[environments.staging.env]\nGREETING = "from staging"\n'


def _remove_volume() -> None:
    subprocess.run(["docker", "volume", "rm", "-f", VOLUME, PROD_VOLUME], capture_output=True)


@pytest.fixture(scope="module")
def site(lab, tmp_path_factory):
    root = tmp_path_factory.mktemp("relstep")
    app_dir = root / "app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(APP_PY)
    (app_dir / "init_db.py").write_text(INIT_DB_PY)
    (app_dir / "Dockerfile").write_text(DOCKERFILE)
    (app_dir / "cockpit.toml").write_text(_toml(lab, "python3 /app/init_db.py"))
    state = root / "state"
    state.mkdir()
    env = {**os.environ, **lab.as_env(), "COCKPIT_STATE_DIR": str(state)}
    clean_host(APP)
    _remove_volume()
    image = subprocess.run(
        ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={lab.base_image}",
         "-t", f"{APP}:test", str(app_dir)], capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]
    for name in ("staging", "prod"):
        proc = subprocess.run([sys.executable, "-m", "cockpit", "setup", name, "--confirm", name,
                               "--trust-host", lab.ssh_hostkey_sha256], cwd=app_dir, env=env,
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    yield {"dir": app_dir, "env": env, "image": image, "lab": lab}
    clean_host(APP)
    _remove_volume()
    subprocess.run(["docker", "rmi", f"{APP}:test"], capture_output=True)


def cli(site, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=site["dir"],
                          env=site["env"], capture_output=True, text=True, timeout=300)


def request(method: str, path: str, body: str | None = None, port: int = PORT
            ) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"Host": "localhost"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def deploy(site) -> subprocess.CompletedProcess:
    return cli(site, "deploy", "staging", "--image", site["image"], "--json")


def test_the_release_command_creates_the_schema_in_the_volume_before_traffic(site):
    proc = deploy(site)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "schema created in /data" in proc.stdout  # its output streamed as log lines
    status, body = request("GET", "/")
    assert status == 200, body
    page = json.loads(body)
    assert page["notes"] == [] and page["greeting"] == "from staging"
    site["first"] = page["release"]
    mounts = subprocess.run(
        ["docker", "ps", "--no-trunc", "--filter", f"label=cockpit.app={APP}", "--format",
         "{{.Mounts}}"], capture_output=True, text=True).stdout
    assert VOLUME in mounts


def test_a_redeploy_keeps_the_data(site):
    assert request("POST", "/notes", "kept across deploys")[0] == 201
    proc = deploy(site)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "schema present: nothing to do" in proc.stdout
    status, body = request("GET", "/")
    page = json.loads(body)
    assert status == 200 and page["notes"] == ["kept across deploys"]
    assert page["release"] != site["first"]
    site["second"] = page["release"]


def test_the_plan_says_volume_release_command_and_one_instance(site):
    proc = cli(site, "deploy", "staging", "--image", site["image"], "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert "release command" in text and VOLUME in text and "one instance" in text


def test_a_failing_release_command_stops_the_deploy_and_the_old_release_serves(site):
    toml = site["dir"] / "cockpit.toml"
    toml.write_text(_toml(site["lab"], "python3 /app/init_db.py && echo 'boom: no such "
                                       "table' >&2 && exit 7"))
    try:
        proc = deploy(site)
    finally:
        toml.write_text(_toml(site["lab"], "python3 /app/init_db.py"))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    error = next(e for e in result if e.get("type") == "error")
    assert "status 7" in json.dumps(error) and "boom: no such table" in json.dumps(error)
    assert error["exit_status"] == 7  # the core's ReleaseCommandFailed, as on every provider
    assert site["second"] in json.dumps(error)  # says which release keeps serving
    status, body = request("GET", "/")
    page = json.loads(body)
    assert status == 200 and page["release"] == site["second"]
    assert page["notes"] == ["kept across deploys"]
    journal = cli(site, "releases", "staging", "--json")
    assert "failed" in journal.stdout


def test_promote_runs_the_release_command_against_prods_own_volume(site):
    proc = cli(site, "promote", "staging", "prod", "--confirm", "prod", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "schema created in /data" in proc.stdout  # prod's volume was empty: its own data
    status, body = request("GET", "/", port=PROD_PORT)
    page = json.loads(body)
    assert status == 200 and page["notes"] == [] and page["greeting"] == "from app"
    assert json.loads(request("GET", "/")[1])["notes"] == ["kept across deploys"]


def test_the_commands_mount_the_volume_and_run_the_release_command_as_the_image_user():
    from cockpit.providers.vps import commands as cmd

    vols = {VOLUME: "/data"}
    argv = cmd.docker_run_release_command(
        name="x-release-r1", image="img@sha256:ab", env_file="/h/r1.env", network="bridge",
        container_port=8000, release="r1", volumes=vols, command="flask init-db", app=APP,
        env="staging")
    assert argv[:3] == ["docker", "run", "--rm"] and "--user" not in argv
    assert argv[-4:] == ["img@sha256:ab", "sh", "-c", "flask init-db"]
    assert ["--env-file", "/h/r1.env"] == argv[argv.index("--env-file"):][:2]
    assert f"type=volume,source={VOLUME},target=/data" in argv
    assert not any(a.startswith("cockpit.app=") for a in argv)  # never taken for a release
    run = cmd.docker_run(name="n", image="i", env_file="/e", labels={}, network="host",
                         slot_port=8961, container_port=8000, release="r1", volumes=vols)
    assert run[run.index("--mount") + 1] == f"type=volume,source={VOLUME},target=/data"
    labels = cmd.labels_for(app=APP, env="staging", release="r1", image="i", digest="d",
                            config_hash="c", secrets_digest="s", slot="blue", created_at=1.0,
                            created_by="me", volumes=vols)
    assert json.loads(labels["cockpit.volumes"]) == vols
