"""`cockpit remove ENV` and `cockpit exec ENV -- CMD` on a VPS host.

Remove (Kamal's `kamal remove` / `kamal accessory remove`): read what the environment has on
its host (live state, never cockpit.toml alone), say it as a plan, then, under the deploy lock:

    edge route (the Caddy site, reloaded) → switch entry (the HAProxy backend, validated and
    reloaded seamlessly) → containers of every release, leftovers of release commands and
    one-off commands, the watcher → the images cockpit shipped for it → [--volumes] the app's
    volumes → [--accessories] accessory containers and the environment's network →
    [--accessories --volumes] the accessories' volumes → the host directory (env files, release
    records) → the port claims → [--secrets] keyring items.

Another app or environment on the host is never touched: everything is found by the
environment's labels (`cockpit.app`/`cockpit.env`, `cockpit.accessory-app`/`-env`) and its
`<app>-<env>` key. An accessory's password is deleted only together with its data (a kept
volume holds a database initialised with that password). Every step is idempotent; a second
run finds nothing and says so. The lock lives in the host directory, so the directory itself
is removed after the lock is released, under the lock's guard, and only while nobody took it.

Exec (Kamal's `kamal app exec`, `kamal accessory exec`): a one-off container of the serving
release's image with its env file, volumes and the accessories' network, like the release
command; or `docker exec` in an accessory's container. Interactive runs go through the system
`ssh -t` (a real terminal); the others through the SSH connection, every output line masked.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from cockpit.providers.vps import commands as cmd

from cockpit.errors import ProviderError, UsageError
from cockpit.events import Emit, StepScope
from cockpit.models import Step

EXEC_LABEL = f"{cmd.LABEL}.exec"


def watcher_name(app: str, env: str) -> str:
    """The container `cockpit watch install ENV` runs (cockpit.cli.watch.container_name)."""
    return cmd.safe_name(f"cockpit-watch-{app}-{env}")


@dataclass
class Teardown:
    """What `cockpit remove` finds and would remove on the host (read from live state).

    Lists of names; `volumes` and `accessory_volumes` are dicts {volume, size (as docker prints
    it), accessory (None for an app volume), remove (bool)}; `kept` says what stays and why."""

    env: str
    host: str
    releases: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    edge_site: str | None = None
    switch_entry: str | None = None
    port_claim: list[int] = field(default_factory=list)
    host_dir: str | None = None
    watch_dir: str | None = None
    images: list[str] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    accessories: list[str] = field(default_factory=list)
    network: str | None = None
    secrets: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)
    keep_accessory_files: bool = False  # accessories stay: their env files stay on the host

    @property
    def removed_volumes(self) -> list[dict[str, Any]]:
        return [v for v in self.volumes if v["remove"]]

    @property
    def empty(self) -> bool:
        """True when nothing would be removed (a second run)."""
        return not (self.containers or self.leftovers or self.edge_site or self.switch_entry
                    or self.port_claim or self.host_dir or self.watch_dir
                    or self.removed_volumes or self.accessories or self.network or self.secrets)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def steps(self) -> list[Step]:
        """The plan's steps, in the order they run (only those with something to do)."""
        out = []
        if self.edge_site:
            out.append(Step("edge", f"remove the edge route {self.edge_site} and reload Caddy",
                            destructive=True))
        if self.switch_entry:
            out.append(Step("switch", f"remove the switch entry {self.switch_entry} and reload "
                            "HAProxy (seamless for other environments)", destructive=True))
        if self.containers or self.leftovers:
            what = [*self.containers, *self.leftovers]
            out.append(Step("containers", f"remove {len(what)} container(s) (releases "
                            f"{', '.join(self.releases) or 'none'}): " + ", ".join(what),
                            destructive=True))
        if self.images:
            out.append(Step("images", "remove the images cockpit shipped for it that no "
                            "container uses: " + ", ".join(self.images)))
        app_vols = [v for v in self.removed_volumes if not v["accessory"]]
        if app_vols:
            out.append(Step("volumes", "remove the app's volume(s) and their data: " + ", ".join(
                f"{v['volume']} ({v['size'] or '?'})" for v in app_vols), destructive=True))
        if self.accessories or self.network:
            out.append(Step("accessories", "remove the accessories' containers "
                            f"({', '.join(self.accessories) or 'none'}) and network "
                            f"{self.network or '(gone)'}", destructive=True))
        acc_vols = [v for v in self.removed_volumes if v["accessory"]]
        if acc_vols:
            out.append(Step("accessory_volumes", "remove the accessories' volume(s) and their "
                            "data: " + ", ".join(f"{v['volume']} ({v['size'] or '?'})"
                                                 for v in acc_vols), destructive=True))
        if self.host_dir or self.watch_dir:
            out.append(Step("host_dir", "remove the host directory (env files, release "
                            "records): " + ", ".join(d for d in (self.host_dir, self.watch_dir)
                                                     if d)))
        if self.port_claim:
            out.append(Step("ports", "free the host ports "
                            + ", ".join(map(str, self.port_claim)) + " in the port registry"))
        if self.secrets:
            out.append(Step("secrets", "delete the keyring items " + ", ".join(self.secrets)))
        return out


