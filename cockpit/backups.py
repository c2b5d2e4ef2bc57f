"""Backups of accessories with a proven restore (VPS).

`cockpit backup ENV NAME` writes one file to a local folder (default
`<state dir>/backups/<app>/<env>/<name>/`, or `--dir`): Postgres `pg_dump -Fc` (`<id>.dump`),
Redis an RDB snapshot (`redis-cli --rdb`, `<id>.rdb`), plus `<id>.json` with its size,
sha256, the source's per-table row counts (per-database key counts for Redis) and the result
of its verification. Every backup is verified: the file just written is streamed back to the
host into a scratch instance (same image, no network, no volume, removed afterwards), restored
there (`pg_restore --exit-on-error`; Redis loading the RDB) and counted; the backup is verified
when the restore succeeded and every table's count matches the source's (counted before and
after the dump: with writes in between, a count between the two). A backup that does not
restore is kept, marked failed, and the command exits 1.

`cockpit restore ENV NAME --from BACKUP` verifies the file the same way first (nothing changes
when it does not restore), then restores it into a fresh volume with a temporary container,
checks the counts again, and only then switches the accessory to that volume (same container
name, network alias and password: the app's URL is unchanged). The previous volume is kept
until the user removes it (`docker volume rm`, named in the result).

With `backup_bucket = "s3://bucket/prefix"` on the accessory, a verified backup is also
uploaded (file and record, under `<prefix>/<app>/<env>/<name>/`) to that S3-compatible bucket
(`backup_endpoint`, default AWS) with the MinIO client library; its keys are secrets of the
environment in the keyring (BACKUP_S3_ACCESS_KEY, BACKUP_S3_SECRET_KEY). `cockpit backups`
lists the bucket's too, and `restore --from ID` fetches one that is not local.
Retention: `cockpit backup --keep N` keeps the newest N verified backups (`prune`), locally
and in the bucket. `cockpit backup schedule` runs them on the host (see "schedules" below),
keeping the newest `--keep` (default 7). Before a release command a verified backup is taken
too, and the backups taken that way are pruned by the same rule right after, keeping the newest
KEEP_BEFORE_RELEASE (7) of them (see "before a release" below).
Only VPS accessories are backed up here; on Kubernetes the in-cluster ones are backed up by
`backup schedule` (a CronJob: cockpit.providers.kubernetes), external ones (Fly, `external =
true`) by their provider.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as _random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.errors import ProviderError, UsageError

VERIFY_DEADLINE = 120.0  # seconds a scratch instance may take to start


class NotRestorable(ProviderError):
    """The backup file did not restore into a scratch instance (or its counts differ)."""


@dataclass
class Backup:
    """One backup's record (`<id>.json` beside the file)."""

    id: str
    app: str
    env: str
    accessory: str
    kind: str
    file: str  # absolute path of the dump
    size: int
    sha256: str
    created_at: float
    image: str
    counts: dict[str, int] = field(default_factory=dict)  # source, before the dump
    counts_after: dict[str, int] = field(default_factory=dict)  # source, after the dump
    verified: bool = False
    verify: dict[str, Any] = field(default_factory=dict)  # restored counts, error, seconds
    remote: str = ""  # s3://bucket/key of the uploaded file, when uploaded
    # taken automatically before a release command (pruned by KEEP_BEFORE_RELEASE after the
    # next one); False for `cockpit backup` and scheduled ones, which only --keep prunes
    before_release: bool = False

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        return dataclasses.asdict(self)

    @classmethod
    def load(cls, path: Path) -> Backup:
        data = json.loads(path.read_text())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self) -> None:
        meta = Path(self.file).with_suffix(".json")
        tmp = meta.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        os.replace(tmp, meta)


def folder(app: str, env: str, name: str, base: str | Path | None = None) -> Path:
    """Where backups of one accessory live: `base` or `<state dir>/backups/<app>/<env>/<name>`."""
    if base:
        return Path(base).expanduser().resolve()
    from cockpit.state import state_root

    return state_root() / "backups" / app / env / name


def listing(app: str, env: str, name: str, base: str | Path | None = None) -> list[Backup]:
    """The backups in the folder, newest first (records whose file is gone are left out)."""
    where = folder(app, env, name, base)
    out = []
    for meta in sorted(where.glob("*.json")) if where.is_dir() else []:
        try:
            b = Backup.load(meta)
        except (ValueError, TypeError, OSError):
            continue
        if Path(b.file).is_file():
            out.append(b)
    return sorted(out, key=lambda b: b.created_at, reverse=True)


def find(app: str, env: str, name: str, ref: str, base: str | Path | None = None) -> Backup:
    """A backup by id (from `cockpit backups`) or by the path of its file (its `.json` beside
    it, else a record made from the file alone). UsageError when there is none."""
    path = Path(ref).expanduser()
    if path.is_file():
        meta = path.with_suffix(".json")
        if meta.is_file():
            b = Backup.load(meta)
            b.file = str(path.resolve())
            return b
        kind = "postgres" if path.suffix == ".dump" else "redis"
        return Backup(id=path.stem, app=app, env=env, accessory=name, kind=kind,
                      file=str(path.resolve()), size=path.stat().st_size, sha256="",
                      created_at=path.stat().st_mtime, image="")
    for b in listing(app, env, name, base):
        if b.id == ref:
            return b
    raise UsageError(f"no backup {ref!r} of {name} in {env}",
                     hint=f"cockpit backups {env} {name} lists them")


# --------------------------------------------------------------------------- S3

S3_KEYS = ("BACKUP_S3_ACCESS_KEY", "BACKUP_S3_SECRET_KEY")


