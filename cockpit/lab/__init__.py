"""The local lab: the real parts Cockpit talks to, brought up on this machine.

Docker Engine, an offline base image and the per-stack images built from it (`images.py`:
Python, Node, Go, a minimal runtime and Caddy, standing in for the official bases that cannot
be pulled here), a registry, an sshd "VPS", Caddy and HAProxy binaries with free edge ports,
Pebble with its DNS, and a D-Bus session with an unlocked gnome-keyring.
`up()` is idempotent and fast when everything already runs; `down()` stops only what the lab
started (recorded with pids in the lab dir, `$COCKPIT_LAB_DIR`, default /var/tmp/cockpit-lab).
Keys and certificates are generated there at run time and never committed.

Used by `scripts/lab`, `scripts/test`, `scripts/demo`, `cockpit demo` and tests only: the
cockpit runtime never imports this package.

Shell:  `scripts/lab up|down|status|env`   Python: `lab.up() -> LabEnv`, `lab.down()`,
`lab.status()`, `lab.env()` (the variables `scripts/lab env` exports).
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import time
from pathlib import Path

from . import acme, engine, images, registry, secretservice, vps
from ._proc import (
    LabError,
    State,
    free_port,
    lab_dir,
    locked,
    port_bindable,
    port_open,
    stop_pid,
)

__all__ = ["PARTS", "LabEnv", "LabError", "down", "env", "lab_dir", "status", "up"]

PARTS = ("engine", "image", "images", "keyring", "vps", "registry", "acme", "edge")

# key -> (default port, needs UDP too)
DEFAULT_PORTS: dict[str, tuple[int, bool]] = {
    "ssh": (2222, False),
    "registry": (5000, False),
    "caddy_admin": (2019, False),
    "http": (8080, False),
    "https": (8443, False),
    "pebble": (14000, False),
    "pebble_mgmt": (15000, False),
    "dns": (8053, True),
    "challtestsrv_mgmt": (8055, False),
}
# Which lab process listens on each port (edge ports belong to Caddy run by `deploy`).
PORT_OWNERS = {
    "ssh": "sshd",
    "registry": "registry",
    "pebble": "pebble",
    "pebble_mgmt": "pebble",
    "dns": "challtestsrv",
    "challtestsrv_mgmt": "challtestsrv",
}
EDGE_PORTS = ("caddy_admin", "http", "https")
EDGE_UID = 62019  # the uid the VPS provider's edge container runs as (its commands.EDGE_UID)


@dataclasses.dataclass(frozen=True)
class LabEnv:
    """Where each lab part answers; `as_env()` gives the `scripts/lab env` variables."""

    lab_dir: str
    docker_host: str
    dbus_session_bus_address: str
    ssh_host: str
    ssh_port: int
    ssh_user: str
    ssh_key: str
    ssh_hostkey_sha256: str
    ssh_known_hosts: str
    registry: str
    base_image: str
    caddy_admin: str
    http_port: int
    https_port: int
    acme_ca: str
    acme_ca_root: str
    acme_issuer_root: str
    dns: str
    pebble_management: str
    challtestsrv: str
    caddy_bin: str
    haproxy_bin: str

    def vps_table(self, name: str, host_port: int, *, network: str = "host",
                  domain: str | None = None, edge_ca: bool = True, **keys: object) -> str:
        """`[environments.<name>]` of a VPS environment on this lab (its sshd, edge, Pebble
        and DNS), plus `keys` as TOML values (a dict becomes an inline table)."""

        def value(v: object) -> str:
            if isinstance(v, dict):
                return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
            if isinstance(v, bool):
                return str(v).lower()
            return f'"{v}"' if isinstance(v, str) else str(v)

        lines = [f"[environments.{name}]", 'provider = "vps"', f'host = "{self.ssh_host}"',
                 f"ssh_port = {self.ssh_port}", f'user = "{self.ssh_user}"',
                 f'identity_file = "{self.ssh_key}"', f'network = "{network}"',
                 f"host_port = {host_port}", f"http_port = {self.http_port}",
                 f"https_port = {self.https_port}",
                 f"edge_admin_port = {self.caddy_admin.rsplit(':', 1)[1]}",
                 f'acme_ca = "{self.acme_ca}"', f'acme_ca_root = "{self.acme_ca_root}"',
                 f'dns_resolver = "{self.dns}"']
        if network == "host" and "allow_host_network" not in keys:
            # the lab's rule; a protected environment must say that it allows it
            lines.append("allow_host_network = true")
        if domain:
            lines.append(f'domain = "{domain}"')
        if edge_ca:
            lines.append(f'edge_ca_file = "{self.acme_issuer_root}"')
        lines += [f"{k} = {value(v)}" for k, v in keys.items()]
        return "\n".join(lines) + "\n"

    def as_env(self) -> dict[str, str]:
        out = {
            "DOCKER_HOST": self.docker_host,
            "DBUS_SESSION_BUS_ADDRESS": self.dbus_session_bus_address,
            "COCKPIT_LAB_DIR": self.lab_dir,
        }
        for f in dataclasses.fields(self):
            if f.name in ("docker_host", "dbus_session_bus_address", "lab_dir"):
                continue
            out["COCKPIT_LAB_" + f.name.upper()] = str(getattr(self, f.name))
        return out

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> LabEnv | None:
        """Rebuild from exported variables (what `scripts/test` put in the environment)."""
        e = dict(os.environ if environ is None else environ)
        names = {
            "docker_host": "DOCKER_HOST",
            "dbus_session_bus_address": "DBUS_SESSION_BUS_ADDRESS",
            "lab_dir": "COCKPIT_LAB_DIR",
        }
        kwargs: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            key = names.get(f.name, "COCKPIT_LAB_" + f.name.upper())
            if key not in e:
                return None
            kwargs[f.name] = int(e[key]) if f.type == "int" else e[key]
        return cls(**kwargs)  # type: ignore[arg-type]


def _listener_uids(port: int) -> set[int]:
    """uids of sockets listening on TCP `port` (from /proc/net/tcp*)."""
    uids: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 7 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                uids.add(int(cols[7]))
    return uids


def _deploy_uid() -> int | None:
    try:
        return pwd.getpwnam(vps.USER).pw_uid
    except KeyError:
        return None


def _usable(
    state: State, key: str, port: int | None, udp: bool, chosen: dict[str, int], deploy: int | None
) -> bool:
    if port is None or port in chosen.values():
        return False
    owner = PORT_OWNERS.get(key)
    if owner and state.alive(owner) and state.ports.get(key) == port:
        return True
    if key in EDGE_PORTS and port == state.ports.get(key):
        # Sticky: whoever holds it now is most likely an edge Caddy (the VPS provider's, or a
        # smoke test's); moving it would restart Pebble under the tests that use it.
        return True
    if key in EDGE_PORTS and ({deploy, EDGE_UID} & _listener_uids(port)):
        return True  # the VPS provider's edge (a container as EDGE_UID; formerly `deploy`)
    return port_bindable(port) and (not udp or port_bindable(port, udp=True))


def _choose_ports(state: State) -> dict[str, int]:
    """Defaults unless taken by something the lab did not start; then a free port, kept stable."""
    chosen: dict[str, int] = {}
    deploy = _deploy_uid()
    for key, (default, udp) in DEFAULT_PORTS.items():
        current = state.ports.get(key)
        if _usable(state, key, current, udp, chosen, deploy):
            chosen[key] = current  # type: ignore[assignment]
        elif _usable(state, key, default, udp, chosen, deploy):
            chosen[key] = default
        else:
            chosen[key] = free_port(set(chosen.values()), udp_too=udp)
    state.ports.clear()
    state.ports.update(chosen)
    state.save()
    return chosen


def _ensure_edge(ports: dict[str, int]) -> dict[str, object]:
    """Caddy and HAProxy are started by the VPS provider's setup; the lab checks binaries."""
    missing = [
        b
        for b in ("caddy", "haproxy")
        if not shutil.which(b) and not os.path.exists(f"/usr/sbin/{b}")
    ]
    if missing:
        raise LabError(f"{', '.join(missing)} not found: install the Debian packages caddy haproxy")
    return {
        "up": True,
        "address": f"127.0.0.1:{ports['caddy_admin']}",
        "caddy_bin": shutil.which("caddy") or "/usr/bin/caddy",
        "haproxy_bin": shutil.which("haproxy") or "/usr/sbin/haproxy",
        "http_port": ports["http"],
        "https_port": ports["https"],
    }