# --------------------------------------------------------------------------- reading

_FILES = ('for f in "$@"; do if [ -e "$f" ]; then echo "Y $f"; else echo "N $f"; fi; done; '
          'true')
_NAMES = ('for f in "$@"; do docker ps -a --format "{{.Names}}" --filter "$f" || exit 1; done')
_DIR_ENTRIES = '[ -d "$1" ] && ls -A "$1"; true'


def _accessory_of(vol: str, bases: dict[str, str]) -> str | None:
    """The accessory a volume belongs to: its data volume (`bases`: data volume -> accessory,
    from cockpit.toml's `volume` or the default `cockpit-<app>-<env>-<name>-data`), a volume a
    restore made from it (`<base>-r<time>`) or its scheduled backups' (`<base>-backups`); None
    for an app volume."""
    for base in sorted(bases, key=len, reverse=True):
        if vol == base or vol.startswith(base + "-"):
            return bases[base]
    return None


def plan(provider, env, *, accessories: bool, volumes: bool, secrets: bool) -> Teardown:
    """What removing `env` from its host means now: one Teardown, read from the host (labels,
    files, the port registry, `docker system df -v` for volume sizes) and the keyring. Changes
    nothing. Raises ProviderError when the host cannot be read, UsageError for `volumes`
    without `accessories` while the environment has accessories."""
    from cockpit.providers.vps import accessories as acc_mod
    from cockpit.providers.vps import ports

    host = provider.host(env)
    lay = host.layout
    app, key = env.app.name, host.key
    td = Teardown(env=env.name, host=host.t.where,
                  flags={"accessories": accessories, "volumes": volumes, "secrets": secrets})
    leftover_filters = [f"label={cmd.LABEL}.release-command={key}", f"label={EXEC_LABEL}={key}",
                        f"label={acc_mod.LABEL}-scratch={key}",
                        f"name=^{watcher_name(app, env.name)}$"]

    def names(argv: list[str]) -> list[str]:
        out = host.run(argv, step="plan", idempotent=True).stdout
        return sorted({n.strip() for n in out.splitlines() if n.strip()})

    acc_argv = ["docker", "ps", "-a", "--format", "{{.Names}}",
                "--filter", f"label={acc_mod.LABEL}-app={app}",
                "--filter", f"label={acc_mod.LABEL}-env={env.name}"]

    def files() -> dict[str, bool]:
        paths = [lay.site_file, lay.switch_env_cfg, lay.app_dir, f"{lay.root}/watch/{key}"]
        out = host.run(["sh", "-c", _FILES, "sh", *paths], step="plan", idempotent=True).stdout
        return {line[2:]: line.startswith("Y") for line in out.splitlines() if len(line) > 2}

    def entries() -> list[str]:
        out = host.run(["sh", "-c", _DIR_ENTRIES, "sh", lay.app_dir], step="plan",
                       idempotent=True).stdout
        return [x for x in out.split() if x]

    def shipped() -> list[str]:
        out = host.run(["sh", "-c", 'cat "$1" 2>/dev/null; true', "sh", f"{lay.app_dir}/images"],
                       step="plan", idempotent=True).stdout
        return sorted({line.split()[1] for line in out.splitlines() if len(line.split()) == 2})

    def vols() -> list[str]:
        out = host.run(["docker", "volume", "ls", "-q", "--filter", f"label={cmd.LABEL}.app={app}",
                        "--filter", f"label={cmd.LABEL}.env={env.name}"], step="plan",
                       idempotent=True).stdout
        return sorted(v for v in out.split() if v)

    def net() -> bool:
        return host.run(["docker", "network", "inspect", acc_mod.network(env)], step="plan",
                        check=False, idempotent=True).ok

    def claim() -> list[int]:
        registry, _ = ports.read(host)
        own = (registry.get("claims") or {}).get(f"{app}/{env.name}") or {}
        return [int(p) for p in own.get("ports") or []]

    (containers, leftovers, accs, have, dir_entries, images, vol_names, has_net,
     claimed) = host.parallel(
        host.containers, lambda: names(["sh", "-c", _NAMES, "sh", *leftover_filters]),
        lambda: names(acc_argv), files, entries,
        shipped, vols, net, claim)
    td.releases = sorted({c.release_id for c in containers if c.release_id})
    td.containers = [c.name for c in containers]
    td.leftovers = leftovers
    td.edge_site = lay.site_file if have.get(lay.site_file) else None
    td.switch_entry = lay.switch_env_cfg if have.get(lay.switch_env_cfg) else None
    td.port_claim = claimed
    td.watch_dir = f"{lay.root}/watch/{key}" if have.get(f"{lay.root}/watch/{key}") else None
    td.images = images
    # an accessory's volumes: cockpit.toml's, and those named after a live container
    from cockpit import accessories as core

    bases = {f"cockpit-{app}-{env.name}-{n}-data": n for n in _acc_names(accs, app, env.name)}
    bases.update({core.volume_name(app, env.name, n, a): n for n, a in env.accessories.items()})
    if vol_names:
        sizes = _sizes(host)
        for v in vol_names:
            owner = _accessory_of(v, bases)
            td.volumes.append({"volume": v, "size": sizes.get(v, ""), "accessory": owner,
                               "remove": volumes and (owner is None or accessories)})
    has_accs = bool(accs or has_net or any(v["accessory"] for v in td.volumes))
    if volumes and not accessories and any(v["accessory"] for v in td.volumes):
        raise UsageError(f"--volumes removes the accessories' data volumes of {env.name} too: "
                         "pass --accessories as well (or leave out --volumes to keep the data)",
                         hint=f"cockpit remove {env.name} --accessories --volumes --confirm "
                              f"{env.name}")
    if accessories:
        td.accessories = accs
        td.network = acc_mod.network(env) if has_net else None
    elif has_accs:
        td.kept.append("accessories " + (", ".join(accs) or "(none running)") + " and network "
                       f"{acc_mod.network(env)} (pass --accessories to remove them)")
    kept_vols = [v for v in td.volumes if not v["remove"]]
    if kept_vols:
        td.kept.append("volume(s) " + ", ".join(f"{v['volume']} ({v['size'] or '?'})"
                                                for v in kept_vols)
                       + " with their data (pass --volumes to remove them)")
    keep_acc_dir = td.keep_accessory_files = has_accs and not accessories
    rest = [e for e in dir_entries if not (keep_acc_dir and e == "accessories")]
    td.host_dir = lay.app_dir if rest else None
    if keep_acc_dir and "accessories" in dir_entries:
        td.kept.append(f"{lay.app_dir}/accessories (the accessories' env files)")
    td.secrets, notes = _secret_items(provider.ctx, env, td, secrets)
    td.kept += notes
    return td


