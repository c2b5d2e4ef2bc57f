"""Per-stack lab images that stand in for the official base images a Dockerfile names.

No image can be pulled here, so a generated Dockerfile's `FROM ${BUILD_IMAGE}` /
`FROM ${BASE_IMAGE}` / `FROM ${CADDY_IMAGE}` (TEAM.md interface 1) is pointed at images the lab
builds itself from `cockpit-lab/base:bookworm` with Debian packages, fetched over plain HTTP from
the same Debian mirror the base image uses (apt needs no CA). `build_args_for(dockerfile)` says
which lab image replaces each top-level `ARG NAME=<official image>`; with no build args the same
Dockerfile uses the official images on a normal machine.

  cockpit-lab/runtime       for distroless, debian, busybox: ca-certificates
  cockpit-lab/python        for python:* runtime stages: python3, python3-venv
  cockpit-lab/python-build  for python:* build stages: + python3-pip, the machine's CA
  cockpit-lab/node          for node:* runtime stages: nodejs (18), the `node` user (1000)
  cockpit-lab/node-build    for node:* build stages: + npm; npm -g corepack, pnpm, yarn;
                            the machine's CA
  cockpit-lab/golang        for golang:*: golang-go from bookworm-backports (1.23); the CA
  cockpit-lab/caddy         for caddy:*: caddy (2.6), busybox `wget` for the HEALTHCHECK
  cockpit-lab/haproxy       for haproxy:2.x: haproxy (2.6), the official image's paths; the
                            VPS provider's switch runs on it in the lab
  cockpit-lab/postgres      for postgres:* accessories: postgresql-15, an entrypoint taking the
                            official image's POSTGRES_USER/PASSWORD/DB and PGDATA
  cockpit-lab/redis         for redis:* accessories: redis-server and redis-cli (7.0), /data

The machine's CA bundle. Containers reach PyPI and the npm registry over HTTPS only through
this machine's TLS-inspecting egress, whose root is in `/etc/ssl/certs/ca-certificates.crt`
(measured: `pip download` in a container without it fails with `CERTIFICATE_VERIFY_FAILED:
self-signed certificate in certificate chain`; apt over http works without it). The bundle is
copied into a temporary build context and installed with `update-ca-certificates` in the *build*
images only (python-build, node-build, golang), which never leave this machine. The runtime
images (runtime, python, node, caddy) carry Debian's own ca-certificates and not the machine's
roots, and an app's runtime stage copies only its venv/app/binary from the build stage, so the
bundle is never in an app image and never in the repository (tests/lab/test_images.py proves
both). The Go module proxy does not resolve here: Go apps on the lab use the standard library
or vendor their modules.

Caching. Each image is built once and reused: its tag is stable (`cockpit-lab/<name>:bookworm`)
and its label `org.cockpit.lab.recipe` holds a hash of its recipe (Dockerfile text, the parent's
hash and, for build images, the CA bundle's hash), so a changed recipe or bundle rebuilds it and
nothing else does. Between app builds the classic builder's layer cache is the download cache:
a Dockerfile that copies its lockfile before installing reuses the install layer until the
lockfile changes. A shared HTTP cache was not worth its moving parts.

Measured on this 2-core machine, first build (the lab dir's state.json keeps the last build's
seconds under info.images.build_seconds): runtime 7 s, python 12 s, python-build 8 s, node 5 s,
node-build 38 s, golang 43 s (19 s without precompiling the standard library, which makes a
Go app's build ~21 s instead of ~96 s), caddy 5 s: about 2 minutes in all, once. When nothing
changed, `scripts/lab up images` takes 0.1-0.3 s. An app's rebuild with unchanged
requirements reuses its install layer (the Flask test app: 7.8 s, then 2.9 s).

Shell: `scripts/lab up images`. Python: `ensure_images() -> {name: ref}`,
`build_args_for(path_or_text) -> {ARG: ref}`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import engine
from ._proc import LabError, State, lab_dir, locked, run

__all__ = ["CA_BUNDLE", "IMAGES", "LABEL", "build_args_for", "ensure_images", "image_ref"]

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LABEL = "org.cockpit.lab.recipe"
TAG = "bookworm"
# Where the build images install the machine's bundle (update-ca-certificates merges it into
# /etc/ssl/certs/ca-certificates.crt, which pip, npm, node, corepack and go then trust).
CA_IN_IMAGE = "/usr/local/share/ca-certificates/cockpit-lab-machine.crt"

_APT = (
    "apt-get update -qq \\\n"
    "    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {pkgs}"
    " \\\n"
    "    && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*"
)


def _apt(*pkgs: str, target: str = "") -> str:
    release = f"-t {target} " if target else ""
    return "RUN " + _APT.format(pkgs=release + " ".join(pkgs))


_CA_STEPS = (
    f"COPY machine-ca.crt {CA_IN_IMAGE}",
)


# The lab's Postgres (bookworm's postgresql-15) takes the official image's variables and layout:
# POSTGRES_PASSWORD (required), POSTGRES_USER (default postgres), POSTGRES_DB (default the
# user), PGDATA=/var/lib/postgresql/data initialised on first start, scram-sha-256 over TCP,
# started as root and run as `postgres`; so one `docker run` serves both images.
_PG_ENTRYPOINT = """#!/bin/sh
set -e
: "${PGDATA:=/var/lib/postgresql/data}"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    pw="$(mktemp)"
    printf '%s' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" > "$pw"
    initdb -D "$PGDATA" -U "$user" --pwfile="$pw" --auth-local=trust \\
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pw"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        pg_ctl -D "$PGDATA" -o "-c listen_addresses=" -w start >/dev/null
        createdb -U "$user" "$db"
        pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    echo "initialised $PGDATA (database $db)"
