"""Pure builders of the commands cockpit runs on a VPS host: argv lists, nothing executed.

Like Kamal's commands/: building is pure so tests compare argv exactly; `ssh.SshTransport`
runs them (joined with `shlex.join`, so every argument is quoted and no user input is ever
glued into a shell string). The few shell scripts below are fixed text; their inputs are
positional parameters (`sh -c SCRIPT sh ARG...`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LABEL = "cockpit"  # label prefix: cockpit.app, cockpit.env, cockpit.release, ...
SLOTS = ("blue", "green")


def other_slot(slot: str) -> str:
    return "green" if slot == "blue" else "blue"


def safe_name(text: str) -> str:
    """A docker-name-safe rendering of a release id."""
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", text)


@dataclass(frozen=True)
class Layout:
    """Where cockpit keeps things on the host, under the SSH user's home (absolute paths)."""

    home: str
    app: str
    env: str

    @property
    def root(self) -> str:
        return f"{self.home}/.cockpit"

    @property
    def key(self) -> str:
        return f"{self.app}-{self.env}"

    # edge (Caddy)
    @property
    def edge_dir(self) -> str:
        return f"{self.root}/edge"

    @property
    def caddyfile(self) -> str:
        return f"{self.edge_dir}/Caddyfile"

    @property
    def sites_dir(self) -> str:
        return f"{self.edge_dir}/sites"

    @property
    def site_file(self) -> str:
        return f"{self.sites_dir}/{self.key}.caddy"

    @property
    def edge_ca_dir(self) -> str:
        return f"{self.edge_dir}/ca"

    @property
    def edge_ca_file(self) -> str:
        return f"{self.edge_ca_dir}/{self.key}.pem"

    @property
    def edge_pid(self) -> str:
        return f"{self.edge_dir}/caddy.pid"

    @property
    def edge_log(self) -> str:
        return f"{self.edge_dir}/caddy.log"

    @property
    def edge_data(self) -> str:
        return f"{self.edge_dir}/data"

    # switch (HAProxy)
    @property
    def switch_dir(self) -> str:
        return f"{self.root}/switch"

    @property
    def switch_cfg(self) -> str:
        return f"{self.switch_dir}/haproxy.cfg"

    @property
    def switch_envs(self) -> str:
        return f"{self.switch_dir}/envs"

    @property
    def switch_env_cfg(self) -> str:
        return f"{self.switch_envs}/{self.key}.cfg"

    @property
    def switch_sock(self) -> str:
        return f"{self.switch_dir}/admin.sock"

    @property
    def switch_pid(self) -> str:
        return f"{self.switch_dir}/haproxy.pid"

    # the app's environment
    @property
    def app_dir(self) -> str:
        return f"{self.root}/apps/{self.app}/{self.env}"

    @property
    def releases_dir(self) -> str:
        return f"{self.app_dir}/releases"

    @property
    def lock_dir(self) -> str:
        return f"{self.app_dir}/lock"

    def env_file(self, release_id: str) -> str:
        return f"{self.releases_dir}/{safe_name(release_id)}.env"

    def release_file(self, release_id: str) -> str:
        return f"{self.releases_dir}/{safe_name(release_id)}.json"


# --------------------------------------------------------------------------- files


WRITE_FILE = (
    'set -eu; umask 077; tmp="$1.tmp.$$"; cat > "$tmp"; chmod "$2" "$tmp"; mv -f "$tmp" "$1"'
)


def write_file(path: str, mode: str = "600") -> list[str]:
    """Atomically write stdin to `path` with `mode`; never readable by others mid-write."""
    return ["sh", "-c", WRITE_FILE, "sh", path, mode]


def mkdirs(*paths: str) -> list[str]:
    return ["mkdir", "-p", "-m", "700", *paths]


def remove_files(*paths: str) -> list[str]:
    return ["rm", "-f", "--", *paths]


def read_release_files(releases_dir: str) -> list[str]:
    """Every release record's JSON, one per line (empty output when none)."""
    return ["sh", "-c", 'for f in "$1"/*.json; do [ -f "$f" ] && { cat "$f"; echo; }; done; true',
            "sh", releases_dir]


def home() -> list[str]:
    return ["sh", "-c", 'printf %s "$HOME"']


def disk_free_kb(path: str) -> list[str]:
    return ["df", "-Pk", path]


# --------------------------------------------------------------------------- docker


def docker_version() -> list[str]:
    return ["docker", "version", "--format", "{{.Server.Version}}"]


