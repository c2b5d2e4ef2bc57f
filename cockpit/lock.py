"""The deploy lock: one protocol and one set of rules for every provider.

A provider supplies only *storage* on its target (`LockStore`: read, acquire, refresh, release);
this module owns the rules, the same everywhere:

- **Holder** = the operator's identity (`$COCKPIT_OPERATOR`, else `user@hostname`, see
  `cockpit.state.whoami`) plus a random token. Ownership is decided by the token, never by the
  name: two machines with the same `user@hostname` are two holders.
- **TTL judged by the target's clock.** Every `Held` a store returns carries the target's own
  `now` (the host's `date +%s`, the Kubernetes API server's Date header, Fly's lease expiry) next
  to `expires_at`; the client's clock never decides whether a lock expired.
- **Refresh** on an interval (a third of the TTL) while a run holds it. A refresh that finds
  another holder, or that cannot reach the target for longer than the TTL, marks the lock
  `lost`; `DeployLock.check()` then raises `LockLost`. The pipeline calls it before every step a
  run starts (so a lost lock stops the run before any switch), and providers may call it at
  their own points.
- **One takeover rule**: a lock is taken over only when it expired by the target's clock, or
  when its token was issued by a process on this machine that no longer runs (a killed run; the
  token is recorded locally when issued, so a namesake on another machine never matches).
  Anything else is `cockpit lock release ENV` (confirmed for protected environments).
- **Re-entrant within a run**: a process already holding an environment's lock (the pipeline
  takes it around a run; a provider's flow may take it again) gets the same lock back.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from cockpit.errors import LockHeld, ProviderError
from cockpit.events import Emit, Message, StepFinished, StepStarted, Timer
from cockpit.models import LockInfo

REFRESH_FRACTION = 3  # refresh every ttl / 3 seconds
MIN_TTL = 2.0
VERIFY_WITHIN = 5.0  # seconds: a refresh this recent proves the lock before a destructive step


class LockLost(LockHeld):
    """The run's lock was taken by someone else (or could not be refreshed for a whole TTL)
    while the run held it: the run stops before its next step (exit 4)."""


class Conflict(Exception):
    """A store's compare-and-swap failed: the lock changed since it was read (raced)."""


class Lost(Exception):
    """A store's refresh found the lock gone or held by another token; `held` is what is
    there now (None when nothing)."""

    def __init__(self, held: Held | None) -> None:
        super().__init__("lock lost")
        self.held = held


@dataclass(frozen=True)
class Holder:
    """Who holds a lock. `operator` is shown to people; `token` decides ownership."""

    operator: str
    token: str
    machine: str = ""
    pid: int | None = None
    command: str = ""
    acquired_at: float = 0.0  # seconds since the epoch, the target's clock when known

    @property
    def hint(self) -> str:
        """The first 8 characters of the token, safe to show."""
        return self.token[:8]


@dataclass(frozen=True)
class Held:
    """A lock as read from its target: holder, expiry and the target's clock at reading.

    `version` is what the store needs to replace exactly this state (a resourceVersion, a
    token plus expiry); it is opaque to the core."""

    holder: Holder
    expires_at: float  # seconds since the epoch, target clock
    now: float  # the target's clock when it was read
    version: str = ""

    @property
    def expired(self) -> bool:
        return self.now >= self.expires_at

    def info(self) -> LockInfo:
        return LockInfo(holder=self.holder.operator, pid=self.holder.pid,
                        command=self.holder.command or "?", acquired_at=self.holder.acquired_at,
                        expires_at=self.expires_at)


class LockStore(ABC):
    """Storage of one environment's deploy lock on its target. Implementations: the VPS (a
    directory under flock on the host), Kubernetes (a coordination.k8s.io Lease), Fly (a
    machine lease), the in-memory test provider.

    Every method talks to the target; each raises ProviderError when it cannot be reached."""

    key: str  # unique per lock on its target, e.g. "vps:host:port:/path/lock"
    where: str  # shown in errors: where the lock lives
    ttl: float  # seconds

    @abstractmethod
    def read(self) -> Held | None:
        """The lock as it stands (expired or not), with the target's clock; None when free."""

    @abstractmethod
    def acquire(self, holder: Holder, ttl: float, replace: Held | None) -> Held:
        """Write `holder` with expiry target-now + ttl. With `replace` None, only when no lock
        exists; else only when the stored lock is still exactly `replace` (same token and
        version). Raises Conflict otherwise. Returns what was written (target clock)."""

    @abstractmethod
    def refresh(self, holder: Holder, ttl: float) -> Held:
        """Move the expiry to target-now + ttl if `holder.token` still holds the lock; raises
        Lost(what is there now) otherwise."""

    @abstractmethod
    def release(self, token: str | None) -> bool:
        """Remove the lock if `token` holds it (None: whoever holds it). True when removed."""