fi
exec "$@"
"""


def _script_line(path: str, text: str) -> str:
    """A RUN line writing `text` to `path` (mode 755): base64 keeps its quotes and `$` intact
    (the lab's build context holds only the Dockerfile)."""
    import base64

    data = base64.b64encode(text.encode()).decode()
    return f"RUN echo {data} | base64 -d > {path} && chmod 755 {path}"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One lab image: `parent` (another recipe's name, or None for the base image), the
    Dockerfile lines after FROM, and whether it is a build image that gets the machine's CA."""

    name: str
    parent: str | None
    lines: tuple[str, ...]
    machine_ca: bool = False

    @property
    def ref(self) -> str:
        return image_ref(self.name)


IMAGES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("runtime", None, (_apt("ca-certificates"),)),
        Recipe(
            "python",
            "runtime",
            (
                _apt("python3", "python3-venv", "python-is-python3"),
                # As in the official image, pip may install outside a venv (PEP 668 marker).
                "RUN rm -f /usr/lib/python3.*/EXTERNALLY-MANAGED",
            ),
        ),
        Recipe(
            "python-build",
            "python",
            (
                *_CA_STEPS,
                _apt("python3-pip") + " \\\n    && update-ca-certificates",
                # Debian's pip trusts the system bundle; a pip, uv or requests (poetry) from
                # PyPI brings its own roots and needs to be told.
                "ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=60 PIP_RETRIES=5 "
                "PIP_CERT=/etc/ssl/certs/ca-certificates.crt "
                "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "
                "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt",
            ),
            machine_ca=True,
        ),
        Recipe(
            "node",
            "runtime",
            (
                _apt("nodejs"),
                # The official image's `node` user (uid/gid 1000): Dockerfiles say `USER node`.
                "RUN groupadd --gid 1000 node \\\n"
                "    && useradd --uid 1000 --gid node --shell /bin/bash --create-home node",
            ),
        ),
        Recipe(
            "node-build",
            "node",
            (
                *_CA_STEPS,
                _apt("npm") + " \\\n    && update-ca-certificates",
                # This machine's registry egress strips `dist.signatures`, which corepack
                # verifies for its default versions (COREPACK_INTEGRITY_KEYS=0; the tarball's
                # integrity hash is still checked); corepack's own known-good versions run on
                # Node 18 where "latest" may not, and it must not rewrite package.json.
                "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "
                "COREPACK_ENABLE_DOWNLOAD_PROMPT=0 COREPACK_INTEGRITY_KEYS=0 "
                "COREPACK_DEFAULT_TO_LATEST=0 COREPACK_ENABLE_AUTO_PIN=0 "
                "npm_config_update_notifier=false "
                "npm_config_fund=false npm_config_audit=false npm_config_fetch_retries=5",
                # corepack first (its package also ships pnpm/yarn shims); then the real pnpm
                # and yarn replace those shims. `corepack enable` in a Dockerfile re-shims them,
                # as on the official image.
                "RUN npm config --location=global set cafile "
                "/etc/ssl/certs/ca-certificates.crt \\\n"
                "    && npm install -g --no-audit --no-fund corepack@0.31.0 \\\n"
                "    && npm install -g --force --no-audit --no-fund pnpm@9.15.9 yarn@1.22.22 \\\n"
                "    && npm cache clean --force",
            ),
            machine_ca=True,
        ),
        Recipe(
            "golang",
            "runtime",
            (
                *_CA_STEPS,
                "RUN echo 'deb {mirror} bookworm-backports main' "
                "> /etc/apt/sources.list.d/backports.list",
                _apt("golang-go", target="bookworm-backports")
                + " \\\n    && update-ca-certificates",
                "ENV GOPATH=/go GOTOOLCHAIN=local PATH=/go/bin:/usr/local/sbin:/usr/local/bin:"
                "/usr/sbin:/usr/bin:/sbin:/bin",
                "RUN mkdir -p /go/bin /go/src && go version",
                # Go ships no compiled standard library: every app build would compile net/http
                # and friends again (~60 s here). Compiled once into the image's build cache,
                # they are reused by every app's `CGO_ENABLED=0 go build`.
                "RUN CGO_ENABLED=0 go build net/http encoding/json html/template database/sql "
                "log/slog os/signal embed net/http/httptest && go clean -modcache",
            ),
            machine_ca=True,
        ),
        Recipe(
            "postgres",
            "runtime",
            (
                # postgresql-common would create a cluster `main` on install: not wanted
                "RUN mkdir -p /etc/postgresql-common/createcluster.d \\\n"
                "    && echo 'create_main_cluster = false' "
                "> /etc/postgresql-common/createcluster.d/cockpit.conf",
                _apt("postgresql-15"),
                "ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                "/usr/bin:/sbin:/bin PGDATA=/var/lib/postgresql/data LANG=C.UTF-8",
                _script_line("/usr/local/bin/docker-entrypoint.sh", _PG_ENTRYPOINT),
                "RUN mkdir -p /var/lib/postgresql/data /run/postgresql \\\n"
                "    && chown -R postgres:postgres /var/lib/postgresql /run/postgresql",
                "EXPOSE 5432",
                'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
                'CMD ["postgres", "-c", "listen_addresses=*"]',
            ),
        ),
        Recipe(
            "redis",
            "runtime",
            (
                _apt("redis-server", "redis-tools"),
                "RUN mkdir -p /data && chown redis:redis /data",
                "WORKDIR /data",
                "EXPOSE 6379",
                'CMD ["redis-server", "--dir", "/data"]',
            ),
        ),
        Recipe(
            "caddy",
            "runtime",
            (
                _apt("caddy", "busybox"),
                # The official image's HEALTHCHECKs use busybox wget; its layout is kept too.
                "RUN ln -s /bin/busybox /usr/local/bin/wget \\\n"
                "    && mkdir -p /config/caddy /data/caddy /srv /etc/caddy \\\n"
                "    && test -f /etc/caddy/Caddyfile",
                "ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data",
                "WORKDIR /srv",
                "EXPOSE 80 443",
                'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", '
                '"--adapter", "caddyfile"]',
            ),
        ),
        Recipe(
            "haproxy",
            "runtime",
            (
                # For haproxy:2.x (the VPS switch): the official image's paths and its
                # master-worker, foreground command line.
                _apt("haproxy"),
                "RUN ln -s /usr/sbin/haproxy /usr/local/sbin/haproxy \\\n"
                "    && mkdir -p /usr/local/etc/haproxy /var/lib/haproxy \\\n"
                "    && cp /etc/haproxy/haproxy.cfg /usr/local/etc/haproxy/haproxy.cfg",
                "STOPSIGNAL SIGUSR1",
                'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]',
            ),
        ),
    )
}

