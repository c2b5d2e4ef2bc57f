"""compose.yaml for running the app locally with the services it needs, each health-checked,
and the app started only once they answer (`depends_on: condition: service_healthy`). The
release command runs first as a one-off `release` service (same image, env and volumes; the
app waits for `service_completed_successfully`); `[app.volumes]` are named volumes.

Written in the Compose Specification (no `version:`), which docker-compose 1.27+ and
`docker compose` v2 both read. Local-only credentials come from `${VAR:-default}` so a real
value can be passed from the shell without editing the file.
"""

from __future__ import annotations

from cockpit.generate import Spec
from cockpit.generate.yamlout import dump

SERVICES = {
    "postgres": {
        "image": "postgres:16-alpine",
        "environment": {
            "POSTGRES_USER": "app",
            "POSTGRES_DB": "app",
            "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:-app}",
        },
        "volumes": ["postgres-data:/var/lib/postgresql/data"],
        "healthcheck": {
            "test": ["CMD-SHELL", "pg_isready -U app -d app"],
            "interval": "5s",
            "timeout": "3s",
            "retries": 10,
        },
    },
    "redis": {
        "image": "redis:7-alpine",
        "healthcheck": {
            "test": ["CMD", "redis-cli", "ping"],
            "interval": "5s",
            "timeout": "3s",
            "retries": 10,
        },
    },
    "mysql": {
        "image": "mysql:8.4",
        "environment": {
            "MYSQL_DATABASE": "app",
            "MYSQL_USER": "app",
            "MYSQL_PASSWORD": "${MYSQL_PASSWORD:-app}",
            "MYSQL_ROOT_PASSWORD": "${MYSQL_ROOT_PASSWORD:-root}",
        },
        "volumes": ["mysql-data:/var/lib/mysql"],
        "healthcheck": {
            "test": ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1"],
            "interval": "5s",
            "timeout": "3s",
            "retries": 20,
        },
    },
    "mongodb": {
        "image": "mongo:7",
        "volumes": ["mongo-data:/data/db"],
        "healthcheck": {
            "test": ["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping')"],
            "interval": "5s",
            "timeout": "5s",
            "retries": 20,
        },
    },
}
URLS = {
    # postgresql://: the scheme every common client reads (SQLAlchemy refuses postgres://);
    # SQLAlchemy with another driver gets its own (cockpit.accessories.url_scheme_for_scan)
    "postgres": ("DATABASE_URL", "postgresql://app:${POSTGRES_PASSWORD:-app}@postgres:5432/app"),
    "redis": ("REDIS_URL", "redis://redis:6379/0"),
    "mysql": ("DATABASE_URL", "mysql://app:${MYSQL_PASSWORD:-app}@mysql:3306/app"),
    "mongodb": ("MONGODB_URI", "mongodb://mongodb:27017/app"),
}
VOLUMES = {"postgres": "postgres-data", "mysql": "mysql-data", "mongodb": "mongo-data"}


def _accessory(app: str, name: str, acc) -> tuple[dict, str]:
    """The compose service of a cockpit.toml accessory (its image, a named volume
    `<name>-data`, a health check) and the URL the app gets (host: the service name)."""
    from cockpit.accessories import database, db_user

    # a lab image stands in for the official one on the lab only: a local run uses the official
    image = acc.image_ref if not acc.image_ref.startswith("cockpit-lab/") else \
        f"{acc.spec.image}:{acc.tag}"
    if acc.kind == "postgres":
        user, db = db_user(app), database(app, acc)
        service = {
            "image": image,
            "environment": {"POSTGRES_USER": user, "POSTGRES_DB": db,
                            "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:-app}"},
            "volumes": [f"{name}-data:{acc.spec.data_dir}"],
            "healthcheck": {"test": ["CMD-SHELL", f"pg_isready -U {user} -d {db}"],
                            "interval": "5s", "timeout": "3s", "retries": 10},
        }
        return service, f"{acc.scheme}://{user}:${{POSTGRES_PASSWORD:-app}}@{name}:5432/{db}"
    service = {
        "image": image,
        "volumes": [f"{name}-data:{acc.spec.data_dir}"],
        "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "5s",
                        "timeout": "3s", "retries": 10},
    }
    return service, f"redis://{name}:6379/0"


def render(spec: Spec) -> str:
    """compose.yaml text: the app, its release command, the services the scan found and the
    accessories of cockpit.toml (which replace a scanned service of the same kind)."""
    accessories = dict(getattr(spec, "accessories", None) or {})
    covered = {a.kind for a in accessories.values()}
    services = [s for s in spec.scan.services if s in SERVICES and s not in covered]
    extra = {name: _accessory(spec.app, name, acc) for name, acc in sorted(accessories.items())}
    env: dict[str, str] = {"PORT": str(spec.port)}
    for name, acc in sorted(accessories.items()):
        env[acc.url_var] = extra[name][1]
    read = {v.name for v in spec.scan.env_vars}
    for s in services:
        name, url = URLS[s]
        if s == "postgres":
            from cockpit.accessories import url_scheme_for_scan

            url = (url_scheme_for_scan(spec.scan) or "postgresql") + url[url.index(":"):]
        if s == "mongodb":
            name = next((n for n in ("MONGODB_URI", "MONGO_URL", "MONGODB_URL") if n in read), name)
        env.setdefault(name, url)
    for name, value in spec.app_env.items():  # [app.env]: plain, overridable from the shell
        literal = value.replace("$", "$$")
        env.setdefault(name, literal if "}" in value else "${" + name + ":-" + literal + "}")
    for name in spec.secrets + spec.env:
        env.setdefault(name, "${" + name + ":-}")
    mounts = [f"{name}:{path}" for name, path in sorted(spec.volumes.items())]
    app: dict = {
        "build": {"context": "."},
        "image": f"{spec.app}:dev",
        "ports": [f"127.0.0.1:{spec.port}:{spec.port}"],
        "environment": env,
    }
    if mounts:
        app["volumes"] = list(mounts)
    waits = [*services, *extra]
    if waits:
        app["depends_on"] = {s: {"condition": "service_healthy"} for s in waits}
    release = None
    if spec.release_command:
        # the one-time step: the same image, env and volumes, run to completion before the app
        release = {
            "build": {"context": "."},
            "image": f"{spec.app}:dev",
            "command": ["sh", "-c", spec.release_command],
            "environment": env,
            "restart": "no",
        }
        if mounts:
            release["volumes"] = list(mounts)
        if waits:
            release["depends_on"] = {s: {"condition": "service_healthy"} for s in waits}
        app.setdefault("depends_on", {})["release"] = {
            "condition": "service_completed_successfully"
        }
    doc: dict = {"services": {"app": app}}
    if release is not None:
        doc["services"]["release"] = release
    for s in services:
        doc["services"][s] = SERVICES[s]
    for name, (service, _) in extra.items():
        doc["services"][name] = service
    vols = {VOLUMES[s]: {} for s in services if s in VOLUMES}
    vols.update({f"{name}-data": {} for name in extra})
    vols.update({name: {} for name in sorted(spec.volumes)})
    if vols:
        doc["volumes"] = vols
    head = (
        "# Generated by `cockpit generate compose`: the app plus the services it uses, "
        "for local runs.\n# docker compose up --build   (or docker-compose up --build)\n"
    )
    return head + dump(doc)
