"""The local side of backups, without the lab: records, listing, lookup and retention."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit import backups
from cockpit.errors import UsageError


def _make(base: Path, bid: str, created: float, verified: bool = True,
          before_release: bool = False) -> backups.Backup:
    path = base / f"{bid}.dump"
    path.write_bytes(b"PGDMP" + bid.encode())
    b = backups.Backup(id=bid, app="a", env="staging", accessory="postgres", kind="postgres",
                       file=str(path), size=path.stat().st_size, sha256="x",
                       created_at=created, image="postgres:16", counts={"public.t": 1},
                       verified=verified, verify={} if verified else {"error": "not restorable"},
                       before_release=before_release)
    b.save()
    return b


def test_listing_is_newest_first_and_find_takes_an_id_or_a_path(tmp_path):
    _make(tmp_path, "b1", 100.0)
    _make(tmp_path, "b2", 200.0, verified=False)
    found = backups.listing("a", "staging", "postgres", tmp_path)
    assert [(b.id, b.verified) for b in found] == [("b2", False), ("b1", True)]
    assert backups.find("a", "staging", "postgres", "b1", tmp_path).counts == {"public.t": 1}
    assert backups.find("a", "staging", "postgres", str(tmp_path / "b2.dump"), tmp_path).id == "b2"
    with pytest.raises(UsageError, match="no backup 'b9'"):
        backups.find("a", "staging", "postgres", "b9", tmp_path)


def test_retention_keeps_the_newest_verified_ones(tmp_path):
    for i in range(5):
        _make(tmp_path, f"b{i}", float(i), verified=i != 3)
    removed = backups.prune("a", "staging", "postgres", 2, tmp_path)
    assert removed == ["b1", "b0"]  # kept: b4 (verified), b3 (failed, newer), b2 (verified)
    left = [b.id for b in backups.listing("a", "staging", "postgres", tmp_path)]
    assert left == ["b4", "b3", "b2"]
    assert not (tmp_path / "b0.dump").exists() and not (tmp_path / "b0.json").exists()


def test_retention_of_backups_taken_before_a_release_command_leaves_the_others(tmp_path):
    _make(tmp_path, "manual-old", 1.0)
    for i in range(2, 7):  # r2..r6; r3 failed
        _make(tmp_path, f"r{i}", float(i), verified=i != 3, before_release=True)
    _make(tmp_path, "manual-new", 7.0)
    _make(tmp_path, "r8", 8.0, verified=False, before_release=True)  # failed, newest of all
    _make(tmp_path, "legacy", 0.5)  # taken before a release command, before the mark existed
    removed = backups.prune("a", "staging", "postgres", 2, tmp_path,
                            only=lambda b: b.before_release or b.id == "legacy")
    # kept: r8 (failed, newer than the 2nd verified), r6, r5; the manual ones are not touched
    assert removed == ["r4", "r3", "r2", "legacy"]
    left = [b.id for b in backups.listing("a", "staging", "postgres", tmp_path)]
    assert left == ["r8", "manual-new", "r6", "r5", "manual-old"]
    # a spared id is never removed and counts as kept, wherever its timestamp puts it
    assert backups.prune("a", "staging", "postgres", 1, tmp_path, spare=("r5",),
                         only=lambda b: b.before_release) == []
    assert backups.prune("a", "staging", "postgres", 1, tmp_path,
                         only=lambda b: b.before_release) == ["r5"]


def test_counts_are_compared_between_the_two_source_counts():
    assert backups._compare({"t": 2}, {"t": 2}, {"t": 2}) == ""
    assert backups._compare({"t": 2}, {"t": 4}, {"t": 3}) == ""  # written during the dump
    assert "1 rows restored, the source had 2" in backups._compare({"t": 2}, {"t": 2}, {"t": 1})
    assert "missing u" in backups._compare({"t": 1, "u": 1}, {"t": 1, "u": 1}, {"t": 1})
    assert backups._parse_counts("redis", "# Keyspace\ndb0:keys=2,expires=0,avg_ttl=0\n") == {
        "db0": 2}
    assert backups._parse_counts("postgres", "public.notes 2\npublic.tags 0\n") == {
        "public.notes": 2, "public.tags": 0}


def test_schedule_periods():
    assert [backups.parse_every(t) for t in ("24h", "30m", "90s", "1d", "2")] == [
        86400, 1800, 90, 86400, 2]
    for bad in ("", "0s", "soon", "5w"):
        with pytest.raises(UsageError, match="--every"):
            backups.parse_every(bad)


def test_the_scheduler_scripts_are_valid_shell():
    import subprocess

    for script in (backups.PG_SCHEDULE, backups.REDIS_SCHEDULE, backups._START):
        proc = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_the_scripts_reading_the_backups_volume_are_valid_shell():
    import subprocess

    for script in (backups._IN_VOLUME, backups._LIST):
        proc = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def _config(postgres: str = "", release: str = 'release_command = "alembic upgrade head"'):
    from cockpit.config import loads

    return loads(f"""[app]
