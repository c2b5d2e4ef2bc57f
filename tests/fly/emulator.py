"""A local emulator of the Fly Machines REST API and the logs endpoint, over real HTTP.

Written from shared/reference/fly.md (endpoint shapes, lease envelope, error bodies, machine
states). It listens on 127.0.0.1 only; the provider reaches it through its `api_url` and
`logs_url` settings, nothing in Python is patched.

What the tests control:
- `tokens`: which tokens are valid, for whom, with which orgs (`Bearer` and `FlyV1` accepted);
- `fail_images` / `crash_images`: checks fail (with an output) or the process exits, per image
  reference substring, so a test decides which release is healthy;
- `inject(...)`: one-off faults (5xx, slow responses) on matching requests;
- `rate_limits` (on by default): Fly's documented Machines API limits, per machine: 1 request
  per second per action (burst 3), Get Machine 5 per second (burst 10); over them the answer
  is 429 with a Retry-After header (whole seconds), as the service does;
- `stray_5xx(every=N)`: every Nth matching request answers a stray 500/502/503 (off by default;
  a test turns it on to prove the client survives them);
- `cert_issue_after`: how many status reads a certificate stays pending;
- delays of state transitions (small, so the suite stays fast).

What the tests observe: `apps`, `calls` (method, path, status), `serving_log` (which machines
received traffic after every change), `leases_held()`, `machine_env()`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets as _secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LEASE_HEADER = "fly-machine-lease-nonce"
ACTIVE_EXCLUDED = ("destroyed", "destroying", "replaced", "migrated")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts if ts is not None else time.time()))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def _err(status: int, message: str, kind: str = "unknown") -> ApiError:
    return ApiError(status, {"error": message, "status": kind, "details": {}})


@dataclass
class User:
    email: str
    orgs: set[str]


@dataclass
class Lease:
    nonce: str
    owner: str
    description: str
    expires_at: float
    version: str

    def data(self) -> dict[str, Any]:
        return {"nonce": self.nonce, "expires_at": int(self.expires_at), "owner": self.owner,
                "description": self.description, "version": self.version}


@dataclass
class Machine:
    id: str
    name: str
    app: str
    region: str
    config: dict[str, Any]
    state: str = "created"
    instance_id: str = ""
    cordoned: bool = False
    lease: Lease | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = field(default_factory=_iso)
    updated_at: str = field(default_factory=_iso)
    secrets_version: int = 0
    generation: int = 0  # bumps on every config change; pending transitions of older ones drop
    private_ip: str = ""
    exit_code: int | None = None

    def image_ref(self) -> dict[str, Any]:
        image = self.config.get("image", "")
        repo, _, digest = image.partition("@")
        registry, _, repository = repo.partition("/")
        tag = ""
        if ":" in repository.rsplit("/", 1)[-1]:
            repository, _, tag = repository.rpartition(":")
        return {"registry": registry, "repository": repository, "tag": tag or "latest",
                "digest": digest, "labels": {}}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "state": self.state, "region": self.region,
            "instance_id": self.instance_id, "private_ip": self.private_ip,
            "config": self.config, "image_ref": self.image_ref(),
            "events": list(reversed(self.events[-20:])),  # newest first, like the API
            "checks": [dict(c) for c in self.checks], "host_status": "ok",
            "cordoned": self.cordoned, "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class App:
    id: str
    name: str
    org: str
    machines: dict[str, Machine] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets_version: int = 0
    secret_history: dict[int, dict[str, str]] = field(default_factory=dict)
    certs: dict[str, dict[str, Any]] = field(default_factory=dict)
    ips: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> Volume JSON

    def to_json(self) -> dict[str, Any]:
        active = [m for m in self.machines.values() if m.state not in ACTIVE_EXCLUDED]
        return {"id": self.id, "name": self.name, "status": "deployed" if active else "pending",
                "organization": {"name": self.org, "slug": self.org}, "network": "default",
                "machine_count": len(active)}


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int | None
    times: int
    delay: float
    body: dict[str, Any] | None
    after: int = 0  # matching requests let through before the fault starts


class FlyEmulator:
    def __init__(
        self,
        tokens: dict[str, User] | None = None,
        *,
        start_delay: float = 0.03,
        check_delay: float = 0.06,
        stop_delay: float = 0.02,
        cert_issue_after: int = 2,
        page_size: int = 50,
        seed: str | None = None,
        rate_limits: bool = True,
    ) -> None:
        """`rate_limits`: answer 429 over Fly's documented per-machine limits.

        `seed`: ids (apps, machines, instances, lease nonces) from a counter per kind hashed
        with it, so the same requests give the same ids (TUI snapshots); random otherwise."""
        self.tokens = tokens if tokens is not None else {
            "fly-test-token": User("ops@example.com", {"personal"})
        }
        self.start_delay = start_delay
        self.check_delay = check_delay
        self.stop_delay = stop_delay
        self.cert_issue_after = cert_issue_after
        self.page_size = page_size
        self.fail_images: dict[str, str] = {}  # image substring -> failing check output
        self.crash_images: dict[str, int] = {}  # image substring -> exit code right after start
        # a one-off machine (restart policy "no" and an init.cmd: a release command) of an image
        # prints release_logs, then exits with release_exits' code (default 0) after
        # release_delay; with config.auto_destroy it is destroyed right after it exits
        self.release_exits: dict[str, int] = {}  # image substring -> exit code
        self.release_logs: dict[str, list[str]] = {}  # image substring -> output lines
        # ... unless its command holds one of these substrings (a schema probe's listing); keys
        # are (image substring, command substring)
        self.command_logs: dict[tuple[str, str], list[str]] = {}
        self.command_exits: dict[tuple[str, str], int] = {}  # the same keys -> exit code
        self.release_delay = 0.05
        # seconds a machine's log line takes to reach the logs endpoint: Fly's log pipeline
        # (machine -> NATS -> the logs API) delivers lines seconds after they were printed,
        # often after the machine's exit event is visible (0: at once)
        self.log_delay = 0.0
        self._late_logs: list[tuple[float, str, dict[str, Any]]] = []  # (due, app, entry)
        self.apps: dict[str, App] = {}
        self.calls: list[tuple[str, str, int]] = []
        self.bodies: list[tuple[str, str, dict[str, Any], str | None]] = []  # + lease nonce
        self.serving_log: list[tuple[str, tuple[str, ...]]] = []
        self.lock = threading.Condition(threading.RLock())
        self._pending: list[tuple[float, str, str, int, str]] = []
        self._faults: list[Fault] = []
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._seq = 0
        self.seed = seed
        self._counters: dict[str, int] = {}
        self.rate_limits = rate_limits
        self._buckets: dict[tuple[str, ...], tuple[float, float]] = {}  # key -> (tokens, at)
        self._stray: tuple[int, tuple[str, ...]] | None = None
        self._stray_seen = 0
        self.limited: list[tuple[str, str]] = []  # (method, path) answered 429
        self.strays: list[tuple[str, str, int]] = []  # (method, path, status) answered stray

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FlyEmulator:
        emu = self

        class Handler(_Handler):
            emulator = emu

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        serve = threading.Thread(target=self._server.serve_forever, daemon=True,
                                 kwargs={"poll_interval": 0.05})
        tick = threading.Thread(target=self._ticker, daemon=True)
        self._threads = [serve, tick]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self) -> FlyEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def logs_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    # ------------------------------------------------------------------ test controls

    def inject(self, method: str, path: str, *, status: int | None = 503, times: int = 1,
               delay: float = 0.0, body: dict[str, Any] | None = None,
               after: int = 0) -> None:
        """Fail the next `times` requests whose path matches the regex `path`, once `after`
        matching ones went through; a 429 carries `Retry-After: 1`."""
        with self.lock:
            self._faults.append(Fault(method.upper(), re.compile(path), status, times, delay, body,
                                      after))

    def stray_5xx(self, every: int | None, methods: tuple[str, ...] = ("GET",)) -> None:
        """Answer every `every`th request of `methods` with a stray 5xx (500, 502, 503 in
        turn) before it is processed; None turns it off."""
        with self.lock:
            self._stray = (every, tuple(m.upper() for m in methods)) if every else None
            self._stray_seen = 0

    # Fly's documented limits (Machines API docs, "Rate limits"): per action per machine
    # 1 req/s with a burst of 3; Get Machine 5 req/s with a burst of 10.
    RATE_ACTION = (1.0, 3.0)
    RATE_GET_MACHINE = (5.0, 10.0)

    def _rate_limited(self, method: str, path: str) -> float | None:
        """Seconds until the request's bucket has a token (None: within the limit; one token
        is taken). Only machine-scoped calls are limited, as documented."""
        seg = path.split("/")
        # /v1/apps/{app}/machines/{id}[/{action}...]
        if len(seg) < 6 or seg[1] != "v1" or seg[2] != "apps" or seg[4] != "machines":
            return None
        app, mid, action = seg[3], seg[5], "/".join(seg[6:])
        if method == "GET" and not action:
            key, (rate, burst) = ("get", app, mid), self.RATE_GET_MACHINE
        else:
            key, (rate, burst) = (method, action, app, mid), self.RATE_ACTION
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate

    def create_app(self, name: str, org: str = "personal") -> App:
        with self.lock:
            app = App(id=self._id(8, "app"), name=name, org=org)
            self.apps[name] = app
            return app

    def add_log(self, app: str, machine: str, region: str, message: str,
                level: str = "info") -> None:
        with self.lock:
            self._log(self.apps[app], machine, region, message, level)

    def issue_cert(self, app: str, host: str) -> None:
        with self.lock:
            self.apps[app].certs[host]["issued"] = True

    def active(self, app: str) -> list[Machine]:
        with self.lock:
            return [m for m in self.apps[app].machines.values() if m.state not in ACTIVE_EXCLUDED]

    def serving(self, app: str) -> list[str]:
        with self.lock:
            return sorted(m.id for m in self.apps[app].machines.values() if self._serves(m))

    def leases_held(self, app: str | None = None) -> list[tuple[str, str, str]]:
        """(app, machine id, owner) of every unexpired lease."""
        now = time.time()
        with self.lock:
            return [(a.name, m.id, m.lease.owner)
                    for a in self.apps.values() if app is None or a.name == app
                    for m in a.machines.values()
                    if m.lease and m.lease.expires_at > now and m.state not in ACTIVE_EXCLUDED]

    def grab_lease(self, app: str, machine_id: str, owner: str, ttl: float = 30,
                   description: str = "someone else's deploy") -> str:
        with self.lock:
            m = self.apps[app].machines[machine_id]
            m.lease = Lease(self._id(16, "lease"), owner, description, time.time() + ttl,
                            m.instance_id)
            return m.lease.nonce

    def machine_env(self, app: str, machine_id: str) -> dict[str, str]:
        """What the machine's process sees: config env plus the secrets of its version."""
        with self.lock:
            a = self.apps[app]
            m = a.machines[machine_id]
            return {**m.config.get("env", {}), **a.secret_history.get(m.secrets_version, {})}

    # ------------------------------------------------------------------ internals

    def _id(self, n: int = 14, kind: str = "") -> str:
        if self.seed is None:
            return _secrets.token_hex(n // 2 + 1)[:n]
        count = self._counters[kind] = self._counters.get(kind, 0) + 1
        return hashlib.sha256(f"{self.seed}:{kind}:{count}".encode()).hexdigest()[:n]

    def _serves(self, m: Machine) -> bool:
        return m.state == "started" and not m.cordoned

    def _record_serving(self, app: App) -> None:
        ids = tuple(sorted(m.id for m in app.machines.values() if self._serves(m)))
        if not self.serving_log or self.serving_log[-1] != (app.name, ids):
            self.serving_log.append((app.name, ids))

    def _event(self, app: App, m: Machine, type_: str, status: str, **extra: Any) -> None:
        self._seq += 1
        m.events.append({"id": f"ev{self._seq:08d}", "type": type_, "status": status,
                         "source": "flyd", "timestamp": _now_ms(), **extra})
        m.updated_at = _iso()
        self._record_serving(app)
        self.lock.notify_all()

    def _log(self, app: App, machine: str, region: str, message: str, level: str = "info") -> None:
        self._seq += 1
        entry = {"id": f"log{self._seq:08d}", "attributes": {
            "timestamp": _iso() , "message": message, "level": level, "instance": machine,
            "region": region, "meta": {"event": {"provider": "app"}}}}
        if self.log_delay > 0:  # in order: every line takes the same time
            self._late_logs.append((time.monotonic() + self.log_delay, app.name, entry))
        else:
            app.logs.append(entry)

    def _schedule(self, delay: float, app: App, m: Machine, action: str) -> None:
        self._pending.append((time.monotonic() + delay, app.name, m.id, m.generation, action))

    def _ticker(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            with self.lock:
                due = [p for p in self._pending if p[0] <= now]
                self._pending = [p for p in self._pending if p[0] > now]
                for _, app_name, mid, gen, action in sorted(due):
                    app = self.apps.get(app_name)
                    m = app.machines.get(mid) if app else None
                    if m is not None and m.generation == gen:
                        self._transition(app, m, action)
                while self._late_logs and self._late_logs[0][0] <= now:
                    _, app_name, entry = self._late_logs.pop(0)
                    if app_name in self.apps:
                        self.apps[app_name].logs.append(entry)
            self._stop.wait(0.005)

    def _match(self, image: str, table: dict[str, Any]) -> Any:
        for key, value in table.items():
            if key in image:
                return value
        return None

    @staticmethod
    def _one_off(m: Machine) -> bool:
        return ((m.config.get("restart") or {}).get("policy") == "no"
                and bool((m.config.get("init") or {}).get("cmd")))

    def _transition(self, app: App, m: Machine, action: str) -> None:
        image = m.config.get("image", "")
        if action == "started" and self._one_off(m):  # runs its command, then exits
            m.state = "started"
            m.exit_code = None
            self._event(app, m, "start", "started")
            command = " ".join(str(c) for c in (m.config.get("init") or {}).get("cmd") or [])
            lines = next((out for (img, cmd), out in self.command_logs.items()
                          if img in image and cmd in command), None)
            if lines is None:
                lines = self._match(image, self.release_logs)
            for line in lines if lines is not None else ["running the release command"]:
                self._log(app, m.id, m.region, line)
            self._schedule(self.release_delay, app, m, "exited")
        elif action == "exited":
            command = " ".join(str(c) for c in (m.config.get("init") or {}).get("cmd") or [])
            code = next((c for (img, cmd), c in self.command_exits.items()
                         if img in image and cmd in command), None)
            if code is None:
                code = self._match(image, self.release_exits) or 0
            m.state = "stopped"
            m.exit_code = code
            self._event(app, m, "exit", "stopped", request={"exit_event": {
                "exit_code": code, "oom_killed": False, "requested_stop": False,
                "restarting": False, "exited_at": _iso()}})
            if m.config.get("auto_destroy"):
                m.generation += 1
                self._schedule(self.stop_delay, app, m, "destroyed")
        elif action == "started":
            m.state = "started"
            m.exit_code = None
            self._event(app, m, "start", "started")
            self._log(app, m.id, m.region, f"Machine started, image {image}")
            self._log(app, m.id, m.region, "listening on 0.0.0.0:8080")
            if self._match(image, self.crash_images) is not None:
                self._schedule(self.check_delay / 2, app, m, "crash")
            if m.config.get("checks"):
                m.checks = [{"name": n, "status": "warning", "output": "waiting for first check",
                             "updated_at": _iso()} for n in sorted(m.config["checks"])]
                self._schedule(self.check_delay, app, m, "checks")
        elif action == "crash":
            code = self._match(image, self.crash_images)
            m.state = "stopped"
            m.exit_code = code
            self._log(app, m.id, m.region, f"Traceback: boom (exit code {code})", "error")
            self._event(app, m, "exit", "stopped",
                        request={"exit_event": {"exit_code": code, "oom_killed": False}})
            for c in m.checks:
                c.update(status="critical", output="connection refused", updated_at=_iso())
        elif action == "checks":
            output = self._match(image, self.fail_images)
            for c in m.checks:
                if output is None:
                    c.update(status="passing", output="HTTP GET /up: 200 OK", updated_at=_iso())
                else:
                    c.update(status="critical", output=output, updated_at=_iso())
                    self._log(app, m.id, m.region, f"health check {c['name']} failed: {output}",
                              "warn")
            self.lock.notify_all()
        elif action == "stopped":
            m.state = "stopped"
            m.checks = []
            self._event(app, m, "exit", "stopped", request={"exit_event": {"exit_code": 0}})
        elif action == "destroyed":
            m.state = "destroyed"
            m.lease = None
            self._event(app, m, "destroy", "destroyed")

    def _launch(self, app: App, m: Machine) -> None:
        m.generation += 1
        m.instance_id = "01" + self._id(24, "instance").upper()
        m.checks = []
        self._schedule(self.start_delay, app, m, "started")

    # ------------------------------------------------------------------ request handling

    def handle(self, method: str, raw_path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, Any, float]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        delay = 0.0
        with self.lock:
            if self._stray and method in self._stray[1]:
                self._stray_seen += 1
                if self._stray_seen % self._stray[0] == 0:
                    status = (500, 502, 503)[(self._stray_seen // self._stray[0]) % 3]
                    self.calls.append((method, path, status))
                    self.strays.append((method, path, status))
                    return status, {"error": "stray upstream error", "status": "unknown"}, 0.0
            if self.rate_limits:
                wait = self._rate_limited(method, path)
                if wait is not None:
                    self.calls.append((method, path, 429))
                    self.limited.append((method, path))
                    return 429, {"error": "rate limit exceeded", "status": "unknown",
                                 "_retry_after": max(1, math.ceil(wait))}, 0.0
            for fault in self._faults:
                if fault.times > 0 and fault.method in (method, "*") and fault.path.search(path):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    delay = fault.delay
                    if fault.status is not None:
                        body_ = dict(fault.body or {"error": "injected fault",
                                                    "status": "unknown"})
                        if fault.status == 429:
                            body_["_retry_after"] = 1
                        self.calls.append((method, path, fault.status))
                        return fault.status, body_, delay
                    break
        try:
            user = self._auth(headers.get("authorization", ""))
            payload = json.loads(body) if body else {}
            status, result = self._route(method, path, query, headers, payload, user)
        except ApiError as exc:
            status, result = exc.status, exc.body
        except json.JSONDecodeError:
            status, result = 400, {"error": "invalid JSON body", "status": "unknown"}
        with self.lock:
            self.calls.append((method, path, status))
            if method == "POST" and "/machines" in path:
                try:
                    self.bodies.append((method, path, json.loads(body) if body else {},
                                        headers.get(LEASE_HEADER)))
                except json.JSONDecodeError:
                    pass
        return status, result, delay

    def _auth(self, value: str) -> User:
        scheme, _, token = value.partition(" ")
        if scheme not in ("Bearer", "FlyV1") or not token:
            raise ApiError(401, {"error": "missing or malformed Authorization header"})
        if scheme == "FlyV1":
            token = token.split(",")[0]
        user = self.tokens.get(token.strip())
        if user is None:
            raise ApiError(401, {"error": "token validation error"})
        return user

    def _app(self, name: str, user: User) -> App:
        app = self.apps.get(name)
        if app is None or app.org not in user.orgs:
            raise _err(404, f"app {name!r} not found")
        return app

    def _machine(self, app: App, mid: str) -> Machine:
        m = app.machines.get(mid)
        if m is None:
            raise _err(404, f"machine {mid!r} not found in app {app.name!r}")
        return m

    def _check_lease(self, m: Machine, headers: dict[str, str]) -> None:
        nonce = headers.get(LEASE_HEADER)
        if m.lease and m.lease.expires_at > time.time():
            if nonce != m.lease.nonce:
                raise self._conflict(m)
        elif nonce:
            raise ApiError(409, {"status": "error", "code": "invalid",
                                 "message": f"lease for machine {m.id} not found or expired"})

    def _conflict(self, m: Machine) -> ApiError:
        assert m.lease is not None
        return ApiError(409, {"status": "error", "code": "invalid", "message": (
            f"machine ID {m.id} lease currently held by {m.lease.owner}, "
            f"expires at {_iso(m.lease.expires_at)}")})

    def _route(self, method: str, path: str, q: dict[str, str], headers: dict[str, str],
               body: dict[str, Any], user: User) -> tuple[int, Any]:
        with self.lock:
            if path.startswith("/api/v1/apps/") and path.endswith("/logs") and method == "GET":
                return self._logs(self._app(path.split("/")[4], user), q)
            if not path.startswith("/v1/"):
                raise _err(404, f"no route {method} {path}")
            seg = path.split("/")[2:]
            if seg == ["apps"]:
                if method == "POST":
                    return self._create_app(body, user)
                if method == "GET":
                    org = q.get("org_slug", "")
                    if org and org not in user.orgs:
                        raise _err(403, f"not authorized to access organization {org!r}")
                    apps = [a.to_json() for a in self.apps.values()
                            if a.org in user.orgs and (not org or a.org == org)]
                    return 200, {"apps": apps, "total_apps": len(apps)}
            if len(seg) < 2 or seg[0] != "apps":
                raise _err(404, f"no route {method} {path}")
            app = self._app(seg[1], user)
            rest = seg[2:]
            if not rest:
                if method == "GET":
                    return 200, app.to_json()
                if method == "DELETE":
                    del self.apps[app.name]
                    return 202, {}
            elif rest[0] == "machines":
                return self._machines(app, rest[1:], method, q, headers, body, user)
            elif rest[0] == "secrets":
                return self._secrets(app, rest[1:], method, q, body)
            elif rest[0] == "certificates":
                return self._certs(app, rest[1:], method, body)
            elif rest[0] == "volumes":
                return self._volumes(app, rest[1:], method)
            elif rest[0] == "ip_assignments":
                return self._ips(app, rest[1:], method, body)
            raise _err(404, f"no route {method} {path}")

    def _create_app(self, body: dict[str, Any], user: User) -> tuple[int, Any]:
        name = body.get("name") or body.get("app_name")
        org = body.get("org_slug") or ""
        if not name or not re.match(r"^[a-z0-9][a-z0-9-]{1,62}$", name):
            raise _err(422, f"invalid app name {name!r}")
        if org not in user.orgs:
            raise _err(403, f"not authorized to create apps in organization {org!r}")
        existing = self.apps.get(name)
        if existing is not None:
            if existing.org not in user.orgs:
                raise _err(403, f"app name {name!r} is owned by another organization")
            raise _err(422, f"app name {name!r} is already taken", "name_taken")
        return 201, self.create_app(name, org).to_json()

    # machines ---------------------------------------------------------------

    def _machines(self, app: App, rest: list[str], method: str, q: dict[str, str],
                  headers: dict[str, str], body: dict[str, Any], user: User) -> tuple[int, Any]:
        if not rest:
            if method == "GET":
                out = []
                for m in app.machines.values():
                    if m.state in ACTIVE_EXCLUDED and q.get("include_deleted") != "true":
                        continue
                    if q.get("region") and m.region != q["region"]:
                        continue
                    if q.get("state") and m.state not in q["state"].split(","):
                        continue
                    meta = m.config.get("metadata", {})
                    if any(meta.get(k[9:]) != v for k, v in q.items()
                           if k.startswith("metadata.")):
                        continue
                    out.append(m.to_json())
                return 200, out
            if method == "POST":
                return self._create_machine(app, body, user)
        m = self._machine(app, rest[0])
        sub = rest[1:]
        if not sub:
            if method == "GET":
                data = m.to_json()
                if q.get("include_leases") == "true" and m.lease:
                    data["lease"] = m.lease.data()
                return 200, data
            if method == "POST":
                return self._update_machine(app, m, body, headers)
            if method == "DELETE":
                self._check_lease(m, headers)
                force = q.get("force") == "true" or q.get("kill") == "true"
                if m.state in ("started", "starting", "replacing") and not force:
                    raise _err(412, "failed to destroy machine: unable to destroy machine, not "
                                    "currently stopped, suspended or failed")
                if m.state == "destroyed":
                    raise _err(404, f"machine {m.id!r} not found")
                m.generation += 1
                m.state = "destroying"
                m.lease = None  # a lease dies with its machine
                self._event(app, m, "destroy", "destroying")
                self._schedule(self.stop_delay, app, m, "destroyed")
                return 200, {"ok": True}
        action = sub[0]
        if action == "wait" and method == "GET":
            return self._wait(m, q)
        if action == "lease":
            return self._lease(m, method, q, headers, body, user)
        if action == "metadata":
            meta = m.config.setdefault("metadata", {})
            if method == "GET" and len(sub) == 1:
                return 200, dict(meta)
            if len(sub) == 2 and method == "POST":
                meta[sub[1]] = str(body.get("value", ""))
                return 204, None
            if len(sub) == 2 and method == "DELETE":
                meta.pop(sub[1], None)
                return 204, None
        if method == "POST" and action in ("start", "stop", "restart", "cordon", "uncordon",
                                           "suspend", "signal"):
            self._check_lease(m, headers)
            if action == "start":
                previous = m.state
                if m.state not in ("started", "starting"):
                    m.state = "starting"
                    self._event(app, m, "start", "starting")
                    self._launch(app, m)
                return 200, {"previous_state": previous, "migrated": False, "new_host": ""}
            if action == "stop":
                if m.state in ("started", "starting", "replacing"):
                    m.generation += 1
                    m.state = "stopping"
                    self._event(app, m, "stop", "stopping")
                    self._schedule(self.stop_delay, app, m, "stopped")
                return 200, {"ok": True}
            if action == "restart":
                m.state = "starting"
                self._event(app, m, "restart", "starting")
                self._launch(app, m)
                return 200, {"ok": True}
            if action in ("cordon", "uncordon"):
                m.cordoned = action == "cordon"
                self._event(app, m, action, m.state)
                return 200, {"ok": True}
            return 200, {"ok": True}
        raise _err(404, f"no route {method} machines/{'/'.join(rest)}")

    def _machine_body(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        config = body.get("config")
        if not isinstance(config, dict) or not config.get("image"):
            raise _err(422, "config.image is required")
        need = int(body.get("min_secrets_version") or 0)
        if need > app.secrets_version:
            raise _err(422, f"secrets version {need} is not available yet "
                            f"(app has {app.secrets_version})")
        return json.loads(json.dumps(config))

    def _create_machine(self, app: App, body: dict[str, Any], user: User) -> tuple[int, Any]:
        config = self._machine_body(app, body)
        region = body.get("region") or "iad"
        mid = self._id(14, "machine")
        m = Machine(id=mid, name=body.get("name") or f"m-{mid[:6]}", app=app.name, region=region,
                    config=config, private_ip=f"fdaa:0:1:a7b:{len(app.machines) + 1:x}::2")
        m.cordoned = bool(body.get("skip_service_registration"))
        m.secrets_version = 0 if body.get("skip_secrets") else app.secrets_version
        app.machines[mid] = m
        self._event(app, m, "launch", "created")
        data_nonce = None
        if body.get("lease_ttl"):
            m.lease = Lease(self._id(16, "lease"), user.email, "created with lease",
                            time.time() + float(body["lease_ttl"]), "")
            data_nonce = m.lease.nonce
        if body.get("skip_launch"):
            m.instance_id = "01" + self._id(24, "instance").upper()
        else:
            self._launch(app, m)
        if m.lease:
            m.lease.version = m.instance_id
        out = m.to_json()
        if data_nonce:
            out["nonce"] = data_nonce
        return 200, out

    def _update_machine(self, app: App, m: Machine, body: dict[str, Any],
                        headers: dict[str, str]) -> tuple[int, Any]:
        self._check_lease(m, headers)
        if m.state in ("destroyed", "destroying"):
            raise _err(422, f"machine {m.id} is {m.state}")
        current = body.get("current_version")
        if current and current != m.instance_id:
            raise _err(412, f"machine {m.id} version {current} is not current "
                            f"({m.instance_id})")
        m.config = self._machine_body(app, body)
        m.secrets_version = app.secrets_version
        if "skip_service_registration" in body:
            m.cordoned = bool(body["skip_service_registration"])
        was = m.state
        m.state = "replacing"
        self._event(app, m, "update", "replacing")
        if was in ("stopped", "created") and body.get("skip_launch"):
            m.generation += 1
            m.state = "stopped"
        else:
            self._launch(app, m)
        return 200, m.to_json()

    def _wait(self, m: Machine, q: dict[str, str]) -> tuple[int, Any]:
        want = q.get("state", "started")
        try:
            timeout = float(q.get("timeout", "60"))
        except ValueError:
            raise _err(400, "timeout must be a number of seconds") from None
        if timeout > 60 or timeout < 0:
            raise _err(400, "timeout must be between 0 and 60 seconds")
        version = q.get("instance_id") or q.get("version")
        if want == "stopped" and not version:
            # the API's own rule (docs: instance_id "Required when waiting for Machine to be
            # in `stopped` state"); without it the real API answers 400
            raise _err(400, "instance_id is required when waiting for state stopped")
        if version and version != m.instance_id and want != "destroyed":
            raise _err(400, f"machine {m.id} is at version {m.instance_id}, not {version}")
        settled = ("started", "stopped", "suspended", "failed", "destroyed")

        def reached() -> bool:
            return m.state in settled if want == "settled" else m.state == want

        if not self.lock.wait_for(reached, timeout=timeout):
            raise _err(408, f"timeout waiting for machine {m.id} to be {want} "
                            f"(state: {m.state})")
        event_id = m.events[-1]["id"] if m.events else ""
        return 200, {"ok": True, "state": m.state, "event_id": event_id,
                     "version": m.instance_id}

    def _lease(self, m: Machine, method: str, q: dict[str, str], headers: dict[str, str],
               body: dict[str, Any], user: User) -> tuple[int, Any]:
        now = time.time()
        held = m.lease if m.lease and m.lease.expires_at > now else None
        nonce = headers.get(LEASE_HEADER)
        if method == "GET":
            if held is None:
                raise _err(404, f"no lease on machine {m.id}")
            return 200, {"status": "success", "data": held.data()}
        if method == "POST":
            ttl = float(body.get("ttl") or q.get("ttl") or 30)
            if held is not None:
                if nonce != held.nonce:
                    raise self._conflict(m)
                held.expires_at = now + ttl
                return 200, {"status": "success", "data": held.data()}
            if nonce:
                raise ApiError(409, {"status": "error", "code": "invalid",
                                     "message": f"lease for machine {m.id} not found or expired"})
            m.lease = Lease(self._id(16, "lease"), user.email, str(body.get("description", "")),
                            now + ttl, m.instance_id)
            return 201, {"status": "success", "data": m.lease.data()}
        if method == "DELETE":
            if held is None:
                raise _err(404, f"no lease on machine {m.id}")
            if nonce != held.nonce:
                raise self._conflict(m)
            m.lease = None
            return 200, {"status": "success", "data": {"ok": True}}
        raise _err(405, "method not allowed")

    # volumes ----------------------------------------------------------------

    def create_volume(self, app: str, name: str, size_gb: int = 1, region: str = "iad",
                      machine: str | None = None) -> str:
        """A volume of `app` (what `fly volumes create` makes), attached to `machine`."""
        with self.lock:
            vid = self._id(14, "vol")
            vid = vid if vid.startswith("vol_") else f"vol_{vid}"
            self.apps[app].volumes[vid] = {
                "id": vid, "name": name, "state": "created", "size_gb": size_gb,
                "region": region, "zone": f"{region}-z1", "encrypted": True,
                "attached_machine_id": machine, "attached_alloc_id": None,
                "created_at": _iso()}
            return vid

    def _volume_json(self, app: App, v: dict[str, Any]) -> dict[str, Any]:
        """A volume as the API shows it: attached only while its machine is not destroyed."""
        m = app.machines.get(v.get("attached_machine_id") or "")
        return {**v, "attached_machine_id": m.id if m and m.state not in ACTIVE_EXCLUDED
                else None}

    def _volumes(self, app: App, rest: list[str], method: str) -> tuple[int, Any]:
        """List, get and delete (Fly docs, Machines API "Volumes resource"): a destroyed
        volume is listed no more and its id answers 404; a volume attached to a machine that
        is not destroyed is refused (the machine goes first)."""
        live = {k: v for k, v in app.volumes.items() if v["state"] != "destroyed"}
        if not rest and method == "GET":
            return 200, [self._volume_json(app, v) for v in live.values()]
        if len(rest) == 1 and rest[0] in live:
            v = live[rest[0]]
            if method == "GET":
                return 200, self._volume_json(app, v)
            if method == "DELETE":
                attached = self._volume_json(app, v)["attached_machine_id"]
                if attached:
                    raise _err(412, f"failed to destroy volume {v['id']}: volume is attached "
                                    f"to machine {attached}")
                v["state"] = "destroyed"
                return 200, {**self._volume_json(app, v), "state": "destroyed"}
        if len(rest) == 1:
            raise _err(404, f"volume {rest[0]!r} not found in app {app.name!r}")
        raise _err(404, "no such volumes route")

    # secrets ----------------------------------------------------------------

    def _secret_json(self, name: str, s: dict[str, Any], show: bool = False) -> dict[str, Any]:
        out = {"name": name, "digest": s["digest"], "created_at": s["created_at"],
               "updated_at": s["updated_at"]}
        if show:
            out["value"] = s["value"]
        return out

    def _bump_secrets(self, app: App) -> int:
        app.secrets_version += 1
        app.secret_history[app.secrets_version] = {k: s["value"] for k, s in app.secrets.items()}
        return app.secrets_version

    def _put_secret(self, app: App, name: str, value: str) -> None:
        old = app.secrets.get(name)
        app.secrets[name] = {"value": value, "digest": _digest(value),
                             "created_at": old["created_at"] if old else _iso(),
                             "updated_at": _iso()}

    def _secrets(self, app: App, rest: list[str], method: str, q: dict[str, str],
                 body: dict[str, Any]) -> tuple[int, Any]:
        if not rest:
            if method == "GET":
                need = int(q.get("min_version") or q.get("version") or 0)
                if need > app.secrets_version:
                    raise _err(422, f"secrets version {need} not available")
                show = q.get("show_secrets") == "true"
                return 200, {"secrets": [self._secret_json(n, s, show)
                                         for n, s in sorted(app.secrets.items())]}
            if method == "POST":
                values = body.get("values")
                if not isinstance(values, dict):
                    raise _err(422, "values must be an object of name -> value or null")
                for name, value in values.items():
                    if value is None:
                        app.secrets.pop(name, None)
                    else:
                        self._put_secret(app, name, str(value))
                version = self._bump_secrets(app)
                return 200, {"secrets": [self._secret_json(n, s)
                                         for n, s in sorted(app.secrets.items())],
                             "version": version}
        elif len(rest) == 1:
            name = rest[0]
            if method == "POST":
                self._put_secret(app, name, str(body.get("value", "")))
                version = self._bump_secrets(app)
                return 201, {**self._secret_json(name, app.secrets[name]), "version": version}
            if method == "DELETE":
                if name not in app.secrets:
                    raise _err(404, f"secret {name!r} not found")
                del app.secrets[name]
                return 200, {"version": self._bump_secrets(app)}
        raise _err(404, "no such secrets route")

    # certificates and IPs ---------------------------------------------------

    def _cert_json(self, app: App, host: str, check: bool = False) -> dict[str, Any]:
        c = app.certs[host]
        if c["reads"] >= self.cert_issue_after:
            c["issued"] = True
        c["reads"] += 1
        issued = c["issued"]
        v4 = [i["ip"] for i in app.ips if "." in i["ip"]]
        v6 = [i["ip"] for i in app.ips if ":" in i["ip"]]
        status = "active" if issued else "pending_validation"
        data: dict[str, Any] = {
            "hostname": host, "configured": issued, "acme_requested": True,
            "status": "Ready" if issued else "Awaiting certificates", "dns_provider": "unknown",
            "rate_limited_until": None,
            "certificates": [{"source": "fly", "status": status, "issued": [
                {"type": "ecdsa", "expires_at": _iso(time.time() + 90 * 86400)},
                {"type": "rsa", "expires_at": _iso(time.time() + 90 * 86400)},
            ] if issued else []}],
            "validation": {"dns": issued, "alpn": issued, "http": issued,
                           "ownership_txt_configured": issued},
            "dns_requirements": {
                "a": v4, "aaaa": v6, "cname": f"{app.name}.fly.dev",
                "acme_challenge": {"name": f"_acme-challenge.{host}",
                                   "target": f"{host}.{app.id[:6]}.flydns.net"},
                "ownership": {"name": f"_fly-ownership.{host}", "app_value": f"app-{app.id}",
                              "org_value": f"org-{_digest(app.org)}"},
            },
            "validation_errors": [] if issued else [{
                "code": "dns_not_configured", "message": f"no A/AAAA or CNAME record for {host}",
                "remediation": f"create the DNS records listed for {host}"}],
        }
        if check:
            data["dns_records"] = {"a": v4 if issued else [], "aaaa": v6 if issued else [],
                                   "cname": [], "resolved_addresses": []}
        return data

    def _certs(self, app: App, rest: list[str], method: str,
               body: dict[str, Any]) -> tuple[int, Any]:
        if not rest and method == "GET":
            items = [{"hostname": h, "status": "active" if c["issued"] else "pending_validation"}
                     for h, c in app.certs.items()]
            return 200, {"certificates": items, "next_cursor": None, "total_count": len(items)}
        if rest == ["acme"] and method == "POST":
            host = str(body.get("hostname", "")).lower()
            if not re.match(r"^([a-z0-9-*]{1,63}\.)+[a-z0-9-]{1,63}$", host):
                raise _err(422, f"invalid hostname {host!r}")
            if host not in app.certs:
                app.certs[host] = {"issued": False, "reads": 0}
            return 201, self._cert_json(app, host)
        if rest and rest[0] in app.certs:
            host = rest[0]
            if len(rest) == 1 and method == "GET":
                return 200, self._cert_json(app, host)
            if rest[1:] == ["check"] and method == "POST":
                return 200, self._cert_json(app, host, check=True)
            if method == "DELETE":
                del app.certs[host]
                return 204, None
        raise _err(404, f"certificate {'/'.join(rest)!r} not found")

    def _ips(self, app: App, rest: list[str], method: str, body: dict[str, Any]) -> tuple[int, Any]:
        if not rest and method == "GET":
            return 200, {"ips": list(app.ips)}
        if not rest and method == "POST":
            kind = body.get("type")
            n = len(app.ips) + 1
            if kind in ("v4", "shared_v4"):
                ip = f"66.241.124.{n}"  # documentation-only: never contacted
            elif kind in ("v6", "private_v6"):
                ip = f"2a09:8280:1::{n:x}"
            else:
                raise _err(422, f"unknown IP type {kind!r}")
            item = {"ip": ip, "region": body.get("region") or "global",
                    "service_name": body.get("service_name") or "",
                    "shared": kind == "shared_v4", "created_at": _iso()}
            app.ips.append(item)
            return 200, item
        if len(rest) == 1 and method == "DELETE":
            app.ips = [i for i in app.ips if i["ip"] != rest[0]]
            return 204, None
        raise _err(404, "no such ip route")

    # logs ---------------------------------------------------------------------

    def _logs(self, app: App, q: dict[str, str]) -> tuple[int, Any]:
        token = q.get("next_token") or ""
        start = int(token) if token.isdigit() else 0
        wanted = []
        idx = start
        for idx in range(start, len(app.logs)):
            entry = app.logs[idx]["attributes"]
            if q.get("instance") and entry["instance"] != q["instance"]:
                continue
            if q.get("region") and entry["region"] != q["region"]:
                continue
            wanted.append(app.logs[idx])
            if len(wanted) >= self.page_size:
                break
        end = idx + 1 if wanted else max(start, len(app.logs))
        return 200, {"data": wanted, "meta": {"next_token": str(end)}}


class _Handler(BaseHTTPRequestHandler):
    emulator: FlyEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle plus delayed ACKs
        # add ~40 ms to every request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, result, delay = self.emulator.handle(self.command, self.path, headers, body)
        if delay:
            time.sleep(delay)
        retry_after = result.pop("_retry_after", None) if isinstance(result, dict) else None
        data = b"" if result is None or status == 204 else json.dumps(result).encode()
        try:
            self.send_response(status)
            if retry_after is not None:
                self.send_header("retry-after", str(retry_after))
            self.send_header("content-type", "application/json")
            self.send_header("fly-request-id", _secrets.token_hex(8))
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = _serve
    do_POST = _serve
    do_DELETE = _serve
    do_PUT = _serve