class Bucket:
    """An accessory's backup bucket: `backup_bucket` (s3://name/prefix) at `backup_endpoint`,
    keys from the environment's secrets. Plain http only to a loopback endpoint (a local
    S3-compatible server); anything else is https."""

    def __init__(self, store, env, name: str) -> None:
        from urllib.parse import urlparse

        acc = env.accessories[name]
        self.url = acc.backup_bucket or ""
        rest = self.url.removeprefix("s3://")
        self.bucket, _, prefix = rest.partition("/")
        self.prefix = "/".join(p for p in (prefix.strip("/"), env.app.name, env.name, name) if p)
        endpoint = urlparse(acc.backup_endpoint or "https://s3.amazonaws.com")
        loopback = endpoint.hostname in ("127.0.0.1", "localhost", "::1")
        if endpoint.scheme != "https" and not loopback:
            raise UsageError(f"backup_endpoint {acc.backup_endpoint} of accessory {name}: keys "
                             "are sent only over https (plain http only to a loopback host)")
        keys = [store.get(env, k) for k in S3_KEYS]
        if not all(keys):
            missing = [k for k, v in zip(S3_KEYS, keys, strict=True) if not v]
            raise UsageError(f"accessory {name} backs up to {self.url}, but {env.name} has no "
                             f"{' / '.join(missing)} in the keyring",
                             hint=" ; ".join(f"cockpit secrets set {env.name} {k}"
                                             for k in missing))
        try:
            from minio import Minio
        except ImportError:
            raise UsageError("backups to S3 need the MinIO client library",
                             hint="pip install 'cockpit[s3]'") from None
        self.client = Minio(endpoint.netloc, access_key=keys[0], secret_key=keys[1],
                            secure=endpoint.scheme == "https")

    def key(self, filename: str) -> str:
        return f"{self.prefix}/{filename}"

    def _call(self, what: str, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except Exception as exc:  # S3Error, urllib3 errors: say which call, never the keys
            raise ProviderError(f"S3 {what} on {self.url} failed: {type(exc).__name__}: "
                                f"{str(exc)[:300]}", where=self.url) from None

    def upload(self, record: Backup) -> str:
        path = Path(record.file)
        self._call("upload", self.client.fput_object, self.bucket, self.key(path.name),
                   str(path))
        record.remote = f"s3://{self.bucket}/{self.key(path.name)}"
        record.save()
        meta = path.with_suffix(".json")
        self._call("upload", self.client.fput_object, self.bucket, self.key(meta.name),
                   str(meta), content_type="application/json")
        return record.remote

    def records(self) -> list[Backup]:
        """The records in the bucket (their `file` is where `fetch` would put it)."""
        out = []
        objects = self._call("list", lambda: list(self.client.list_objects(
            self.bucket, prefix=self.prefix + "/")))
        for obj in objects:
            if not obj.object_name.endswith(".json"):
                continue
            data = self._call("read", self.client.get_object, self.bucket, obj.object_name)
            try:
                raw = json.loads(data.read())
            finally:
                data.close()
                data.release_conn()
            out.append(Backup(**{k: v for k, v in raw.items()
                                 if k in Backup.__dataclass_fields__}))
        return out

    def fetch(self, record: Backup, where: Path) -> Backup:
        """Download a record's file and record into `where`; returns the local record."""
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = Path(record.file).name
        local = where / name
        self._call("download", self.client.fget_object, self.bucket, self.key(name),
                   str(local))
        self._call("download", self.client.fget_object, self.bucket,
                   self.key(Path(name).with_suffix(".json").name),
                   str(local.with_suffix(".json")))
        fetched = Backup.load(local.with_suffix(".json"))
        fetched.file = str(local)
        fetched.save()
        return fetched

    def remove(self, record: Backup) -> None:
        name = Path(record.file).name
        for obj in (name, Path(name).with_suffix(".json").name):
            self._call("delete", self.client.remove_object, self.bucket, self.key(obj))


def prune(app: str, env: str, name: str, keep: int, base: str | Path | None = None,
          bucket: Bucket | None = None, *, only=None, spare: tuple[str, ...] = ()) -> list[str]:
    """Retention: keep the newest `keep` verified backups (and any newer failed ones, for
    their error), delete the older files and records, locally and (with `bucket`) their
    uploaded copies. Returns the ids removed, newest first. Never removes the newest verified
    backup: `keep` below 1 is raised to 1. With `only` (a predicate on Backup) just the
    backups it accepts are counted and removed, the others are left alone; the ids in `spare`
    are never removed (they count as kept)."""
    keep = max(1, keep)
    removed = []
    verified = 0
    for b in listing(app, env, name, base):
        if only is not None and not only(b):
            continue
        if b.id in spare:
            verified += b.verified
        elif verified >= keep:
            if bucket is not None and b.remote:
                bucket.remove(b)
            Path(b.file).unlink(missing_ok=True)
            Path(b.file).with_suffix(".json").unlink(missing_ok=True)
            removed.append(b.id)
        elif b.verified:
            verified += 1
    return removed


def prune_made_by_backup(ctx, env, name: str, keep: int, base: str | Path | None = None,
                         bucket: Bucket | None = None) -> list[str]:
    """`cockpit backup --keep N`: `prune` over the backups `cockpit backup` made, leaving
    those taken before a release command (marked, or named by a release in the state store)
    to their own retention. Returns the ids removed, newest first."""
    taken = _taken_before(ctx, env, name)
    return prune(env.app.name, env.name, name, keep, base, bucket,
                 only=lambda b: not (b.before_release or b.id in taken))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- on the host


def _download(host, argv: list[str], dest: Path, step: str) -> int:
    """Run argv on the host, writing its stdout to `dest` (bytes as they come); returns the
    size. ProviderError with the command's stderr on a non-zero exit (dest removed)."""
    from cockpit.providers.vps.ssh import remote_command

    client = host.t.connect()
    chan = client.get_transport().open_session(timeout=host.t.timeout)
    size = 0
    err = b""
    try:
        chan.exec_command(remote_command(argv))
        with open(dest, "wb") as out:
            while True:
                chunk = chan.recv(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                size += len(chunk)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(1 << 16)
        while True:
            more = chan.recv_stderr(1 << 16)
            if not more:
                break
            err += more
        rc = chan.recv_exit_status()
    finally:
        chan.close()
    if rc != 0:
        dest.unlink(missing_ok=True)
        from cockpit.redaction import redact

        raise ProviderError(f"{step} failed (exit {rc}): "
                            f"{redact(err.decode(errors='replace').strip()[-400:])}",
                            where=f"{host.t.where} step {step}")
    return size


def _chunks(path: Path):
    with open(path, "rb") as fh:
        yield from iter(lambda: fh.read(1 << 20), b"")


PG_COUNTS = (
    'psql -X -At -U "$1" -d "$2" -v ON_ERROR_STOP=1 -c "select format('
    "'select %L, count(*) from %I.%I;', schemaname || '.' || tablename, schemaname, tablename) "
    "from pg_tables where schemaname not in ('pg_catalog', 'information_schema') "
    'order by 1" | psql -X -At -F " " -U "$1" -d "$2" -v ON_ERROR_STOP=1'
)
REDIS_COUNTS = ('REDISCLI_AUTH="${REDIS_PASSWORD:-}" redis-cli --no-auth-warning -p "${1:-6379}" '
                "info keyspace")


def _parse_counts(kind: str, text: str) -> dict[str, int]:
    """`schema.table N` lines (Postgres) or `dbN:keys=K,...` lines (Redis) -> {name: count}."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        line = line.strip()
        if kind == "postgres":
            name, _, n = line.rpartition(" ")
            if name and n.isdigit():
                out[name] = int(n)
        elif line.startswith("db") and ":keys=" in line:
            db, _, rest = line.partition(":")
            out[db] = int(rest.split(",")[0].split("=")[1])
    return out


def counts(host, env, name: str, target: str | None = None) -> dict[str, int]:
    """Per-table row counts (Postgres, every schema but the catalogs) or per-database key
    counts (Redis) of the accessory's container, or of `target` (a scratch container)."""
    from cockpit import accessories as core
    from cockpit.providers.vps import accessories as vps

    acc = env.accessories[name]
    who = target or vps.container(env, name)
    if acc.kind == "postgres":
        argv = ["docker", "exec", who, "sh", "-c", PG_COUNTS, "sh",
                core.db_user(env.app.name), core.database(env.app.name, acc)]
    else:
        argv = ["docker", "exec", who, "sh", "-c", REDIS_COUNTS, "sh"]
    result = host.run(argv, step="count rows", check=False, idempotent=True)
    if not result.ok:
        raise ProviderError(f"counting rows in {who} failed: {result.stderr.strip()[-300:]}",
                            where=f"{host.t.where} container {who}")
    return _parse_counts(acc.kind, result.stdout)


def _dump_argv(env, name: str) -> list[str]:
    from cockpit import accessories as core
    from cockpit.providers.vps import accessories as vps

    acc = env.accessories[name]
    who = vps.container(env, name)
    if acc.kind == "postgres":
        return ["docker", "exec", who, "pg_dump", "-Fc", "-U", core.db_user(env.app.name),
                "-d", core.database(env.app.name, acc)]
    script = ('f=/tmp/cockpit-backup-$$.rdb; REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli '
              '--no-auth-warning --rdb "$f" >/dev/null || exit 1; cat "$f"; rc=$?; rm -f "$f"; '
              "exit $rc")
    return ["docker", "exec", who, "sh", "-c", script]


def _wait(host, check: list[str], deadline: float, what: str, logs_of: str) -> None:
    end = time.monotonic() + deadline
    while True:
        if host.run(check, step="verify", check=False).ok:
            return
        state = host.run(["docker", "inspect", "-f", "{{.State.Status}}", logs_of],
                         step="verify", check=False).stdout.strip()
        if state not in ("running", "created", "restarting") or time.monotonic() >= end:
            tail = host.logs_tail(logs_of, 5)
            raise NotRestorable(f"{what} did not come up ({state or 'gone'})"
                                + (f": {tail[-1]}" if tail else ""), where=host.t.where)
        time.sleep(0.5)


def _scratch_password() -> str:
    """A throwaway password for a scratch server (no network); masked in any output anyway."""
    from cockpit.redaction import REDACTOR

    value = _random.token_hex(16)
    REDACTOR.add(value)
    return value


def _leftovers(host, env) -> None:
    """Remove scratch containers an interrupted verification left (by their label)."""
    from cockpit.providers.vps import accessories as vps

    host.run(["sh", "-c", 'ids=$(docker ps -aq --filter "label=$1"); '
              '[ -z "$ids" ] || docker rm --force --volumes $ids >/dev/null', "sh",
              f"{vps.LABEL}-scratch={env.app.name}-{env.name}"], step="verify", check=False)


def scratch_restore(host, env, name: str, path: Path, *, volume: str | None = None,
                    keep: bool = False) -> tuple[str, dict[str, int]]:
    """Restore the backup file at `path` into a new container of the accessory's image, with
    no network: on `volume` when given (a fresh volume for `restore`), else on no volume (a
    scratch check). Returns (container name, counts after the restore); the container is
    removed unless `keep` (then it is stopped cleanly by the caller). Raises NotRestorable with
    the restore's own error when the file does not restore."""
    from cockpit import accessories as core
    from cockpit.providers.vps import accessories as vps

    acc = env.accessories[name]
    who = f"{vps.container(env, name)}-scratch-{_random.token_hex(3)}"
    mount = (["--mount", f"type=volume,source={volume},target={acc.spec.data_dir}"]
             if volume else [])
    labels = ["--label", f"{vps.LABEL}-scratch={env.app.name}-{env.name}"]
    try:
        if acc.kind == "postgres":
            user, db = core.db_user(env.app.name), core.database(env.app.name, acc)
            env_args = ["--env-file", vps.env_file(host, name)] if volume else [
                "--env", f"POSTGRES_USER={user}", "--env", f"POSTGRES_DB={db}",
                "--env", f"POSTGRES_PASSWORD={_scratch_password()}"]
            host.run(["docker", "run", "--detach", "--name", who, "--network", "none",
                      *env_args, *mount, *labels, acc.image_ref], step="verify", timeout=600)
            _wait(host, ["docker", "exec", who, "pg_isready", "-q", "-h", "127.0.0.1", "-U",
                         user, "-d", db], VERIFY_DEADLINE, f"the scratch Postgres {who}", who)
            try:
                host.t.stream_in(["docker", "exec", "-i", who, "pg_restore", "-U", user, "-d",
                                  db, "--no-owner", "--exit-on-error"], _chunks(path),
                                 step="restore")
            except ProviderError as exc:
                raise NotRestorable(f"pg_restore failed: {exc.what}",
                                    where=host.t.where) from None
        else:
            start = ("cat > /data/dump.rdb && redis-server --dir /data --dbfilename dump.rdb "
                     "--appendonly no --port 6390 --daemonize yes --logfile /tmp/restore.log")
            host.run(["docker", "run", "--detach", "--name", who, "--network", "none",
                      "--entrypoint", "sh", *mount, *labels, acc.image_ref, "-c",
                      "sleep 86400"], step="verify", timeout=600)
            host.t.stream_in(["docker", "exec", "-i", who, "sh", "-c", start], _chunks(path),
                             step="restore")
            ping = ["docker", "exec", who, "sh", "-c",
                    "redis-cli -p 6390 ping | grep -q PONG || "
                    "{ tail -2 /tmp/restore.log >&2; exit 1; }"]
            end = time.monotonic() + 30
            while True:
                result = host.run(ping, step="verify", check=False)
                if result.ok:
                    break
                alive = host.run(["docker", "exec", who, "sh", "-c",
                                  "redis-cli -p 6390 ping >/dev/null 2>&1 || "
                                  "pgrep redis-server >/dev/null"], step="verify", check=False)
                if not alive.ok or time.monotonic() >= end:
                    raise NotRestorable("redis-server could not load the RDB file: "
                                        + (result.stderr.strip()[-300:] or "no answer"),
                                        where=host.t.where)
                time.sleep(0.3)
            if volume:  # the accessory runs with an append-only file: write it from the data
                host.run(["docker", "exec", who, "sh", "-c",
                          "redis-cli -p 6390 config set appendonly yes >/dev/null && "
                          "while redis-cli -p 6390 info persistence | "
                          "grep -q 'aof_rewrite_in_progress:1\\|aof_rewrite_scheduled:1'; "
                          "do sleep 0.2; done && redis-cli -p 6390 shutdown"],
                         step="restore", check=False)
        if acc.kind == "postgres":
            found = counts(host, env, name, target=who)
        else:
            found = _redis_scratch_counts(host, who) if not volume else {}
        return who, found
    finally:
        if not keep:  # --volumes: an official image's anonymous data volume goes too
            host.run(["docker", "rm", "--force", "--volumes", who], step="verify", check=False)


def _redis_scratch_counts(host, who: str) -> dict[str, int]:
    result = host.run(["docker", "exec", who, "redis-cli", "-p", "6390", "info", "keyspace"],
                      step="count rows", check=False)
    return _parse_counts("redis", result.stdout)


def _compare(expected_before: dict[str, int], expected_after: dict[str, int],
             restored: dict[str, int]) -> str:
    """'' when every table restored with a count between its source counts, else why not."""
    if not expected_before and not expected_after:
        return ""
    names = set(expected_before) | set(expected_after)
    if set(restored) != names:
        missing = sorted(names - set(restored))
        extra = sorted(set(restored) - names)
        return ("tables differ: " + (f"missing {', '.join(missing)}" if missing else "")
                + (f" unexpected {', '.join(extra)}" if extra else "")).strip()
    for t in sorted(names):
        lo = min(expected_before.get(t, 0), expected_after.get(t, 0))
        hi = max(expected_before.get(t, 0), expected_after.get(t, 0))
        if not lo <= restored[t] <= hi:
            return f"{t}: {restored[t]} rows restored, the source had {lo}" + (
                f"-{hi}" if hi != lo else "")
    return ""


def core_hosted(env) -> bool:
    from cockpit import accessories as core

    return core.hosted(env)


def _vps(ctx, env):
    from cockpit import accessories as core

    if not core.hosted(env):
        if any(core.in_cluster(env, acc) for acc in env.accessories.values()):
            raise UsageError(
                f"restoring {env.name}'s in-cluster accessories is not there yet on "
                f"{env.provider}",
                hint=f"cockpit backups {env.name} NAME lists the verified backups in the "
                     "accessory's backups claim; restore one with pg_restore (or a Redis "
                     "dump.rdb) from a pod mounting that claim")
        raise UsageError(f"{env.name}'s accessories are external on {env.provider}: cockpit "
                         "does not back them up", hint="use your database provider's backups")
    from cockpit.pipeline import provider_for

    return provider_for(ctx, env)


def backup(ctx, env, name: str, base: str | Path | None = None, emit=None, *,
           before_release: bool = False, keep: int | None = None) -> Backup:
    """Back up one accessory to the local folder and verify it in a scratch instance.
    Returns the record (`verified` False with `verify["error"]` when it did not restore;
    `before_release` marks one taken before a release command, for its retention).
    Raises UsageError for an unknown accessory, ProviderError when the dump itself fails.
    An in-cluster accessory (Kubernetes) is backed up by a Job into its backups claim instead
    (cockpit.providers.kubernetes.backups.backup, pruned there to `keep`); a local `base` is
    then refused (UsageError)."""
    from cockpit import accessories as core
    from cockpit.providers.vps import accessories as vps

    if name in env.accessories and core.in_cluster(env, env.accessories[name]):
        if base:
            raise UsageError(f"{env.name}/{name} runs in the cluster: its backups stay in "
                             "its backups claim, not in a local --dir")
        from cockpit.pipeline import provider_for
        from cockpit.providers.kubernetes import backups as k8s

        return k8s.backup(provider_for(ctx, env), env, name, keep)
    provider = _vps(ctx, env)
    vps._pick(env, name)
    acc = env.accessories[name]
    bucket = Bucket(ctx.secrets, env, name) if acc.backup_bucket else None  # keys first
    host = provider.host(env)
    where = folder(env.app.name, env.name, name, base)
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ctx.now()))
    bid = stamp
    n = 1
    while (where / f"{bid}.json").exists():
        n += 1
        bid = f"{stamp}-{n}"
    path = where / f"{bid}.{'dump' if acc.kind == 'postgres' else 'rdb'}"
    _leftovers(host, env)
    before = counts(host, env, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    size = _download(host, _dump_argv(env, name), path, "backup")
    after = counts(host, env, name)
    record = Backup(id=bid, app=env.app.name, env=env.name, accessory=name, kind=acc.kind,
                    file=str(path), size=size, sha256=_sha256(path), created_at=ctx.now(),
                    image=acc.image_ref, counts=before, counts_after=after,
                    before_release=before_release)
    record.verify = verify_file(host, env, name, path, before, after)
    record.verified = not record.verify.get("error")
    record.save()
    if record.verified and bucket is not None:
        bucket.upload(record)
    return record


def verify_file(host, env, name: str, path: Path, before: dict[str, int],
                after: dict[str, int]) -> dict[str, Any]:
    """Restore `path` into a scratch instance and compare counts: {"counts", "seconds"} and
    "error" (why it is not restorable) when it failed."""
    started = time.monotonic()
    try:
        _, restored = scratch_restore(host, env, name, path)
    except NotRestorable as exc:
        return {"error": f"not restorable: {exc.what}",
                "seconds": round(time.monotonic() - started, 1)}
    why = _compare(before, after, restored)
    out: dict[str, Any] = {"counts": restored, "seconds": round(time.monotonic() - started, 1)}
    if why:
        out["error"] = f"restored, but the counts differ: {why}"
    return out


def _switch_volume(host, env, name: str, vol: str) -> None:
    """Re-create the accessory's container (same name, network alias, env file) on `vol`,
    record it as the accessory's volume on the host, and wait until it is healthy."""
    from cockpit.providers.vps import accessories as vps
    from cockpit.providers.vps import commands as cmd

    host.run(cmd.chain(cmd.docker_rm(vps.container(env, name)),
                       cmd.write_file(vps.pointer_file(host, name), "600")), step="restore",
             stdin=vol + "\n")
    host.run(vps.run_argv(env, host, name, vol), step="restore", timeout=300)
    vps.wait_healthy(host, env, [name])


def restore(ctx, env, name: str, ref: str, base: str | Path | None = None,
            emit=None) -> dict[str, Any]:
    """Restore a backup into a fresh volume and switch the accessory to it (see the module
    docstring). Needs the confirmation of a protected environment (pipeline.confirm). Returns
    {"backup", "volume", "previous_volume", "counts"}. Raises NotRestorable (nothing changed)
    when the file does not restore or its counts differ from its record."""
    from cockpit import pipeline
    from cockpit.events import Message
    from cockpit.providers.vps import accessories as vps
    from cockpit.providers.vps import commands as cmd
    from cockpit.providers.vps import lock

    provider = _vps(ctx, env)
    vps._pick(env, name)
    try:
        record = find(env.app.name, env.name, name, ref, base)
    except UsageError:
        on_host = next((b for b in host_records(ctx, env, name) if b.id == ref), None)
        if on_host is not None:
            record = fetch_from_host(ctx, env, name, on_host, base)
        elif env.accessories[name].backup_bucket:
            bucket = Bucket(ctx.secrets, env, name)
            remote = next((b for b in bucket.records() if b.id == ref), None)
            if remote is None:
                raise
            record = bucket.fetch(remote, folder(env.app.name, env.name, name, base))
        else:
            raise
    path = Path(record.file)
    pipeline.confirm(ctx, env, "restore", f"switch accessory {name} to a new volume holding "
                     f"backup {record.id} (the current volume is kept)")
    damaged = bool(record.sha256) and _sha256(path) != record.sha256
    host = provider.host(env)
    say = emit or (lambda event: None)
    with lock.held(host, env.settings.lock_ttl, "restore", say, ctx.now()):
        _leftovers(host, env)
        check = verify_file(host, env, name, path, record.counts, record.counts_after)
        if check.get("error"):
            raise NotRestorable(
                f"backup {record.id} of {name} is {check['error']}"
                + (" (the file no longer matches its checksum)" if damaged else "")
                + f"; nothing was changed and {name} keeps its data",
                where=str(path), hint=f"pick another: cockpit backups {env.name} {name}")
        info = vps.inspect(host, env).get(name)
        previous = vps.current_volume(host, env, name, info)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ctx.now()))
        fresh = f"{vps.volume(env, name)}-r{stamp}"
        host.run(cmd.docker_volume_create(fresh, app=env.app.name, env=env.name),
                 step="restore")
        try:
            who, restored = scratch_restore(host, env, name, path, volume=fresh, keep=True)
        except NotRestorable:
            host.run(["docker", "volume", "rm", "-f", fresh], step="restore", check=False)
            raise
        try:
            if env.accessories[name].kind == "postgres":
                why = _compare(record.counts, record.counts_after, restored)
                if why:
                    raise NotRestorable(f"the restore into {fresh} differs: {why}; nothing "
                                        "was switched", where=host.t.where)
            host.run(["docker", "stop", "--time", "30", who], step="restore", timeout=120)
        finally:
            host.run(["docker", "rm", "--force", "--volumes", who], step="restore",
                     check=False)
        say(Message(f"restored backup {record.id} into volume {fresh}; switching {name}",
                    env=env.name))
        try:
            _switch_volume(host, env, name, fresh)
        except ProviderError:  # back to the previous volume: the accessory keeps serving
            _switch_volume(host, env, name, previous)
            raise
        now = counts(host, env, name)
    ctx.store.audit("restore", env.name, "ok", f"{name} from backup {record.id} into {fresh}; "
                    f"previous volume {previous} kept")
    return {"backup": record.id, "volume": fresh, "previous_volume": previous, "counts": now,
            "checksum_ok": not damaged}


