"""The Kubernetes backup CronJob's container, run for real on the lab's engine: the lab's Postgres
image (Debian packages) serves a database with rows; the CronJob's container spec (its command,
its env, the password as the Secret would give it) runs once with /backups on a volume, exits
0, and leaves a backup whose record says it restored with the same per-table counts. No
Kubernetes here: only what the CronJob's pod would run."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest

from .test_accessories import site  # noqa: F401 (the fixture)

pytestmark = pytest.mark.timeout(300)
IMAGE = "cockpit-lab/postgres:bookworm"
PASSWORD = "a1" * 24


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def database():
    """A Postgres container with a table of 3 rows on a network of its own: its name."""
    if docker("image", "inspect", IMAGE, check=False).returncode:
        pytest.skip(f"the lab image {IMAGE} is not built")
    tag = uuid.uuid4().hex[:8]
    net, name = f"cockpit-k8sbackup-{tag}", f"cockpit-k8sbackup-pg-{tag}"
    docker("network", "create", net)
    try:
        docker("run", "-d", "--name", name, "--network", net, "-e", "POSTGRES_USER=shop",
               "-e", "POSTGRES_DB=shop", "-e", f"POSTGRES_PASSWORD={PASSWORD}", IMAGE)
        for _ in range(300):
            if docker("exec", name, "pg_isready", "-q", "-h", "127.0.0.1", "-U", "shop",
                      check=False).returncode == 0:
                break
            time.sleep(0.2)
        docker("exec", name, "psql", "-U", "shop", "-d", "shop", "-v", "ON_ERROR_STOP=1", "-c",
               "create table notes (id serial primary key, body text); "
               "insert into notes (body) values ('a'), ('b'), ('c');")
        yield net, name
    finally:
        docker("rm", "-f", name, check=False)
        docker("network", "rm", net, check=False)


def test_the_cronjobs_container_backs_up_and_verifies_once(site, database):  # noqa: F811
    """...and prints its record, which a one-off backup reads from the log; the listing
    Job's container lists it from the read-only claim."""
    from cockpit.providers.kubernetes import backups as k8s

    from cockpit import backups

    net, host = database
    ctx = site(accessories=f'\n[accessories.postgres]\nimage = "{IMAGE}"\n')
    env = ctx.config.env("staging")
    c = k8s.cronjob(env, "postgres", 86400, 3)["spec"]["jobTemplate"]["spec"]["template"][
        "spec"]["containers"][0]
    assert c["image"] == IMAGE
    variables = {e["name"]: e.get("value", PASSWORD) for e in c["env"]}  # Secret → value
    variables["HOST"] = host  # the headless Service's name, here the container's
    volume = f"cockpit-k8sbackup-{uuid.uuid4().hex[:8]}"
    try:
        argv = ["run", "--rm", "--network", net, "-v", f"{volume}:/backups"]
        for k, v in variables.items():
            argv += ["-e", f"{k}={v}"]
        run = docker(*argv, "--entrypoint", c["command"][0], IMAGE, *c["command"][1:],
                     check=False, timeout=240)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "verified" in run.stdout
        # a one-off backup reads its record from the pod's log: the script prints it
        [logged] = backups.parse_records(run.stdout.splitlines(), env, "postgres")
        assert logged.verified and logged.counts == {"public.notes": 3}
        # `cockpit backups` on Kubernetes: the listing Job's container, read-only claim
        lister = k8s.list_job(env, "postgres", "list-x")["spec"]["template"]["spec"][
            "containers"][0]
        listing = docker("run", "--rm", "-v", f"{volume}:/backups:ro", "--entrypoint",
                         lister["command"][0], IMAGE, *lister["command"][1:]).stdout
        assert [b.id for b in backups.parse_records(listing.splitlines(), env, "postgres")] \
            == [logged.id]
        records = docker("run", "--rm", "-v", f"{volume}:/backups", "--entrypoint", "sh", IMAGE,
                         "-c", "cat /backups/*.json").stdout
        [record] = [json.loads(line) for line in records.splitlines() if line.strip()]
        assert record["verified"] is True and record["kind"] == "postgres"
        assert record["counts"] == {"public.notes": 3}
        assert record["verify"]["counts"] == {"public.notes": 3}
        assert PASSWORD not in records
    finally:
        docker("volume", "rm", "-f", volume, check=False)


REDIS = "cockpit-lab/redis:bookworm"


