"""Secret values live only in the OS keyring (service `cockpit:<app>:<env>`, user = NAME).

Cockpit keeps secret *names* in cockpit.toml and a digest of the values in release records;
values never touch a file, the state store, an event or an exception. Every value read is
registered with the redactor so no renderer can show it.

No usable keyring backend is an error that says what to install, never a silent fallback to a
plain file.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cockpit.errors import SecretStoreError
from cockpit.redaction import REDACTOR

if TYPE_CHECKING:
    from cockpit.config import Environment

INSTALL_HINT = (
    "install an OS keyring: on Linux `apt-get install gnome-keyring dbus` and run inside a D-Bus "
    "session with the keyring unlocked (`scripts/lab up` does this for the lab); on macOS the "
    "Keychain works as is. Or select another backend with PYTHON_KEYRING_BACKEND."
)
# Backends that would store nothing, or store values in a plain file: never used.
# CI runners have no OS keyring: with this set to 1, values come from the process environment
# (`COCKPIT_SECRET_<ENV>_<NAME>` first, then `<NAME>`), as a CI system's secret store injects them.
FROM_ENV = "COCKPIT_SECRETS_FROM_ENV"

_REFUSED_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


def _acceptable(backend: object) -> bool:
    module = type(backend).__module__
    if module.startswith(_REFUSED_MODULES):
        return False
    try:
        return getattr(backend, "priority", 0) > 0
    except Exception:  # a backend that cannot even say its priority is not usable
        return False


@dataclass(frozen=True)
class SecretStatus:
    name: str
    is_set: bool
    digest: str | None  # short digest of the value, None when missing

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "set": self.is_set, "digest": self.digest}


def value_digest(scope: str, name: str, value: str) -> str:
    """A short, scope-bound digest: shows that a value changed without revealing it."""
    return hashlib.sha256(f"cockpit:{scope}:{name}\0{value}".encode()).hexdigest()[:12]


class SecretStore:
    def __init__(self, app: str) -> None:
        self.app = app
        self._backend = None

    @staticmethod
    def service(env: Environment) -> str:
        return f"cockpit:{env.secret_scope}"

    def _keyring(self):
        if self._backend is None:
            import keyring
            from keyring.errors import KeyringError

            try:
                backend = keyring.get_keyring()
            except KeyringError as exc:
                raise SecretStoreError(f"no usable keyring: {exc}", hint=INSTALL_HINT) from None
            members = getattr(backend, "backends", None) or [backend]
            if not any(_acceptable(b) for b in members):
                raise SecretStoreError(
                    f"no usable keyring backend (found {type(backend).__name__})",
                    hint=INSTALL_HINT,
                )
            self._backend = backend
        return self._backend

    def backend_name(self) -> str:
        backend = self._keyring()
        return f"{type(backend).__module__}.{type(backend).__name__}"

    def _call(self, what: str, fn, *args):
        from keyring.errors import KeyringError

        try:
            return fn(*args)
        except KeyringError as exc:
            raise SecretStoreError(f"keyring {what} failed: {type(exc).__name__}",
                                   hint=INSTALL_HINT) from None
        except Exception as exc:  # D-Bus errors and friends: name them, never echo arguments
            raise SecretStoreError(
                f"keyring {what} failed: {type(exc).__name__}: {str(exc)[:200]}",
                hint=INSTALL_HINT,
            ) from None

    @staticmethod
    def from_environment() -> bool:
        return os.environ.get(FROM_ENV) == "1"

    @staticmethod
    def env_var_names(env: Environment, name: str) -> list[str]:
        scoped = re.sub(r"[^A-Za-z0-9]", "_", env.name).upper()
        return [f"COCKPIT_SECRET_{scoped}_{name}", name]

    def get(self, env: Environment, name: str) -> str | None:
        if self.from_environment():
            value = next((os.environ[v] for v in self.env_var_names(env, name)
                          if os.environ.get(v)), None)
        else:
            value = self._call("read", self._keyring().get_password, self.service(env), name)
        if value is not None:
            REDACTOR.add(value)
        return value

    def ensure_writable(self, env: Environment, name: str) -> None:
        """Fail before a value is typed: no backend, or values come from the environment."""
        if self.from_environment():
            raise SecretStoreError(
                f"{FROM_ENV}=1: secrets come from the environment, nothing is stored",
                hint=f"set {self.env_var_names(env, name)[0]} in your CI's secret store",
            )
        self._keyring()

    def set(self, env: Environment, name: str, value: str) -> None:
        self.ensure_writable(env, name)
        if not value:
            raise SecretStoreError(f"refusing to store an empty value for {name}")
        if "\n" in value.strip("\n"):
            raise SecretStoreError(f"{name}: multi-line values are not supported in env files")
        value = value.strip("\n")
        REDACTOR.add(value)
        self._call("write", self._keyring().set_password, self.service(env), name, value)

    def unset(self, env: Environment, name: str) -> bool:
        from keyring.errors import PasswordDeleteError

        backend = self._keyring()
        try:
            backend.delete_password(self.service(env), name)
            return True
        except PasswordDeleteError:
            return False
        except Exception as exc:
            raise SecretStoreError(f"keyring delete failed: {type(exc).__name__}",
                                   hint=INSTALL_HINT) from None

    def values(self, env: Environment) -> dict[str, str]:
        found = {}
        for name in env.secret_names:
            value = self.get(env, name)
            if value is not None:
                found[name] = value
        return found

    def require(self, env: Environment) -> dict[str, str]:
        found = self.values(env)
        missing = [n for n in env.secret_names if n not in found]
        if missing:
            raise SecretStoreError(
                f"environment {env.name!r} is missing secret(s): {', '.join(missing)}",
                hint=" ; ".join(f"cockpit secrets set {env.name} {n}" for n in missing),
            )
        return found

    def status_of(self, env: Environment, name: str) -> SecretStatus:
        value = self.get(env, name)
        digest = value_digest(env.secret_scope, name, value) if value is not None else None
        return SecretStatus(name, value is not None, digest)

    def status(self, env: Environment) -> list[SecretStatus]:
        return [self.status_of(env, name) for name in env.secret_names]

    def digest(self, env: Environment, values: dict[str, str] | None = None) -> str:
        """One digest over every configured secret (name + value digest), for release records."""
        values = self.values(env) if values is None else values
        parts = [
            f"{n}={value_digest(env.secret_scope, n, values[n]) if n in values else '-'}"
            for n in sorted(env.secret_names)
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
