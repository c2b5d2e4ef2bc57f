"""A Postgres accessory on the lab VPS, with a Flask app that writes rows through its own API.

The first deploy creates the accessory (lab image: bookworm's postgresql-15), its password in
the keyring, the environment's network and volume, runs the release command (the migration)
against it and only then starts the app; rows posted to the app are in its database. Prod gets
its own accessory (another container, volume, network and password): staging's rows are not
there. `cockpit accessories status|logs|restart` work; the password never appears in cockpit's
output or in a container's labels. Backups: see test_backups.py.

Its own app name and ports; everything it creates is removed at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.stateful_lab import delete_keyring_items, docker, forget_ports, remove_app

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(900)]

APP = "accnotes"
PORTS = {"staging": 9510, "prod": 9520}
HERE = Path(__file__).parent
IMAGE = f"{APP}:test"


def toml(lab, extra: str = "") -> str:
    from cockpit.lab.images import image_ref

    envs = "".join(
        "\n" + lab.vps_table(name, port, network="bridge", keep_releases=3, drain_seconds=1.0,
                             stop_timeout=2, gate={"count": 2, "interval": 0.2, "timeout": 5.0,
                                                   "deadline": 40.0})
        for name, port in PORTS.items())
    return f"""[app]
name = "{APP}"
port = 8000
health_path = "/up"
release_command = "python3 /app/migrate.py"
{envs}
[accessories.postgres]
version = "15"
image = "{image_ref('postgres')}"
{extra}
[accessories.cache]
kind = "redis"
version = "7.0"
image = "{image_ref('redis')}"
"""


def remove_all() -> None:
    remove_app(APP, PORTS)


@pytest.fixture(scope="module")
def site(lab, tmp_path_factory):
    """The notes app, set up on staging and prod; the module holds the lab's keyring lock (its
    accessory passwords live there) and deletes them at the end."""
    from cockpit.lab.images import build_args_for
    from tests.conftest import lab_keyring

    root = tmp_path_factory.mktemp(APP)
    app_dir = root / "app"
    app_dir.mkdir()
    for name in ("app.py", "migrate.py", "requirements.txt", "Dockerfile"):
        (app_dir / name).write_text((HERE / "notes_app" / name).read_text())
    (app_dir / "cockpit.toml").write_text(toml(lab))
    state = root / "state"
    state.mkdir()
    env = {**os.environ, **lab.as_env(), "COCKPIT_STATE_DIR": str(state)}
    remove_all()
    build = ["docker", "build", "-q"]
    for k, v in build_args_for(app_dir / "Dockerfile").items():
        build += ["--build-arg", f"{k}={v}"]
    subprocess.run([*build, "-t", IMAGE, str(app_dir)], capture_output=True, text=True,
                   check=True, env={**os.environ, "DOCKER_BUILDKIT": "0"}, timeout=900)
    with lab_keyring(lab) as backend:
        site = {"dir": app_dir, "env": env, "lab": lab, "outputs": [], "backend": backend}
        for name in PORTS:
            proc = cli(site, "setup", name, "--confirm", name, "--trust-host",
                       lab.ssh_hostkey_sha256)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        try:
            yield site
        finally:
            remove_all()
            forget_ports(app_dir, env, APP)
            delete_keyring_items(backend, APP)
            docker("rmi", IMAGE, check=False)


def cli(site, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=site["dir"],
                          env=site["env"], capture_output=True, text=True, timeout=600)
    site["outputs"] += [proc.stdout, proc.stderr]
    return proc


def request(method: str, path: str, port: int, body: str | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Host": "localhost"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def password(site, env: str) -> str:
    return site["backend"].get_password(f"cockpit:{APP}:{env}", "ACCESSORY_POSTGRES_PASSWORD")


def test_first_deploy_creates_the_accessory_runs_the_migration_and_the_app_writes_rows(site):
    proc = cli(site, "deploy", "staging", "--image", IMAGE, "--json")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    order = [e.get("step") for e in events if e.get("type") == "step_finished"]
    seconds = {e["step"]: e.get("seconds") for e in events if e.get("type") == "step_finished"}
    print(f"\nfirst deploy: accessories (already up) {seconds['accessories']} s, release "
          f"command {seconds['release_command']} s")  # numbers for the report (pytest -s)
    # the accessory is healthy before the migration, which runs before the app starts
    assert order.index("accessories") < order.index("release_command") < order.index("start")
    # `cockpit setup` started them already, healthy (a restore could have filled them first)
    detail = next(e["detail"] for e in events
                  if e.get("type") == "step_finished" and e.get("step") == "accessories")
    assert "postgres running" in detail and "cache running" in detail
    assert "schema ready" in proc.stdout
    for text in ("first", "second"):
        assert request("POST", "/notes", PORTS["staging"], text)[0] == 201
    status, body = request("GET", "/notes", PORTS["staging"])
    assert status == 200 and json.loads(body)["notes"] == ["first", "second"]

    name = f"cockpit-{APP}-staging-postgres"
    info = json.loads(docker("inspect", name))[0]
    assert info["State"]["Health"]["Status"] == "healthy"
    assert info["HostConfig"]["PortBindings"] in ({}, None)  # no published port
    assert list(info["NetworkSettings"]["Networks"]) == [f"cockpit-{APP}-staging"]
    assert any(m["Name"] == f"cockpit-{APP}-staging-postgres-data" for m in info["Mounts"])
    pw = password(site, "staging")
    assert pw and len(pw) == 48
    labels = json.dumps(info["Config"]["Labels"])
    assert pw not in labels
    app_ids = docker("ps", "-q", "--filter", f"label=cockpit.app={APP}",
                     "--filter", "label=cockpit.env=staging").split()
    app_info = json.loads(docker("inspect", *app_ids))[0]
    assert f"cockpit-{APP}-staging" in app_info["NetworkSettings"]["Networks"]
    assert pw not in json.dumps(app_info["Config"]["Labels"])
    assert all(pw not in text for text in site["outputs"])


def test_the_redis_accessory_answers_the_url_the_app_gets(site):
    from cockpit.lab.images import image_ref

    app_id = docker("ps", "-q", "--filter", f"label=cockpit.app={APP}",
                    "--filter", "label=cockpit.env=staging").split()[0]
    url = docker("exec", app_id, "printenv", "REDIS_URL")
    assert url.startswith("redis://default:") and url.endswith("@cache:6379/0")
    out = docker("run", "--rm", "--network", f"cockpit-{APP}-staging", image_ref("redis"),
                 "redis-cli", "--no-auth-warning", "-u", url, "ping")
    assert out == "PONG"
    # reachable only on the environment's network: prod's network has no `cache` of staging
    other = subprocess.run(["docker", "run", "--rm", "--network", "bridge", image_ref("redis"),
                            "redis-cli", "--no-auth-warning", "-u", url, "ping"],
                           capture_output=True, text=True, timeout=120)
    assert "PONG" not in other.stdout


def test_a_redeploy_keeps_the_rows(site):
    proc = cli(site, "deploy", "staging", "--image", IMAGE, "--json")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert "postgres running" in proc.stdout  # left alone
    status, body = request("GET", "/notes", PORTS["staging"])
    assert json.loads(body)["notes"] == ["first", "second"]


def test_prod_has_its_own_accessory(site):
    proc = cli(site, "deploy", "prod", "--image", IMAGE, "--confirm", "prod", "--json")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    status, body = request("GET", "/notes", PORTS["prod"])
    assert status == 200 and json.loads(body)["notes"] == []  # staging's rows are not here
    assert request("POST", "/notes", PORTS["prod"], "prod only")[0] == 201
    assert json.loads(request("GET", "/notes", PORTS["staging"])[1])["notes"] == [
        "first", "second"]
    prod = json.loads(docker("inspect", f"cockpit-{APP}-prod-postgres"))[0]
    assert list(prod["NetworkSettings"]["Networks"]) == [f"cockpit-{APP}-prod"]
    assert any(m["Name"] == f"cockpit-{APP}-prod-postgres-data" for m in prod["Mounts"])
    assert password(site, "prod") != password(site, "staging")


def test_accessories_status_logs_and_restart(site):
    proc = cli(site, "accessories", "status", "staging", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])["data"]["accessories"]
    assert [(a["name"], a["state"], a["health"], a["drift"]) for a in result] == [
        ("cache", "running", "healthy", False), ("postgres", "running", "healthy", False)]
    assert [a["env_var"] for a in result] == ["REDIS_URL", "DATABASE_URL"]
    proc = cli(site, "status", "staging", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"accessories": [{"name": "cache", "kind": "redis", "state": "running", ' \
           '"health": "healthy"}' in proc.stdout

    proc = cli(site, "accessories", "logs", "staging", "postgres", "--tail", "20", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = json.loads(proc.stdout.splitlines()[-1])["data"]["lines"]
    assert any("ready to accept connections" in entry["line"] for entry in lines)

    refused = cli(site, "accessories", "restart", "prod", "--json")
    assert refused.returncode == 5, refused.stdout + refused.stderr
    proc = cli(site, "accessories", "restart", "staging", "postgres", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status, body = request("GET", "/notes", PORTS["staging"])  # the app reconnects
    assert status == 200 and json.loads(body)["notes"] == ["first", "second"]

    unknown = cli(site, "accessories", "status", "staging", "redis")
    assert unknown.returncode == 2 and "no accessory 'redis'" in unknown.stderr
    assert all(password(site, "staging") not in text for text in site["outputs"])


def test_a_config_sharing_the_accessory_is_refused(site):
    path = site["dir"] / "cockpit.toml"
    good = path.read_text()
    path.write_text(toml(site["lab"], 'volume = "the-one-db"\n'))
    try:
        proc = cli(site, "deploy", "prod", "--image", IMAGE, "--confirm", "prod")
    finally:
        path.write_text(good)
    assert proc.returncode == 2
    assert "accessories.postgres.volume" in proc.stderr
    assert "shared by environments 'staging' and 'prod'" in proc.stderr


# --------------------------------------------------------------------------- backups


def _result(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_backup_is_verified_by_a_restore_with_the_same_row_counts(site):
    proc = cli(site, "backup", "staging", "postgres", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = _result(proc)["data"]
    print(f"\nbackup: {data['size']} bytes, verified by a scratch restore in "
          f"{data['verify']['seconds']} s")
    assert data["verified"] is True
    assert data["counts"] == {"public.notes": 2, "public.tags": 0}
    assert data["verify"]["counts"] == data["counts"]
    path = Path(data["file"])
    assert path.is_file() and path.stat().st_size == data["size"] > 0
    assert path.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    site["backup"] = data["id"]
    site["backup_file"] = path
    listed = _result(cli(site, "backups", "staging", "postgres", "--json"))["data"]["backups"]
    assert [(b["id"], b["verified"]) for b in listed] == [(data["id"], True)]
    # no scratch instance is left behind
    assert docker("ps", "-aq", "--filter", f"label=cockpit.accessory-scratch={APP}-staging") == ""


def test_a_redis_backup_is_verified_too(site):
    pw = site["backend"].get_password(f"cockpit:{APP}:staging", "ACCESSORY_CACHE_PASSWORD")
    docker("exec", "-e", f"REDISCLI_AUTH={pw}", f"cockpit-{APP}-staging-cache", "redis-cli",
           "--no-auth-warning", "mset", "a", "1", "b", "2")
    proc = cli(site, "backup", "staging", "cache", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = _result(proc)["data"]
    assert data["verified"] is True and data["counts"] == {"db0": 2}
    assert data["verify"]["counts"] == {"db0": 2}
    assert Path(data["file"]).read_bytes()[:5] == b"REDIS"
    # restore it over a changed dataset: the keys of the backup come back, on a fresh volume,
    # and survive a restart (the accessory keeps an append-only file)
    docker("exec", "-e", f"REDISCLI_AUTH={pw}", f"cockpit-{APP}-staging-cache", "redis-cli",
           "--no-auth-warning", "flushall")
    proc = cli(site, "restore", "staging", "cache", "--from", data["id"], "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _result(proc)["data"]["counts"] == {"db0": 2}
    assert cli(site, "accessories", "restart", "staging", "cache").returncode == 0
    got = docker("exec", "-e", f"REDISCLI_AUTH={pw}", f"cockpit-{APP}-staging-cache",
                 "redis-cli", "--no-auth-warning", "mget", "a", "b")
    assert got.split() == ["1", "2"]


def test_backup_delete_the_volume_restore_and_the_rows_are_back(site):
    docker("rm", "-f", f"cockpit-{APP}-staging-postgres")
    docker("volume", "rm", f"cockpit-{APP}-staging-postgres-data")
    assert request("GET", "/up", PORTS["staging"])[0] != 200  # the data is gone
    refused = cli(site, "restore", "prod", "postgres", "--from", str(site["backup_file"]))
    assert refused.returncode == 5  # prod is protected
    import time

    started = time.monotonic()
    proc = cli(site, "restore", "staging", "postgres", "--from", site["backup"], "--json")
    print(f"\nrestore (verify, fresh volume, switch): {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = _result(proc)["data"]
    assert data["counts"] == {"public.notes": 2, "public.tags": 0}
    assert data["volume"].startswith(f"cockpit-{APP}-staging-postgres-data-r")
    status, body = request("GET", "/notes", PORTS["staging"])
    assert status == 200 and json.loads(body)["notes"] == ["first", "second"]
    # a redeploy keeps the restored volume
    proc = cli(site, "deploy", "staging", "--image", IMAGE, "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "postgres running" in proc.stdout
    assert json.loads(request("GET", "/notes", PORTS["staging"])[1])["notes"] == [
        "first", "second"]


def test_a_corrupted_backup_is_reported_as_not_restorable(site, tmp_path):
    broken = tmp_path / "broken.dump"
    data = site["backup_file"].read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    assert request("POST", "/notes", PORTS["staging"], "after the backup")[0] == 201
    proc = cli(site, "restore", "staging", "postgres", "--from", str(broken), "--json")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    error = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    assert "not restorable" in json.dumps(error) or "restorable" in proc.stderr
    assert "nothing was changed" in json.dumps(error) + proc.stderr
    # the live data is untouched
    assert json.loads(request("GET", "/notes", PORTS["staging"])[1])["notes"] == [
        "first", "second", "after the backup"]
    assert all(password(site, "staging") not in text for text in site["outputs"])


# --------------------------------------------------------------------------- S3

MOTO_VENV = Path(os.environ.get("COCKPIT_MOTO_VENV", "/var/tmp/cockpit-moto-venv"))


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """moto's S3-compatible server (`moto_server`), from PyPI into its own venv (cached):
    moto needs botocore, whose python-dateutil pin conflicts with the kubernetes client in
    cockpit's own venv. Yields its endpoint URL; stopped at the end."""
    import socket
    import time

    server = MOTO_VENV / "bin" / "moto_server"
    if not server.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MOTO_VENV)], check=True)
        subprocess.run([str(MOTO_VENV / "bin" / "pip"), "install", "-q",
                        "moto[server]>=5,<6"], check=True, timeout=900)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_backups_go_to_an_s3_bucket_and_restore_from_it(site, s3_server):
    from minio import Minio

    client = Minio(s3_server.removeprefix("http://"), access_key="test-key",
                   secret_key="test-secret-value-9931", secure=False)
    client.make_bucket("cockpit-backups")
    backend = site["backend"]
    service = f"cockpit:{APP}:staging"
    backend.set_password(service, "BACKUP_S3_ACCESS_KEY", "test-key")
    backend.set_password(service, "BACKUP_S3_SECRET_KEY", "test-secret-value-9931")
    path = site["dir"] / "cockpit.toml"
    good = path.read_text()
    path.write_text(good.replace('[accessories.cache]', 'backup_bucket = '
                                 '"s3://cockpit-backups/lab"\nbackup_endpoint = '
                                 f'"{s3_server}"\n\n[accessories.cache]'))
    try:
        proc = cli(site, "backup", "staging", "postgres", "--keep", "1", "--json")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        data = _result(proc)["data"]
        assert data["verified"] and data["remote"].startswith(
            f"s3://cockpit-backups/lab/{APP}/staging/postgres/")
        keys = sorted(o.object_name for o in client.list_objects(
            "cockpit-backups", prefix="lab/", recursive=True))
        assert keys == [f"lab/{APP}/staging/postgres/{data['id']}.dump",
                        f"lab/{APP}/staging/postgres/{data['id']}.json"]
        assert len(data["pruned"]) >= 1  # the earlier local backup is gone (kept: 1)
        # only in the bucket now: listed, and restored from there
        Path(data["file"]).unlink()
        Path(data["file"]).with_suffix(".json").unlink()
        listed = _result(cli(site, "backups", "staging", "postgres", "--json"))["data"]
        assert [(b["id"], b["local"], b["verified"]) for b in listed["backups"]] == [
            (data["id"], False, True)]
        proc = cli(site, "restore", "staging", "postgres", "--from", data["id"], "--json")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert _result(proc)["data"]["counts"]["public.notes"] == 3
        assert Path(data["file"]).is_file()  # fetched into the local folder
        assert all("test-secret-value-9931" not in text for text in site["outputs"])
    finally:
        path.write_text(good)
        for item in ("BACKUP_S3_ACCESS_KEY", "BACKUP_S3_SECRET_KEY"):
            backend.delete_password(service, item)