def up(parts: tuple[str, ...] | list[str] | None = None) -> LabEnv:
    """Bring the lab up (idempotent) and return where each part answers.

    `parts` limits the work to some of PARTS (dependencies are added); the returned LabEnv
    then holds the last known values for the others.
    """
    wanted = set(PARTS if parts is None else parts)
    unknown = wanted - set(PARTS)
    if unknown:
        raise LabError(f"unknown lab parts {sorted(unknown)}; known: {', '.join(PARTS)}")
    if "images" in wanted:
        wanted.add("image")
    if wanted & {"image", "vps"}:
        wanted.add("engine")
    root = lab_dir()
    with locked(root):
        state = State(root)
        ports = _choose_ports(state)
        info = state.info
        timings: dict[str, float] = {}

        def step(name: str, fn) -> None:  # noqa: ANN001
            if name in wanted:
                t = time.monotonic()
                info[name] = fn()
                timings[name] = round(time.monotonic() - t, 2)
                state.save()

        step("engine", lambda: engine.ensure_engine(state))
        step("image", lambda: engine.ensure_base_image(state))
        step("images", lambda: images.ensure(state))
        step("keyring", lambda: secretservice.ensure(state))
        step("vps", lambda: vps.ensure(state, ports["ssh"]))
        step("registry", lambda: registry.ensure(state, ports["registry"]))
        step("acme", lambda: acme.ensure(state, ports))
        step("edge", lambda: _ensure_edge(ports))
        info["timings"] = timings
        state.save()
        return _lab_env(state)


