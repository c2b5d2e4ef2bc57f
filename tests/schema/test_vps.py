"""Rollback knows the schema, on the lab VPS with a real Postgres accessory and Alembic.

Release 1 (tests/schema/alembic_app) deploys, its release command `alembic upgrade head`
creates the notes table and the release records its schema head (`alembic current` run like the
release command: a one-off container of the image with the environment's secrets and network),
in cockpit's store and in its record on the host. Release 2 adds a migration and is deployed
under a load loop through the edge with 0 failed requests. `cockpit rollback --to` release 1
lists the migration in between and exits 5; with `--accept-schema` it rolls back. A release
whose migration fails stops its deploy and the serving release keeps serving (the same for a
SQLite app: tests/vps/test_release_step.py::
test_a_failing_release_command_stops_the_deploy_and_the_old_release_serves).

Its own app name, ports and domain; everything it creates is removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.stateful_lab import CLI, delete_keyring_items, docker, forget_ports, remove_app, result
from tests.vps.conftest import LoadLoop

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(1200)]

APP = "schemalab"
PORT = 9610  # staging's loopback port on the lab host (+1, +2: its slots)
ZONE = f"{APP}-{os.urandom(3).hex()}.test"
DOMAIN = f"staging.{ZONE}"
HERE = Path(__file__).parent / "alembic_app"
V1, V2 = "a1b2c3d4e5f6", "b2c3d4e5f6a7"


def toml(lab) -> str:
    from cockpit.lab.images import image_ref

    table = lab.vps_table("staging", PORT, network="bridge", domain=DOMAIN, keep_releases=3,
                          drain_seconds=2.0, stop_timeout=3,
                          gate={"count": 2, "interval": 0.2, "timeout": 5.0, "deadline": 60.0})
    return f"""[app]
name = "{APP}"
port = 8000
health_path = "/up"
release_command = "alembic upgrade head"

{table}
[accessories.postgres]
version = "15"
image = "{image_ref('postgres')}"
"""


def build(lab, root: Path, version: int) -> str:
    """Image v1 (the notes table), v2 (+ a pinned column), v3 (+ a migration that fails)."""
    from cockpit.lab.images import build_args_for

    src = root / f"v{version}"
    shutil.copytree(HERE, src, ignore=shutil.ignore_patterns("later", "__pycache__"))
    later = sorted((HERE / "later").glob("*.py"))[:version - 1]
    for f in later:
        shutil.copy(f, src / "migrations" / "versions" / f.name)
    tag = f"{APP}:v{version}"
    argv = ["docker", "build", "-q", "-t", tag]
    for k, v in build_args_for(src / "Dockerfile").items():
        argv += ["--build-arg", f"{k}={v}"]
    subprocess.run([*argv, str(src)], capture_output=True, text=True, check=True, timeout=900,
                   env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return tag


@pytest.fixture(scope="module")
def site(lab, tmp_path_factory):
    """The app set up on staging with its Postgres accessory; holds the lab's keyring lock (the
    accessory's password lives there) and removes everything at the end."""
    from keyring.backends import SecretService

    from tests.conftest import keyring_lock

    root = tmp_path_factory.mktemp(APP)
    app_dir = root / "app"
    app_dir.mkdir()
    (app_dir / "cockpit.toml").write_text(toml(lab))
    state = root / "state"
    state.mkdir()
    cli = CLI(lab, app_dir, state, COCKPIT_WATCH_SECONDS="0")
    remove_app(APP, ["staging"])
    images = {n: build(lab, root, n) for n in (1, 2, 3)}
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = lab.dbus_session_bus_address
    backend = SecretService.Keyring()
    with keyring_lock(lab):
        site = {"cli": cli, "lab": lab, "images": images, "ids": {}}
        try:
            cli.ok("setup", "staging", "--trust-host", lab.ssh_hostkey_sha256)
            yield site
        finally:
            remove_app(APP, ["staging"])
            forget_ports(cli.dir, cli.env, APP)
            delete_keyring_items(backend, APP)
            for tag in images.values():
                docker("rmi", tag, check=False)