BUILD_IMAGES = tuple(n for n, r in IMAGES.items() if r.machine_ca)
RUNTIME_IMAGES = tuple(n for n, r in IMAGES.items() if not r.machine_ca)


def image_ref(name: str) -> str:
    """`cockpit-lab/<name>:bookworm`, the stable reference of lab image `name` (a key of
    IMAGES); raises KeyError naming the known images for any other name."""
    if name not in IMAGES:
        raise KeyError(f"no lab image {name!r}; known: {', '.join(IMAGES)}")
    return f"cockpit-lab/{name}:{TAG}"


def dockerfile(name: str) -> str:
    """The Dockerfile text of lab image `name` (what its recipe hash covers)."""
    recipe = IMAGES[name]
    parent = engine.BASE_IMAGE if recipe.parent is None else image_ref(recipe.parent)
    body = "\n".join(recipe.lines).replace("{mirror}", engine.debian_mirror())
    return f"FROM {parent}\n{body}\n"


def recipe_hash(name: str, ca_bundle: Path = CA_BUNDLE) -> str:
    """sha256 (hex, first 16) of `name`'s Dockerfile, its parent's hash and, for a build
    image, the CA bundle's bytes: equal hashes mean the existing image is still right."""
    recipe = IMAGES[name]
    h = hashlib.sha256(dockerfile(name).encode())
    if recipe.parent is not None:
        h.update(recipe_hash(recipe.parent, ca_bundle).encode())
    if recipe.machine_ca:
        h.update(_read_bundle(ca_bundle))
    return h.hexdigest()[:16]


