"""Accessories: a Postgres or Redis beside the app, one instance per environment.

`[accessories.<name>]` in cockpit.toml (the name defaults to the kind: `[accessories.postgres]`):

    [accessories.postgres]
    kind = "postgres"          # or "redis"; default: the table's name when it is a kind
    version = "16"             # the official image's tag (postgres:16, redis:7)
    env_var = "DATABASE_URL"   # where the app finds its URL (default DATABASE_URL / REDIS_URL)
    database = "shop"          # postgres only; default: the app name with '-' as '_'
    url_scheme = "postgresql+psycopg"   # postgres only; the URL's scheme (default "postgresql")
    # image = "registry.example.com/postgres:16"   # instead of the official image
    # backup_bucket = "s3://my-backups/shop"       # `cockpit backup` uploads there too
    # backup_endpoint = "https://s3.eu-west-1.amazonaws.com"   # any S3-compatible service
    # backup_before_release = true   # a verified backup before each release command
    #                                # (postgres; default: on for protected environments)

On a VPS each environment gets its own container (`cockpit-<app>-<env>-<name>`), its own named
volume (`cockpit-<app>-<env>-<name>-data`) and its own private docker network
(`cockpit-<app>-<env>`) that the app's containers join; no port is published. Its password is
generated once into the OS keyring (`ACCESSORY_<NAME>_PASSWORD` in the environment's scope) and
the URL reaches the app as `env_var` (`postgresql://...`, or `url_scheme://...` when the app's
driver needs SQLAlchemy's `postgresql+psycopg` / `postgresql+asyncpg`: `url`). On Kubernetes
each environment gets a StatefulSet `<app>-<env>-<name>` in its namespace (one replica, a
PersistentVolumeClaim from its volumeClaimTemplate, a headless Service, a Secret with the
keyring's password; the URL reaches the app through its release's Secret:
`cockpit.providers.kubernetes.accessories`), unless the table says `external = true`. On Fly,
and with `external = true` on Kubernetes, the accessory is external: its URL is a secret of
the environment (`cockpit secrets set ENV DATABASE_URL`), added to the secrets it needs.

Nothing here talks to a host: the VPS side is `cockpit.providers.vps.accessories`.
"""

from __future__ import annotations

import re
import secrets as _random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cockpit.errors import SecretStoreError

if TYPE_CHECKING:
    from cockpit.config import Environment
    from cockpit.secrets import SecretStore


@dataclass(frozen=True)
class Kind:
    """What cockpit knows of one kind of accessory (source: the official images' docs)."""

    name: str
    port: int
    env_var: str
    image: str  # the official image's repository
    version: str  # its default tag
    data_dir: str  # where the image keeps its data (the volume's mount point)
    scheme: str


KINDS: dict[str, Kind] = {
    "postgres": Kind("postgres", 5432, "DATABASE_URL", "postgres", "16",
                     "/var/lib/postgresql/data", "postgresql"),
    "redis": Kind("redis", 6379, "REDIS_URL", "redis", "7", "/data", "redis"),
}
# the lab's stand-ins (cockpit.lab.images), for `cockpit init --lab` and the demo
LAB_IMAGES = {"postgres": ("cockpit-lab/postgres:bookworm", "15"),
              "redis": ("cockpit-lab/redis:bookworm", "7.0")}


def _expect(text: str) -> dict[str, Any]:
    return {"json_schema_extra": {"expect": text}}


