"""The VPS storage of the deploy lock (`cockpit.lock` owns the rules): a directory on the host.

`<app dir>/lock/` holds `info.json` (operator, user, machine, pid, command, time), `token` (the
holder's random token, which decides ownership) and `expires` (seconds since the epoch by the
host's clock). Every write runs under `flock` on `lock.guard`, as a compare-and-swap on the
token and expiry that were read, so a takeover cannot race a refresh or another takeover. Files
are created with umask 077. The host's `date +%s` is the clock every expiry is judged by.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from cockpit.providers.vps import commands as cmd

from cockpit import lock as core
from cockpit.errors import ProviderError
from cockpit.events import Emit
from cockpit.models import LockInfo

_PRELUDE = (
    'umask 077; set -eu; d="$1"; mkdir -p "$(dirname "$d")"; exec 9>"$d.guard"; '
    'flock -w 10 9 || { echo "lock guard busy" >&2; exit 4; }; now=$(date +%s); '
)
_SHOW = ('cat "$d/token" 2>/dev/null || true; echo; cat "$d/info.json" 2>/dev/null || true')

# $1 dir, $2 info json, $3 ttl, $4 token, $5 expected "token:expires" ("" = only when free)
ACQUIRE = _PRELUDE + (
    'if [ -z "$5" ]; then mkdir "$d" 2>/dev/null || { echo CONFLICT; exit 3; }; '
    'else cur="$(cat "$d/token" 2>/dev/null || true):$(cat "$d/expires" 2>/dev/null || echo 0)"; '
    '  { [ -d "$d" ] && [ "$cur" = "$5" ]; } || { echo CONFLICT; exit 3; }; fi; '
    'printf %s "$2" > "$d/info.json"; printf %s "$4" > "$d/token"; '
    'echo $((now + $3)) > "$d/expires"; echo "ACQUIRED $now $((now + $3))"'
)
# $1 dir, $2 token, $3 ttl
REFRESH = _PRELUDE + (
    '{ [ -d "$d" ] && [ "$(cat "$d/token" 2>/dev/null)" = "$2" ]; } || { '
    '  if [ -d "$d" ]; then echo "LOST $now $(cat "$d/expires" 2>/dev/null || echo 0)"; '
    + _SHOW + '; else echo "LOST"; fi; exit 3; }; '
    'echo $((now + $3)) > "$d/expires"; echo "REFRESHED $now $((now + $3))"'
)
READ = ('d="$1"; [ -d "$d" ] || { echo "FREE $(date +%s)"; exit 0; }; '
        'echo "HELD $(date +%s) $(cat "$d/expires" 2>/dev/null || echo 0)"; ' + _SHOW)


def _holder(token: str, text: str) -> core.Holder:
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    name = data.get("operator") or f"{data.get('user', '?')}@{data.get('machine', '?')}"
    pid = data.get("pid")
    try:
        acquired = float(data.get("acquired_at", 0) or 0)
    except (TypeError, ValueError):
        acquired = 0.0
    return core.Holder(operator=str(name), token=token, machine=str(data.get("machine", "")),
                       pid=pid if isinstance(pid, int) else None,
                       command=str(data.get("command", "?")), acquired_at=acquired)


def _parse_held(out: str) -> core.Held | None:
    """`HELD now expires\\ntoken\\ninfo.json` (or `LOST now expires\\n...`) → Held."""
    lines = out.split("\n", 2)
    head = lines[0].split()
    if len(head) < 3 or head[0] not in ("HELD", "LOST"):
        return None
    token = lines[1].strip() if len(lines) > 1 else ""
    info = lines[2] if len(lines) > 2 else ""
    try:
        now, expires = float(head[1]), float(head[2])
    except ValueError:
        return None
    return core.Held(_holder(token, info), expires_at=expires, now=now,
                     version=f"{token}:{head[2]}")


class VpsLockStore(core.LockStore):
    """The lock directory of one environment on its host (see the module docstring)."""

    def __init__(self, host, ttl: float) -> None:
        self.host = host
        self.ttl = float(ttl)
        self.key = f"vps:{host.t.where}:{host.app}-{host.env}"

    @property
    def where(self) -> str:  # type: ignore[override]
        return f"{self.host.t.where}:{self.host.layout.lock_dir}"

    def _run(self, script: str, *args: str, step: str, idempotent: bool = False):
        return self.host.run(["sh", "-c", script, "sh", self.host.layout.lock_dir, *args],
                             step=step, check=False, idempotent=idempotent)

    def read(self) -> core.Held | None:
        result = self._run(READ, step="lock status", idempotent=True)
        if not result.ok:
            raise self.host.t.failure(result, "lock status", "could not read the deploy lock")
        return _parse_held(result.stdout)

    def acquire(self, holder: core.Holder, ttl: float, replace: core.Held | None) -> core.Held:
        info = {"operator": holder.operator, "user": holder.operator.partition("@")[0],
                "machine": holder.machine, "pid": holder.pid, "command": holder.command,
                "acquired_at": holder.acquired_at, "token_hint": holder.hint}
        result = self._run(ACQUIRE, json.dumps(info), str(max(1, int(ttl))), holder.token,
                           replace.version if replace is not None else "", step="lock")
        first = result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""
        if result.rc == 3 and first.startswith("CONFLICT"):
            raise core.Conflict()
        if result.rc != 0 or not first.startswith("ACQUIRED"):
            raise self.host.t.failure(result, "lock", "could not take the deploy lock")
        _, now, expires = first.split()
        return core.Held(holder, expires_at=float(expires), now=float(now),
                         version=f"{holder.token}:{expires}")

    def refresh(self, holder: core.Holder, ttl: float) -> core.Held:
        result = self._run(REFRESH, holder.token, str(max(1, int(ttl))), step="lock refresh",
                           idempotent=True)
        out = result.stdout.strip()
        if result.rc == 3 and out.startswith("LOST"):
            raise core.Lost(_parse_held(out))
        if result.rc != 0 or not out.startswith("REFRESHED"):
            raise self.host.t.failure(result, "lock refresh", "could not refresh the deploy lock")
        _, now, expires = out.split()[:3]
        return core.Held(holder, expires_at=float(expires), now=float(now),
                         version=f"{holder.token}:{expires}")

    def release(self, token: str | None) -> bool:
        result = self.host.run(cmd.lock_release(self.host.layout.lock_dir, token or ""),
                               step="unlock", check=False)
        if result.rc not in (0, 3):
            raise self.host.t.failure(result, "unlock", "could not release the deploy lock")
        return "RELEASED" in result.stdout


def store(host) -> VpsLockStore:
    """The lock store of host's environment, with its `lock_ttl`."""
    return VpsLockStore(host, float(host.s.lock_ttl))


def describe(info: LockInfo | None) -> str:
    """`operator (pid N, `command`, since TIME)`."""
    return core.describe(info)


def status(host) -> LockInfo | None:
    """The lock as it stands on the host (expired or not), or None when free."""
    held = store(host).read()
    return held.info() if held is not None else None


def release(host, token: str = "") -> str:
    """Remove the lock: only `token`'s, or whoever's with an empty token (the command asks)."""
    return "RELEASED" if store(host).release(token or None) else "FREE"


def _dead_local_holder(info: LockInfo | None) -> bool:
    """Kept for callers: a killed run's lock is now recognised by its token when the lock is
    taken (`cockpit.lock`), never by a user@hostname another machine may share."""
    return False


@contextmanager
def held(host, ttl: float, command: str, emit: Emit, now: float) -> Iterator[core.DeployLock]:
    """Hold host's environment lock for the block (re-entered when the pipeline holds it).
    Raises LockHeld naming the holder; ProviderError when the host cannot be reached."""
    with core.hold(VpsLockStore(host, ttl), env=host.env, command=command, emit=emit) as lock:
        yield lock


__all__ = ["VpsLockStore", "held", "status", "release", "describe", "store", "ProviderError"]