def _acc_names(containers: list[str], app: str, env: str) -> set[str]:
    """Accessory names from their default container names (`cockpit-<app>-<env>-<name>`,
    `...-backups` for a backup schedule)."""
    prefix = f"cockpit-{app}-{env}-"
    return {c[len(prefix):].removesuffix("-backups") for c in containers if c.startswith(prefix)}


def _sizes(host) -> dict[str, str]:
    """{volume: size as docker prints it} (`docker system df -v`, Docker Engine /system/df)."""
    out = host.run(["docker", "system", "df", "-v", "--format", "{{json .Volumes}}"],
                   step="plan", idempotent=True, timeout=300).stdout.strip()
    try:
        rows = json.loads(out or "[]") or []
    except ValueError:
        return {}
    return {r.get("Name", ""): r.get("Size", "") for r in rows if isinstance(r, dict)}


def _secret_items(ctx, env, td: Teardown, wanted: bool) -> tuple[list[str], list[str]]:
    """The keyring items `--secrets` deletes (names present now) and what is said about the
    others. An accessory password goes only with its data volume(s)."""
    from cockpit import accessories as core

    notes: list[str] = []
    store = ctx.secrets
    gone_data = {v["accessory"] for v in td.removed_volumes if v["accessory"]}
    names = list(env.secret_names)
    kept_pw = []
    for acc in sorted(env.accessories):
        no_data = not any(v["accessory"] == acc for v in td.volumes)
        if acc in gone_data or (no_data and td.flags.get("accessories")):
            names.append(core.password_name(acc))
        else:
            kept_pw.append(core.password_name(acc))
    if not wanted:
        from cockpit.errors import SecretStoreError

        try:  # only said; without a usable keyring there is nothing to say
            present = [n for n in [*env.secret_names, *(core.password_name(a)
                                                       for a in env.accessories)]
                       if store.get(env, n) is not None] if not store.from_environment() else []
        except SecretStoreError:
            present = []
        if present:
            notes.append("keyring items " + ", ".join(present) + " (pass --secrets to delete "
                         "them)")
        return [], notes
    if store.from_environment():
        notes.append("secrets come from the environment (COCKPIT_SECRETS_FROM_ENV): nothing "
                     "is deleted from a keyring")
        return [], notes
    if kept_pw:
        notes.append("keyring items " + ", ".join(kept_pw) + " (the accessories' data is kept "
                     "and was initialised with them)")
    return [n for n in names if store.get(env, n) is not None], notes