# --------------------------------------------------------------------------- schedules


def _host_backups(site, name: str) -> list[dict]:
    proc = cli(site, "backups", "staging", name, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [b for b in _result(proc)["data"]["backups"] if b["file"].startswith("/backups/")]


@pytest.mark.parametrize("name", ["postgres", "cache"])
def test_scheduled_backups_run_on_the_host_verified_and_restore(site, name):
    import time

    proc = cli(site, "backup", "schedule", "staging", name, "--every", "2s", "--keep", "2",
               "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scheduler = _result(proc)["data"]["container"]
    try:
        found: list[dict] = []
        listed: list[dict] = []
        for _ in range(60):  # the first one starts at once; each takes a few seconds
            listed = _host_backups(site, name)
            # the one being verified is listed too (unverified, "pending") until its result
            found = [b for b in listed if not b["verify"].get("pending")]
            if len(found) >= 2:
                break
            time.sleep(2)
        assert found, docker("logs", scheduler, check=False)
        assert all(b["verified"] for b in found), found
        assert len(listed) <= 3  # retention: 2 kept (+1 being written at most)
        newest = found[0]
        if name == "postgres":
            assert newest["counts"]["public.notes"] >= 2
            assert newest["verify"]["counts"] == newest["counts"]
        else:
            assert newest["counts"] == {"db0": 2}
        proc = cli(site, "restore", "staging", name, "--from", newest["id"], "--json")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert _result(proc)["data"]["backup"] == newest["id"]
    finally:
        off = cli(site, "backup", "schedule", "staging", name, "--every", "off")
        assert off.returncode == 0, off.stdout + off.stderr
    assert docker("ps", "-aq", "--filter", f"name=^{scheduler}$") == ""


def test_volumes_a_restore_kept_are_listed_and_dropped_only_on_demand(site):
    """After the restores above the accessory runs on a restored volume and the ones before it
    are kept: `accessories volumes` lists them, `drop-volume` removes a kept one only."""
    proc = cli(site, "accessories", "volumes", "staging", "postgres", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = _result(proc)["data"]["volumes"]
    in_use = [v["volume"] for v in found if v["role"] == "in use"]
    kept = [v["volume"] for v in found if v["role"] == "kept"]
    assert len(in_use) == 1 and kept, found
    assert all(v["accessory"] == "postgres" and v["size"] for v in found)
    refused = cli(site, "accessories", "drop-volume", "staging", "postgres", "--volume",
                  in_use[0])
    assert refused.returncode != 0 and "never dropped" in refused.stderr
    other = cli(site, "accessories", "drop-volume", "staging", "postgres", "--volume",
                f"cockpit-{APP}-prod-postgres-data")
    assert other.returncode != 0 and "is not a volume of accessory" in other.stderr
    protected = cli(site, "accessories", "drop-volume", "prod", "postgres", "--volume", "x")
    assert protected.returncode == 5, protected.stdout + protected.stderr
    proc = cli(site, "accessories", "drop-volume", "staging", "postgres", "--volume", kept[0],
               "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert docker("volume", "ls", "-q", "--filter", f"name=^{kept[0]}$") == ""
    assert docker("volume", "ls", "-q", "--filter", f"name=^{in_use[0]}$") == in_use[0]
    assert request("GET", "/up", PORTS["staging"])[0] == 200


def test_a_volume_of_another_postgres_major_is_refused_before_anything_changes(site, tmp_path):
    """A new environment pointed at a volume Postgres 14 wrote (`volume = ...`) while the image
    runs 15: setup refuses (exit 5) naming both majors; no container is created and the data
    is untouched (without the check, a re-created container crash-loops on it)."""
    from cockpit.lab.images import image_ref

    app, vol = "accold", "cockpit-accold-pg14-data"
    lab = site["lab"]
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "cockpit.toml").write_text(f"""[app]
name = "{app}"
port = 8000

{lab.vps_table("staging", 9530, network="bridge")}
[accessories.postgres]
image = "{image_ref('postgres')}"
volume = "{vol}"
""")
    docker("volume", "create", vol)
    state = tmp_path / "state"
    state.mkdir()
    other = {**site, "dir": app_dir, "env": {**site["env"], "COCKPIT_STATE_DIR": str(state)},
             "outputs": []}
    try:
        docker("run", "--rm", "--user", "0", "--entrypoint", "sh", "-v", f"{vol}:/d",
               image_ref("postgres"), "-c", "echo 14 > /d/PG_VERSION")
        proc = cli(other, "setup", "staging", "--trust-host", lab.ssh_hostkey_sha256)
        assert proc.returncode == 5, proc.stdout[-3000:] + proc.stderr[-3000:]
        said = proc.stdout + proc.stderr
        assert "holds Postgres 14 data" in said and "runs Postgres 15" in said, said
        assert "Nothing was changed" in said and "cockpit restore staging postgres" in said
        assert docker("ps", "-aq", "--filter", f"label=cockpit.accessory-app={app}") == ""
        assert docker("run", "--rm", "--entrypoint", "cat", "-v", f"{vol}:/d",
                      image_ref("postgres"), "/d/PG_VERSION") == "14"
    finally:
        remove_app(app, ["staging"])
        docker("volume", "rm", "-f", vol, check=False)
        forget_ports(app_dir, other["env"], app)
        delete_keyring_items(site["backend"], app)


# --------------------------------------------------------------------------- schedule off


def _schedule(site, *extra: str) -> dict:
    proc = cli(site, "backup", "schedule", "staging", "postgres", *extra, "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return _result(proc)["data"]


def test_scheduled_backups_stay_listed_and_restorable_once_the_schedule_is_off(site):
    """The scheduled backups above outlive their scheduler: `backups` lists them and `restore`
    takes one, read from the volume by a one-off container; `backup schedule ENV NAME` shows
    the schedule; a dump without a record is listed unverified with the reason; `--every off`
    right after a start lets the backup in progress finish: it has a verified record."""
    vol = f"cockpit-{APP}-staging-postgres-data-backups"
    scheduler = f"cockpit-{APP}-staging-postgres-backups"
    shown = _schedule(site)
    assert shown["active"] is False and shown["container"] is None, shown
    assert shown["volume"] == vol and shown["count"] >= 1 and shown["last"], shown
    human = cli(site, "backup", "schedule", "staging", "postgres")
    assert human.returncode == 0 and "no backup schedule runs" in human.stdout, human.stdout
    assert f"last backup: {shown['last']['id']}" in human.stdout, human.stdout
    found = _host_backups(site, "postgres")
    assert found and found[0]["id"] == shown["last"]["id"], (found, shown)
    take = next(b for b in found if b["verified"])
    proc = cli(site, "restore", "staging", "postgres", "--from", take["id"], "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _result(proc)["data"]["backup"] == take["id"]
    assert request("GET", "/up", PORTS["staging"])[0] == 200
    assert docker("ps", "-aq", "--filter", f"name=^{scheduler}$") == ""

    # a dump whose record is missing (a scheduler killed while verifying it, before this fix)
    from cockpit.lab.images import image_ref

    docker("run", "--rm", "--user", "0", "--entrypoint", "sh", "--mount",
           f"type=volume,source={vol},target=/b", image_ref("postgres"), "-c",
           f"cp /b/{take['id']}.dump /b/20200101T000000Z.dump")
    orphan = [b for b in _host_backups(site, "postgres") if b["id"] == "20200101T000000Z"]
    assert len(orphan) == 1 and orphan[0]["verified"] is False, orphan
    assert "no record" in orphan[0]["verify"]["error"]
    listed = cli(site, "backups", "staging", "postgres")
    assert "20200101T000000Z" in listed.stdout and "UNVERIFIED (not verified: no record" \
        in listed.stdout, listed.stdout

    started = _schedule(site, "--every", "1h", "--keep", "5")
    assert started["container"] == scheduler and started["every"] == 3600
    shown = _schedule(site)
    assert shown["active"] is True and shown["every"] == 3600 and shown["keep"] == 5, shown
    before = {b["id"] for b in found}
    off = cli(site, "backup", "schedule", "staging", "postgres", "--every", "off")
    assert off.returncode == 0, off.stdout + off.stderr
    now = _host_backups(site, "postgres")
    new = [b for b in now if b["id"] not in before and b["id"] != "20200101T000000Z"]
    assert len(new) == 1 and new[0]["verified"] is True, now  # the first one has its record
    assert new[0]["verify"]["counts"] == new[0]["counts"]
    assert _schedule(site)["active"] is False
    assert docker("ps", "-aq", "--filter", f"name=^{scheduler}$") == ""


# --------------------------------------------------------------------------- before a release


def _journal(site, env: str) -> list[tuple[str, str, str]]:
    """The newest run's journal of `env`: [(step, status, detail)]."""
    import sqlite3

    db = sqlite3.connect(Path(site["env"]["COCKPIT_STATE_DIR"]) / APP / "state.db")
    try:
        run = db.execute("SELECT run_id FROM runs WHERE env=? ORDER BY started_at DESC LIMIT 1",
                         (env,)).fetchone()[0]
        return db.execute("SELECT step, status, detail FROM journal WHERE run_id=? "
                          "ORDER BY seq", (run,)).fetchall()
    finally:
        db.close()


def _steps(proc) -> dict[str, dict]:
    return {e["step"]: e for e in (json.loads(ln) for ln in proc.stdout.splitlines()
                                   if ln.startswith("{")) if e.get("step")}


def test_a_protected_deploy_takes_a_verified_backup_before_the_release_command(site):
    proc = cli(site, "deploy", "prod", "--image", IMAGE, "--confirm", "prod", "--json")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    events = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    done = [(e["step"], e.get("detail", ""), e.get("seconds")) for e in events
            if e.get("type") == "step_finished"]
    order = [step for step, _, _ in done]
    assert order.index("backup_before_release") < order.index("release_command"), order
    detail, seconds = next((d, s) for step, d, s in done if step == "backup_before_release")
    print(f"\nbackup before the release command (prod, 1 row): {seconds} s")  # for the report
    assert detail.startswith("postgres: backup ") and " verified " in detail, detail
    bid = detail.split()[2]
    assert "before the release command: a backup of postgres" in proc.stdout  # in the plan
    listed = _result(cli(site, "backups", "prod", "postgres", "--json"))["data"]["backups"]
    mine = [b for b in listed if b["id"] == bid]
    assert mine and mine[0]["verified"] and mine[0]["counts"]["public.notes"] == 1, listed
    journal = _journal(site, "prod")
    assert ("backup_before_release", "finished", detail) in journal, journal
    site["prod_backup"] = bid

    # staging is not protected: no backup unless asked
    proc = cli(site, "deploy", "staging", "--image", IMAGE, "--json")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert "backup_before_release" not in _steps(proc)
    # --skip-backup: said, and journaled
    proc = cli(site, "deploy", "prod", "--image", IMAGE, "--confirm", "prod", "--skip-backup",
               "--json")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert _steps(proc)["backup_before_release"]["type"] == "step_skipped"
    assert "--skip-backup: no backup of postgres before the release command" in proc.stdout
    assert any(s == "backup_before_release" and st == "skipped" for s, st, _ in
               _journal(site, "prod"))


def test_a_failing_backup_stops_the_deploy_before_the_release_command(site):
    """prod's backups also go to a bucket, but prod has no keys for it: the backup fails, the
    release command never runs and the serving release keeps its rows."""
    path = site["dir"] / "cockpit.toml"
    good = path.read_text()
    path.write_text(good.replace("[accessories.cache]", 'backup_bucket = "s3://nowhere/x"\n'
                                 'backup_endpoint = "http://127.0.0.1:9"\n\n[accessories.cache]'))
    try:
        proc = cli(site, "deploy", "prod", "--image", IMAGE, "--confirm", "prod", "--json")
    finally:
        path.write_text(good)
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-3000:]
    steps = _steps(proc)
    assert steps["backup_before_release"]["type"] == "step_failed"
    assert "release_command" not in steps and "start" not in steps, list(steps)
    error = _result(proc)
    said = json.dumps(error)
    assert "the backup of postgres before the release command failed" in said, said
    assert "BACKUP_S3_ACCESS_KEY" in said and "the release command did not run" in said
    assert json.loads(request("GET", "/notes", PORTS["prod"])[1])["notes"] == ["prod only"]


def test_a_failed_migration_names_the_backup_to_restore_from(site):
    path = site["dir"] / "cockpit.toml"
    good = path.read_text()
    path.write_text(good.replace('release_command = "python3 /app/migrate.py"',
                                 'release_command = "python3 -c \'raise SystemExit(3)\'"'))
    try:
        proc = cli(site, "deploy", "prod", "--image", IMAGE, "--confirm", "prod", "--json")
    finally:
        path.write_text(good)
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-3000:]
    bid = _steps(proc)["backup_before_release"]["detail"].split()[2]
    error = _result(proc)
    hint = error.get("hint") or error.get("data", {}).get("hint") or json.dumps(error)
    assert f"cockpit restore prod postgres --from {bid} --confirm prod" in hint, error
    assert "exited with status 3" in json.dumps(error)
    assert json.loads(request("GET", "/notes", PORTS["prod"])[1])["notes"] == ["prod only"]


def test_backup_before_release_is_validated_like_the_other_keys(site):
    path = site["dir"] / "cockpit.toml"
    good = path.read_text()
    try:
        path.write_text(toml(site["lab"], 'backup_before_release = "yes"\n'))
        proc = cli(site, "backups", "staging", "postgres")
        assert proc.returncode == 2 and "backup_before_release" in proc.stderr, proc.stderr
        assert "true or false" in proc.stderr, proc.stderr
        path.write_text(good + "backup_before_release = true\n")  # on the redis table
        proc = cli(site, "backups", "staging", "postgres")
        assert proc.returncode == 2, proc.stderr
        assert "accessories.cache.backup_before_release" in proc.stderr, proc.stderr
        assert "only a postgres accessory" in proc.stderr, proc.stderr
    finally:
        path.write_text(good)


def test_backups_taken_before_a_release_command_keep_the_newest_verified_ones(site):
    """Eight older backups taken before a release command (one failed), a `cockpit backup`
    one and one named only by a release (before records were marked): after the next
    protected deploy the newest KEEP_BEFORE_RELEASE verified ones of those taken before a
    release command are left, the new one among them; the older ones and the failed one
    older than the 7th go, and the deploy says which; the `cockpit backup` one stays."""
    from cockpit import backups

    first = cli(site, "deploy", "prod", "--image", IMAGE, "--confirm", "prod", "--json")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-3000:]  # has tables
    where = Path(site["env"]["COCKPIT_STATE_DIR"]) / "backups" / APP / "prod" / "postgres"
    where.mkdir(parents=True, exist_ok=True)

    def fake(bid: str, age_days: float, verified: bool = True, before: bool = True) -> None:
        path = where / f"{bid}.dump"
        path.write_bytes(b"PGDMP" + bid.encode())
        backups.Backup(id=bid, app=APP, env="prod", accessory="postgres", kind="postgres",
                       file=str(path), size=path.stat().st_size, sha256="x",
                       created_at=time.time() - age_days * 86400, image="postgres:15",
                       verified=verified, verify={} if verified else {"error": "failed"},
                       before_release=before).save()

    for i in range(8):
        fake(f"old{i}", 30 - i)  # old7 the newest of them
    fake("oldfailed", 29.5, verified=False)  # between old0 and old1: older than the 7th
    fake("manual", 40, before=False)  # `cockpit backup`: only --keep prunes it
    before = {b.id: b for b in backups.listing(APP, "prod", "postgres", where)}
    marked = [b for b in before.values() if b.before_release and b.verified]

    proc = cli(site, "deploy", "prod", "--image", IMAGE, "--confirm", "prod", "--json")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    detail = _steps(proc)["backup_before_release"]["detail"]
    bid = detail.split()[2]
    left = {b.id: b for b in backups.listing(APP, "prod", "postgres", where)}
    kept = [b for b in left.values() if b.before_release and b.verified]
    assert bid in left and left[bid].before_release and left[bid].verified
    assert len(kept) == backups.KEEP_BEFORE_RELEASE, sorted(left)
    gone = sorted(set(before) - set(left))
    # the newest 6 of the older verified ones stay beside the new one; all older ones go
    newest = sorted(marked, key=lambda b: b.created_at, reverse=True)
    assert {b.id for b in newest[:6]} <= set(left), sorted(left)
    assert {b.id for b in newest[6:]} | {"oldfailed"} == set(gone), gone
    assert "manual" in left
    assert f"pruned {len(gone)} older backup(s) taken before a release command" in detail, detail
    assert all(g in detail for g in gone), detail
    for g in gone:
        assert not (where / f"{g}.dump").exists() and not (where / f"{g}.json").exists()
    assert ("backup_before_release", "finished", detail) in _journal(site, "prod")
