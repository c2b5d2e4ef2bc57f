"""The host's port registry: which app and environment own which host ports and names.

Several apps share one VPS host: each environment takes three loopback ports (`host_port`, the
switch's frontend, and `host_port + 1`/`+ 2`, its blue and green slots) and a few names (the
container base name and the `<app>-<env>` key of its switch backend and edge site, its domain).
Two environments that take the same port break each other in ways no health check sees (a new
container that cannot bind while another app answers on its port). So the host keeps one record,
`~/.cockpit/ports.json` (mode 0600), of who owns what:

    {"version": 1, "claims": {"<app>/<env>": {"app": "hello", "env": "staging",
     "ports": [8101, 8102, 8103], "names": ["hello-staging", "staging.hello.example"],
     "status": "reserved" | "set up", "by": "user@machine", "at": 1700000000.0}}}

Every read-modify-write runs in one SSH exec that holds `~/.cockpit/ports.lock` (flock) from
the read to the atomic rename of the new file, so two `cockpit init` or `cockpit setup` runs
against one host never pick or claim the same port. `cockpit init` reserves free ports (status
"reserved"), `cockpit setup` claims the environment's ports and names (status "set up") and is
refused when another app or environment owns one, and a deploy checks the record read-only.
Environments set up before the registry existed are seen through their switch configs
(`~/.cockpit/switch/envs/<key>.cfg`) and count as owners too. A set-up claim whose directory
(`~/.cockpit/apps/<app>/<env>`) is gone from the host no longer owns anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cockpit.errors import ProviderError, Refused

REGISTRY = "ports.json"
VERSION = 1
END_READ = "--cockpit-registry-read--"
END_FACTS = "--cockpit-registry-facts--"
RESERVATION_TTL = 7 * 86400.0  # seconds an init reservation that was never set up is kept
DEFAULT_STARTS = {"staging": 8101, "prod": 8201}
FRESH_CLAIM = 600.0  # seconds a setup's claim counts before its directory exists
STEP = 10  # candidate host ports are 10 apart (8101, 8111, ...): each takes three
PORT_LIMIT = 65533

# One exec: take the lock, take group and other access away from the cockpit directory and the
# apps' directories (made 0755 by versions before umask 077), print the registry, the host's
# listening TCP ports, the switch configs and the environments' directories; then read the
# new registry on stdin (empty: unchanged) and rename it into place, still under the lock.
# $1 registry path, $2/$3 the end markers.
TRANSACTION = (
    'umask 077; f="$1"; d=$(dirname "$f"); mkdir -p "$d" || exit 1; '
    'exec 9>>"$f.lock"; flock -w 20 9 || { echo "the port registry $f stayed locked for 20 s" '
    '>&2; exit 4; }; '
    'chmod go-rwx "$d" "$d"/apps "$d"/apps/* "$d"/apps/*/* 2>/dev/null; '
    '[ -f "$f" ] && cat "$f"; printf "\\n%s\\n" "$2"; '
    'cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; '
    'for c in "$d"/switch/envs/*.cfg; do [ -f "$c" ] || continue; '
    'printf "CFG %s " "$(basename "$c" .cfg)"; tr "\\n" " " < "$c"; echo; done; '
    'for a in "$d"/apps/*/*; do [ -d "$a" ] && echo "APP ${a#"$d"/apps/}"; done; '
    'printf "%s\\n" "$3"; '
    'tmp="$f.tmp.$$"; cat > "$tmp" || exit 1; '
    'if [ -s "$tmp" ]; then chmod 600 "$tmp" && mv -f "$tmp" "$f" && echo WRITTEN; '
    'else rm -f "$tmp"; echo UNCHANGED; fi'
)

# Read-only: the registry and the switch configs, for a deploy's check (no lock: the file is
# only ever replaced by rename, so a reader sees the old or the new one whole). One awk for all
# the switch configs: a shell loop spawning basename and tr per file took ~0.4-0.5 s with the
# lab's ~110 environments, on every deploy; the output is the same, byte for byte.
READ = (
    'f="$1"; d=$(dirname "$f"); [ -f "$f" ] && cat "$f"; printf "\\n%s\\n" "$2"; '
    'set -- "$d"/switch/envs/*.cfg; [ -f "$1" ] && awk \'FNR == 1 { if (NR > 1) print ""; '
    'n = FILENAME; sub(/.*\\//, "", n); sub(/\\.cfg$/, "", n); printf "CFG %s ", n } '
    '{ printf "%s ", $0 } END { if (NR) print "" }\' "$@"; '
    'for a in "$d"/apps/*/*; do [ -d "$a" ] && echo "APP ${a#"$d"/apps/}"; done; true'
)


def registry_path(root: str) -> str:
    """The registry file under the host's cockpit directory (`root` = `~/.cockpit`, absolute)."""
    return f"{root}/{REGISTRY}"