name = "shop"
port = 8000
{release}

[environments.staging]
provider = "vps"
host = "203.0.113.10"
host_port = 8101

[environments.prod]
provider = "vps"
host = "203.0.113.10"
host_port = 8201

[accessories.postgres]
{postgres}
[accessories.redis]
""")


def test_which_accessories_are_backed_up_before_the_release_command():
    cfg = _config()
    assert cfg.env("prod").protected and not cfg.env("staging").protected
    assert backups.before_release_targets(cfg.env("prod")) == ["postgres"]  # never redis
    assert backups.before_release_targets(cfg.env("staging")) == []
    cfg = _config("backup_before_release = true\n")
    assert backups.before_release_targets(cfg.env("staging")) == ["postgres"]
    cfg = _config("backup_before_release = false\n")
    assert backups.before_release_targets(cfg.env("prod")) == []
    cfg = _config(release="")  # no release command: nothing migrates
    assert backups.before_release_targets(cfg.env("prod")) == []


def test_the_plan_says_the_backup_before_the_release_command():
    from types import SimpleNamespace

    from cockpit.provider import Options

    prod = _config().env("prod")
    note = backups.plan_note(SimpleNamespace(options=Options()), prod)
    assert note and note.startswith("before the release command: a backup of postgres")
    skipped = backups.plan_note(SimpleNamespace(options=Options(skip_backup=True)), prod)
    assert skipped == "--skip-backup: no backup of postgres before the release command"
    assert backups.plan_note(SimpleNamespace(options=Options()), _config().env("staging")) is None


def test_after_a_backup_before_the_release_command_the_older_ones_are_pruned(tmp_path,
                                                                             monkeypatch):
    """The retention step of the backup before the release command, on a real state store:
    a backup taken before the mark existed counts when a release names it; a `cockpit backup`
    one is left alone; what went is said, and nothing is said when nothing went."""
    from types import SimpleNamespace

    from cockpit.models import Release
    from cockpit.state import Store

    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path))
    prod = _config().env("prod")
    where = backups.folder("shop", "prod", "postgres")
    where.mkdir(parents=True)

    def make(bid: str, created: float, **kw) -> backups.Backup:
        b = _make(where, bid, created, **kw)
        b.app, b.env = "shop", "prod"
        b.save()
        return b

    make("legacy", 1.0)  # taken before a release command by an older cockpit
    make("manual", 2.0)
    for i in range(3, 3 + backups.KEEP_BEFORE_RELEASE):
        make(f"r{i}", float(i), before_release=True)
    new = make("new", 100.0, before_release=True)
    store = Store(tmp_path / "state.db")
    store.save_release(Release(id="rel1", app="shop", env="prod", image="x", digest="x",
                               config_hash="x", meta={"backups_before_release": {
                                   "postgres": "legacy"}}))
    ctx = SimpleNamespace(store=store, secrets=None)
    said: list = []
    text = backups._prune_before(ctx, prod, "postgres", new, said.append)
    assert text == ("; pruned 2 older backup(s) taken before a release command, keeping the "
                    f"newest {backups.KEEP_BEFORE_RELEASE}: r3, legacy"), text
    left = [b.id for b in backups.listing("shop", "prod", "postgres")]
    assert left[0] == "new" and "manual" in left and "r3" not in left and "legacy" not in left
    assert backups._prune_before(ctx, prod, "postgres", new, said.append) == ""
    assert said == []  # no warning
    store.close()


def test_retried_failed_deploys_do_not_push_out_the_backups_of_releases_that_served(
        tmp_path, monkeypatch):
    """A broken migration retried again and again takes a backup each time: of those, only
    the newest stays, and the backups taken before releases that served are kept (a new
    user's trial lost the only backup from before a real migration after 8 retries)."""
    from types import SimpleNamespace

    from cockpit.models import Release
    from cockpit.state import Store

    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path))
    prod = _config().env("prod")
    where = backups.folder("shop", "prod", "postgres")
    where.mkdir(parents=True)
    store = Store(tmp_path / "state.db")

    def make(bid: str, created: float, status: str) -> backups.Backup:
        b = _make(where, bid, created, before_release=True)
        b.app, b.env = "shop", "prod"
        b.save()
        store.save_release(Release(id=f"rel-{bid}", app="shop", env="prod", image="x",
                                   digest="x", config_hash="x", status=status,
                                   meta={"backups_before_release": {"postgres": bid}}))
        return b

    make("served1", 1.0, "superseded")
    make("served2", 2.0, "healthy")
    for i in range(3, 11):  # 8 failed retries
        make(f"failed{i}", float(i), "failed")
    new = _make(where, "new", 100.0, before_release=True)
    new.app, new.env = "shop", "prod"
    new.save()
    ctx = SimpleNamespace(store=store, secrets=None)
    text = backups._prune_before(ctx, prod, "postgres", new, [].append)
    left = [b.id for b in backups.listing("shop", "prod", "postgres")]
    assert left == ["new", "failed10", "served2", "served1"], (left, text)
    assert "failed3" in text and "served1" not in text
    store.close()