def _lab_env(state: State) -> LabEnv:
    root = state.root
    ports = state.ports or {k: v for k, (v, _) in DEFAULT_PORTS.items()}
    ssh = vps.paths(root)
    a = acme.paths(root)
    vinfo = state.info.get("vps") or {}
    edge = state.info.get("edge") or {}
    return LabEnv(
        lab_dir=str(root),
        docker_host=f"unix://{engine.SOCKET}",
        dbus_session_bus_address=secretservice.address(root),
        ssh_host="127.0.0.1",
        ssh_port=ports["ssh"],
        ssh_user=vps.USER,
        ssh_key=str(ssh["user_key"]),
        ssh_hostkey_sha256=str(vinfo.get("hostkey_sha256", "")),
        ssh_known_hosts=str(ssh["known_hosts"]),
        registry=f"127.0.0.1:{ports['registry']}",
        base_image=engine.BASE_IMAGE,
        caddy_admin=f"127.0.0.1:{ports['caddy_admin']}",
        http_port=ports["http"],
        https_port=ports["https"],
        acme_ca=f"https://127.0.0.1:{ports['pebble']}/dir",
        acme_ca_root=str(a["ca"]),
        acme_issuer_root=str(a["issuer_root"]),
        dns=f"127.0.0.1:{ports['dns']}",
        pebble_management=f"https://127.0.0.1:{ports['pebble_mgmt']}",
        challtestsrv=f"http://127.0.0.1:{ports['challtestsrv_mgmt']}",
        caddy_bin=str(edge.get("caddy_bin", shutil.which("caddy") or "/usr/bin/caddy")),
        haproxy_bin=str(edge.get("haproxy_bin", shutil.which("haproxy") or "/usr/sbin/haproxy")),
    )