def transaction_argv(root: str) -> list[str]:
    return ["sh", "-c", TRANSACTION, "sh", registry_path(root), END_READ, END_FACTS]


def read_argv(root: str) -> list[str]:
    return ["sh", "-c", READ, "sh", registry_path(root), END_READ]


@dataclass
class Facts:
    """What the host says besides the registry: ports something listens on (TCP, any address),
    and the ports each switch config names (`key` -> ports), from /proc/net/tcp{,6} and
    ~/.cockpit/switch/envs/*.cfg."""

    listening: set[int] = field(default_factory=set)
    switch: dict[str, set[int]] = field(default_factory=dict)
    apps: set[str] | None = None  # "<app>/<env>" with a directory under ~/.cockpit/apps
    #                               (None: not known, every set-up claim counts)


def wanted(app: str, env: str, settings: Any, domain: str | None) -> tuple[list[int], list[str]]:
    """The host ports ([host_port, +1, +2]) and names (container base name, `<app>-<env>`,
    the domain) an environment takes on its host."""
    ports = [settings.host_port, settings.host_port + 1, settings.host_port + 2]
    names = [settings.container_name or f"{app}-{env}", f"{app}-{env}"]
    if domain:
        names.append(domain.lower())
    return ports, list(dict.fromkeys(names))


def parse_registry(text: str, where: str = "") -> dict[str, Any]:
    """The registry's JSON (an empty one for no text). Raises ProviderError when the file does
    not hold a registry (it is never overwritten then)."""
    text = text.strip()
    if not text:
        return {"version": VERSION, "claims": {}}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProviderError(f"the port registry is not JSON: {exc}", where=where,
                            hint="fix or remove the file by hand (cockpit never overwrites it "
                                 "then)") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), dict):
        raise ProviderError("the port registry has no \"claims\" table", where=where,
                            hint="fix or remove the file by hand")
    return data


def parse_facts(text: str) -> Facts:
    """Parse the lines after the registry: /proc/net/tcp rows (state 0A = listening) and
    `CFG <key> <switch config on one line>`."""
    import re

    facts = Facts(apps=set())
    for line in text.splitlines():
        if line.startswith("APP "):
            facts.apps.add(line[4:].strip())
            continue
        if line.startswith("CFG "):
            _, key, rest = (line.split(" ", 2) + [""])[:3]
            facts.switch[key] = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", rest)}
            continue
        parts = line.split()
        if len(parts) > 3 and parts[3] == "0A" and ":" in parts[1]:
            try:
                facts.listening.add(int(parts[1].rsplit(":", 1)[1], 16))
            except ValueError:
                continue
    return facts


def _live_claims(registry: dict[str, Any], now: float,
                 facts: Facts | None = None) -> dict[str, dict[str, Any]]:
    """Claims still in force: reserved less than RESERVATION_TTL ago, or set up and still
    on the host (its directory ~/.cockpit/apps/<app>/<env> exists, when `facts` lists them,
    or it was made less than FRESH_CLAIM seconds ago: an environment removed from the host
    frees its ports)."""
    out = {}
    for key, claim in (registry.get("claims") or {}).items():
        if not isinstance(claim, dict):
            continue
        if claim.get("status") == "reserved":
            if now - float(claim.get("at") or 0) > RESERVATION_TTL:
                continue
        elif facts is not None and facts.apps is not None and key not in facts.apps and \
                now - float(claim.get("at") or 0) > FRESH_CLAIM:
            continue
        out[key] = claim
    return out


def owner_text(claim: dict[str, Any]) -> str:
    how = "reserved by cockpit init" if claim.get("status") == "reserved" else "set up"
    by = f" by {claim['by']}" if claim.get("by") else ""
    return f"app {claim.get('app')!r} environment {claim.get('env')!r} ({how}{by})"


