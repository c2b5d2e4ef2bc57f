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

    @property
    def edge_admin_sock(self) -> str:
        """Caddy's admin API: a unix socket inside the edge's data directory (0700, the edge
        user's), so no other local user or host-network container can reach it."""
        return f"{self.edge_data}/admin.sock"

    @property
    def edge_loaded(self) -> str:
        """sha256 of the edge config the running Caddy last loaded (written after a load)."""
        return f"{self.edge_dir}/loaded"

    @property
    def host_images(self) -> str:
        """The host's own default images for the edge and the switch (JSON), e.g. a lab host
        that cannot pull the official ones: {"edge": "...", "switch": "..."}."""
        return f"{self.root}/images.json"

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


def remove_cert_dirs(storage: str, domain: str) -> list[str]:
    """Caddy's stored certificate of one domain, under every issuer."""
    return ["sh", "-c", 'rm -rf -- "$1"/certificates/*/"$2"', "sh", storage, domain]


# --------------------------------------------------------------------------- supervised edge
# The edge (Caddy) and the switch (HAProxy) run as containers on the host's Docker engine with
# `--restart unless-stopped`, the way Kamal runs its proxy: a crash, an OOM kill or a reboot
# brings them back without any cockpit command. Host network (they serve the host's ports and
# reach each environment's loopback ports); each one's directory is mounted at the same path,
# so the config files name the same paths inside and outside.

EDGE_CONTAINER = "cockpit-edge"
SWITCH_CONTAINER = "cockpit-switch"
DEFAULT_EDGE_IMAGE = "caddy:2"
DEFAULT_SWITCH_IMAGE = "haproxy:2.8"
# The edge runs as this uid/gid, never the SSH user's: it must not be able to read the env
# files (0600, the SSH user's), whatever its config says. No user of that id exists.
EDGE_UID = 62019
ROLE_LABEL = f"{LABEL}.role"
SPEC_LABEL = f"{LABEL}.spec"
EDGE_START = 'rm -f "$1"; exec caddy run --config "$2" --adapter caddyfile'