def _read_bundle(ca_bundle: Path) -> bytes:
    try:
        data = ca_bundle.read_bytes()
    except OSError as exc:
        raise LabError(
            f"the machine's CA bundle {ca_bundle} cannot be read ({exc.strerror}): install the "
            "Debian package ca-certificates; build images need it to reach PyPI and npm"
        ) from None
    if b"BEGIN CERTIFICATE" not in data:
        raise LabError(f"{ca_bundle} holds no PEM certificate")
    return data


def _labels(refs: list[str]) -> dict[str, str | None]:
    """{ref: recipe label or None when the image is absent}, with one `docker image inspect`."""
    res = run(
        ["docker", "image", "inspect", "-f", "{{index .Config.Labels \"" + LABEL + "\"}}", *refs],
        check=False,
        timeout=60,
    )
    out: dict[str, str | None] = dict.fromkeys(refs)
    if res.returncode == 0:
        for ref, line in zip(refs, res.stdout.decode().splitlines(), strict=False):
            out[ref] = line.strip() or None
        return out
    for ref in refs:  # some are missing: ask one by one
        one = run(["docker", "image", "inspect", "-f",
                   "{{index .Config.Labels \"" + LABEL + "\"}}", ref], check=False, timeout=30)
        if one.returncode == 0:
            out[ref] = one.stdout.decode().strip() or None
    return out


def _build(name: str, want: str, log: Path, ca_bundle: Path) -> float:
    recipe = IMAGES[name]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"cockpit-lab-{name}-") as ctx:
        Path(ctx, "Dockerfile").write_text(dockerfile(name))
        if recipe.machine_ca:
            shutil.copyfile(ca_bundle, Path(ctx, "machine-ca.crt"))
        with open(log, "ab") as out:
            out.write(f"\n=== build {recipe.ref} ({LABEL}={want})\n".encode())
            out.flush()
            res = subprocess.run(
                ["docker", "build", "--force-rm", "--label", f"{LABEL}={want}", "-t",
                 recipe.ref, ctx],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "DOCKER_BUILDKIT": "0"},
                timeout=1800,
            )
    seconds = round(time.monotonic() - started, 1)
    if res.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise LabError(f"building lab image {recipe.ref} failed ({res.returncode}); "
                       f"see {log}\n{tail}")
    with open(log, "a") as out:
        out.write(f"=== {recipe.ref} built in {seconds}s\n")
    return seconds