# --------------------------------------------------------------------------- schedules
#
# `cockpit backup schedule ENV NAME --every 24h` runs the backups on the host: a container of
# the accessory's own image (`<accessory container>-backups`, on the environment's network,
# restarted unless stopped) that every period dumps the accessory over the network into a named
# volume (`<accessory volume>-backups`), restores the dump into a throwaway server of its own
# (the image has the server: initdb + pg_restore on a unix socket; redis-server on a loopback
# port) and compares the counts, then writes `<id>.json` beside it, as `cockpit backup` does
# locally. `cockpit backups` lists them and `restore --from ID` fetches one from the host, read
# from the volume itself (through the scheduler, or a one-off read-only container once the
# schedule is off). Each dump gets a record before its verification too ("pending", replaced
# by the result), and the scheduler stops between two backups (SIGTERM), so turning the
# schedule off or replacing it never leaves a dump without a record; one an older scheduler
# left is listed unverified, saying why. Until then, a scheduler removed with `docker rm
# --force` while it verified its first dump (it starts at once) left that dump unlisted.

_COMMON = r"""
PENDING="not verified: its verification did not finish (the schedule stopped during it)"
FMT='"file": "%s", "size": %s, "sha256": "%s", "created_at": %s, "image": "%s", '
FMT="$FMT"'"counts": {%s}, "counts_after": {%s}, "verified": %s, "verify": %s}\n'
json_counts() { sed 's/^\(.*\) \([0-9][0-9]*\)$/"\1": \2/' | paste -sd, -; }
record() {  # id file state(true|false|pending) counts restored error
    size=$(wc -c < "$2"); sum=$(sha256sum "$2" | cut -d' ' -f1); ok=false
    case "$3" in
        true) ok=true; verify="{\"counts\": {$5}, \"scheduled\": true}" ;;
        pending) verify="{\"error\": \"$PENDING\", \"pending\": true, \"scheduled\": true}" ;;
        *) verify="{\"error\": \"not restorable: $6\", \"scheduled\": true}" ;;
    esac
    printf '{"id": "%s", "app": "%s", "env": "%s", "accessory": "%s", "kind": "%s", '"$FMT" \
        "$1" "$APP" "$ENV" "$NAME" "$KIND" "$2" "$size" "$sum" "$(date +%s)" "$IMAGE" \
        "$4" "$4" "$ok" "$verify" > "$2.json.tmp"
    mv "$2.json.tmp" "${2%.*}.json"
}
# retention: the newest $KEEP verified backups of this kind (ids ending in $SUFFIX, else the
# plain ones ending in Z: scheduled and one-off) and any newer unverified ones stay, older ones
# go; KEEP 0 or unset: nothing is pruned (a one-off backup without --keep)
prune() {
    [ "${KEEP:-0}" -gt 0 ] || return 0
    n=0
    for old in $(ls -1 /backups/*"${SUFFIX:-Z}".dump /backups/*"${SUFFIX:-Z}".rdb 2>/dev/null \
                 | sort -r); do  # not $f: the loop's backup (sh has no local variables)
        if [ "$n" -ge "$KEEP" ]; then rm -f "$old" "${old%.*}.json"; continue; fi
        grep -q '"verified": true' "${old%.*}.json" 2>/dev/null && n=$((n + 1))
    done
}
"""