def docker_image_id(image: str) -> list[str]:
    return ["docker", "image", "inspect", "--format", "{{.Id}}", image]


def docker_pull(ref: str) -> list[str]:
    return ["docker", "pull", "--quiet", ref]


def docker_load() -> list[str]:
    return ["docker", "load", "--quiet"]


def labels_for(
    *, app: str, env: str, release: str, image: str, digest: str, config_hash: str,
    secrets_digest: str, slot: str, created_at: float, created_by: str,
    source_rev: str | None = None, promoted_from: str | None = None,
    volumes: dict[str, str] | None = None,
) -> dict[str, str]:
    """`volumes` (volume name on the host -> path in the container) is kept as a JSON label, so
    a rollback that re-creates the container mounts what that release mounted."""
    import json

    labels = {
        "app": app, "env": env, "release": release, "image": image, "digest": digest,
        "config-hash": config_hash, "secrets-digest": secrets_digest, "slot": slot,
        "created-at": f"{created_at:.3f}", "created-by": created_by,
    }
    if source_rev:
        labels["source-rev"] = source_rev
    if promoted_from:
        labels["promoted-from"] = promoted_from
    if volumes:
        labels["volumes"] = json.dumps(volumes, sort_keys=True, separators=(",", ":"))
    return {f"{LABEL}.{k}": v for k, v in labels.items()}


def volume_name(app: str, env: str, name: str) -> str:
    """The docker volume of `[app.volumes] name` in one environment: `cockpit-<app>-<env>-<name>`
    (each environment its own; staging never touches prod's data)."""
    return f"cockpit-{app}-{env}-{name}"


def docker_volume_create(name: str, *, app: str, env: str) -> list[str]:
    """Create a named local volume (idempotent: an existing volume is kept, data and all)."""
    return ["docker", "volume", "create", "--label", f"{LABEL}.app={app}",
            "--label", f"{LABEL}.env={env}", name]


def _mounts(volumes: dict[str, str] | None) -> list[str]:
    argv: list[str] = []
    for source in sorted(volumes or {}):
        argv += ["--mount", f"type=volume,source={source},target={volumes[source]}"]
    return argv


def docker_run_release_command(
    *, name: str, image: str, env_file: str, network: str, container_port: int, release: str,
    volumes: dict[str, str] | None, command: str, app: str, env: str,
) -> list[str]:
    """Run the release command once, attached (its output is the step's log), in a one-off
    container of the release's image: same env file, volumes and network as the app, the
    image's own user, WORKDIR and entrypoint; `--rm` so nothing is left when it ends. It has
    no `cockpit.app` label: it is never taken for a release's container."""
    argv = ["docker", "run", "--rm", "--name", name, "--init", "--env-file", env_file,
            "--label", f"{LABEL}.release-command={app}-{env}"]
    if network == "host":
        argv += ["--network", "host"]
    argv += ["--env", f"PORT={container_port}", "--env", f"COCKPIT_RELEASE={release}"]
    argv += _mounts(volumes)
    return argv + [image, "sh", "-c", command]


def docker_run(
    *, name: str, image: str, env_file: str, labels: dict[str, str], network: str,
    slot_port: int, container_port: int, release: str, health_path: str | None = None,
    volumes: dict[str, str] | None = None,
) -> list[str]:
    """Start a release's container detached, beside whatever runs now.

    With the host network the app listens on the slot port (PORT); with a bridge network the
    container port is published on the host's loopback only. `volumes`: docker volume name ->
    absolute path in the container, each mounted with `--mount type=volume`.
    """
    argv = ["docker", "run", "--detach", "--name", name, "--init",
            "--restart", "unless-stopped", "--env-file", env_file,
            "--log-opt", "max-size=10m", "--log-opt", "max-file=3"]
    if network == "host":
        argv += ["--network", "host", "--env", f"PORT={slot_port}"]
    else:
        argv += ["--publish", f"127.0.0.1:{slot_port}:{container_port}",
                 "--env", f"PORT={container_port}"]
    argv += ["--env", f"COCKPIT_RELEASE={release}"]
    argv += _mounts(volumes)
    for key in sorted(labels):
        argv += ["--label", f"{key}={labels[key]}"]
    argv.append(image)
    return argv


def docker_ps_ids(app: str, env: str, *, all_states: bool = True) -> list[str]:
    argv = ["docker", "ps", "--quiet", "--no-trunc"]
    if all_states:
        argv.append("--all")
    return argv + ["--filter", f"label={LABEL}.app={app}", "--filter", f"label={LABEL}.env={env}"]