def cli(site, *args: str) -> subprocess.CompletedProcess:
    return site["cli"](*args)


def releases(site) -> dict:
    proc = cli(site, "releases", "staging", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return result(proc)["data"]


def test_release_1_deploys_and_records_its_schema_head(site):
    proc = cli(site, "deploy", "staging", "--image", site["images"][1], "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    release = result(proc)["data"]["release"]
    site["ids"][1] = release["id"]
    assert release["meta"]["schema"]["tool"] == "alembic"
    assert release["meta"]["schema"]["head"] == V1
    # the host's record keeps it too: what another machine's rollback reads (live state)
    data = releases(site)
    mine = next(r for r in data["releases"] if r["id"] == release["id"])
    assert mine["meta"]["schema"]["head"] == V1
    assert "PASSWORD" not in json.dumps(mine) and "postgres://" not in json.dumps(mine)


def test_release_2_adds_a_migration_under_load_with_no_failed_request(site):
    with LoadLoop(site["lab"], DOMAIN, max_seconds=600) as load:
        proc = cli(site, "deploy", "staging", "--image", site["images"][2], "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    release = result(proc)["data"]["release"]
    site["ids"][2] = release["id"]
    assert release["meta"]["schema"]["head"] == V2
    assert release["meta"]["schema"]["applied"] == [V1, V2]
    said = [ln for ln in proc.stdout.splitlines() if "schema head of release" in ln]
    print(f"\n{json.loads(said[0]).get('text') if said else 'no schema message'}")
    print(f"load through the edge during the deploy: {load.ok} ok, "
          f"{len(load.failures)} failed, by release {load.releases}")
    assert load.failures == [] and load.ok > 0
    assert set(load.releases) <= {site["ids"][1], release["id"]}


def test_rollback_to_release_1_warns_about_the_schema_and_exits_5(site):
    r1, r2 = site["ids"][1], site["ids"][2]
    proc = cli(site, "rollback", "staging", "--to", r1, "--json")
    assert proc.returncode == 5, proc.stdout[-3000:] + proc.stderr[-3000:]
    error = result(proc)
    text = json.dumps(error)
    assert V2 in text and "add pinned to notes" in text and "--accept-schema" in text
    notes = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert any("migration(s) applied since release" in json.dumps(n) for n in notes)
    assert releases(site)["current"] == r2  # nothing changed
    # without --json: the plan's notes and the refusal in words
    proc = cli(site, "rollback", "staging", "--to", r1)
    assert proc.returncode == 5 and V2 in proc.stdout + proc.stderr


def test_rollback_with_accept_schema_rolls_back(site):
    r1 = site["ids"][1]
    proc = cli(site, "rollback", "staging", "--to", r1, "--accept-schema", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert result(proc)["data"]["release"]["id"] == r1
    data = releases(site)
    assert data["current"] == r1
    mine = next(r for r in data["releases"] if r["id"] == r1)
    assert mine["meta"]["schema"]["head"] == V1  # the rollback kept its record on the host
    assert mine["meta"]["schema_db"]["head"] == V2  # and the database stays at release 2's
    # so going back to release 2 is onto its own schema: no --accept-schema needed
    proc = cli(site, "rollback", "staging", "--to", site["ids"][2], "--dry-run", "--json")
    assert proc.returncode == 0 and "schema: unchanged" in proc.stdout, proc.stdout[-2000:]


def test_a_failing_migration_stops_the_deploy_and_the_old_release_keeps_serving(site):
    r1 = site["ids"][1]
    proc = cli(site, "deploy", "staging", "--image", site["images"][3], "--json")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "no_such_function" in proc.stdout and f"release {r1} keeps serving" in proc.stdout
    assert releases(site)["current"] == r1