def conflicts(registry: dict[str, Any], facts: Facts | None, app: str, env: str,
              ports: Iterable[int], names: Iterable[str], now: float | None = None
              ) -> list[str]:
    """What another app or environment owns of `ports` and `names`, one sentence each naming
    the owner (empty: nothing). Owners: the registry's claims in force, and switch configs of
    keys the registry does not know (environments set up before the registry existed)."""
    now = time.time() if now is None else now
    mine = f"{app}/{env}"
    ports, names = list(ports), [n.lower() for n in names]
    said: list[str] = []
    claims = _live_claims(registry, now, facts)
    known_keys = set()
    for key, claim in sorted(claims.items()):
        known_keys.add(f"{claim.get('app')}-{claim.get('env')}")
        if key == mine:
            continue
        taken = sorted(set(ports) & {int(p) for p in claim.get("ports") or []})
        if taken:
            said.append(f"host port{'s' if len(taken) > 1 else ''} "
                        f"{', '.join(map(str, taken))} belong{'' if len(taken) > 1 else 's'} "
                        f"to {owner_text(claim)}")
        same = [n for n in names if n in {str(x).lower() for x in claim.get("names") or []}]
        if same:
            said.append(f"name{'s' if len(same) > 1 else ''} {', '.join(same)} "
                        f"belong{'' if len(same) > 1 else 's'} to {owner_text(claim)}")
    for key, used in sorted((facts.switch if facts else {}).items()):
        if key in known_keys or key == f"{app}-{env}":
            continue
        taken = sorted(set(ports) & used)
        if taken:
            said.append(f"host port{'s' if len(taken) > 1 else ''} "
                        f"{', '.join(map(str, taken))} belong{'' if len(taken) > 1 else 's'} "
                        f"to environment {key!r} (its switch config "
                        f"~/.cockpit/switch/envs/{key}.cfg; set up before the port registry)")
        if key.lower() in names:
            said.append(f"name {key} belongs to the environment whose switch config is "
                        f"~/.cockpit/switch/envs/{key}.cfg")
    return said


def claimed(registry: dict[str, Any], app: str, facts: Facts | None = None,
            now: float | None = None) -> dict[str, int]:
    """Each environment of `app` with a claim in force (reserved, or set up and still on the
    host: `_live_claims`) -> its host_port (the claim's first port): what a re-run (`cockpit
    demo` into the same folder, `cockpit init` again) gives the same app and environment
    back, so its ports, and with them its config hash, stay put."""
    now = time.time() if now is None else now
    out: dict[str, int] = {}
    for claim in _live_claims(registry, now, facts).values():
        ports = claim.get("ports") or []
        if claim.get("app") == app and claim.get("env") and ports:
            out[str(claim["env"])] = int(ports[0])
    return out


def taken_ports(registry: dict[str, Any], facts: Facts, app: str,
                now: float | None = None) -> set[int]:
    """Every port an app other than `app` owns (claims in force, switch configs of other
    apps) or something listens on."""
    now = time.time() if now is None else now
    used = set(facts.listening)
    for claim in _live_claims(registry, now, facts).values():
        if claim.get("app") != app:
            used.update(int(p) for p in claim.get("ports") or [])
    for key, ports in facts.switch.items():
        if not key.startswith(f"{app}-"):
            used |= ports
    return used


def pick_free(used: set[int], starts: dict[str, int],
              keep: dict[str, int] | None = None) -> dict[str, int]:
    """A host_port per environment whose three ports (+0, +1, +2) are all outside `used` and
    apart from each other: the environment's start port (8101 staging, 8201 prod), else the
    next one STEP higher. `keep` (env -> port) is used as is (an app's own earlier claim).
    Raises ProviderError when no port below 65533 is free."""
    chosen: dict[str, int] = {}
    busy = set(used) | {p for port in (keep or {}).values() for p in (port, port + 1, port + 2)}
    for env, start in starts.items():
        if keep and env in keep:
            port = keep[env]
        else:
            port = start
            while any(p in busy for p in (port, port + 1, port + 2)):
                port += STEP
                if port + 2 > PORT_LIMIT:
                    raise ProviderError(f"no free host port above {start} for {env}")
        chosen[env] = port
        busy.update((port, port + 1, port + 2))
    return chosen