# --------------------------------------------------------------------------- removing

# Under the lock's guard: remove the environment's directory unless someone took the lock since
# ($1 lock dir, $2 app dir, $3 "keep" to keep the accessories' env files).
_FINAL = (
    'd="$1"; a="$2"; [ -d "$a" ] || exit 0; exec 9>>"$d.guard"; '
    'flock -w 10 9 || { echo "lock guard busy" >&2; exit 4; }; '
    '[ -d "$d" ] && { echo HELD; exit 3; }; '
    'if [ "$3" = keep ]; then find "$a" -mindepth 1 -maxdepth 1 ! -name accessories '
    '-exec rm -rf -- {} +; else rm -rf -- "$a"; rmdir "$(dirname "$a")" 2>/dev/null; fi; '
    'echo REMOVED'
)
# Inside the lock: everything of the directory but the lock and (kept) accessories' files.
_CLEAR = ('a="$1"; [ -d "$a" ] || exit 0; find "$a" -mindepth 1 -maxdepth 1 ! -name lock '
          '! -name lock.guard ! -name "$2" -exec rm -rf -- {} +')


def remove(provider, env, td: Teardown, emit: Emit) -> list[str]:
    """Carry out `td` (see `plan`), step by step with step events; call it holding the
    environment's deploy lock. Returns one line per thing removed. Raises ProviderError when
    the host refuses a step (what was done stays done; a second run carries on)."""
    from cockpit.providers.vps import ports
    from cockpit.providers.vps.flow import prune_images

    host = provider.host(env)
    lay = host.layout
    done: list[str] = []
    if td.edge_site:
        with StepScope(emit, "edge", "remove the edge route", env.name) as st:
            host.run(cmd.remove_files(lay.site_file, lay.edge_ca_file), step="edge")
            st.detail = _reload_edge(host)
            done.append(f"edge route {lay.site_file}")
    if td.switch_entry:
        with StepScope(emit, "switch", "remove the switch entry", env.name) as st:
            st.detail = _drop_switch_entry(host)
            done.append(f"switch entry {host.key}")
    if td.containers or td.leftovers:
        with StepScope(emit, "containers", "remove the containers of every release",
                       env.name) as st:
            what = [*td.containers, *td.leftovers]
            host.run(cmd.docker_rm(*what), step="containers", timeout=300)
            st.detail = ", ".join(what)
            done += [f"container {n}" for n in what]
    if td.images:
        with StepScope(emit, "images", "remove the images shipped for it", env.name) as st:
            gone = prune_images(host, set())
            st.detail = ", ".join(gone) or "none (in use by other containers)"
            done += [f"image {i}" for i in gone]
    app_vols = [v["volume"] for v in td.removed_volumes if not v["accessory"]]
    if app_vols:
        with StepScope(emit, "volumes", "remove the app's volumes", env.name) as st:
            host.run(["docker", "volume", "rm", "--force", *app_vols], step="volumes")
            st.detail = ", ".join(app_vols)
            done += [f"volume {v}" for v in app_vols]
    if td.accessories or td.network:
        with StepScope(emit, "accessories", "remove the accessories and their network",
                       env.name) as st:
            if td.accessories:
                host.run(cmd.docker_rm(*td.accessories), step="accessories", timeout=300)
            if td.network:
                host.run(cmd.quiet(["docker", "network", "rm", td.network]), step="accessories")
            st.detail = ", ".join([*td.accessories, *([td.network] if td.network else [])])
            done += [f"accessory container {n}" for n in td.accessories]
            done += [f"network {td.network}"] if td.network else []
    acc_vols = [v["volume"] for v in td.removed_volumes if v["accessory"]]
    if acc_vols:
        with StepScope(emit, "accessory_volumes", "remove the accessories' volumes",
                       env.name) as st:
            host.run(["docker", "volume", "rm", "--force", *acc_vols], step="accessory_volumes")
            st.detail = ", ".join(acc_vols)
            done += [f"volume {v}" for v in acc_vols]
    if td.host_dir or td.watch_dir:
        with StepScope(emit, "host_dir", "remove the host directory", env.name) as st:
            keep = "accessories" if td.keep_accessory_files else "-"
            host.run(["sh", "-c", _CLEAR, "sh", lay.app_dir, keep], step="host_dir")
            if td.watch_dir:
                host.run(["rm", "-rf", "--", td.watch_dir], step="host_dir")
            st.detail = ", ".join(d for d in (td.host_dir, td.watch_dir) if d)
            done += [f"directory {d}" for d in (td.host_dir, td.watch_dir) if d]
    if td.port_claim:
        with StepScope(emit, "ports", "free the host ports", env.name) as st:
            ports.forget(host.t, lay.root, env.app.name, [env.name])
            st.detail = ", ".join(map(str, td.port_claim))
            done.append("port claim " + ", ".join(map(str, td.port_claim)))
    if td.secrets:
        with StepScope(emit, "secrets", "delete the keyring items", env.name) as st:
            for name in td.secrets:
                provider.ctx.secrets.unset(env, name)
            st.detail = ", ".join(td.secrets)
            done += [f"keyring item {n}" for n in td.secrets]
    return done