def test_backup_keep_prunes_only_what_cockpit_backup_made(tmp_path, monkeypatch):
    """`cockpit backup --keep 1` (a new user's trial: it deleted six backups taken before
    release commands on prod): the backups taken before a release command, marked or named
    by a release, stay."""
    from types import SimpleNamespace

    from cockpit.models import Release
    from cockpit.state import Store

    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path))
    prod = _config().env("prod")
    where = backups.folder("shop", "prod", "postgres")
    where.mkdir(parents=True)
    for bid, created, before in (("m1", 1.0, False), ("r2", 2.0, True), ("legacy", 3.0, False),
                                 ("m4", 4.0, False), ("m5", 5.0, False)):
        b = _make(where, bid, created, before_release=before)
        b.app, b.env = "shop", "prod"
        b.save()
    store = Store(tmp_path / "state.db")
    store.save_release(Release(id="rel1", app="shop", env="prod", image="x", digest="x",
                               config_hash="x", meta={"backups_before_release": {
                                   "postgres": "legacy"}}))
    ctx = SimpleNamespace(store=store, secrets=None)
    assert backups.prune_made_by_backup(ctx, prod, "postgres", 1) == ["m4", "m1"]
    assert [b.id for b in backups.listing("shop", "prod", "postgres")] == [
        "m5", "legacy", "r2"]
    store.close()


def test_a_remove_plan_keeps_this_machines_backups_and_says_where(tmp_path, monkeypatch):
    """`cockpit remove ... --volumes` never deletes the local backups (a new user's trial
    found them left unmentioned): the plan lists them as kept, with their folder."""
    from cockpit.cli.remove import _local_backups

    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path))
    prod = _config().env("prod")
    assert _local_backups(prod) == []
    where = backups.folder("shop", "prod", "postgres")
    where.mkdir(parents=True)
    b = _make(where, "b1", 1.0)
    b.app, b.env = "shop", "prod"
    b.save()
    [note] = _local_backups(prod)
    assert note.startswith("1 backup(s) of postgres on this machine in ")
    assert str(where) in note and "cockpit backups prod postgres" in note