def claim_record(app: str, env: str, ports: list[int], names: list[str], status: str,
                 by: str, now: float | None = None) -> dict[str, Any]:
    return {"app": app, "env": env, "ports": list(ports), "names": list(names),
            "status": status, "by": by, "at": time.time() if now is None else now}


# --------------------------------------------------------------------------- over SSH


def transact(transport: Any, root: str,
             change: Callable[[dict[str, Any], Facts], dict[str, Any] | None],
             *, step: str = "ports", timeout: float = 60.0) -> dict[str, Any]:
    """Read the registry and the host's facts under the registry's flock, call
    `change(registry, facts)`, and write what it returns (None: nothing) atomically before the
    lock is let go. Returns the registry as it is afterwards. An exception from `change`
    leaves the file as it was (it propagates). Raises ProviderError when the host cannot be
    read or written. `transport` is an `ssh.SshTransport`; `root` the host's ~/.cockpit."""
    from cockpit.providers.vps.ssh import remote_command

    client = transport.connect()
    chan = client.get_transport().open_session(timeout=transport.timeout)
    where = f"{transport.where} {registry_path(root)}"
    try:
        chan.settimeout(timeout)
        chan.exec_command(remote_command(transaction_argv(root)))
        buf = b""
        marker = f"\n{END_FACTS}\n".encode()
        while marker not in buf:
            chunk = chan.recv(65536)
            if not chunk:
                err = chan.recv_stderr(65536).decode(errors="replace").strip()
                raise ProviderError(f"could not read the port registry: {err or 'no answer'}",
                                    where=where, hint="the host needs flock (util-linux)")
            buf += chunk
        head = buf.split(marker, 1)[0].decode(errors="replace")
        reg_text, _, facts_text = head.partition(f"\n{END_READ}\n")
        registry = parse_registry(reg_text, where)
        facts = parse_facts(facts_text)
        try:
            new = change(registry, facts)
        except BaseException:
            chan.shutdown_write()  # empty: unchanged
            raise
        if new is not None:
            chan.sendall((json.dumps(new, indent=1, sort_keys=True) + "\n").encode())
        chan.shutdown_write()
        rest = b""
        while True:
            chunk = chan.recv(65536)
            if not chunk:
                break
            rest += chunk
        rc = chan.recv_exit_status()
        if rc != 0 or (new is not None and b"WRITTEN" not in rest):
            err = chan.recv_stderr(65536).decode(errors="replace").strip()
            raise ProviderError(f"could not write the port registry (exit {rc}): {err}",
                                where=where)
        return new if new is not None else registry
    except TimeoutError:
        raise ProviderError("the port registry did not answer in time", where=where) from None
    finally:
        chan.close()


def read(host: Any) -> tuple[dict[str, Any], Facts]:
    """The registry and the switch configs, read-only (one exec). `host` is a `host.Host`."""
    out = host.run(read_argv(host.layout.root), step="ports", check=False,
                   idempotent=True).stdout
    reg_text, _, rest = out.partition(f"\n{END_READ}\n")
    return parse_registry(reg_text, registry_path(host.layout.root)), parse_facts(rest)


def refusal(app: str, env: str, said: list[str], where: str, env_name: str) -> Refused:
    return Refused(
        f"{app} {env} cannot take what another app owns on this host: " + "; ".join(said),
        where=where,
        hint="pick other values in cockpit.toml (host_port, container_name, domain) for "
             f"[environments.{env_name}]; `cockpit init --lab --force` picks free ports")


def claim(host: Any, env: Any, by: str, status: str = "set up") -> dict[str, Any]:
    """Claim the environment's ports and names on its host (`cockpit setup`), replacing its
    own earlier claim. Raises Refused (exit 5) naming the owner when another app or
    environment owns one of them; nothing is written then. Returns the claim."""
    app = env.app.name
    ports, names = wanted(app, env.name, env.settings, env.domain)
    record = claim_record(app, env.name, ports, names, status, by)

    def change(registry: dict[str, Any], facts: Facts) -> dict[str, Any]:
        said = conflicts(registry, facts, app, env.name, ports, names)
        if said:
            raise refusal(app, env.name, said, f"{host.t.where} {registry_path(host.layout.root)}",
                          env.name)
        claims = dict(registry.get("claims") or {})
        claims[f"{app}/{env.name}"] = record
        return {**registry, "version": VERSION, "claims": claims}

    transact(host.t, host.layout.root, change)
    return record


