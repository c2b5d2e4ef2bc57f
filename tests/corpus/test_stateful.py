"""The stateful half on corpus apps nobody here wrote: a Django app and a Flask-Migrate app, each
with a Postgres accessory, taken to the lab as a new user would, through the CLI only.

For each app (tests/corpus/apps/django-postgres, tests/corpus/apps/flask-postgres), copied to a
work folder under its own name (`stateful-django`, `stateful-flask`: not the corpus test's):

  config    `cockpit scan --fix --yes`, `cockpit generate dockerfile|dockerignore`, `cockpit init
            --lab`: cockpit.toml has the release command the scan found (`python manage.py
            migrate`, `flask db upgrade`) and the Postgres accessory; the only edit is a fresh
            domain (Pebble's issuing root changes when the lab restarts); the secrets the app
            reads go into the keyring (`cockpit secrets set`, from stdin); `cockpit setup`.
  release 1 `cockpit deploy staging` builds, starts Postgres, runs the migration before the app
            starts, records the schema head; rows are written through the app's own HTTP API
            (POST /api/notes), read back through GET /api/notes, through the lab's edge.
  release 2 stateful/<app>/release2.diff: a second real migration (a `pinned` column with a
            database default) and code that reads and writes it; deployed under a load loop
            through the edge (tests.vps.conftest.LoadLoop: GET /, which reads the notes) and a
            writer posting notes: 0 failed reads, 0 failed writes.
  rollback  to release 1: exit 5, the migration in between listed; `--accept-schema` rolls back
            and the old code still reads and writes (the column has a database default).
  release 3 stateful/<app>/release3.diff: a migration that fails on the database; the deploy
            stops with its output, release 1 keeps serving.
  backup    `cockpit backup staging postgres` (verified by a scratch restore), the accessory's
            container and volume deleted, `cockpit restore --from` the backup: the rows are back
            (read through the API); a truncated copy of the backup is reported as not
            restorable and nothing changes.
  prod      `cockpit promote staging prod`: prod's Postgres is another container, volume,
            network and password, without staging's rows; a config sharing one volume between
            staging and prod is refused.

Everything created (containers, volumes, networks, images, host port claims, keyring items) is
removed at the end; the keyring is used under tests.conftest.keyring_lock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import tomllib
from pathlib import Path

import pytest

from tests.stateful_lab import (
    CLI,
    delete_keyring_items,
    docker,
    edge_request,
    events,
    forget_ports,
    remove_app,
    remove_images,
    result,
)
from tests.vps.conftest import LoadLoop

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(1800)]

HERE = Path(__file__).resolve().parent
WORK = Path(os.environ.get("COCKPIT_CORPUS_CACHE", "/var/tmp/cockpit-corpus")) / "work"

# what each app is, and what a reviewer expects of it
APPS = {
    "django-postgres": {
        "name": "stateful-django", "release": "manage.py migrate", "table": "public.notes_note",
        "head1": "0001_initial", "head2": "0002_note_pinned",
        "between": "notes.0002_note_pinned",
    },
    "flask-postgres": {
        "name": "stateful-flask", "release": "db upgrade", "table": "public.notes",
        "head1": "513435f7d02e", "head2": "7c1e9a2b4d60", "between": "7c1e9a2b4d60",
    },
}
FIRST = ["first note", "second note", "third note"]


# ids are the app names here, not the corpus folders: `pytest tests/corpus -k django-postgres`
# (one corpus app) does not pick these up
@pytest.fixture(scope="module", params=sorted(APPS),
                ids=[APPS[a]["name"] for a in sorted(APPS)])
def site(request, lab):
    """One corpus app copied to a work folder under its own name, with a CLI for it; holds the
    lab's keyring lock (its Postgres passwords and secrets live there) and removes everything
    the app left at the end."""
    from keyring.backends import SecretService

    from tests.conftest import keyring_lock

    corpus = request.param
    spec = APPS[corpus]
    name = spec["name"]
    WORK.mkdir(parents=True, exist_ok=True)
    # not pytest's tmp_path: another pytest session on the machine prunes old basetemps
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=WORK))
    app_dir = work / name
    shutil.copytree(HERE / "apps" / corpus, app_dir, ignore=shutil.ignore_patterns(
        "corpus.toml", "__pycache__", ".pytest_cache"))
    (work / "state").mkdir()
    cli = CLI(lab, app_dir, work / "state")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = lab.dbus_session_bus_address
    backend = SecretService.Keyring()
    with keyring_lock(lab):
        remove_app(name)  # what an interrupted run may have left
        delete_keyring_items(backend, name)
        site = {"corpus": corpus, "name": name, "dir": app_dir, "cli": cli, "lab": lab,
                "backend": backend, "zone": f"{name}-{os.urandom(3).hex()}.test", "ids": {},
                "started": time.monotonic()}
        try:
            yield site
        finally:
            remove_app(name)
            if (app_dir / "cockpit.toml").is_file():
                forget_ports(app_dir, cli.env, name)
            delete_keyring_items(backend, name)
            remove_images(name)
            shutil.rmtree(work, ignore_errors=True)
            print(f"\n{corpus}: {time.monotonic() - site['started']:.0f} s in all")


def need(site, key: str) -> object:
    if key not in site:
        pytest.fail(f"not reached: an earlier step ({key}) failed", pytrace=False)
    return site[key]


def domain(site, env: str = "staging") -> str:
    return f"{env}.{site['zone']}"


def api(site, method: str, path: str, env: str = "staging", **form: str) -> tuple[int, object]:
    """A request to the app through the lab's edge; the body parsed as JSON when it is."""
    status, body = edge_request(site["lab"], domain(site, env), method, path,
                                form=form if method == "POST" else None)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def notes(site, env: str = "staging") -> list[dict]:
    status, body = api(site, "GET", "/api/notes", env)
    assert status == 200, f"GET /api/notes on {env}: {status} {str(body)[:500]}"
    assert body["count"] == len(body["notes"])
    return body["notes"]


