"""One exception family per failure, each carrying what, where and what to do.

The CLI and the TUI render these; nothing shows a traceback to a user unless --debug.
Exit codes mean something and are stable: scripts and agents branch on them.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the action ran and failed (provider error, remote error)
EXIT_USAGE = 2  # bad input: config, arguments, secrets store unusable
EXIT_GATE = 3  # a health gate failed (and was rolled back)
EXIT_LOCKED = 4  # someone else holds the deploy lock
EXIT_REFUSED = 5  # refused as unsafe (missing confirmation, unhealthy promote, host key)


class CockpitError(Exception):
    """Base: `what` is the one-line message; `hint` says what to do; `where` locates it."""

    exit_code = EXIT_FAILED
    kind = "error"

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        return text

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "error": self.what, "where": self.where, "hint": self.hint,
                "exit_code": self.exit_code}


class ConfigError(CockpitError):
    exit_code = EXIT_USAGE
    kind = "config"


class UsageError(CockpitError):
    exit_code = EXIT_USAGE
    kind = "usage"


class SecretStoreError(CockpitError):
    exit_code = EXIT_USAGE
    kind = "secrets"


class ProviderError(CockpitError):
    """A target said no or could not be reached; `where` names host/step/command."""

    kind = "provider"


class GateFailed(CockpitError):
    exit_code = EXIT_GATE
    kind = "gate"

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None,
                 logs: list[str] | None = None) -> None:
        super().__init__(what, where=where, hint=hint)
        self.logs = logs or []

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "logs": self.logs}


class LockHeld(CockpitError):
    exit_code = EXIT_LOCKED
    kind = "lock"


class Refused(CockpitError):
    exit_code = EXIT_REFUSED
    kind = "refused"


class HostKeyError(Refused):
    kind = "hostkey"