def env() -> dict[str, str]:
    """The variables a shell or a test needs (as `scripts/lab env` exports them)."""
    root = lab_dir()
    with locked(root):
        return _lab_env(State(root)).as_env()


def status() -> dict[str, dict[str, object]]:
    """Each part: up or down now, its address and the pid the lab started (None if not ours)."""
    root = lab_dir()
    with locked(root):
        state = State(root)
        e = _lab_env(state)
        ports = state.ports

        def proc(name: str) -> int | None:
            return state.alive(name)

        out: dict[str, dict[str, object]] = {
            "engine": {"up": engine.ping(), "address": e.docker_host, "pid": proc("dockerd")},
            "image": {
                "up": engine.ping() and engine.image_exists(),
                "address": e.base_image,
                "pid": None,
            },
            "images": {
                "up": engine.ping() and images.images_ok(),
                "address": f"cockpit-lab/{{{','.join(images.IMAGES)}}}:{images.TAG}",
                "pid": None,
            },
            "keyring": {
                "up": bool(proc("gnome-keyring"))
                and secretservice._secrets_owned(e.dbus_session_bus_address),
                "address": e.dbus_session_bus_address,
                "pid": proc("gnome-keyring"),
            },
            "vps": {
                "up": bool(proc("sshd")) and vps.banner_ok(e.ssh_port),
                "address": f"{e.ssh_user}@{e.ssh_host}:{e.ssh_port}",
                "pid": proc("sshd"),
            },
            "registry": {
                "up": bool(proc("registry")) and registry.answers(ports.get("registry", 0)),
                "address": e.registry,
                "pid": proc("registry"),
            },
            "acme": {
                "up": bool(proc("pebble")) and port_open(ports.get("pebble", 0)),
                "address": e.acme_ca,
                "pid": proc("pebble"),
            },
            "dns": {
                "up": bool(proc("challtestsrv")),
                "address": e.dns,
                "pid": proc("challtestsrv"),
            },
            "edge": {
                "up": bool(shutil.which("caddy") and shutil.which("haproxy")),
                "address": f"http {e.http_port}, https {e.https_port}"
                + (f" ({', '.join(running)} running)" if (running := _edge_containers())
                   else ""),
                "pid": None,
            },
        }
        return out


def _edge_containers() -> list[str]:
    """The VPS provider's supervised edge and switch containers that run on the lab's engine."""
    if not engine.ping():
        return []
    from ._proc import run

    res = run(["docker", "ps", "--format", "{{.Names}}", "--filter", "name=^cockpit-edge$",
               "--filter", "name=^cockpit-switch$"], check=False, timeout=30)
    return sorted(res.stdout.decode().split()) if res.returncode == 0 else []


def down(*, user_services: bool = True) -> list[str]:
    """Stop what the lab started (and Caddy/HAProxy run by its `deploy` user); keep images.

    `user_services=False` leaves the `deploy` user's Caddy and HAProxy alone (they are shared
    by every lab dir on the machine).
    """
    root = lab_dir()
    stopped: list[str] = []
    with locked(root):
        state = State(root)
        for pid in vps.stop_user_services() if user_services else []:
            stopped.append(f"deploy-service:{pid}")
        for name in (
            "pebble",
            "challtestsrv",
            "registry",
            "sshd",
            "gnome-keyring",
            "dbus",
            "dockerd",
        ):
            pid = state.alive(name)
            if pid:
                stop_pid(pid, timeout=30 if name == "dockerd" else 10)
                stopped.append(f"{name}:{pid}")
            state.procs.pop(name, None)
        vps.forget_key(root)
        state.info.clear()
        state.save()
    return stopped