def patch(site, release: int, reverse: bool = False) -> None:
    """Apply (or take back) stateful/<app>/release<N>.diff in the app's folder, as a developer
    commits a change (`git apply`; the work folder is no repository)."""
    diff = HERE / "stateful" / site["corpus"] / f"release{release}.diff"
    argv = ["git", "apply", *(["-R"] if reverse else []), str(diff)]
    proc = subprocess.run(argv, cwd=site["dir"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{' '.join(argv)}: {proc.stderr}"


class Writer:
    """Beside the load loop: POST /api/notes through the edge every `pause` seconds, one at a
    time, until stopped; keeps the texts written (201) and every failure."""

    def __init__(self, site, pause: float = 0.25) -> None:
        self.site, self.pause = site, pause
        self.written: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set() and n < 4000:
            n += 1
            text = f"written under load {n}"
            try:
                status, body = api(self.site, "POST", "/api/notes", text=text)
            except OSError as exc:
                self.failures.append(f"{text}: {type(exc).__name__}: {exc}")
                continue
            if status == 201:
                self.written.append(text)
            else:
                self.failures.append(f"{text}: HTTP {status} {str(body)[:200]}")
            self._stop.wait(self.pause)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def releases(site) -> dict:
    return result(site["cli"].ok("releases", "staging", "--json"))["data"]


def deploy(site, *args: str) -> tuple[object, float]:
    started = time.monotonic()
    proc = site["cli"]("deploy", "staging", "--json", *args)
    return proc, time.monotonic() - started


def head(release: dict, corpus: str, key: str = "schema") -> object:
    """The schema head a release recorded (`key` "schema"; "schema_db": the database's, after
    an accepted rollback onto it): the notes app's last migration (Django records one per
    app), the Alembic revision."""
    recorded = release["meta"][key]["head"]
    return recorded.get("notes") if corpus == "django-postgres" else recorded


def secret_values(site) -> list[str]:
    """The passwords and secrets cockpit keeps for this app (none may appear in output)."""
    from tests.conftest import _cockpit_items

    found = []
    for service, item in _cockpit_items(site["backend"]):
        if service.startswith(f"cockpit:{site['name']}:"):
            value = site["backend"].get_password(service, item)
            if value:
                found.append(value)
    return found


# --------------------------------------------------------------------------- the steps


def test_a_new_user_gets_the_release_command_and_the_postgres_accessory(site):
    cli, name, spec = site["cli"], site["name"], APPS[site["corpus"]]
    proc = cli("scan", "--fix", "--yes", "--json")
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    scanned = result(proc)["data"]
    assert spec["release"] in (scanned["scan"]["release_command"] or "")
    for backup in site["dir"].rglob("*.orig"):  # reviewed: the fix's backups go
        backup.unlink()
    for kind, file in (("dockerfile", "Dockerfile"), ("dockerignore", ".dockerignore")):
        if not (site["dir"] / file).exists():  # the app's own is kept
            cli.ok("generate", kind, "--yes")
    assert (site["dir"] / "Dockerfile").is_file()

    init = result(cli.ok("init", "--lab", "--name", name, "--json"))["data"]
    path = site["dir"] / "cockpit.toml"
    text = path.read_text()
    config = tomllib.loads(text)
    print(f"\n{site['corpus']}: release command {config['app'].get('release_command')!r}, "
          f"accessories {sorted(config.get('accessories', {}))}, host ports {init['host_ports']}")
    assert spec["release"] in config["app"]["release_command"]
    assert config["accessories"]["postgres"]["kind"] == "postgres"
    assert all(config["environments"][e]["network"] == "bridge" for e in ("staging", "prod"))
    assert "DATABASE_URL" not in json.dumps(config.get("secrets", {}))  # cockpit's to set
    # the lab's values as init wrote them; only the domain becomes a fresh one
    for env in ("staging", "prod"):
        assert config["environments"][env]["domain"] == f"{env}.{name}.test"
    path.write_text(text.replace(f".{name}.test", f".{site['zone']}"))
    for env, names in tomllib.loads(path.read_text()).get("secrets", {}).items():
        for secret in names:
            cli.ok("secrets", "set", env, secret, stdin=os.urandom(24).hex())
    for env in ("staging", "prod"):
        cli.ok("setup", env, "--confirm", env, "--trust-host", site["lab"].ssh_hostkey_sha256)
    site["config"] = config


def test_the_first_deploy_runs_the_migration_and_the_app_writes_rows(site):
    need(site, "config")
    spec = APPS[site["corpus"]]
    proc, seconds = deploy(site)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    steps = [e for e in events(proc) if e.get("type") == "step_finished"]
    order = [e.get("step") for e in steps]
    took = {e["step"]: e.get("seconds") for e in steps}
    print(f"\nrelease 1 ({site['corpus']}): {seconds:.0f} s, of which build {took.get('build')} "
          f"s, release command {took.get('release_command')} s")
    # Postgres is healthy before the migration, which runs before the app starts
    assert order.index("accessories") < order.index("release_command") < order.index("start")
    release = result(proc)["data"]["release"]
    assert head(release, site["corpus"]) == spec["head1"], release["meta"]
    site["ids"][1] = release["id"]
    # the host's record keeps it too (what another machine's rollback reads), and no secret
    mine = next(r for r in releases(site)["releases"] if r["id"] == release["id"])
    assert head(mine, site["corpus"]) == spec["head1"]
    assert "postgres://" not in json.dumps(mine) and "PASSWORD" not in json.dumps(mine)
    status, page = api(site, "GET", "/")
    assert status == 200 and "Notes" in page
    ids = []
    for text in FIRST:
        status, body = api(site, "POST", "/api/notes", text=text)
        assert status == 201, body
        ids.append(body["id"])
    assert [(n["id"], n["text"]) for n in notes(site)] == list(zip(ids, FIRST, strict=True))
    site["released"] = 1


def test_release_2_adds_a_migration_under_load_with_no_failed_request(site):
    need(site, "released")
    spec = APPS[site["corpus"]]
    patch(site, 2)
    # reads (GET /, which reads the notes) and writes (old code, then new) through the edge
    # while the migration runs and traffic switches
    with LoadLoop(site["lab"], domain(site), max_seconds=900) as load, Writer(site) as writer:
        proc, seconds = deploy(site)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    print(f"\nrelease 2 ({site['corpus']}): {seconds:.0f} s; load through the edge during the "
          f"deploy: {load.ok} reads ok, {len(load.failures)} failed; {len(writer.written)} "
          f"writes ok, {len(writer.failures)} failed")
    assert load.failures == [] and load.ok > 0, load.failures[:10]
    assert writer.failures == [] and writer.written, writer.failures[:10]
    site["texts"] = [*FIRST, *writer.written]
    release = result(proc)["data"]["release"]
    assert head(release, site["corpus"]) == spec["head2"], release["meta"]
    site["ids"][2] = release["id"]
    # the new code uses the new column; the rows from before got its database default
    status, body = api(site, "POST", "/api/notes", text="pinned note", pinned="1")
    assert status == 201, body
    got = notes(site)
    assert [(n["text"], n["pinned"]) for n in got] == [
        *((t, False) for t in site["texts"]), ("pinned note", True)]
    site["texts"].append("pinned note")
    site["released"] = 2


def test_rollback_to_release_1_lists_the_migration_and_refuses(site):
    need(site, "released")
    assert site["released"] == 2, "release 2 did not deploy"
    spec = APPS[site["corpus"]]
    r1, r2 = site["ids"][1], site["ids"][2]
    proc = site["cli"]("rollback", "staging", "--to", r1, "--json")
    assert proc.returncode == 5, proc.stdout[-3000:] + proc.stderr[-3000:]
    said = proc.stdout + proc.stderr
    print(f"\nrollback refused: {json.dumps(result(proc))[:600]}")
    assert spec["between"] in said and "--accept-schema" in said
    assert "migration(s) applied since release" in said  # the plan's note, before the refusal
    assert releases(site)["current"] == r2  # nothing changed
    assert [n["text"] for n in notes(site)] == site["texts"]


def test_rollback_with_accept_schema_rolls_back_and_the_old_code_serves(site):
    need(site, "released")
    r1 = site["ids"][1]
    spec = APPS[site["corpus"]]
    proc = site["cli"]("rollback", "staging", "--to", r1, "--accept-schema", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = releases(site)
    assert data["current"] == r1
    mine = next(r for r in data["releases"] if r["id"] == r1)
    assert head(mine, site["corpus"]) == spec["head1"]  # its own record is kept
    assert head(mine, site["corpus"], "schema_db") == spec["head2"]  # the database's moved on
    # so going back to release 2 is onto its own schema: no --accept-schema needed
    proc = site["cli"]("rollback", "staging", "--to", site["ids"][2], "--dry-run", "--json")
    assert proc.returncode == 0 and "schema: unchanged" in proc.stdout, proc.stdout[-2000:]
    # release 1's code on release 2's schema: it reads, and it writes (the database default)
    status, body = api(site, "POST", "/api/notes", text="after the rollback")
    assert status == 201, body
    got = notes(site)
    site["texts"].append("after the rollback")
    assert [n["text"] for n in got] == site["texts"]
    assert all("pinned" not in n for n in got)  # the old code does not know the column
    site["rolled_back"] = True


def test_a_failing_migration_stops_the_deploy_and_the_old_release_keeps_serving(site):
    need(site, "rolled_back")
    r1 = site["ids"][1]
    patch(site, 3)
    try:
        proc, seconds = deploy(site)
    finally:
        patch(site, 3, reverse=True)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"\nrelease 3 ({site['corpus']}): stopped after {seconds:.0f} s")
    assert "no_such_function" in proc.stdout + proc.stderr
    assert f"release {r1} keeps serving" in proc.stdout + proc.stderr
    assert releases(site)["current"] == r1
    assert [n["text"] for n in notes(site)] == site["texts"]
    status, page = api(site, "GET", "/")
    assert status == 200 and "Notes" in page


def test_backup_delete_the_volume_restore_and_the_rows_are_back(site):
    need(site, "rolled_back")
    cli, name, spec = site["cli"], site["name"], APPS[site["corpus"]]
    before = notes(site)
    proc = cli.ok("backup", "staging", "postgres", "--json")
    data = result(proc)["data"]
    print(f"\nbackup ({site['corpus']}): {data['size']} bytes, verified by a scratch restore "
          f"in {data['verify']['seconds']} s; counts {data['counts']}")
    assert data["verified"] is True
    assert data["counts"][spec["table"]] == len(before)
    assert data["verify"]["counts"] == data["counts"]
    site["backup"], site["backup_file"] = data["id"], Path(data["file"])

    container = f"cockpit-{name}-staging-postgres"
    info = json.loads(docker("inspect", container))[0]
    volume = next(m["Name"] for m in info["Mounts"] if m.get("Type") == "volume")
    docker("rm", "-f", container)
    docker("volume", "rm", volume)
    status, _ = api(site, "GET", "/api/notes")
    assert status != 200  # the database is gone
    started = time.monotonic()
    proc = cli.ok("restore", "staging", "postgres", "--from", data["id"], "--json")
    restored = result(proc)["data"]
    print(f"restore (verify, fresh volume, switch): {time.monotonic() - started:.0f} s")
    assert restored["counts"][spec["table"]] == len(before)
    for _ in range(30):  # the app's next connection reaches the new container
        status, _ = api(site, "GET", "/api/notes")
        if status == 200:
            break
        time.sleep(1)
    assert notes(site) == before


def test_a_corrupted_backup_is_reported_as_not_restorable(site):
    need(site, "backup_file")
    before = notes(site)
    broken = site["backup_file"].with_name("broken.dump")
    data = site["backup_file"].read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    proc = site["cli"]("restore", "staging", "postgres", "--from", str(broken), "--json")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    said = json.dumps(result(proc)) + proc.stderr
    assert "not restorable" in said and "nothing was changed" in said, said[-2000:]
    assert notes(site) == before  # the live data is untouched


def test_prod_has_its_own_postgres_and_a_shared_one_is_refused(site):
    need(site, "rolled_back")
    cli, name = site["cli"], site["name"]
    staging = notes(site)
    cli.ok("promote", "staging", "prod", "--confirm", "prod", "--json")
    assert notes(site, "prod") == []  # staging's rows are not in prod's database
    status, body = api(site, "POST", "/api/notes", "prod", text="prod only")
    assert status == 201, body
    assert [n["text"] for n in notes(site, "prod")] == ["prod only"]
    assert notes(site) == staging
    mounts = {}
    for env in ("staging", "prod"):
        info = json.loads(docker("inspect", f"cockpit-{name}-{env}-postgres"))[0]
        assert list(info["NetworkSettings"]["Networks"]) == [f"cockpit-{name}-{env}"]
        assert info["HostConfig"]["PortBindings"] in ({}, None)  # no published port
        mounts[env] = {m["Name"] for m in info["Mounts"] if m.get("Type") == "volume"}
    assert mounts["staging"] and mounts["prod"] and not mounts["staging"] & mounts["prod"]
    service = f"cockpit:{name}:" + "{}"
    pw = {e: site["backend"].get_password(service.format(e), "ACCESSORY_POSTGRES_PASSWORD")
          for e in ("staging", "prod")}
    assert pw["staging"] and pw["prod"] and pw["staging"] != pw["prod"]

    path = site["dir"] / "cockpit.toml"
    good = path.read_text()
    path.write_text(good.replace('kind = "postgres"\n',
                                 'kind = "postgres"\nvolume = "the-one-db"\n', 1))
    try:
        proc = cli("deploy", "prod", "--confirm", "prod")
    finally:
        path.write_text(good)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "accessories.postgres.volume" in proc.stderr
    assert "shared by environments 'staging' and 'prod'" in proc.stderr
    secrets = secret_values(site)
    assert secrets and all(s not in out for s in secrets for out in cli.outputs)