def _order() -> list[str]:
    """Recipe names, parents before children."""
    done: list[str] = []

    def visit(n: str) -> None:
        if n in done:
            return
        parent = IMAGES[n].parent
        if parent:
            visit(parent)
        done.append(n)

    for n in IMAGES:
        visit(n)
    return done


def ensure(state: State, ca_bundle: Path = CA_BUNDLE) -> dict[str, object]:
    """Build the lab images that are missing or whose recipe changed (the lab lock is held).

    Returns the `info.images` entry of state.json: {"up": True, "images": {name: ref},
    "build_seconds": {name: seconds of the last build of that image}}. Raises LabError naming
    the image and its build log when a build fails.
    """
    if not engine.image_exists():
        raise LabError(f"{engine.BASE_IMAGE} is missing: bring the lab's `image` part up first")
    names = _order()
    wants = {n: recipe_hash(n, ca_bundle) for n in names}
    have = _labels([image_ref(n) for n in names])
    previous = dict((state.info.get("images") or {}).get("build_seconds") or {})
    log = state.root / "images.log"
    replaced: list[str] = []
    for n in names:
        ref = image_ref(n)
        if have[ref] == wants[n]:
            continue
        old = run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], check=False, timeout=30)
        previous[n] = _build(n, wants[n], log, ca_bundle)
        if old.returncode == 0:
            replaced.append(old.stdout.decode().strip())
    for image_id in reversed(replaced):  # the lab's own superseded images; children first
        run(["docker", "image", "rm", image_id], check=False, timeout=60)
    return {"up": True, "images": {n: image_ref(n) for n in names}, "build_seconds": previous}


def images_ok(ca_bundle: Path = CA_BUNDLE) -> bool:
    """True when every lab image exists with its current recipe label (for `lab status`)."""
    try:
        wants = {image_ref(n): recipe_hash(n, ca_bundle) for n in IMAGES}
    except LabError:
        return False
    return _labels(list(wants)) == wants


def ensure_images() -> dict[str, str]:
    """Build the per-stack lab images once (reused while their recipe is unchanged) and return
    {name: image reference}, e.g. {"python-build": "cockpit-lab/python-build:bookworm", ...}.

    Takes the lab lock; the engine and the base image must be up (`scripts/lab up` does both,
    and builds these as its `images` part). Raises LabError when a build fails.
    """
    root = lab_dir()
    with locked(root):
        state = State(root)
        info = ensure(state)
        state.info["images"] = info
        state.save()
    return dict(info["images"])  # type: ignore[arg-type]


# --- build_args_for ----------------------------------------------------------------------------

# ARG names of TEAM.md interface 1: which variant of a language image each one means.
_BUILD_ARG = "BUILD_IMAGE"
_RUNTIME_ARGS = ("BASE_IMAGE",)
_ARG_RE = re.compile(r"^\s*ARG\s+(.*)$", re.IGNORECASE)
_FROM_RE = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE)


def _official(image: str) -> str | None:
    """The official image's repository path (`python`, `distroless/static-debian12`), or None
    when `image` is not an official image of Docker Hub or gcr.io/distroless."""
    ref = image.split("@", 1)[0]
    parts = ref.split("/")
    last = parts[-1].split(":", 1)[0]
    parts = [*parts[:-1], last]
    host = None
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        host, parts = parts[0], parts[1:]
    if host in (None, "docker.io", "index.docker.io", "registry-1.docker.io"):
        if parts[:1] == ["library"]:
            parts = parts[1:]
        return parts[0] if len(parts) == 1 else None
    if host == "public.ecr.aws" and parts[:2] == ["docker", "library"] and len(parts) == 3:
        return parts[2]
    if host == "gcr.io" and parts[:1] == ["distroless"] and len(parts) == 2:
        return "distroless/" + parts[1]
    return None