def test_the_redis_cronjobs_container_backs_up_an_rdb_and_verifies_it(site):  # noqa: F811
    from cockpit.providers.kubernetes import backups as k8s

    if docker("image", "inspect", REDIS, check=False).returncode:
        pytest.skip(f"the lab image {REDIS} is not built")
    tag = uuid.uuid4().hex[:8]
    net, host, volume = (f"cockpit-k8sbackup-{tag}", f"cockpit-k8sbackup-redis-{tag}",
                         f"cockpit-k8sbackup-{tag}")
    docker("network", "create", net)
    try:
        docker("run", "-d", "--name", host, "--network", net, REDIS, "redis-server",
               "--requirepass", PASSWORD)
        for _ in range(100):
            ok = docker("exec", "-e", f"REDISCLI_AUTH={PASSWORD}", host, "redis-cli", "set",
                        "greeting", "hello", check=False)
            if ok.returncode == 0 and "OK" in ok.stdout:
                break
            time.sleep(0.2)
        docker("exec", "-e", f"REDISCLI_AUTH={PASSWORD}", host, "redis-cli", "set", "n", "1")
        ctx = site(accessories=f'\n[accessories.redis]\nimage = "{REDIS}"\n')
        c = k8s.cronjob(ctx.config.env("staging"), "redis", 1800, 3)["spec"]["jobTemplate"][
            "spec"]["template"]["spec"]["containers"][0]
        variables = {e["name"]: e.get("value", PASSWORD) for e in c["env"]}
        variables["HOST"] = host
        argv = ["run", "--rm", "--network", net, "-v", f"{volume}:/backups"]
        for k, v in variables.items():
            argv += ["-e", f"{k}={v}"]
        run = docker(*argv, "--entrypoint", c["command"][0], REDIS, *c["command"][1:],
                     check=False, timeout=240)
        assert run.returncode == 0, run.stdout + run.stderr
        records = docker("run", "--rm", "-v", f"{volume}:/backups", "--entrypoint", "sh", REDIS,
                         "-c", "cat /backups/*.json").stdout
        [record] = [json.loads(line) for line in records.splitlines() if line.strip()]
        assert record["verified"] is True and record["file"].endswith(".rdb")
        assert record["counts"] == {"db0": 2} == record["verify"]["counts"]
    finally:
        docker("rm", "-f", host, check=False)
        docker("network", "rm", net, check=False)
        docker("volume", "rm", "-f", volume, check=False)


def test_one_off_backups_prune_only_with_keep_and_only_their_own_kind(site, database):  # noqa: F811
    """The one-off Job's container, run for real: without --keep it prunes nothing; a backup
    before a release command (id ending in -release) prunes only those, keeping the newest
    verified ones; `--keep 1` keeps the newest verified plain backup and leaves the -release
    ones alone."""
    from cockpit.providers.kubernetes import backups as k8s

    from cockpit import backups

    net, host = database
    env = site(accessories=f'\n[accessories.postgres]\nimage = "{IMAGE}"\n'
               ).config.env("staging")
    volume = f"cockpit-k8sbackup-{uuid.uuid4().hex[:8]}"

    def run(keep, before_release=False) -> str:
        c = k8s.backup_job(env, "postgres", keep, "x", before_release=before_release)[
            "spec"]["template"]["spec"]["containers"][0]
        argv = ["run", "--rm", "--network", net, "-v", f"{volume}:/backups"]
        for e in c["env"]:
            value = host if e["name"] == "HOST" else e.get("value", PASSWORD)
            argv += ["-e", f"{e['name']}={value}"]
        done = docker(*argv, "--entrypoint", c["command"][0], IMAGE, *c["command"][1:],
                      check=False, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        [record] = backups.parse_records(done.stdout.splitlines(), env, "postgres")
        assert record.verified
        time.sleep(1.1)  # ids are UTC seconds
        return record.id

    def listed() -> list[str]:
        out = docker("run", "--rm", "-v", f"{volume}:/backups:ro", "--entrypoint", "sh", IMAGE,
                     "-c", backups.LIST_SCRIPT).stdout
        return [b.id for b in backups.parse_records(out.splitlines(), env, "postgres")]

    try:
        plain = [run(None), run(None)]
        assert sorted(listed()) == sorted(plain)  # no --keep: nothing pruned
        first = run(1, before_release=True)
        second = run(1, before_release=True)
        assert first.endswith("-release") and second.endswith("-release")
        assert sorted(listed()) == sorted([*plain, second])  # only the older -release one went
        newest = run(1)
        assert listed() == [newest, second]  # --keep 1: the newest plain one; -release kept
    finally:
        docker("volume", "rm", "-f", volume, check=False)