# Each kind gives `counts_live` (the live server's counts, one "<table or db> <n>" a line),
# `dump FILE` and `verify FILE` (restores FILE into a throwaway server of its own and sets
# `restored` to its counts and `err` to why it is not restorable); the loop is the same for all.
_LOOP = r"""
stop=""
trap 'stop=1' TERM INT
rm -f /backups/*.part
while :; do
    id=$(date -u +%Y%m%dT%H%M%SZ)${SUFFIX:-}; f="/backups/$id.$EXT"; err=""; restored=""
    if before=$(counts_live) && dump "$f.part" && mv "$f.part" "$f"; then
        bc=$(printf '%s\n' "$before" | json_counts)
        record "$id" "$f" pending "$bc"
        verify "$f"
        rc=$(printf '%s\n' "$restored" | json_counts)
        if [ -z "$err" ]; then record "$id" "$f" true "$bc" "$rc"
        else record "$id" "$f" false "$bc" "" "$err"; fi
        echo "backup $id: ${err:-verified}"
        prune
    else
        rm -f "$f.part"; echo "backup $id failed: could not dump $HOST" >&2
    fi
    [ -z "$stop" ] || exit 0
    sleep "$EVERY" & wait $!
    [ -z "$stop" ] || { kill $! 2>/dev/null; exit 0; }
done
"""