def _lab_image_for(official: str, build: bool) -> str | None:
    if official == "python":
        return image_ref("python-build" if build else "python")
    if official == "node":
        return image_ref("node-build" if build else "node")
    if official == "golang":
        return image_ref("golang")
    if official == "caddy":
        return image_ref("caddy")
    if official == "haproxy":
        return image_ref("haproxy")
    if official in ("debian", "busybox"):
        return image_ref("runtime")
    if official.startswith("distroless/"):
        flavour = official.split("/", 1)[1]
        if flavour.startswith("python3"):
            return image_ref("python")
        if flavour.startswith("nodejs"):
            return image_ref("node")
        return image_ref("runtime")
    return None


def _instructions(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction) with continuations joined and comments dropped."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if not buf:
            start = number
        if line.endswith("\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        out.append((start, " ".join(s.strip() for s in buf)))
        buf = []
    if buf:
        out.append((start, " ".join(s.strip() for s in buf)))
    return out


def _arg_pairs(rest: str, where: str) -> list[tuple[str, str | None]]:
    import shlex

    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise ValueError(f"{where}: ARG {rest!r} cannot be read ({exc})") from None
    pairs = []
    for word in words:
        name, eq, value = word.partition("=")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{where}: ARG name {name!r} is not a valid build argument name")
        pairs.append((name, value if eq else None))
    return pairs


def build_args_for(dockerfile: str | Path) -> dict[str, str]:
    """The `--build-arg` values that make `dockerfile` build on the lab: {ARG name: lab image}.

    `dockerfile` is a Path to a Dockerfile, or a str holding either a path to an existing file
    (one line, no newline) or the Dockerfile's text. Every ARG declared before the first FROM
    whose default is an official image (Docker Hub's python, node, golang, debian, busybox,
    caddy, with or without `docker.io/library/`, and gcr.io/distroless/*) maps to the lab image
    that stands in for it (TEAM.md interface 2):
      python: BUILD_IMAGE -> cockpit-lab/python-build, BASE_IMAGE -> cockpit-lab/python;
      node:   BUILD_IMAGE -> cockpit-lab/node-build,   BASE_IMAGE -> cockpit-lab/node;
      golang -> cockpit-lab/golang; debian, busybox, distroless (static/base/cc) ->
      cockpit-lab/runtime (distroless python3/nodejs -> cockpit-lab/python / node);
      caddy -> cockpit-lab/caddy.
    Any other ARG name chooses the build variant only when no final stage is FROM it (so the
    machine's CA never reaches a runtime image through an unexpected name). ARGs without a
    default, with other images (postgres, nginx, alpine, a private registry's images) or with
    `${...}` in the value are left out. Pure: reads the file, builds nothing.

    Raises FileNotFoundError naming the path when a Path does not exist, and ValueError naming
    file and line for an ARG that docker itself would reject.
    """
    if isinstance(dockerfile, Path) or ("\n" not in dockerfile and Path(dockerfile).is_file()):
        path = Path(dockerfile)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such Dockerfile") from None
        source = str(path)
    else:
        text, source = dockerfile, "<Dockerfile text>"
    steps = _instructions(text)
    args: list[tuple[str, str, int]] = []
    froms: list[str] = []
    for number, instr in steps:
        m = _FROM_RE.match(instr)
        if m:
            froms.append(m.group(1))
            continue
        if froms:
            continue
        a = _ARG_RE.match(instr)
        if a:
            for name, value in _arg_pairs(a.group(1), f"{source}:{number}"):
                if value:
                    args.append((name, value, number))
    final = froms[-1] if froms else ""
    out: dict[str, str] = {}
    for name, value, _ in args:
        if "$" in value:
            continue
        official = _official(value)
        if official is None:
            continue
        if name == _BUILD_ARG:
            build = True
        elif name in _RUNTIME_ARGS:
            build = False
        else:
            used = [f for f in froms if f in (f"${name}", f"${{{name}}}")]
            build = bool(used) and not any(f == final for f in used)
        lab_image = _lab_image_for(official, build)
        if lab_image:
            out[name] = lab_image
    return out
