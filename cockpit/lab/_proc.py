"""Process, port and state bookkeeping for the lab.

The lab must tear down only what it started, even after the Python process that started it is
gone, so every process it spawns is recorded in `state.json` in the lab dir with its pid and
its kernel start time (a recycled pid never matches). Several test sessions may run `up` at
once (parallel helpers, CI), so all changes happen under an flock on the lab dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path


class LabError(RuntimeError):
    """A lab part could not be brought up; the message says which, why and where the log is."""


def lab_dir() -> Path:
    return Path(os.environ.get("COCKPIT_LAB_DIR") or "/var/tmp/cockpit-lab")


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class State:
    """`state.json`: parts the lab started (pid, start time, address) and the ports it chose."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "state.json"
        try:
            self.data: dict = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}
        self.data.setdefault("procs", {})
        self.data.setdefault("ports", {})
        self.data.setdefault("info", {})

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)

    @property
    def procs(self) -> dict[str, dict]:
        return self.data["procs"]

    @property
    def ports(self) -> dict[str, int]:
        return self.data["ports"]

    @property
    def info(self) -> dict[str, object]:
        return self.data["info"]

    def record(self, name: str, pid: int, **extra: object) -> None:
        self.procs[name] = {"pid": pid, "start": start_time(pid), **extra}
        self.save()

    def alive(self, name: str) -> int | None:
        """The recorded pid of `name` if that very process still runs, else None."""
        rec = self.procs.get(name)
        if not rec:
            return None
        pid = int(rec["pid"])
        if start_time(pid) is None or start_time(pid) != rec.get("start"):
            return None
        return pid


def start_time(pid: int) -> int | None:
    """Kernel start time of `pid` (clock ticks since boot), None if it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def spawn(
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    stdin_data: bytes | None = None,
    cwd: Path | None = None,
    preexec: Callable[[], None] | None = None,
) -> subprocess.Popen:
    """Start a long-lived process in its own session, detached from the caller's job control.

    Its own session means Ctrl-C in the shell that ran `scripts/lab up`, or a test runner being
    killed, does not take the lab down with it.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.Popen(
        list(argv),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
        env=full_env,
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
        preexec_fn=preexec,
    )
    out.close()
    if stdin_data is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin_data)
        proc.stdin.close()
    return proc


def stop_pid(pid: int, *, timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL: only ever called with a pid the lab recorded itself."""
    start = start_time(pid)
    if start is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if start_time(pid) != start:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if start_time(pid) != start:
            return
        time.sleep(0.05)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_bindable(port: int, host: str = "127.0.0.1", udp: bool = False) -> bool:
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        if not udp:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    # Also refuse a port bound on the wildcard address by someone else.
    if host != "0.0.0.0":
        with socket.socket(socket.AF_INET, kind) as s:
            if not udp:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


def free_port(avoid: set[int], udp_too: bool = False) -> int:
    """A port that is free on loopback now (TCP, and UDP when `udp_too`), outside `avoid`."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port in avoid:
            continue
        if udp_too and not port_bindable(port, udp=True):
            continue
        return port
    raise LabError("no free loopback port found")


def wait_for(
    check: Callable[[], bool],
    what: str,
    *,
    timeout: float,
    log: Path | None = None,
    proc: subprocess.Popen | None = None,
) -> None:
    """Poll `check` until it holds; fail naming the part, its exit and its log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise LabError(f"{what} exited with code {proc.returncode}{_tail(log)}")
        time.sleep(0.1)
    raise LabError(f"{what} did not come up within {timeout:.0f}s{_tail(log)}")


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log} ---\n" + "\n".join(text)


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 120,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    res = subprocess.run(
        list(argv), capture_output=True, timeout=timeout, input=input, env=full_env
    )
    if check and res.returncode != 0:
        raise LabError(
            f"`{' '.join(argv)}` failed ({res.returncode}): "
            f"{(res.stderr or res.stdout).decode(errors='replace').strip()[-2000:]}"
        )
    return res


def pids_of_user(uid: int, names: set[str]) -> list[int]:
    """Pids of processes owned by `uid` whose command name is in `names` (for `down`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm in names:
            found.append(int(entry.name))
    return found