# --------------------------------------------------------------------------- identity


def operator() -> str:
    """$COCKPIT_OPERATOR, else user@hostname (the same name releases and audit entries carry)."""
    from cockpit.state import whoami

    return whoami()


def new_holder(command: str, acquired_at: float = 0.0) -> Holder:
    """A fresh holder for this process: operator, random 128-bit token, machine, pid."""
    return Holder(operator=operator(), token=secrets.token_hex(16),
                  machine=socket.gethostname(), pid=os.getpid(), command=command,
                  acquired_at=acquired_at)


def describe(info: LockInfo | Held | Holder | None) -> str:
    """`operator (pid N, `command`, since 2026-01-01 10:00:00 UTC)` for messages. A holder whose
    start is unknown (a Fly lease carries only its expiry) says `until ...` instead, or nothing:
    never a start at the epoch."""
    if info is None:
        return "an unknown holder"
    if isinstance(info, Held):
        info = info.info()
    if isinstance(info, Holder):
        info = LockInfo(info.operator, info.pid, info.command or "?", info.acquired_at, 0.0)
    pid = f"pid {info.pid}, " if info.pid else ""
    if info.acquired_at:
        when = ", since " + _utc(info.acquired_at)
    elif info.expires_at:  # a Fly lease tells only its expiry
        when = ", until " + _utc(info.expires_at)
    else:
        when = ""
    return f"{info.holder} ({pid}`{info.command}`{when})"


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


# --------------------------------------------------------------------------- local tokens
# A token this machine issued is recorded (with its pid) until released, so a lock left by a
# killed run here is recognised by its token, never by a user@hostname that another machine
# may share.


def _tokens_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cockpit" / "lock-tokens"


def _record_token(holder: Holder) -> None:
    try:
        d = _tokens_dir()
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = d / holder.token
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
    except OSError:
        pass  # without the record, a killed run's lock waits for its expiry instead


def _forget_token(token: str) -> None:
    try:
        (_tokens_dir() / token).unlink()
    except (OSError, ValueError):
        pass