PG_SCHEDULE = _COMMON + r"""
export PGPASSWORD="$POSTGRES_PASSWORD"
EXT=dump
q="select format('select %L, count(*) from %I.%I;', schemaname || '.' || tablename, "
q="$q schemaname, tablename) from pg_tables"
q="$q where schemaname not in ('pg_catalog', 'information_schema') order by 1"
sql() { psql -X -At -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" "$@"; }
counts() { sql -h "$1" -c "$q" | sql -F ' ' -h "$1"; }
counts_live() { counts "$HOST"; }
dump() { pg_dump -Fc -h "$HOST" -U "$POSTGRES_USER" -d "$POSTGRES_DB" > "$1"; }
verify() {
    d=$(mktemp -d /tmp/verify.XXXXXX)
    if initdb -D "$d/data" -U "$POSTGRES_USER" --auth=trust -E UTF8 \
              --locale=C.UTF-8 >/dev/null 2>&1 \
       && pg_ctl -D "$d/data" -o "-c listen_addresses= -k $d" -w start >/dev/null 2>&1; then
        [ "$POSTGRES_DB" = postgres ] || createdb -h "$d" -U "$POSTGRES_USER" "$POSTGRES_DB"
        if pg_restore -h "$d" -U "$POSTGRES_USER" -d "$POSTGRES_DB" --no-owner \
                      --exit-on-error "$1" 2>"$d/err"; then
            restored=$(counts "$d")
            [ "$restored" = "$before" ] || err="counts differ"
        else err=$(tail -1 "$d/err" | tr -d '"\\'); fi
        pg_ctl -D "$d/data" -m fast -w stop >/dev/null 2>&1
    else err="no scratch server"; fi
    rm -rf "$d"
}
""" + _LOOP

REDIS_SCHEDULE = _COMMON + r"""
export REDISCLI_AUTH="$REDIS_PASSWORD"
EXT=rdb
counts() { redis-cli --no-auth-warning "$@" info keyspace | tr -d '\r' \
           | sed -n 's/^\(db[0-9]*\):keys=\([0-9]*\).*/\1 \2/p'; }
counts_live() { counts -h "$HOST"; }
dump() { redis-cli --no-auth-warning -h "$HOST" --rdb "$1" >/dev/null 2>&1; }
verify() {
    d=$(mktemp -d /tmp/verify.XXXXXX); cp "$1" "$d/dump.rdb"
    if redis-server --port 6391 --bind 127.0.0.1 --dir "$d" --dbfilename dump.rdb \
                    --appendonly no --daemonize yes --logfile "$d/log" >/dev/null 2>&1; then
        n=0
        while ! REDISCLI_AUTH= redis-cli -p 6391 ping >/dev/null 2>&1; do
            n=$((n+1)); [ $n -gt 50 ] && break; sleep 0.2
        done
        restored=$(REDISCLI_AUTH= counts -p 6391) || err=$(tail -1 "$d/log" | tr -d '"\\')
        [ -n "$err" ] || [ "$restored" = "$before" ] || err="counts differ"
        REDISCLI_AUTH= redis-cli -p 6391 shutdown nosave >/dev/null 2>&1
    else err="no scratch server"; fi
    rm -rf "$d"
}
""" + _LOOP

# The scheduler starts as root: it gives /backups to the server's user and drops to it (initdb
# refuses root); setpriv is in util-linux, in every Debian-based image (official and lab).
_START = r"""
mkdir -p /backups
if [ "$KIND" = postgres ] && [ "$(id -u)" = 0 ]; then
    chown postgres:postgres /backups
    exec setpriv --reuid=postgres --regid=postgres --init-groups sh -c "$1"
fi
exec sh -c "$1"
"""