def _spec(argv: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\0".join(argv).encode()).hexdigest()[:16]


def spec_of(argv: list[str]) -> str:
    """The `cockpit.spec` label value in a `docker run` argv built here ("" when none)."""
    prefix = f"{SPEC_LABEL}="
    return next((a[len(prefix):] for a in argv if a.startswith(prefix)), "")


def _supervised(name: str, role: str, body: list[str]) -> list[str]:
    """`docker run` of a supervised service; its label `cockpit.spec` hashes everything else in
    the command line, so a changed image, mount or user means a new container."""
    argv = ["docker", "run", "--detach", "--name", name, "--restart", "unless-stopped",
            "--network", "host", "--log-opt", "max-size=10m", "--log-opt", "max-file=3",
            "--label", f"{ROLE_LABEL}={role}", *body]
    return argv[:-len(body)] + ["--label", f"{SPEC_LABEL}={_spec(argv)}", *body]


def edge_run(*, image: str, edge_dir: str, data_dir: str, caddyfile: str, sock: str,
             uid: int = EDGE_UID) -> list[str]:
    """Start the edge: Caddy as `uid` (not the SSH user), host network, only the edge's
    directory mounted (certificates under `data_dir`, owned by `uid`), every capability
    dropped but binding ports below 1024. A stale admin socket left by a killed Caddy is
    removed first (Caddy would refuse to bind it)."""
    return _supervised(EDGE_CONTAINER, "edge", [
        "--user", f"{uid}:{uid}", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
        "--env", f"HOME={data_dir}", "--env", f"XDG_DATA_HOME={data_dir}",
        "--env", f"XDG_CONFIG_HOME={data_dir}/config",
        "--mount", f"type=bind,source={edge_dir},target={edge_dir}",
        "--entrypoint", "sh", image, "-c", EDGE_START, "sh", sock, caddyfile])


def switch_run(*, image: str, switch_dir: str, cfg: str, envs_dir: str, uid: int,
               gid: int) -> list[str]:
    """Start the switch: HAProxy in master-worker mode in the foreground (`-W -db`), as the SSH
    user (its runtime socket, mode 0600, is then the SSH user's alone), host network, only the
    switch's directory mounted, no capabilities (its ports are above 1024)."""
    return _supervised(SWITCH_CONTAINER, "switch", [
        "--user", f"{uid}:{gid}", "--cap-drop", "ALL",
        "--mount", f"type=bind,source={switch_dir},target={switch_dir}",
        "--entrypoint", "haproxy", image, "-W", "-db", "-f", cfg, "-f", envs_dir])


SUPERVISED_FORMAT = (
    '{"Name":{{json .Name}},"Status":{{json .State.Status}},"Running":{{json .State.Running}},'
    '"StartedAt":{{json .State.StartedAt}},"RestartCount":{{.RestartCount}},'
    '"Spec":{{json (index .Config.Labels "' + SPEC_LABEL + '")}}}'
)


def supervised_state() -> list[str]:
    """One JSON line per existing edge/switch container (missing ones print nothing)."""
    return ["sh", "-c", 'docker inspect --type container --format "$1" "$2" "$3" 2>/dev/null; '
            "true", "sh", SUPERVISED_FORMAT, EDGE_CONTAINER, SWITCH_CONTAINER]


def host_facts(edge_data: str, images_file: str) -> list[str]:
    """The SSH user's uid and gid, the owner uid of the edge's data directory ("none" when
    absent) and the host's default images file (may be empty), one per line."""
    return ["sh", "-c", 'id -u; id -g; stat -c %u "$1" 2>/dev/null || echo none; '
            'cat "$2" 2>/dev/null | tr -d "\n"; echo', "sh", edge_data, images_file]


def ensure_image(image: str) -> list[str]:
    """Pull `image` unless the host already has it."""
    return ["sh", "-c", 'docker image inspect "$1" >/dev/null 2>&1 || docker pull --quiet "$1"',
            "sh", image]


def chown_tree(image: str, path: str, uid: int) -> list[str]:
    """Give `path` (recursively) to uid:uid, in a one-off root container of `image` (the SSH
    user cannot chown; it can run Docker). Used once, when the edge moves to its own user."""
    return ["docker", "run", "--rm", "--user", "0:0", "--network", "none",
            "--mount", f"type=bind,source={path},target={path}", "--entrypoint", "chown",
            image, "-R", f"{uid}:{uid}", path]


def switch_check_in(image: str | None, switch_dir: str, cfg: str, envs_dir: str, uid: int,
                    gid: int) -> list[str]:
    """`haproxy -c` of the switch's config: in the running container (image None), else in a
    one-off container of `image`."""
    check = ["-c", "-q", "-f", cfg, "-f", envs_dir]
    if image is None:
        return ["docker", "exec", SWITCH_CONTAINER, "haproxy", *check]
    return ["docker", "run", "--rm", "--network", "none", "--user", f"{uid}:{gid}",
            "--mount", f"type=bind,source={switch_dir},target={switch_dir},readonly",
            "--entrypoint", "haproxy", image, *check]


def switch_reload() -> list[str]:
    """Seamless reload of the containerised HAProxy: SIGUSR2 to its master (PID 1 of the
    container), which starts new workers on the same listening sockets while the old ones
    finish their connections. Sent from inside (`docker exec ... kill`), not with `docker
    kill`: measured on the lab's engine (20.10), after a `docker kill --signal USR2` the next
    crash of the container was not restarted by its restart policy."""
    return ["docker", "exec", SWITCH_CONTAINER, "sh", "-c", "kill -USR2 1"]


def edge_reload(caddyfile: str, sock: str) -> list[str]:
    """Load the edge's config through its admin socket, from inside its container (as the
    edge's user: the socket is that user's alone)."""
    return ["docker", "exec", EDGE_CONTAINER, "caddy", "reload", "--config", caddyfile,
            "--adapter", "caddyfile", "--address", f"unix/{sock}"]


def edge_exec(*argv: str) -> list[str]:
    """Run argv in the edge's container as the edge's user (its files are that user's)."""
    return ["docker", "exec", EDGE_CONTAINER, *argv]


def edge_ready(sock: str) -> list[str]:
    """Exit 0 when the edge container runs and its admin socket exists (config loaded)."""
    return ["docker", "exec", EDGE_CONTAINER, "test", "-S", sock]


def edge_log_since_start(lines: int = 300) -> list[str]:
    """The edge's log lines since its container last started (stdout and stderr merged)."""
    return ["sh", "-c", 's=$(docker inspect --format "{{.State.StartedAt}}" "$1") || exit 1; '
            'docker logs --since "$s" --tail "$2" "$1" 2>&1', "sh", EDGE_CONTAINER, str(lines)]


def edge_config_state(caddyfile: str, sites_dir: str, ca_dir: str, loaded: str) -> list[str]:
    """Make the edge's config files readable by the edge's user (0644: files an older cockpit
    wrote are 0600), then print two lines: sha256 of those files now, and of what Caddy last
    loaded (the `loaded` file, written after each start or reload)."""
    return ["sh", "-c", 'chmod 644 "$1" "$2"/*.caddy "$3"/*.pem 2>/dev/null; '
            'cat "$1" "$2"/*.caddy "$3"/*.pem 2>/dev/null | sha256sum | cut -c1-64; '
            'cat "$4" 2>/dev/null; true', "sh", caddyfile, sites_dir, ca_dir, loaded]


# A pid of an old daemon: named `comm` and in the host's pid namespace (after a reboot a stale
# pidfile can name a pid that a containerised HAProxy, also the SSH user's, now has).
_OLD_PID = ('[ "$(cat /proc/$x/comm 2>/dev/null)" = "$comm" ] && '
            '[ "$(readlink /proc/$x/ns/pid 2>/dev/null)" = "$(readlink /proc/$$/ns/pid)" ]')

STOP_DAEMON = (
    'f="$1"; comm="$2"; p=$(cat "$f" 2>/dev/null) || exit 0; mine=; '
    'for x in $p; do ' + _OLD_PID + ' && mine="$mine $x"; done; '
    'wait_gone() { i=0; while [ $i -lt "$1" ]; do alive=; for x in $mine; do '
    'kill -0 "$x" 2>/dev/null && alive=1; done; [ -z "$alive" ] && return 0; sleep 0.1; '
    'i=$((i + 1)); done; return 1; }; '
    'if [ -n "$mine" ]; then kill -"$3" $mine 2>/dev/null; '
    'wait_gone 100 || { kill -TERM $mine 2>/dev/null; wait_gone 50; } || '
    '{ echo "still running:$mine" >&2; exit 1; }; fi; rm -f "$f"; echo "stopped$mine"'
)


def stop_daemon(pidfile: str, comm: str, signal: str = "TERM") -> list[str]:
    """Stop the unsupervised daemon an older cockpit started (`caddy start`, `haproxy -D`):
    `signal` (TERM; USR1 is HAProxy's soft stop: it stops listening and finishes its open
    connections) to the pids in `pidfile` that are a `comm` process of the host (a reused pid,
    or one inside a container, is left alone), then SIGTERM after 10 s if one still runs, wait
    5 s more; remove the pidfile. Prints "stopped <pids>"; exit 1 if one outlives it all."""
    return ["sh", "-c", STOP_DAEMON, "sh", pidfile, comm, signal]


def daemon_alive(pidfile: str, comm: str) -> list[str]:
    """Exit 0 when a pid in `pidfile` runs a process named `comm` (an old-style daemon)."""
    return ["sh", "-c", 'comm="$2"; p=$(cat "$1" 2>/dev/null) || exit 1; for x in $p; do '
            + _OLD_PID + ' && exit 0; done; exit 1', "sh", pidfile, comm]
