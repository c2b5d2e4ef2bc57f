"""The switch: HAProxy config for each environment's two slots, and its runtime commands.

Caddy (the edge) proxies an environment's domain to a stable loopback port served by HAProxy.
Its backend has two slots, blue and green; the active one has weight 100, the other weight 0
(no new requests, open ones finish: that is the drain). Deploys flip the weights through the
runtime API, never by reloading anything (measured: Caddy admin changes reset connections under
load, HAProxy runtime changes held 0 failures). The env's config file is rewritten after each
switch so a restart of HAProxy serves the same slot; only setup reloads HAProxy.
"""

from __future__ import annotations

from dataclasses import dataclass

from cockpit.providers.vps.commands import SLOTS

ACTIVE_WEIGHT = 100


def render_global(*, sock: str, admin_port: int | None = None) -> str:
    """The global part: the runtime API only on the unix socket `sock`, mode 0600 (HAProxy runs
    as the SSH user, so the socket is that user's alone; cockpit reaches it through SSH's
    streamlocal forwarding). `admin_port` adds the old loopback TCP listener, which any local
    process (a host-network container included) could use to reroute every environment: only
    for an old unsupervised switch, never written by setup now."""
    tcp = f"    stats socket ipv4@127.0.0.1:{admin_port} level admin\n" if admin_port else ""
    return f"""# managed by cockpit: the switch between releases (do not edit by hand)
global
    stats socket {sock} mode 600 level admin expose-fd listeners
{tcp}    stats timeout 30s

defaults
    mode http
    option http-server-close
    timeout connect 2s
    timeout client 65s
    timeout server 65s
    timeout http-keep-alive 65s
    timeout queue 10s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
"""


def render_env(
    *, key: str, host_port: int, slot_ports: dict[str, int], health_path: str,
    host_header: str, active: str | None,
) -> str:
    """One frontend on 127.0.0.1:<host_port> and one backend with the blue and green slots."""
    lines = [
        f"# managed by cockpit: environment {key}",
        f"frontend {key}",
        f"    bind 127.0.0.1:{host_port}",
        f"    default_backend {key}",
        "",
        f"backend {key}",
        "    option httpchk",
        f"    http-check send meth GET uri {health_path} ver HTTP/1.1 hdr Host {host_header}",
        "    http-check expect status 200-299",
    ]
    for slot in SLOTS:
        weight = ACTIVE_WEIGHT if slot == active else 0
        lines.append(
            f"    server {slot} 127.0.0.1:{slot_ports[slot]} weight {weight} "
            "check inter 2s fastinter 500ms downinter 1s fall 3 rise 2"
        )
    return "\n".join(lines) + "\n"


def switch_commands(key: str, new: str, old: str | None) -> str:
    """One runtime line: mark the gated slot up and give it the traffic; the old slot drains."""
    cmds = [f"set server {key}/{new} health up", f"set weight {key}/{new} {ACTIVE_WEIGHT}"]
    if old and old != new:
        cmds.append(f"set weight {key}/{old} 0")
    return "; ".join(cmds)


def state_command(key: str) -> str:
    return f"show servers state {key}"


def stat_command() -> str:
    return "show stat"


@dataclass
class SlotState:
    slot: str
    weight: int
    up: bool
    admin: int

    @property
    def active(self) -> bool:
        return self.weight > 0 and self.admin & 0x2F == 0


def parse_servers_state(text: str) -> dict[str, SlotState]:
    """`show servers state <backend>` → {slot: state} (format version 1)."""
    result: dict[str, SlotState] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8 or line.startswith("#"):
            continue
        name = parts[3]
        if name in SLOTS:
            result[name] = SlotState(
                slot=name, up=parts[5] == "2", admin=int(parts[6]), weight=int(parts[7])
            )
    return result


def active_slot(states: dict[str, SlotState]) -> str | None:
    actives = [s.slot for s in states.values() if s.active]
    if len(actives) == 1:
        return actives[0]
    if len(actives) > 1:  # mid-switch: both carry traffic
        return max(actives, key=lambda s: states[s].weight)
    return None


def parse_current_sessions(text: str, key: str) -> dict[str, int]:
    """`show stat` CSV → {slot: current sessions} for the environment's backend."""
    header: list[str] = []
    result: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("# "):
            header = line[2:].split(",")
            continue
        if not header or not line:
            continue
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == key and row.get("svname") in SLOTS:
            result[row["svname"]] = int(row.get("scur") or 0)
    return result