INSPECT_FORMAT = (
    '{"Id":{{json .Id}},"Name":{{json .Name}},"Created":{{json .Created}},'
    '"RestartCount":{{.RestartCount}},"State":{{json .State}},"Labels":{{json .Config.Labels}}}'
)


def docker_inspect_env(app: str, env: str) -> list[str]:
    """One JSON object per line for every container of the environment, in one exec.

    Only what cockpit reads (id, name, state, labels): never `Config.Env`, which holds the
    release's secrets, so they do not cross the wire on reads."""
    return ["sh", "-c", 'ids=$(docker ps --quiet --no-trunc --all --filter "label=$1" '
            '--filter "label=$2") || exit 1; [ -z "$ids" ] || exec docker inspect '
            '--type container --format "$3" $ids',
            "sh", f"{LABEL}.app={app}", f"{LABEL}.env={env}", INSPECT_FORMAT]


def chain(*argvs: list[str], always: bool = False) -> list[str]:
    """Several commands in one exec (each argv quoted with shlex.join): `&&`, or `;` when
    `always`. Saves round trips; no argument is ever glued unquoted."""
    import shlex

    return ["sh", "-c", (" ; " if always else " && ").join(shlex.join(a) for a in argvs)]


def quiet(argv: list[str]) -> list[str]:
    """Run argv ignoring its failure and output (e.g. removing what may not exist)."""
    import shlex

    return ["sh", "-c", shlex.join(argv) + " >/dev/null 2>&1 || true"]


def docker_inspect(ids: list[str]) -> list[str]:
    return ["docker", "inspect", "--type", "container", *ids]


def docker_start(name: str) -> list[str]:
    return ["docker", "start", name]


def docker_stop(name: str, timeout: int) -> list[str]:
    return ["docker", "stop", "--time", str(timeout), name]


def docker_stop_detached(name: str, timeout: int) -> list[str]:
    """Stop in the background on the host: the caller does not wait the ~0.2 s a stop takes.
    (Anything that needs it stopped runs `docker stop`, which waits for a stop in progress.)"""
    return ["sh", "-c", 'nohup docker stop --time "$2" "$1" >/dev/null 2>&1 &', "sh", name,
            str(timeout)]


def docker_rm(*names: str, force: bool = True) -> list[str]:
    return ["docker", "rm", *(["--force"] if force else []), *names]


def docker_logs(
    name: str, *, follow: bool = False, since: str | None = None, tail: int | None = None,
    timestamps: bool = True,
) -> list[str]:
    argv = ["docker", "logs"]
    if timestamps:
        argv.append("--timestamps")
    if follow:
        argv.append("--follow")
    if since:
        argv += ["--since", since]
    if tail is not None:
        argv += ["--tail", str(tail)]
    return argv + [name]


def docker_logs_merged(name: str, tail: int) -> list[str]:
    """The last lines of stdout and stderr in their order (for gate failure reports)."""
    return ["sh", "-c", 'docker logs --tail "$2" "$1" 2>&1', "sh", name, str(tail)]


# --------------------------------------------------------------------------- lock
# The lock is a directory (mkdir is atomic); every operation runs under flock on a guard file,
# so a take-over of an expired lock cannot race with its holder's refresh or another take-over.
# Expiry is judged by the host's clock. Exit codes: 0 done, 3 held by someone else.

_LOCK_PRELUDE = (
    'set -eu; d="$1"; mkdir -p "$(dirname "$d")"; exec 9>"$d.guard"; '
    'flock -w 10 9 || { echo "lock guard busy" >&2; exit 4; }; now=$(date +%s); '
)

LOCK_ACQUIRE = _LOCK_PRELUDE + (
    'if mkdir "$d" 2>/dev/null; then state=ACQUIRED; '
    'else exp=$(cat "$d/expires" 2>/dev/null || echo 0); '
    '  if [ "$now" -lt "$exp" ]; then printf "HELD "; cat "$d/info.json" 2>/dev/null; exit 3; fi; '
    '  printf "EXPIRED "; cat "$d/info.json" 2>/dev/null; echo; state=TAKEN; fi; '
    'printf %s "$2" > "$d/info.json"; printf %s "$4" > "$d/token"; '
    'echo $((now + $3)) > "$d/expires"; echo "$state $now $((now + $3))"'
)

