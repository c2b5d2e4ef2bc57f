"""The nouns every layer shares: releases, plans, live state, findings, domain status.

Plain dataclasses (no I/O) so the core, providers, CLI and TUI exchange the same values. A
`Release` never holds secret values: only names and a digest of the values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

RELEASE_STATUSES = ("pending", "healthy", "failed", "rolled_back", "superseded")


@dataclass
class Release:
    id: str
    app: str
    env: str
    image: str  # what to run: "repo@sha256:..." when pinned, else a local image id
    digest: str  # "sha256:..." content id of the image (registry digest or image id)
    config_hash: str
    secret_names: list[str] = field(default_factory=list)
    secrets_digest: str = ""
    source_rev: str | None = None
    created_at: float = 0.0
    created_by: str = ""
    status: str = "pending"
    promoted_from: str | None = None  # "staging/<release id>" for a promotion
    meta: dict[str, Any] = field(default_factory=dict)  # provider-specific, never secrets

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Release:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def short_digest(self) -> str:
        return self.digest.split(":", 1)[-1][:12]

    CHANGE_FIELDS = ("image", "digest", "config_hash", "secrets_digest")

    def changes_from(self, previous: Release | None) -> dict[str, tuple[Any, Any]]:
        """What serving this release instead of `previous` changes, as {field: (old, new)} over
        CHANGE_FIELDS (image reference, image digest, config hash, secrets digest), in that
        order; {} for a first release. The one definition every plan shows (deploy, promote,
        rollback, saved plans) on every provider. Secret values never appear: only digests."""
        if previous is None:
            return {}
        out: dict[str, tuple[Any, Any]] = {}
        for name in self.CHANGE_FIELDS:
            old, new = getattr(previous, name), getattr(self, name)
            if old != new:
                out[name] = (old, new)
        return out


@dataclass
class Step:
    id: str
    title: str
    destructive: bool = False
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Plan:
    """Ordered, typed steps shown before anything changes (`--dry-run` stops here)."""

    env: str
    action: str  # deploy | promote | rollback
    release: Release
    steps: list[Step]
    previous: Release | None = None
    notes: list[str] = field(default_factory=list)
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (old, new)
    data: dict[str, Any] = field(default_factory=dict)  # provider-private execution details

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "action": self.action,
            "release": self.release.to_dict(),
            "previous": self.previous.to_dict() if self.previous else None,
            "steps": [s.to_dict() for s in self.steps],
            "notes": list(self.notes),
            "changes": {k: list(v) for k, v in self.changes.items()},
        }


@dataclass
class Finding:
    """A preflight or scan result: stable id, severity, where, why, and what to do."""

    id: str
    severity: str  # error | warning | info
    message: str
    where: str | None = None
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class LockInfo:
    holder: str  # user@machine
    pid: int | None
    command: str
    acquired_at: float
    expires_at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Instance:
    id: str
    name: str
    state: str  # running | exited | starting | ...
    release_id: str | None = None
    image: str | None = None
    health: str = "unknown"  # healthy | unhealthy | starting | unknown
    restarts: int = 0
    started_at: float | None = None
    serving: bool = False  # receives traffic now
    location: str | None = None  # host, node or region

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TlsInfo:
    ok: bool
    issuer: str | None = None
    names: list[str] = field(default_factory=list)
    not_after: float | None = None
    days_left: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class DnsInfo:
    ok: bool
    name: str
    records: dict[str, list[str]] = field(default_factory=dict)  # "A" -> ["1.2.3.4"]
    expected: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class DomainStatus:
    domain: str
    dns: DnsInfo | None = None
    tls: TlsInfo | None = None
    redirects_to_https: bool | None = None
    records_to_create: list[dict[str, str]] = field(default_factory=list)  # {type,name,value}
    status: str = "unknown"  # pending | issued | failed | unknown

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class LiveState:
    """What the target runs now: the truth every command starts from."""

    env: str
    provider: str
    current: Release | None = None
    releases: list[Release] = field(default_factory=list)  # newest first
    instances: list[Instance] = field(default_factory=list)
    lock: LockInfo | None = None
    tls: TlsInfo | None = None
    drift: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "provider": self.provider,
            "current": self.current.to_dict() if self.current else None,
            "releases": [r.to_dict() for r in self.releases],
            "instances": [i.to_dict() for i in self.instances],
            "lock": self.lock.to_dict() if self.lock else None,
            "tls": self.tls.to_dict() if self.tls else None,
            "drift": list(self.drift),
            "extra": self.extra,
        }


def stable_hash(data: Any) -> str:
    """sha256 of canonical JSON: the config hash of an environment, the same on every machine."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()
