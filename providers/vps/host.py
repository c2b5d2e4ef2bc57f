"""One environment's view of its host: the SSH transport plus the layout, the switch's runtime
API, health probes on the host's loopback, and container state read from labels.

Probes and the runtime API go through SSH `direct-tcpip` channels to the host's loopback, so
nothing but sshd has to listen beyond loopback and the host needs no curl or socat.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cockpit.providers.vps import commands as cmd
from cockpit.providers.vps import haproxy
from cockpit.providers.vps.ssh import SshTransport

from cockpit.errors import ProviderError
from cockpit.events import HealthSample
from cockpit.models import Instance, Release


@dataclass
class Container:
    id: str
    name: str
    state: str
    labels: dict[str, str]
    restarts: int = 0
    health: str = "unknown"
    started_at: float | None = None
    created: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def label(self, key: str, default: str = "") -> str:
        return self.labels.get(f"{cmd.LABEL}.{key}", default)

    @property
    def release_id(self) -> str:
        return self.label("release")

    @property
    def slot(self) -> str:
        return self.label("slot")

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting")

    @property
    def created_at(self) -> float:
        try:
            return float(self.label("created-at", "0"))
        except ValueError:
            return 0.0

    def release(self, app: str, env: str, status: str = "") -> Release:
        return Release(
            id=self.release_id, app=app, env=env, image=self.label("image"),
            digest=self.label("digest"), config_hash=self.label("config-hash"),
            secrets_digest=self.label("secrets-digest"),
            source_rev=self.label("source-rev") or None,
            created_at=self.created_at, created_by=self.label("created-by"), status=status,
            promoted_from=self.label("promoted-from") or None,
            meta={"container": self.name, "slot": self.slot},
        )

    def instance(self, serving: bool, location: str, now: float | None = None) -> Instance:
        return Instance(id=self.id[:12], name=self.name, state=self.state,
                        release_id=self.release_id, image=self.label("digest") or None,
                        health=self.judged_health(serving, now),
                        restarts=self.restarts, started_at=self.started_at,
                        serving=serving, location=location)

    def judged_health(self, serving: bool, now: float | None = None) -> str:
        """"unhealthy" for a serving container that is restarting, exited or dead, or that
        restarted less than RECENT_RESTART seconds ago (a crash loop is "running" between its
        restarts); else Docker's own health status ("unknown" without a HEALTHCHECK). Source:
        `docker inspect` State.Status, RestartCount, StartedAt."""
        if serving and self.state in ("restarting", "exited", "dead", "created", "paused"):
            return "unhealthy"
        if serving and self.restarts and self.started_at is not None and \
                (time.time() if now is None else now) - self.started_at < RECENT_RESTART:
            return "unhealthy"
        return self.health if self.state == "running" else "unknown"

    @property
    def problem(self) -> str:
        """Why this container is judged unhealthy, in words ("" when it is not)."""
        state = self.raw.get("State") or {}
        if self.state == "restarting":
            return f"{self.name} is restarting (restarted {self.restarts} times)"
        if self.state in ("exited", "dead"):
            return f"{self.name} {self.state} with code {state.get('ExitCode', '?')}"
        if self.restarts:
            return f"{self.name} restarted {self.restarts} times"
        return ""


RECENT_RESTART = 300.0  # seconds: a restart this recent makes a serving container unhealthy


@dataclass
class Proof:
    """One container's run state from `docker inspect`: running now, its restart count, when it
    started (epoch seconds), its exit code, and its address on its Docker network (bridge)."""

    name: str
    running: bool
    restarting: bool
    restarts: int
    started_at: str
    exit_code: int | None
    address: str | None

    def differs(self, before: Proof | None) -> str:
        """Why this container is not the one that started (or not running): "" when it runs
        and has not restarted since `before`."""
        if self.restarting:
            return f"{self.name} is restarting (it crashed; restart count {self.restarts})"
        if not self.running:
            return f"{self.name} is not running (exit code {self.exit_code})"
        if before is not None and (self.restarts != before.restarts
                                   or self.started_at != before.started_at):
            return (f"{self.name} restarted since it was started (restart count "
                    f"{before.restarts} → {self.restarts})")
        if before is None and self.restarts:
            return f"{self.name} restarted {self.restarts} times"
        return ""


PROOF_FORMAT = (
    '{"Running":{{json .State.Running}},"Restarting":{{json .State.Restarting}},'
    '"ExitCode":{{json .State.ExitCode}},"StartedAt":{{json .State.StartedAt}},'
    '"RestartCount":{{.RestartCount}},"Networks":{{json .NetworkSettings.Networks}}}'
)


def proof_argv(name: str) -> list[str]:
    """`docker inspect` of one container printing one PROOF_FORMAT line."""
    return ["docker", "inspect", "--type", "container", "--format", PROOF_FORMAT, name]


def parse_proof(name: str, text: str) -> Proof:
    """The Proof in `proof_argv`'s output (its last JSON line, after anything a chained command
    printed); no such line (the container is gone) reads as not running."""
    line = next((x for x in reversed(text.splitlines()) if x.startswith("{")), None)
    if line is None:
        return Proof(name, False, False, 0, "", None, None)
    raw = json.loads(line)
    address = next((n.get("IPAddress") for n in (raw.get("Networks") or {}).values()
                    if isinstance(n, dict) and n.get("IPAddress")), None)
    return Proof(name, bool(raw.get("Running")), bool(raw.get("Restarting")),
                 int(raw.get("RestartCount") or 0), str(raw.get("StartedAt") or ""),
                 raw.get("ExitCode"), address)


def _parse_time(text: str | None) -> float | None:
    if not text or text.startswith("0001-"):
        return None
    try:
        head = text.rstrip("Z").split(".")[0]
        return datetime.fromisoformat(head + "+00:00").timestamp()
    except ValueError:
        return None


class Host:
    def __init__(self, transport: SshTransport, settings: Any, app: str, env: str) -> None:
        self.t = transport
        self.s = settings
        self.app = app
        self.env = env
        self._layout: cmd.Layout | None = None

    @property
    def key(self) -> str:
        return f"{self.app}-{self.env}"

    @property
    def layout(self) -> cmd.Layout:
        if self._layout is None:
            home = self.t.run(cmd.home(), step="connect", idempotent=True).stdout.strip()
            if not home.startswith("/"):
                raise ProviderError(f"the SSH user's home is not an absolute path: {home!r}",
                                    where=self.t.where)
            self._layout = cmd.Layout(home=home, app=self.app, env=self.env)
        return self._layout

    @property
    def base_name(self) -> str:
        return self.s.container_name or self.key

    def container_name(self, release_id: str) -> str:
        return f"{self.base_name}-{cmd.safe_name(release_id)}"

    def run(self, argv: list[str], *, step: str, **kw: Any):
        return self.t.run(argv, step=step, **kw)

    # ------------------------------------------------------------------ loopback channels

    def _exchange(self, port: int, payload: bytes, timeout: float,
                  address: str = "127.0.0.1", sock: str | None = None) -> bytes:
        """Send `payload`, read until EOF: to address:port on the host, or to the unix socket
        `sock` on the host when given (then `port` is ignored)."""
        chan = self.t.open_unix(sock) if sock else self.t.open_tcp(port, address)
        try:
            chan.settimeout(timeout)
            chan.sendall(payload)
            data = bytearray()
            while True:
                chunk = chan.recv(65536)
                if not chunk:
                    break
                data += chunk
            return bytes(data)
        finally:
            chan.close()

    def switch_api(self, command: str, *, step: str = "switch", timeout: float = 10.0) -> str:
        """Send one line to HAProxy's runtime API: its 0600 unix socket on the host, through
        SSH (no TCP listener: no other local process can reroute an environment)."""
        sock = self.layout.switch_sock
        try:
            out = self._exchange(0, (command + "\n").encode(), timeout, sock=sock)
        except (OSError, ProviderError) as exc:
            raise ProviderError(
                f"the switch (HAProxy runtime API on {sock}) did "
                f"not answer `{command}`: {exc}", where=f"{self.t.where} step {step}",
                hint=f"run `cockpit setup {self.env}` to start it",
            ) from None
        text = out.decode(errors="replace")
        lowered = text.lower()
        if "unknown command" in lowered or "no such" in lowered or "can't find" in lowered:
            raise ProviderError(f"the switch refused `{command}`: {text.strip()}",
                                where=f"{self.t.where} step {step}",
                                hint=f"run `cockpit setup {self.env}` to write its config")
        return text

    def slot_states(self) -> dict[str, haproxy.SlotState]:
        return haproxy.parse_servers_state(self.switch_api(haproxy.state_command(self.key),
                                                           step="read switch"))

    def switch_alive(self) -> bool:
        try:
            self._exchange(0, b"show info\n", 3.0, sock=self.layout.switch_sock)
            return True
        except (OSError, ProviderError):
            return False

    def sessions(self) -> dict[str, int]:
        return haproxy.parse_current_sessions(self.switch_api(haproxy.stat_command(),
                                                              step="drain"), self.key)

    def probe(self, port: int, path: str, host_header: str, timeout: float,
              address: str = "127.0.0.1") -> HealthSample:
        """GET path on the host's address:port (127.0.0.1, or a container's address on its
        Docker network) with the environment's Host header."""
        url = f"http://{address}:{port}{path} (on {self.s.host}, Host: {host_header})"
        request = (f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: cockpit-gate\r\n"
                   "Connection: close\r\n\r\n").encode()
        started = time.monotonic()
        try:
            data = self._exchange(port, request, timeout, address)
        except Exception as exc:  # channel refused, timeout, link loss
            ms = round((time.monotonic() - started) * 1000, 1)
            error = (f"connection refused: nothing listens on {address}:{port}"
                     if isinstance(exc, ProviderError) and "cannot reach" in exc.what
                     else f"no answer: {exc or type(exc).__name__}")
            return HealthSample(ok=False, status=None, latency_ms=ms, url=url, error=error,
                                env=self.env)
        ms = round((time.monotonic() - started) * 1000, 1)
        line = data.split(b"\r\n", 1)[0].decode(errors="replace")
        parts = line.split(" ")
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        if status is None:
            return HealthSample(ok=False, status=None, latency_ms=ms, url=url,
                                error="connection closed without an HTTP answer"
                                if not data else f"not HTTP: {line[:80]!r}", env=self.env)
        ok = 200 <= status < 300
        return HealthSample(ok=ok, status=status, latency_ms=ms, url=url,
                            error="" if ok else f"HTTP {status}", env=self.env)

    # ------------------------------------------------------------------ containers

    def parallel(self, *fns):
        """Run independent remote reads/writes at once over the one SSH connection."""
        from concurrent.futures import ThreadPoolExecutor

        self.layout  # noqa: B018 - resolve once before the threads race for it
        with ThreadPoolExecutor(max_workers=len(fns)) as pool:
            futures = [pool.submit(fn) for fn in fns]
            return [f.result() for f in futures]

    def containers(self) -> list[Container]:
        result = self.run(cmd.docker_inspect_env(self.app, self.env), step="read containers",
                          check=False, idempotent=True)
        if not result.ok and not result.stdout.strip().startswith("{"):
            raise self.t.failure(result, "read containers")
        found = []
        for line in result.stdout.splitlines():
            if not line.startswith("{"):
                continue
            raw = json.loads(line)
            state = raw.get("State") or {}
            found.append(Container(
                id=raw["Id"], name=raw["Name"].lstrip("/"), state=state.get("Status", "unknown"),
                labels=raw.get("Labels") or {},
                restarts=raw.get("RestartCount", 0),
                health=(state.get("Health") or {}).get("Status", "unknown"),
                started_at=_parse_time(state.get("StartedAt")),
                created=_parse_time(raw.get("Created")) or 0.0, raw=raw,
            ))
        found.sort(key=lambda c: (c.created_at, c.created), reverse=True)
        return found

    def release_records(self) -> dict[str, dict[str, Any]]:
        out = self.run(cmd.read_release_files(self.layout.releases_dir), step="read releases",
                       idempotent=True).stdout
        records = {}
        for line in out.splitlines():
            line = line.strip()
            if line:
                try:
                    data = json.loads(line)
                    records[data["id"]] = data
                except (ValueError, KeyError):
                    continue
        return records

    def write_record(self, release: Release, status: str) -> None:
        data = release.to_dict()
        data["status"] = status
        data["recorded_at"] = time.time()
        self.run(cmd.write_file(self.layout.release_file(release.id), "600"), step="record",
                 stdin=json.dumps(data, sort_keys=True), idempotent=True)

    def set_status(self, records: dict[str, dict[str, Any]], release_id: str, status: str) -> None:
        data = records.get(release_id)
        if data is None or data.get("status") == status:
            return
        data = {**data, "status": status, "recorded_at": time.time()}
        records[release_id] = data
        self.run(cmd.write_file(self.layout.release_file(release_id), "600"), step="record",
                 stdin=json.dumps(data, sort_keys=True), idempotent=True)

    def proof(self, name: str, *, step: str = "gate") -> Proof:
        """The run state of container `name` (docker inspect: State.Running, Restarting,
        ExitCode, StartedAt, RestartCount and its first network's IP address). A container
        that is gone reads as not running."""
        result = self.run(proof_argv(name), step=step, check=False, idempotent=True)
        return parse_proof(name, result.stdout)

    def listening(self, port: int, address: str = "127.0.0.1") -> bool | None:
        """Whether something accepts TCP connections on the host's address:port (through an
        SSH channel): True, False (refused), or None (could not tell)."""
        try:
            chan = self.t.open_tcp(port, address)
        except ProviderError as exc:
            return False if "cannot reach" in exc.what else None
        except Exception:
            return None
        chan.close()
        return True

    def logs_tail(self, name: str, lines: int = 50) -> list[str]:
        result = self.run(cmd.docker_logs_merged(name, lines), step="logs", check=False)
        text = result.stdout.strip()
        return text.splitlines()[-lines:] if text else []