LOCK_REFRESH = _LOCK_PRELUDE + (
    '[ "$(cat "$d/token" 2>/dev/null)" = "$2" ] || { echo "LOST"; exit 3; }; '
    'echo $((now + $3)) > "$d/expires"; echo "REFRESHED $((now + $3))"'
)

LOCK_RELEASE = _LOCK_PRELUDE + (
    '[ -d "$d" ] || { echo "FREE"; exit 0; }; '
    'if [ -n "$2" ] && [ "$(cat "$d/token" 2>/dev/null)" != "$2" ]; then '
    '  echo "NOT_OURS"; exit 3; fi; '
    'rm -rf "$d"; echo "RELEASED"'
)

LOCK_STATUS = (
    'd="$1"; [ -d "$d" ] || { echo FREE; exit 0; }; '
    'echo "HELD $(date +%s) $(cat "$d/expires" 2>/dev/null || echo 0)"; '
    'cat "$d/info.json" 2>/dev/null'
)


def lock_acquire(lock_dir: str, info_json: str, ttl: int, token: str) -> list[str]:
    return ["sh", "-c", LOCK_ACQUIRE, "sh", lock_dir, info_json, str(ttl), token]


def lock_refresh(lock_dir: str, token: str, ttl: int) -> list[str]:
    return ["sh", "-c", LOCK_REFRESH, "sh", lock_dir, token, str(ttl)]


def lock_release(lock_dir: str, token: str = "") -> list[str]:
    """Release; with an empty token, release whoever holds it (`cockpit lock release`)."""
    return ["sh", "-c", LOCK_RELEASE, "sh", lock_dir, token]


def lock_status(lock_dir: str) -> list[str]:
    return ["sh", "-c", LOCK_STATUS, "sh", lock_dir]


# --------------------------------------------------------------------------- edge and switch


def caddy_start(caddyfile: str, pidfile: str, log: str) -> list[str]:
    """`caddy start` forks and returns once the config is loaded; its output goes to `log`."""
    return ["sh", "-c", 'caddy start --config "$1" --adapter caddyfile --pidfile "$2" >>"$3" 2>&1',
            "sh", caddyfile, pidfile, log]


def caddy_validate(caddyfile: str) -> list[str]:
    return ["caddy", "validate", "--config", caddyfile, "--adapter", "caddyfile"]


def caddy_stop(admin: str) -> list[str]:
    return ["caddy", "stop", "--address", admin]


def remove_cert_dirs(storage: str, domain: str) -> list[str]:
    """Caddy's stored certificate of one domain, under every issuer."""
    return ["sh", "-c", 'rm -rf -- "$1"/certificates/*/"$2"', "sh", storage, domain]


def caddy_reload(caddyfile: str, admin: str) -> list[str]:
    return ["caddy", "reload", "--config", caddyfile, "--adapter", "caddyfile", "--address", admin]


def which(name: str) -> list[str]:
    """Path of a binary, also in the sbin directories a non-root PATH often lacks."""
    return ["sh", "-c", 'command -v "$1" && exit 0; for d in /usr/sbin /sbin /usr/local/sbin; do '
            '[ -x "$d/$1" ] && { echo "$d/$1"; exit 0; }; done; exit 1', "sh", name]


def haproxy_check(cfg: str, envs_dir: str, binary: str = "haproxy") -> list[str]:
    return [binary, "-c", "-q", "-f", cfg, "-f", envs_dir]


def haproxy_start(cfg: str, envs_dir: str, pidfile: str, binary: str = "haproxy") -> list[str]:
    return [binary, "-D", "-p", pidfile, "-f", cfg, "-f", envs_dir]


def haproxy_reload(cfg: str, envs_dir: str, pidfile: str, sock: str,
                   binary: str = "haproxy") -> list[str]:
    """Seamless reload: the new process takes the listening sockets over (`-x`), the old one
    finishes its connections (`-sf`). Only setup and domain changes reload; deploys never do."""
    return ["sh", "-c",
            'set -eu; old=$(cat "$3" 2>/dev/null || true); '
            'if [ -S "$4" ]; then exec "$5" -D -p "$3" -f "$1" -f "$2" -x "$4" -sf $old; '
            'else exec "$5" -D -p "$3" -f "$1" -f "$2" -sf $old; fi',
            "sh", cfg, envs_dir, pidfile, sock, binary]


def pid_alive(pidfile: str) -> list[str]:
    return ["sh", "-c", 'p=$(cat "$1" 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"',
            "sh", pidfile]