def finish(provider, env, td: Teardown) -> str:
    """After the lock is released: remove the environment's directory (the lock lived in it)
    unless another run took the lock meanwhile. Returns "removed", "held" or "gone"."""
    host = provider.host(env)
    lay = host.layout
    keep = "keep" if td.keep_accessory_files else "-"
    result = host.run(["sh", "-c", _FINAL, "sh", lay.lock_dir, lay.app_dir, keep],
                      step="host_dir", check=False)
    if result.rc == 3:
        return "held"
    if not result.ok:
        raise host.t.failure(result, "host_dir", "could not remove the host directory")
    return "removed" if "REMOVED" in result.stdout else "gone"


def _reload_edge(host) -> str:
    lay = host.layout
    result = host.run(cmd.edge_reload(lay.caddyfile, lay.edge_admin_sock), step="edge",
                      check=False, timeout=60)
    if not result.ok:
        if "No such container" in result.stderr or "is not running" in result.stderr:
            return "site removed (the edge is not running: it loads its config when it starts)"
        raise host.t.failure(result, "edge", "Caddy did not reload without the site")
    return f"site {lay.site_file} removed; Caddy reloaded"


def _drop_switch_entry(host) -> str:
    """Remove the environment's backend file and reload HAProxy (validated first; a config
    that does not validate puts the file back)."""
    lay = host.layout
    before = host.run(["cat", lay.switch_env_cfg], step="switch", check=False).stdout
    host.run(cmd.remove_files(lay.switch_env_cfg), step="switch")
    alive = host.switch_alive()
    if not alive:
        return f"{lay.switch_env_cfg} removed (the switch is not running)"
    check = host.run(["docker", "exec", cmd.SWITCH_CONTAINER, "haproxy", "-c", "-q", "-f",
                      lay.switch_cfg, "-f", lay.switch_envs], step="switch", check=False,
                     timeout=120)
    if not check.ok:
        if before:
            host.run(cmd.write_file(lay.switch_env_cfg, "600"), step="switch", stdin=before,
                     check=False)
        raise host.t.failure(check, "switch", "the switch's config does not validate without "
                             "this environment (its file is back)")
    host.run(cmd.switch_reload(), step="switch")
    import time

    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            if not host.slot_states():
                break
        except ProviderError:
            break  # "can't find backend": gone
        time.sleep(0.2)
    return f"backend {host.key} removed; HAProxy reloaded (seamless)"


# --------------------------------------------------------------------------- exec