def parse_every(text: str) -> int:
    """"24h", "30m", "90s", "1d" (or plain seconds) -> seconds >= 1; UsageError otherwise."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text or "")
    if not m or int(m.group(1)) < 1:
        raise UsageError(f"--every {text!r}: expected a period like 24h, 30m or 90s")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def scheduler_name(env, name: str) -> str:
    from cockpit.providers.vps import accessories as vps

    return f"{vps.container(env, name)}-backups"


STOP_GRACE = 120  # seconds `--every off` lets a scheduled backup in progress finish
ORPHAN = ("not verified: no record (its scheduler stopped before verifying it); restore "
          "checks it first")


def _schedule_labels(every: int, keep: int) -> list[str]:
    from cockpit.providers.vps import accessories as vps

    return ["--label", f"{vps.LABEL}-backups-every={every}",
            "--label", f"{vps.LABEL}-backups-keep={keep}"]


def _stop_scheduler(who: str) -> list[str]:
    """Stop the scheduler letting a backup in progress finish and write its record (it exits
    between two backups on SIGTERM; after STOP_GRACE s docker kills it), then remove it."""
    return ["sh", "-c", 'docker stop --time "$2" "$1" >/dev/null 2>&1; '
            'docker rm --force "$1" >/dev/null 2>&1; true', "sh", who, str(STOP_GRACE)]


def schedule(ctx, env, name: str, every: int | None, keep: int = 7) -> dict[str, Any]:
    """Start (or replace) the accessory's backup schedule on its host; `every` None removes
    it (its backups stay in the volume, and `cockpit backups` / `restore` read them there).
    A scheduler being replaced or removed finishes the backup it is taking first (at most
    STOP_GRACE seconds). Returns {"container", "volume", "every", "keep"}."""
    from cockpit.providers.vps import accessories as vps
    from cockpit.providers.vps import commands as cmd

    provider = _vps(ctx, env)
    vps._pick(env, name)
    acc = env.accessories[name]
    host = provider.host(env)
    who = scheduler_name(env, name)
    vol = backups_volume(env, name)
    if every is None:
        host.run(_stop_scheduler(who), step="schedule", check=False,
                 timeout=STOP_GRACE + 60)
        return {"container": None, "volume": vol, "every": None, "keep": None}
    keep = max(1, keep)
    script = PG_SCHEDULE if acc.kind == "postgres" else REDIS_SCHEDULE
    argv = ["docker", "run", "--detach", "--name", who, "--restart", "unless-stopped",
            "--network", vps.network(env), "--env-file", vps.env_file(host, name),
            "--env", f"EVERY={every}", "--env", f"KEEP={keep}",
            "--env", f"HOST={name}", "--env", f"APP={env.app.name}", "--env", f"ENV={env.name}",
            "--env", f"NAME={name}", "--env", f"KIND={acc.kind}",
            "--env", f"IMAGE={acc.image_ref}",
            "--mount", f"type=volume,source={vol},target=/backups",
            "--log-opt", "max-size=1m", "--log-opt", "max-file=2",
            "--label", f"{vps.LABEL}-backups={name}", *_schedule_labels(every, keep),
            "--label", f"{vps.LABEL}-app={env.app.name}", "--label", f"{vps.LABEL}-env={env.name}",
            "--entrypoint", "sh", acc.image_ref, "-c", _START, "sh", script]
    host.run(cmd.chain(_stop_scheduler(who),
                       cmd.docker_volume_create(vol, app=env.app.name, env=env.name), argv),
             step="schedule", timeout=STOP_GRACE + 300)
    return {"container": who, "volume": vol, "every": every, "keep": keep}


def backups_volume(env, name: str) -> str:
    """The volume the scheduled backups of accessory `name` live in."""
    from cockpit.providers.vps import accessories as vps

    return f"{vps.volume(env, name)}-backups"


# Runs `$4` (a script reading /backups) where the scheduled backups are: in the scheduler
# ($1) while it runs, else in a one-off container of the accessory's image ($3) with the
# volume ($2) mounted read-only and no network (nothing at all when the volume does not
# exist: docker run would create it). Extra arguments go to the script.
_IN_VOLUME = r"""
s="$1"; v="$2"; i="$3"; c="$4"; shift 4
if [ "$(docker inspect -f '{{.State.Running}}' "$s" 2>/dev/null)" = true ]; then
    exec docker exec "$s" sh -c "$c" sh "$@"
fi
docker volume inspect "$v" >/dev/null 2>&1 || exit 0
exec docker run --rm --network none --user 0 --entrypoint sh --log-driver none \
    --mount "type=volume,source=$v,target=/backups,readonly" "$i" -c "$c" sh "$@"