def check(host: Any, env: Any) -> None:
    """A deploy's read-only check: raises Refused when another app or environment owns one of
    the environment's ports or names (e.g. two apps given the same host_port by hand)."""
    registry, facts = read(host)
    ports, names = wanted(env.app.name, env.name, env.settings, env.domain)
    said = conflicts(registry, facts, env.app.name, env.name, ports, names)
    if said:
        raise refusal(env.app.name, env.name, said,
                      f"{host.t.where} {registry_path(host.layout.root)}", env.name)


def reserve_free(transport: Any, root: str, app: str, starts: dict[str, int], by: str,
                 names: dict[str, list[str]] | None = None) -> dict[str, int]:
    """`cockpit init`: pick a free host_port per environment on the host (none owned by another
    app, nothing listening on any of its three ports) and reserve it for `app` in the
    registry, under its lock, so the next init picks other ones. An environment of `app` that
    already has a claim keeps its ports. Returns env -> host_port."""
    result: dict[str, int] = {}

    def change(registry: dict[str, Any], facts: Facts) -> dict[str, Any]:
        claims = dict(registry.get("claims") or {})
        keep = {}
        for env in starts:
            own = claims.get(f"{app}/{env}")
            if own and own.get("ports"):
                keep[env] = int(own["ports"][0])
        chosen = pick_free(taken_ports(registry, facts, app), starts, keep)
        now = time.time()
        for env, port in chosen.items():
            key = f"{app}/{env}"
            old = claims.get(key) or {}
            claims[key] = {**claim_record(app, env, [port, port + 1, port + 2],
                                          (names or {}).get(env) or [f"{app}-{env}"],
                                          old.get("status") or "reserved", by, now)}
        result.update(chosen)
        return {**registry, "version": VERSION, "claims": claims}

    transact(transport, root, change)
    return result


def reserve_for_init(*, host: str, ssh_port: int, user: str, identity_file: str | None,
                     trusted: list[str], app: str, domains: dict[str, str | None],
                     starts: dict[str, int] | None = None, timeout: float = 10.0
                     ) -> dict[str, int]:
    """`cockpit init` against a host it can reach: connect (host key known, or one of
    `trusted` fingerprints; never a question), and `reserve_free` a host_port per environment
    of `domains` (env -> the domain init writes, or None). Returns env -> host_port. Raises
    ProviderError or HostKeyError when the host cannot be reached or trusted."""
    from cockpit.providers.vps import commands as cmd
    from cockpit.providers.vps.ssh import SshTransport

    from cockpit.state import state_root, whoami

    t = SshTransport(host=host, port=ssh_port, user=user, identity_file=identity_file,
                     known_hosts=state_root() / "known_hosts", trusted=trusted, ask=None,
                     timeout=timeout)
    try:
        home = t.run(cmd.home(), step="connect", idempotent=True).stdout.strip()
        if not home.startswith("/"):
            raise ProviderError(f"the SSH user's home is not an absolute path: {home!r}",
                                where=t.where)
        starts = starts or {env: DEFAULT_STARTS.get(env, 8101) for env in domains}
        names = {env: [f"{app}-{env}", *([d.lower()] if d else [])]
                 for env, d in domains.items()}
        return reserve_free(t, f"{home}/.cockpit", app, starts, whoami(), names)
    finally:
        t.close()


def forget(transport: Any, root: str, app: str, envs: Iterable[str] | None = None) -> list[str]:
    """Drop `app`'s claims (all its environments, or `envs`) from the host's registry, under
    its lock: for an app removed from the host. Returns the "<app>/<env>" keys dropped."""
    dropped: list[str] = []

    def change(registry: dict[str, Any], facts: Facts) -> dict[str, Any] | None:
        claims = dict(registry.get("claims") or {})
        for key, claim in list(claims.items()):
            if isinstance(claim, dict) and claim.get("app") == app and \
                    (envs is None or claim.get("env") in set(envs)):
                dropped.append(key)
                del claims[key]
        return {**registry, "claims": claims} if dropped else None

    transact(transport, root, change)
    return dropped
