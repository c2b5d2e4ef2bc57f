"""The deploy lock, held on the host (so two operators on two machines exclude each other).

Taken atomically (mkdir under flock), it names its holder (user, machine, pid, command, time),
expires after a TTL judged by the host's clock, and is refreshed by a background thread while
the command runs. An expired lock is taken over with a message saying whose it was; a lock whose
holder ran on this machine and whose process is gone is treated as expired.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cockpit.providers.vps import commands as cmd

from cockpit.errors import LockHeld, ProviderError
from cockpit.events import Emit, Message, StepFinished, StepStarted, Timer
from cockpit.models import LockInfo


def _me() -> dict[str, Any]:
    import getpass

    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return {"user": user, "machine": socket.gethostname(), "pid": os.getpid()}


def parse_info(text: str, expires: float | None = None) -> LockInfo | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return LockInfo(holder=f"{data.get('user', '?')}@{data.get('machine', '?')}",
                    pid=data.get("pid"), command=data.get("command", "?"),
                    acquired_at=float(data.get("acquired_at", 0)),
                    expires_at=float(expires if expires is not None else data.get("expires_at", 0)))


def describe(info: LockInfo | None) -> str:
    if info is None:
        return "an unknown holder"
    import time

    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info.acquired_at))
    return f"{info.holder} (pid {info.pid}, `{info.command}`, since {when})"


def status(host) -> LockInfo | None:
    out = host.run(cmd.lock_status(host.layout.lock_dir), step="lock status",
                   idempotent=True).stdout
    first, _, rest = out.partition("\n")
    if not first.startswith("HELD"):
        return None
    parts = first.split()
    expires = float(parts[2]) if len(parts) > 2 else 0.0
    return parse_info(rest, expires) or LockInfo("?", None, "?", 0.0, expires)


def release(host, token: str = "") -> str:
    return host.run(cmd.lock_release(host.layout.lock_dir, token), step="unlock",
                    check=False).stdout.strip()


def _dead_local_holder(info: LockInfo | None) -> bool:
    """The holder ran on this machine and its process is gone (killed, crashed)."""
    if info is None or info.pid is None:
        return False
    me = _me()
    if info.holder != f"{me['user']}@{me['machine']}" or info.pid == me["pid"]:
        return False
    try:
        os.kill(int(info.pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


class RemoteLock:
    def __init__(self, host, ttl: float, command: str, emit: Emit) -> None:
        self.host = host
        self.ttl = max(5, int(ttl))
        self.command = command
        self.emit = emit
        self.token = secrets.token_hex(8)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def acquire(self, now: float) -> None:
        info = {**_me(), "command": self.command, "acquired_at": now, "token_hint": self.token[:4]}
        argv = cmd.lock_acquire(self.host.layout.lock_dir, json.dumps(info), self.ttl, self.token)
        result = self.host.run(argv, step="lock", check=False)
        first = result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""
        if result.rc == 3 and first.startswith("HELD"):
            holder = parse_info(first[5:])
            if _dead_local_holder(holder):
                self.emit(Message(f"the deploy lock of {self.host.env} was held by "
                                  f"{describe(holder)}"
                                  ", a process on this machine that no longer runs; taking it over",
                                  level="warning", env=self.host.env))
                release(self.host)
                return self.acquire(now)
            raise LockHeld(
                f"{self.host.env} is being changed by {describe(holder)}",
                where=f"{self.host.t.where}:{self.host.layout.lock_dir}",
                hint="wait for it to finish; if it is stuck, "
                f"`cockpit lock release {self.host.env}` "
                "(the lock also expires on its own)",
            )
        if result.rc != 0:
            raise self.host.t.failure(result, "lock", "could not take the deploy lock")
        if first.startswith("EXPIRED"):
            previous = parse_info(first[8:])
            self.emit(Message(f"took over an expired deploy lock of {self.host.env} held by "
                              f"{describe(previous)}", level="warning", env=self.host.env))
        self._thread = threading.Thread(target=self._refresh_loop, daemon=True,
                                        name=f"lock-{self.host.key}")
        self._thread.start()

    def _refresh_loop(self) -> None:
        every = max(2.0, self.ttl / 3)
        while not self._stop.wait(every):
            try:
                result = self.host.run(cmd.lock_refresh(self.host.layout.lock_dir, self.token,
                                                         self.ttl), step="lock refresh",
                                       check=False, idempotent=True)
                if result.rc == 3:
                    self.lost = True
                    return
            except ProviderError:
                continue

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        release(self.host, self.token)


@contextmanager
def held(host, ttl: float, command: str, emit: Emit, now: float) -> Iterator[RemoteLock]:
    emit(StepStarted("lock", f"take the deploy lock of {host.env}", env=host.env))
    timer = Timer()
    lock = RemoteLock(host, ttl, command, emit)
    lock.acquire(now)
    emit(StepFinished("lock", f"held for {command}", env=host.env, seconds=timer.seconds()))
    try:
        yield lock
    finally:
        timer = Timer()
        emit(StepStarted("unlock", f"release the deploy lock of {host.env}", env=host.env))
        try:
            lock.release()
            emit(StepFinished("unlock", "", env=host.env, seconds=timer.seconds()))
        except ProviderError as exc:
            emit(Message(f"could not release the deploy lock: {exc.what}", level="warning",
                         env=host.env))