class AccessoryConfig(BaseModel):
    """One `[accessories.<name>]` table (strict: unknown keys are refused by name)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: Literal["postgres", "redis"] = Field(**_expect('"postgres" or "redis"'))
    version: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                                **_expect('an image tag like "16" or "7.2"'))
    env_var: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                **_expect("an environment variable name like DATABASE_URL"))
    database: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                                 **_expect("a database name (a-z, 0-9, '_')"))
    # postgres only: the scheme of the URL the app gets (`url`); SQLAlchemy names the driver
    # in it (postgresql+psycopg for psycopg 3, postgresql+asyncpg)
    url_scheme: str | None = Field(
        None, pattern=r"^(postgres|postgresql(\+[a-z][a-z0-9_]*)?)$",
        **_expect('a URL scheme without "://": "postgresql", "postgresql+psycopg", '
                  '"postgresql+asyncpg" or "postgres"'))
    image: str | None = Field(None, pattern=r"^[a-z0-9][A-Za-z0-9._/:@-]*$",
                              **_expect("an image reference like postgres:16"))
    container_name: str | None = Field(None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
                                       **_expect("a container name"))
    volume: str | None = Field(None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
                               **_expect("a docker volume name"))
    # backups also go to an S3-compatible bucket; its keys are secrets of each environment
    # (BACKUP_S3_ACCESS_KEY, BACKUP_S3_SECRET_KEY in the keyring)
    backup_bucket: str | None = Field(
        None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?$",
        **_expect('an S3 location like "s3://my-backups/shop"'))
    backup_endpoint: str | None = Field(
        None, pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$",
        **_expect('an S3 endpoint URL like "https://s3.eu-west-1.amazonaws.com"'))
    # postgres only: a verified backup before every release command (cockpit.backups
    # .before_release); None: on for protected environments, off elsewhere
    backup_before_release: bool | None = Field(None, **_expect("true or false"))
    # Kubernetes: true keeps the accessory outside the cluster (its URL a secret in the
    # keyring) instead of a StatefulSet in the environment's namespace
    external: bool = Field(False, **_expect("true or false"))
    # Kubernetes: the size its PersistentVolumeClaim requests (default 1Gi)
    storage: str | None = Field(None, pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T)?$",
                                **_expect('a storage quantity like "10Gi"'))

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    @property
    def url_var(self) -> str:
        """The variable the app reads its URL from (`env_var`, else the kind's)."""
        return self.env_var or self.spec.env_var

    @property
    def scheme(self) -> str:
        """The URL's scheme: `url_scheme`, else the kind's ("postgresql", "redis")."""
        return self.url_scheme or self.spec.scheme

    @property
    def tag(self) -> str:
        return self.version or self.spec.version

    @property
    def image_ref(self) -> str:
        """`image` when set, else the official `postgres:<version>` / `redis:<version>`."""
        return self.image or f"{self.spec.image}:{self.tag}"


def db_user(app: str) -> str:
    """The Postgres role (and default database) of an app: its name with '-' as '_'."""
    return app.replace("-", "_")[:63]


def database(app: str, acc: AccessoryConfig) -> str:
    return acc.database or db_user(app)


def password_name(name: str) -> str:
    """The keyring item (in the environment's scope) holding the accessory's password:
    `ACCESSORY_<NAME>_PASSWORD`, also the variable the CI mode reads
    (`COCKPIT_SECRET_<ENV>_ACCESSORY_<NAME>_PASSWORD`)."""
    return "ACCESSORY_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_PASSWORD"


def network_name(app: str, env: str) -> str:
    """The environment's private docker network on its host: `cockpit-<app>-<env>`."""
    return f"cockpit-{app}-{env}"


def container_name(app: str, env: str, name: str, acc: AccessoryConfig) -> str:
    return acc.container_name or f"cockpit-{app}-{env}-{name}"


def volume_name(app: str, env: str, name: str, acc: AccessoryConfig) -> str:
    return acc.volume or f"cockpit-{app}-{env}-{name}-data"


def hosted(env: Environment) -> bool:
    """True when cockpit runs the environment's accessories itself (provider vps); elsewhere
    they are external and their URL is a secret of the environment."""
    return env.provider == "vps"


def in_cluster(env: Environment, acc: AccessoryConfig) -> bool:
    """True when cockpit runs `acc` as a StatefulSet in env's namespace (provider kubernetes,
    `external` not set); its URL then comes from cockpit, not from the keyring."""
    return env.provider == "kubernetes" and not acc.external


def url(app: str, name: str, acc: AccessoryConfig, password: str, host: str | None = None,
        port: int | None = None) -> str:
    """The URL the app gets: `<scheme>://<role>:<password>@<host>:5432/<db>` or
    `redis://default:<password>@<host>:6379/0` (Redis 6+'s default user: redis-cli 7 sends an
    empty user name as one); `host` defaults to the accessory's name (its alias on
    the environment's network). The password is hex, so it needs no escaping.

    Postgres's scheme is `acc.url_scheme`, else `postgresql`, the one every common client
    reads: libpq and so psycopg 2/3 ("the URI scheme designator can be either postgresql:// or
    postgres://", PostgreSQL docs, libpq-connect "Connection URIs"), dj-database-url (its
    SCHEME map has both "postgres" and "postgresql"), Prisma (its connection URL docs write
    `postgresql://USER:PASSWORD@HOST:PORT/DATABASE` and call the two interchangeable),
    node-postgres (pg-connection-string parses any scheme with `new URL`), Go's lib/pq and pgx
    (both schemes). SQLAlchemy 1.4+ refuses `postgres://` (NoSuchModuleError: the dialect is
    named `postgresql`) and picks psycopg2 for a bare `postgresql://`; an app on psycopg 3 or
    asyncpg needs `postgresql+psycopg` / `postgresql+asyncpg` (`url_scheme_for_scan`)."""
    host = host or name
    port = port or acc.spec.port
    if acc.kind == "postgres":
        return f"{acc.scheme}://{db_user(app)}:{password}@{host}:{port}/{database(app, acc)}"
    return f"redis://default:{password}@{host}:{port}/0"


def password(store: SecretStore, env: Environment, name: str, *, create: bool = True) -> str:
    """The accessory's password from the keyring; generated (48 hex chars, `secrets`) and
    stored there the first time when `create`. Raises SecretStoreError when it is missing and
    cannot be created (CI mode: it names the variable to set)."""
    key = password_name(name)
    value = store.get(env, key)
    if value:
        return value
    if not create or store.from_environment():
        raise SecretStoreError(
            f"the password of accessory {name!r} of {env.name!r} is not set",
            hint=(f"set {store.env_var_names(env, key)[0]} (the value the accessory was "
                  "created with)" if store.from_environment()
                  else f"deploy {env.name} once from a machine with the keyring"))
    store.set(env, key, _random.token_hex(24))
    value = store.get(env, key)
    if not value:
        raise SecretStoreError(f"the keyring did not keep the password of {name!r}")
    return value


def app_env(store: SecretStore, env: Environment, *, create: bool = True) -> dict[str, str]:
    """{env_var: URL} for every accessory cockpit runs for `env` (VPS), passwords read from (or
    generated into) the keyring. Values are secrets: registered with the redactor on read."""
    if not hosted(env):
        return {}
    app = env.app.name
    return {acc.url_var: url(app, name, acc, password(store, env, name, create=create))
            for name, acc in sorted(env.accessories.items())}


def container_env(app: str, acc: AccessoryConfig, pw: str) -> dict[str, str]:
    """The variables the accessory's container starts with (its env file on the host)."""
    if acc.kind == "postgres":
        return {"POSTGRES_USER": db_user(app), "POSTGRES_PASSWORD": pw,
                "POSTGRES_DB": database(app, acc)}
    return {"REDIS_PASSWORD": pw}


# --------------------------------------------------------------------------- config checks


def load(data: dict[str, Any], environments: dict[str, Any], secrets_raw: dict[str, Any],
         text: str, label: str) -> dict[str, AccessoryConfig]:
    """Validate `[accessories.*]` of a parsed cockpit.toml and attach them to every environment
    (`Environment.accessories`). Errors are ConfigError naming file, line and key:
    a name that is not lowercase a-z0-9-, unknown keys, `database` on redis, two accessories
    with one `env_var`, an `env_var` that is also a plain variable or (on a VPS) a secret, a
    VPS environment with `network = "host"` (the app could not reach the private network), and
    an explicit container name or volume two environments on one host would share;
    `url_scheme` that is not postgres(ql)[+driver] or is on redis."""
    from cockpit.config import NAME_RE, RESERVED_ENV, _err, _model

    raw = data.get("accessories", {})
    if not isinstance(raw, dict):
        raise _err(text, label, ["accessories"], "expected tables [accessories.<name>]")
    found: dict[str, AccessoryConfig] = {}
    by_var: dict[str, str] = {}
    for name, table in raw.items():
        where = ["accessories", name]
        if not re.match(NAME_RE, name):
            raise _err(text, label, where, "accessory names are lowercase a-z, 0-9 and '-'")
        if not isinstance(table, dict):
            raise _err(text, label, where, "expected a table")
        if "kind" not in table and name not in KINDS:
            raise _err(text, label, where, 'missing key `kind` ("postgres" or "redis")')
        acc = _model(AccessoryConfig, {"kind": name, **table}, text, label, where)
        if acc.database and acc.kind != "postgres":
            raise _err(text, label, [*where, "database"], "only a postgres accessory has a "
                       "database")
        if acc.url_scheme and acc.kind != "postgres":
            raise _err(text, label, [*where, "url_scheme"], "only a postgres accessory takes "
                       f"url_scheme; a {acc.kind} URL is always {acc.spec.scheme}://")
        if acc.backup_before_release is not None and acc.kind != "postgres":
            raise _err(text, label, [*where, "backup_before_release"], "only a postgres "
                       "accessory is backed up before the release command")
        var = acc.url_var
        if var in RESERVED_ENV:
            raise _err(text, label, [*where, "env_var"], f"{var} is reserved: "
                       f"{RESERVED_ENV[var]}")
        if var in by_var:
            raise _err(text, label, [*where, "env_var"], f"{var} is also the URL of accessory "
                       f"{by_var[var]!r}; give one of them another env_var")
        by_var[var] = name
        found[name] = acc
    for env in environments.values():
        env.accessories = dict(found)
        if not found:
            continue
        for name, acc in found.items():
            var = acc.url_var
            if var in env.plain_env:
                raise _err(text, label, ["accessories", name, "env_var"],
                           f"{var} is also plain configuration of {env.name!r}; cockpit sets "
                           "it from the accessory: remove it there")
            if acc.external and env.provider == "vps":
                raise _err(text, label, ["accessories", name, "external"],
                           f"on a VPS cockpit runs accessory {name!r} itself ({env.name!r}); "
                           f"for an external one remove the table and set {var} as a secret")
            if hosted(env) or in_cluster(env, acc):
                if var in env.secret_names:
                    raise _err(text, label, ["secrets", env.name],
                               f"{var} is set by accessory {name!r} on {env.name!r}: remove it "
                               "from the secrets (cockpit generates the credentials)")
            elif var not in env.secret_names:  # external: the URL is one of its secrets
                env.secret_names.append(var)
        if hosted(env) and getattr(env.settings, "network", "bridge") == "host":
            raise _err(text, label, ["environments", env.name, "network"],
                       f'accessories need network = "bridge" on {env.name!r}: with the host '
                       "network the app cannot reach the environment's private network "
                       "(and the accessory would have to publish its port on the host)")
    _check_shared(found, environments, text, label)
    return found


def _check_shared(found: dict[str, AccessoryConfig], environments: dict[str, Any], text: str,
                  label: str) -> None:
    """Two environments on one host must not share an accessory's container or volume."""
    from cockpit.config import _err

    seen: dict[tuple[str, str], str] = {}
    for env in environments.values():
        if not hosted(env):
            continue
        host = getattr(env.settings, "host", "")
        for name, acc in found.items():
            claims = {"container_name": ("accessory container",
                                         container_name(env.app.name, env.name, name, acc)),
                      "volume": ("accessory volume",
                                 volume_name(env.app.name, env.name, name, acc))}
            for key, (what, value) in claims.items():
                mark = (what, f"{host}/{value}")
                if mark in seen and seen[mark] != env.name:
                    raise _err(text, label, ["accessories", name, key],
                               f"{what} {value!r} would be shared by environments "
                               f"{seen[mark]!r} and {env.name!r} on {host}; each environment "
                               "has its own accessory (remove the key: the default name "
                               "holds the environment's name)")
                seen[mark] = env.name


# --------------------------------------------------------------------------- from a scan

# A client the app connects with (a URL helper such as dj-database-url is not one: an app with
# only that runs on its SQLite default, and a postgres URL would break it).
_PY_CLIENTS = {"postgres": ("psycopg2", "psycopg2-binary", "psycopg", "psycopg-binary",
                            "asyncpg", "pg8000"),
               "redis": ("redis", "aioredis", "django-redis", "rq", "celery[redis]", "hiredis")}
_NODE_CLIENTS = {"postgres": ("pg", "postgres", "pg-promise", "@prisma/client"),
                 "redis": ("redis", "ioredis", "bull", "bullmq", "connect-redis")}
_GO_CLIENTS = {"postgres": ("github.com/lib/pq", "github.com/jackc/pgx"),
               "redis": ("github.com/redis/go-redis", "github.com/go-redis/redis",
                         "github.com/gomodule/redigo")}
_EXAMPLE_URL = re.compile(r"(?m)^\s*(?:export\s+)?(DATABASE_URL|REDIS_URL)\s*=\s*[\"']?"
                          r"(postgres(?:ql)?|rediss?)://")


def for_scan(result) -> list[str]:
    """The accessory kinds an app needs, from its scan (a cockpit.scan.model.ScanResult):
    "postgres" for a Postgres client dependency (psycopg/psycopg2/asyncpg/pg8000; pg, postgres,
    pg-promise; Prisma with provider "postgresql"; lib/pq, pgx) or a postgres DATABASE_URL in
    .env.example/.env.sample; "redis" for a Redis client (redis, django-redis, rq, celery[redis];
    redis, ioredis, bull(mq); go-redis, redigo) or a redis REDIS_URL there. Sorted; [] when
    the scan cannot tell. Source: the project's dependency files, read by cockpit.scan."""
    from pathlib import Path

    from cockpit.scan.project import Project

    root = getattr(result, "root", None)
    if not root or not Path(root).is_dir():
        return []
    p = Project(Path(root))
    found: set[str] = set()
    for kind in KINDS:
        if getattr(result, "stack", None) == "python" and p.has_py_dep(*_PY_CLIENTS[kind]):
            found.add(kind)
        if p.package_json and p.node_deps & set(_NODE_CLIENTS[kind]):
            found.add(kind)
        mod = p.text("go.mod") or ""
        if any(n in mod for n in _GO_CLIENTS[kind]):
            found.add(kind)
    schema = p.text("prisma/schema.prisma") or ""
    if re.search(r"provider\s*=\s*\"postgresql\"", schema):
        found.add("postgres")
    for rel in (".env.example", ".env.sample"):
        for m in _EXAMPLE_URL.finditer(p.text(rel) or ""):
            found.add("postgres" if m.group(2).startswith("postgres") else "redis")
    if "postgres" in found and "@prisma/client" in p.node_deps and "postgres" not in (
            getattr(result, "services", None) or []):
        found.discard("postgres")  # Prisma with another database
    return sorted(found)


def url_scheme_for_scan(result) -> str | None:
    """The `url_scheme` a Postgres accessory needs for the app of a scan (a ScanResult), or
    None when the default `postgresql` works: SQLAlchemy on psycopg 3 gives
    "postgresql+psycopg", on asyncpg "postgresql+asyncpg", on pg8000 "postgresql+pg8000"
    (psycopg2 is what a bare postgresql:// loads). Source: the project's dependency files,
    read by cockpit.scan.rules.postgres_url_scheme (which says why)."""
    from pathlib import Path

    from cockpit.scan.project import Project
    from cockpit.scan.rules import postgres_url_scheme

    root = getattr(result, "root", None)
    if not root or not Path(root).is_dir():
        return None
    return postgres_url_scheme(Project(Path(root)), getattr(result, "stack", None))