def exec_release_argv(env, host, release, argv: list[str], *, interactive: bool, tty: bool,
                      name: str, volumes: dict[str, str]) -> list[str]:
    """`docker run --rm` of a one-off container of `release`'s image: its env file, the
    environment's volumes, its network and the accessories' network, labelled
    `cockpit.exec=<app>-<env>` (never a release's container), the image's entrypoint with
    `argv` as its command."""
    from cockpit.providers.vps.flow import _join_accessories

    out = ["docker", "run", "--rm", "--name", name, "--init",
           *(["-i"] if interactive else []), *(["-t"] if tty else []),
           "--env-file", host.layout.env_file(release.id),
           "--label", f"{EXEC_LABEL}={host.key}"]
    if env.settings.network == "host":
        out += ["--network", "host"]
    out += ["--env", f"PORT={env.app.port}", "--env", f"COCKPIT_RELEASE={release.id}"]
    for source in sorted(volumes):
        out += ["--mount", f"type=volume,source={source},target={volumes[source]}"]
    out = _join_accessories(env, [*out, release.image, *argv])
    return out


def serving(provider, env):
    """(release, its container) serving env now; UsageError when nothing serves."""
    from cockpit.providers.vps import flow, haproxy

    host = provider.host(env)
    containers, states = host.parallel(host.containers, host.slot_states)
    c = flow.serving_container(containers, haproxy.active_slot(states))
    if c is None:
        raise UsageError(f"no release serves {env.name}: there is no image to run",
                         hint=f"cockpit deploy {env.name}")
    return c.release(env.app.name, env.name), c


def run_piped(host, argv: list[str], *, stdin_data: bool, write_out, write_err) -> int:
    """Run argv on the host over the SSH connection (no terminal): stdin forwarded when
    `stdin_data`, stdout and stderr passed line by line through `write_out`/`write_err`
    (which mask secrets). Returns the remote exit status."""
    import threading

    from cockpit.providers.vps.ssh import remote_command

    client = host.t.connect()
    chan = client.get_transport().open_session(timeout=host.t.timeout)
    chan.exec_command(remote_command(argv))

    def feed() -> None:
        try:
            while True:
                data = os.read(sys.stdin.fileno(), 65536)
                if not data:
                    break
                chan.sendall(data)
        except OSError:
            pass
        finally:
            try:
                chan.shutdown_write()
            except Exception:  # noqa: BLE001 - the command ended first
                pass

    if stdin_data:
        threading.Thread(target=feed, daemon=True).start()
    else:
        chan.shutdown_write()
    bufs = {"out": b"", "err": b""}

    def flush(kind: str, final: bool = False) -> None:
        *lines, bufs[kind] = bufs[kind].split(b"\n")
        if final and bufs[kind]:
            lines.append(bufs[kind])
            bufs[kind] = b""
        for raw in lines:
            (write_out if kind == "out" else write_err)(raw.decode(errors="replace"))

    import select

    try:
        while True:
            got = False
            if chan.recv_ready():
                bufs["out"] += chan.recv(65536)
                flush("out")
                got = True
            if chan.recv_stderr_ready():
                bufs["err"] += chan.recv_stderr(65536)
                flush("err")
                got = True
            if not got:
                if chan.exit_status_ready() and not chan.recv_ready() and \
                        not chan.recv_stderr_ready():
                    break
                select.select([chan], [], [], 0.2)
        flush("out", final=True)
        flush("err", final=True)
        return chan.recv_exit_status()
    finally:
        chan.close()


def ssh_argv(env, argv: list[str]) -> list[str]:
    """The system `ssh -t` command running argv on env's host with a terminal, trusting only
    the host keys cockpit (or the user) already knows (StrictHostKeyChecking)."""
    from cockpit.providers.vps.ssh import remote_command

    from cockpit.state import state_root

    s = env.settings
    known = f"{state_root() / 'known_hosts'} {os.path.expanduser('~/.ssh/known_hosts')}"
    out = ["ssh", "-t", "-p", str(s.ssh_port), "-o", "StrictHostKeyChecking=yes",
           "-o", f"UserKnownHostsFile={known}", "-o", "LogLevel=ERROR"]
    if s.identity_file:
        out += ["-i", os.path.expanduser(s.identity_file), "-o", "IdentitiesOnly=yes"]
    return [*out, f"{s.user}@{s.host}", remote_command(argv)]


def shown(argv: list[str]) -> str:
    """argv as one shell-quoted line (for the audit log and messages)."""
    return shlex.join(argv)