"""
# Every backup file's record (one JSON a line), or for a file without one its size and time.
_LIST = r"""
for f in /backups/*.dump /backups/*.rdb; do
    [ -f "$f" ] || continue
    j="${f%.*}.json"
    if [ -f "$j" ]; then cat "$j"; echo
    else printf '{"orphan": "%s", "size": %s, "mtime": %s}\n' "$f" "$(wc -c < "$f")" \
        "$(stat -c %Y "$f")"; fi
done
"""


def _in_volume(env, name: str, script: str, *args: str) -> list[str]:
    return ["sh", "-c", _IN_VOLUME, "sh", scheduler_name(env, name), backups_volume(env, name),
            env.accessories[name].image_ref, script, *args]


LIST_SCRIPT = _LIST  # prints a JSON line per backup in /backups (a record, or an orphan file)
BEFORE_RELEASE_SUFFIX = "-release"  # the id suffix of a cluster's backup before a release


def parse_records(lines: list[str], env, name: str) -> list[Backup]:
    """The backups in the output of LIST_SCRIPT (or a scheduler's run), newest first: a JSON
    record line is a Backup; `{"orphan": path, "size", "mtime"}` (a dump whose record was
    never written) is one that says why it is unverified (ORPHAN); other lines are skipped."""
    acc = env.accessories[name]
    out = []
    for line in lines:
        try:
            raw = json.loads(line)
        except ValueError:
            continue
        if not isinstance(raw, dict):
            continue
        if "orphan" in raw:
            path = str(raw["orphan"])
            out.append(Backup(id=Path(path).stem, app=env.app.name, env=env.name,
                              accessory=name, kind=acc.kind, file=path,
                              size=int(raw.get("size") or 0), sha256="",
                              created_at=float(raw.get("mtime") or 0), image=acc.image_ref,
                              verify={"error": ORPHAN, "scheduled": True}))
            continue
        if "id" not in raw or "file" not in raw:
            continue
        record = Backup(**{k: v for k, v in raw.items() if k in Backup.__dataclass_fields__})
        if str(record.id).endswith(BEFORE_RELEASE_SUFFIX):  # a cluster's, taken before a release
            record.before_release = True
        out.append(record)
    out.sort(key=lambda b: b.created_at, reverse=True)
    return out


def host_records(ctx, env, name: str, running: bool | None = None) -> list[Backup]:
    """The scheduled backups kept on the host, newest first (their `file` is the path in the
    backups volume), read from the volume itself: through the scheduler while it runs, else a
    one-off `docker run --rm` of the accessory's image with the volume read-only (0.3 s on
    the lab); [] when there is no such volume. A file without a record (its scheduler was stopped
    during the verification) is listed unverified, with that reason; so is a record whose
    verification had not finished (`verify["pending"]`: "being verified" while the scheduler
    runs). `running`: whether the scheduler runs, when the caller knows."""
    provider = _vps(ctx, env)
    host = provider.host(env)
    result = host.run(_in_volume(env, name, _LIST), step="backups", check=False,
                      idempotent=True, timeout=300)
    out = parse_records(result.stdout.splitlines(), env, name)
    if out and out[0].verify.get("pending"):  # the newest: perhaps being verified right now
        if running is None:
            running = bool(scheduler_state(host, env, name).get("running"))
        if running:
            out[0].verify = {**out[0].verify, "error": "not verified yet: being verified now"}
    return out


def fetch_from_host(ctx, env, name: str, record: Backup, base: str | Path | None = None
                    ) -> Backup:
    """Download a scheduled backup (file and record) from the backups volume into the local
    folder (through the scheduler, or a one-off read-only container when none runs)."""
    provider = _vps(ctx, env)
    host = provider.host(env)
    where = folder(env.app.name, env.name, name, base)
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    local = where / Path(record.file).name
    _download(host, _in_volume(env, name, 'exec cat -- "$1"', record.file), local,
              "fetch backup")
    record.file = str(local)
    record.save()
    return record


def scheduler_state(host, env, name: str) -> dict[str, Any]:
    """The scheduler container as docker reports it: {"state", "running", "started_at",
    "every", "keep"} (every/keep from its labels, None for a scheduler started before they
    were recorded); {} when there is none. Never reads its environment (the password)."""
    from cockpit.providers.vps import accessories as vps

    fmt = ('{{json .State.Status}} {{json .State.StartedAt}} '
           f'{{{{json (index .Config.Labels "{vps.LABEL}-backups-every")}}}} '
           f'{{{{json (index .Config.Labels "{vps.LABEL}-backups-keep")}}}}')
    result = host.run(["docker", "inspect", "--type", "container", "--format", fmt,
                       scheduler_name(env, name)], step="backups", check=False,
                      idempotent=True)
    if not result.ok or not result.stdout.strip():
        return {}
    try:
        state, started, every, keep = (json.loads(x) for x in result.stdout.split()[:4])
    except ValueError:
        return {}

    def num(v):
        return int(v) if isinstance(v, str) and v.isdigit() else None

    return {"state": state, "running": state == "running", "started_at": started,
            "every": num(every), "keep": num(keep)}


def schedule_status(ctx, env, name: str) -> dict[str, Any]:
    """`cockpit backup schedule ENV NAME` without --every: {"active" (a scheduler runs),
    "container", "state" (docker's, or None), "every" (seconds), "keep", "volume", "count"
    (backups in the volume), "last" (the newest backup's record as a dict, or None)}.
    Reads the host only (two docker commands, plus a one-off container when none runs)."""
    from cockpit.providers.vps import accessories as vps

    provider = _vps(ctx, env)
    vps._pick(env, name)
    host = provider.host(env)
    info = scheduler_state(host, env, name)
    found = host_records(ctx, env, name, running=bool(info.get("running")))
    return {"active": bool(info.get("running")),
            "container": scheduler_name(env, name) if info else None,
            "state": info.get("state"), "started_at": info.get("started_at"),
            "every": info.get("every"), "keep": info.get("keep"),
            "volume": backups_volume(env, name), "count": len(found),
            "last": found[0].to_dict() if found else None}


# --------------------------------------------------------------------------- before a release
#
# A migration can drop or rewrite data, and the release command runs it on every deploy. So
# before the release command runs on an environment whose Postgres already has tables, cockpit
# takes a verified backup (the `cockpit backup` path: the local folder, and the bucket when
# `backup_bucket` is set) and names it in the deploy's output and journal (step
# `backup_before_release`). On by default for protected environments; `[accessories.<name>]
# backup_before_release = true|false` chooses per accessory; `cockpit deploy|promote
# --skip-backup` skips it once (said in the output). A backup that fails or does not restore
# stops the deploy before the release command (nothing of the new release ran). When the
# release command then fails, its error's hint names the backup to restore from.
# Retention: right after a verified one, the backups taken before a release command follow
# `prune`'s rule with KEEP_BEFORE_RELEASE (there is no config key for it): the newest 7
# verified ones are kept, and failed ones newer than the 7th (for their error); the one just
# taken is never removed. Only those are touched (marked `before_release` in their record, or
# named by a release of the state store, for those taken before the mark existed):
# `cockpit backup` and scheduled backups are pruned by --keep only. What was pruned is said in
# the step's output and journal; a prune that fails (the bucket) is a warning, not a failure.
# What it adds to a deploy: two docker commands (inspect, count the tables) when there is
# nothing to back up; else the backup itself: 3.1-3.2 s on the lab (Postgres 15, two small
# tables: dump, scratch restore, counts), growing with the data (pg_dump and pg_restore of all
# of it). Redis accessories are not backed up here (no migration touches them). VPS only for
# now: on Kubernetes cockpit backs up in-cluster accessories on a schedule (a CronJob) only, and
# on Fly they are external (their provider's backups).

STEP_BEFORE = "backup_before_release"
KEEP_BEFORE_RELEASE = 7  # verified backups taken before a release command kept (as `schedule`)


def before_release_targets(env) -> list[str]:
    """The Postgres accessories to back up before env's release command: those with
    `backup_before_release = true`, and on a protected environment those that do not say
    false; [] without a release command."""
    if not getattr(env, "release_command", None):
        return []
    out = []
    for name, acc in sorted(env.accessories.items()):
        wanted = getattr(acc, "backup_before_release", None)
        if acc.kind == "postgres" and (wanted if wanted is not None else env.protected):
            out.append(name)
    return out


def plan_note(ctx, env) -> str | None:
    """The plan's note on the backup before the release command (None when none is taken:
    no target, or not a VPS). Reads the config and the options only."""
    from cockpit import accessories as core

    names = [n for n in before_release_targets(env)
             if core.hosted(env) or core.in_cluster(env, env.accessories[n])]
    if not names:
        return None
    which = ", ".join(names)
    if getattr(ctx.options, "skip_backup", False):
        return f"--skip-backup: no backup of {which} before the release command"
    return (f"before the release command: a backup of {which} (when its database has tables), "
            "verified by a restore; a failing one stops the deploy (--skip-backup or "
            "backup_before_release = false turn it off)")


class BackupBeforeReleaseFailed(ProviderError):
    """The backup before the release command failed or did not restore: the deploy stopped
    before the release command ran."""


def _backup_before(ctx, env, name: str, emit) -> Backup | None:
    """One accessory's backup before the release command; None (said) when there is nothing
    to back up yet (no accessory yet; on a VPS, no tables yet). A VPS accessory goes to the
    local folder (then `_prune_before`); an in-cluster one (Kubernetes) is the one-off backup
    Job into its backups claim (cockpit.providers.kubernetes.backups.backup), its id ending in
    BEFORE_RELEASE_SUFFIX, and the Job itself prunes only those to the newest
    KEEP_BEFORE_RELEASE verified ones, never the one just taken. Raises
    BackupBeforeReleaseFailed when the accessory does not run or the backup fails or does not
    restore."""
    from cockpit import accessories as core
    from cockpit.events import StepFinished, StepStarted, Timer

    started = Timer()
    emit(StepStarted(STEP_BEFORE, f"back up {name} before the release command (verified by a "
                     "restore)", env=env.name))
    stop = "the release command did not run; the serving release is untouched"
    hint = (f"fix it and deploy again, or deploy with --skip-backup (or set "
            f"backup_before_release = false in [accessories.{name}])")
    target = _InCluster(ctx, env, name) if core.in_cluster(env, env.accessories[name]) \
        else _OnHost(ctx, env, name)
    state = target.state()
    if state is None:
        emit(StepFinished(STEP_BEFORE, f"{name}: not created yet, nothing to back up",
                          env=env.name, seconds=started.seconds()))
        return None
    if state != "running":
        raise BackupBeforeReleaseFailed(
            f"accessory {name} of {env.name} is {state}: no backup could be taken "
            f"before the release command; {stop}", where=target.where,
            hint=f"{target.fix}; or {hint}")
    try:
        record = target.backup()
    except (ProviderError, UsageError) as exc:
        raise BackupBeforeReleaseFailed(
            f"the backup of {name} before the release command failed: {exc.what}; {stop}",
            where=exc.where or target.where, hint=exc.hint or hint) from None
    if record is None:
        emit(StepFinished(STEP_BEFORE, f"{name}: no tables yet, nothing to back up",
                          env=env.name, seconds=started.seconds()))
        return None
    if not record.verified:
        raise BackupBeforeReleaseFailed(
            f"backup {record.id} of {name}, taken before the release command, is "
            f"{record.verify.get('error')}; {stop}", where=target.located(record),
            hint=f"cockpit backups {env.name} {name}; {hint}")
    pruned = target.prune(record, emit)
    emit(StepFinished(STEP_BEFORE, f"{name}: backup {record.id} verified ({record.size} bytes"
                      f"{', uploaded to ' + record.remote if record.remote else ''}) "
                      f"{target.located(record)}{pruned}", env=env.name,
                      seconds=started.seconds()))
    return record


class _OnHost:
    """The backup before a release command of a VPS accessory (into the local folder)."""

    def __init__(self, ctx, env, name: str) -> None:
        from cockpit.providers.vps import accessories as vps

        self.ctx, self.env, self.name = ctx, env, name
        self.host = _vps(ctx, env).host(env)
        self.where = f"{self.host.t.where} step {STEP_BEFORE}"
        self.fix = f"cockpit accessories restart {env.name} {name}"
        self._vps = vps

    def state(self) -> str | None:
        info = self._vps.inspect(self.host, self.env).get(self.name)
        return info["state"] if info else None

    def backup(self) -> Backup | None:
        if not counts(self.host, self.env, self.name):
            return None
        return backup(self.ctx, self.env, self.name, before_release=True)

    def located(self, record: Backup) -> str:
        return record.file

    def prune(self, record: Backup, emit) -> str:
        return _prune_before(self.ctx, self.env, self.name, record, emit)


class _InCluster:
    """The backup before a release command of an in-cluster accessory (Kubernetes)."""

    def __init__(self, ctx, env, name: str) -> None:
        from cockpit.pipeline import provider_for
        from cockpit.providers.kubernetes import backups as k8s

        self.env, self.name = env, name
        self.provider = provider_for(ctx, env)
        self.where = f"{self.provider.kube(env).where} step {STEP_BEFORE}"
        self.fix = f"cockpit accessories status {env.name} {name}"
        self.claim = k8s.name_of(env, name)
        self._k8s = k8s

    def state(self) -> str | None:
        from cockpit.providers.kubernetes import accessories as acc_k8s

        info = next((a for a in acc_k8s.status(self.provider, self.env)
                     if a["name"] == self.name), None)
        return None if info is None or info["state"] == "missing" else info["state"]

    def backup(self) -> Backup:
        return self._k8s.backup(self.provider, self.env, self.name, keep=KEEP_BEFORE_RELEASE,
                                before_release=True)

    def located(self, record: Backup) -> str:
        return f"{record.file} in claim {self.claim}"

    def prune(self, record: Backup, emit) -> str:
        return ""  # the backup Job pruned the claim itself


def _taken_before(ctx, env, name: str) -> dict[str, str]:
    """{backup id: the status of the release it was taken for} for `name`'s backups that
    env's releases in the state store name as taken before their release command (meta
    "backups_before_release"); also how backups made before records carried
    `before_release` are known."""
    out: dict[str, str] = {}
    try:
        releases = ctx.store.releases(env.name, limit=10_000)
    except Exception:  # an older or busy store: only the marked records are pruned
        return out
    for rel in releases:
        bid = ((getattr(rel, "meta", None) or {}).get("backups_before_release") or {}).get(name)
        if bid:
            out[bid] = str(getattr(rel, "status", "") or "")
    return out


def _prune_before(ctx, env, name: str, record: Backup, emit) -> str:
    """Retention after a verified backup before the release command (see the section
    comment): prune the backups taken that way to the newest KEEP_BEFORE_RELEASE, never
    `record`. Returns the text for the step's detail ("" when nothing went); a failure is
    emitted as a warning and the deploy goes on."""
    from cockpit.events import Message

    taken = _taken_before(ctx, env, name)

    def before(b: Backup) -> bool:
        return b.before_release or b.id in taken

    try:
        acc = env.accessories[name]
        bucket = Bucket(ctx.secrets, env, name) if acc.backup_bucket else None
        # a failed deploy's backup first: only the newest of those stays (retried broken
        # migrations must not push out the backups taken before releases that served)
        pruned = prune(env.app.name, env.name, name, 1, bucket=bucket,
                       only=lambda b: before(b) and taken.get(b.id) == "failed",
                       spare=(record.id,))
        pruned += prune(env.app.name, env.name, name, KEEP_BEFORE_RELEASE, bucket=bucket,
                        only=before, spare=(record.id,))
    except (ProviderError, UsageError) as exc:
        emit(Message(f"{name}: older backups taken before a release command were not pruned: "
                     f"{exc.what}", level="warning", env=env.name))
        return ""
    if not pruned:
        return ""
    return (f"; pruned {len(pruned)} older backup(s) taken before a release command, keeping "
            f"the newest {KEEP_BEFORE_RELEASE}: {', '.join(pruned)}")


class before_release:  # noqa: N801 - used as `with backups.before_release(...)`
    """Around a provider's apply (cockpit.pipeline): on entry, back up the accessories of
    `before_release_targets(env)` (see the section comment above), skipped with a warning
    under `ctx.options.skip_backup` and with a note where cockpit cannot back them up
    (Kubernetes, Fly). `taken` is {accessory: backup id}, also put in `release.meta`
    ("backups_before_release"). On exit with a failed release command
    (cockpit.release_phase.ReleaseCommandFailed), its hint names the backup to restore from.
    Raises BackupBeforeReleaseFailed (exit 1) on entry when a backup fails."""

    def __init__(self, ctx, env, release, emit) -> None:
        self.ctx, self.env, self.release, self.emit = ctx, env, release, emit
        self.taken: dict[str, str] = {}

    def __enter__(self) -> before_release:
        from cockpit import accessories as core
        from cockpit.events import StepSkipped

        env = self.env
        names = before_release_targets(env)
        if not names:
            return self
        if getattr(self.ctx.options, "skip_backup", False):
            self.emit(StepSkipped(STEP_BEFORE, f"--skip-backup: no backup of "
                                  f"{', '.join(names)} before the release command",
                                  env=env.name))
            return self
        if not core.hosted(env):  # external ones: their provider's backups
            names = [n for n in names if core.in_cluster(env, env.accessories[n])]
        from cockpit.events import StepFailed

        for name in names:
            try:
                record = _backup_before(self.ctx, env, name, self.emit)
            except BackupBeforeReleaseFailed as exc:
                self.emit(StepFailed(STEP_BEFORE, exc.what, env=env.name))
                raise
            if record is not None:
                self.taken[name] = record.id
        if self.taken and self.release is not None:
            self.release.meta = {**self.release.meta, "backups_before_release": self.taken}
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        from cockpit.release_phase import ReleaseCommandFailed

        if isinstance(exc, ReleaseCommandFailed) and self.taken:
            from cockpit import accessories as core

            restore = "; ".join(
                f"backup {bid} of {n} (cockpit backups {self.env.name} {n})"
                if core.in_cluster(self.env, self.env.accessories[n]) else
                f"cockpit restore {self.env.name} {n} --from {bid}"
                + (f" --confirm {self.env.name}" if self.env.protected else "")
                for n, bid in self.taken.items())
            exc.hint = (f"{exc.hint}; if it changed data, the backup taken just before it "
                        f"restores it: {restore}" if exc.hint else restore)
        return False