def issued_here_and_dead(holder: Holder) -> bool:
    """True when `holder.token` was issued by a process on this machine that no longer runs."""
    if not holder.token or "/" in holder.token or holder.token.startswith("."):
        return False
    try:
        pid = int((_tokens_dir() / holder.token).read_text().strip())
    except (OSError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


# --------------------------------------------------------------------------- the lock


class DeployLock:
    """One environment's lock held by this process: acquire (with the takeover rule), refresh
    in the background, `check()` before steps, release."""

    def __init__(self, store: LockStore, *, env: str, command: str, emit: Emit,
                 ttl: float | None = None) -> None:
        self.store = store
        self.env = env
        self.command = command
        self.emit = emit
        self.ttl = max(MIN_TTL, float(ttl if ttl is not None else store.ttl))
        self.holder = new_holder(command)
        self.lost = False
        self.lost_to: Held | None = None
        self.held: Held | None = None
        self.took_over: str | None = None  # what was said when another's lock was taken over
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_ok = time.monotonic()

    @property
    def token(self) -> str:
        return self.holder.token

    def _refused(self, current: Held | None) -> LockHeld:
        return LockHeld(
            f"{self.env} is being changed by {describe(current)}",
            where=self.store.where,
            hint=f"wait for it to finish; if it is stuck, `cockpit lock release {self.env}` "
                 "(the lock also expires on its own)")

    def acquire(self) -> Held:
        """Take the lock or raise LockHeld naming its holder. Takes over an expired lock (by
        the target's clock) or one whose token a dead process on this machine issued, saying
        whose it was. Raises ProviderError when the target cannot be reached."""
        for _attempt in range(5):
            current = self.store.read()
            take_over: Held | None = None
            if current is not None:
                if current.holder.token == self.holder.token:
                    take_over = current
                elif current.expired:
                    take_over = current
                    said = (f"took over an expired deploy lock of {self.env} held by "
                            f"{describe(current)}")
                elif issued_here_and_dead(current.holder):
                    take_over = current
                    said = (f"released the lock left by {describe(current)}, a process on "
                            f"this machine that no longer runs, and took the deploy lock of "
                            f"{self.env}")
                else:
                    raise self._refused(current)
            now = current.now if current is not None else 0.0
            holder = replace(self.holder, acquired_at=now or time.time())
            _record_token(holder)
            try:
                held = self.store.acquire(holder, self.ttl, take_over)
            except Conflict:
                continue  # raced with another take: read again
            except BaseException:
                _forget_token(holder.token)
                raise
            if take_over is not None and current is not None \
                    and current.holder.token != self.holder.token:
                self.emit(Message(said, level="warning", env=self.env))
                self.took_over = said
                _forget_token(current.holder.token)
            self.holder = replace(holder, acquired_at=held.holder.acquired_at or
                                  holder.acquired_at)
            self.held = held
            self._last_ok = time.monotonic()
            self._start_refresh()
            return held
        raise self._refused(self.store.read())

    def _start_refresh(self) -> None:
        self._thread = threading.Thread(target=self._refresh_loop, daemon=True,
                                        name=f"lock-{self.env}")
        self._thread.start()

    def refresh(self) -> None:
        """One refresh now; marks the lock lost when another token holds it, or when no
        refresh succeeded for a whole TTL (it may have expired and been taken)."""
        try:
            self.held = self.store.refresh(self.holder, self.ttl)
            self._last_ok = time.monotonic()
        except Lost as lost:
            self.lost, self.lost_to = True, lost.held
        except (ProviderError, OSError):
            if time.monotonic() - self._last_ok > self.ttl:
                self.lost = True

    def _refresh_loop(self) -> None:
        every = max(0.5, self.ttl / REFRESH_FRACTION)
        while not self._stop.wait(every) and not self.lost:
            self.refresh()

    def check(self, verify: bool = False) -> None:
        """Raise LockLost when the lock was lost; call it before anything that changes what
        serves (the pipeline does before every step). With `verify`, first refresh on the
        target unless a refresh succeeded in the last VERIFY_WITHIN seconds (the pipeline
        verifies before a plan's destructive steps, e.g. the switch)."""
        if verify and not self.lost and time.monotonic() - self._last_ok > VERIFY_WITHIN:
            self.refresh()
        if not self.lost:
            return
        who = describe(self.lost_to) if self.lost_to is not None else "nobody (it expired)"
        raise LockLost(
            f"the deploy lock of {self.env} was lost while `{self.command}` ran: it is now held "
            f"by {who}; stopped before changing anything more",
            where=self.store.where,
            hint=f"see `cockpit lock status {self.env}`; an interrupted run is reconciled by "
                 "the next command")

    def release(self) -> None:
        """Stop refreshing and remove the lock if still ours. Raises ProviderError."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        try:
            if not self.lost:
                self.store.release(self.holder.token)
        finally:
            _forget_token(self.holder.token)


# --------------------------------------------------------------------------- in-process registry

_registry_lock = threading.Lock()
_active: dict[str, tuple[DeployLock, int, int]] = {}  # store key -> (lock, depth, thread id)


def current(key: str) -> DeployLock | None:
    """The lock this process holds under `key`, if any."""
    with _registry_lock:
        entry = _active.get(key)
    return entry[0] if entry else None


@contextmanager
def hold(store: LockStore, *, env: str, command: str, emit: Emit,
         ttl: float | None = None, steps: bool = True) -> Iterator[DeployLock]:
    """Hold env's lock for the block: acquired (or re-entered when this thread already holds
    it: no target call, no events), refreshed, released at the end even on errors. With
    `steps`, emits `lock` and `unlock` step events. Raises LockHeld (exit 4) when another holds
    it; a re-entry from another thread of this process is refused the same way."""
    me = threading.get_ident()
    with _registry_lock:
        entry = _active.get(store.key)
        if entry is not None and entry[2] == me:
            _active[store.key] = (entry[0], entry[1] + 1, me)
            reentered: DeployLock | None = entry[0]
        else:
            reentered = None
    if reentered is not None:
        try:
            yield reentered
        finally:
            with _registry_lock:
                lock, depth, tid = _active[store.key]
                _active[store.key] = (lock, depth - 1, tid)
        return
    if entry is not None:
        raise LockHeld(f"{env} is being changed by another run in this process "
                       f"({describe(entry[0].holder)})", where=store.where,
                       hint="wait for it to finish")
    lock = DeployLock(store, env=env, command=command, emit=emit, ttl=ttl)
    timer = Timer()
    if steps:
        emit(StepStarted("lock", f"take the deploy lock of {env}", env=env))
    lock.acquire()
    if steps:
        emit(StepFinished("lock", f"held for {command}", env=env, seconds=timer.seconds()))
    with _registry_lock:
        _active[store.key] = (lock, 1, me)
    try:
        yield lock
    finally:
        with _registry_lock:
            _active.pop(store.key, None)
        timer = Timer()
        if steps:
            emit(StepStarted("unlock", f"release the deploy lock of {env}", env=env))
        try:
            lock.release()
            if steps:
                emit(StepFinished("unlock", "", env=env, seconds=timer.seconds()))
        except ProviderError as exc:
            emit(Message(f"could not release the deploy lock: {exc.what}", level="warning",
                         env=env))
