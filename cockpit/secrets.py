"""Secret values live only in the OS keyring (service `cockpit:<app>:<env>`, user = NAME).

Cockpit keeps secret *names* in cockpit.toml and a digest of the values in release records;
values never touch a file, the state store, an event or an exception. Every value read is
registered with the redactor so no renderer can show it.

No usable keyring backend is an error that says what to install, never a silent fallback to a
plain file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets as _random
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
# CI runners have no OS keyring: with this set, values come from the process environment, as a
# CI system's secret store injects them. `=1`: only scoped names, `COCKPIT_SECRET_<ENV>_<NAME>`.
# `=<env>` (e.g. `=prod`, a job that serves one environment, as CI environments scope their
# secrets): the scoped name first, then the bare `<NAME>`, for that environment only, so a process
# holding staging's values never deploys them to prod.
FROM_ENV = "COCKPIT_SECRETS_FROM_ENV"
# The key of the secrets digest (an HMAC-SHA256). Set, it is the key in every mode (the same key
# on a laptop and in CI gives the same digests); unset, the keyring keeps one per install.
DIGEST_KEY_ENV = "COCKPIT_SECRETS_DIGEST_KEY"
INSTALL_SERVICE = "cockpit:install"
DIGEST_KEY_NAME = "secrets-digest-key"

# Backends that would store nothing, or store values in a plain file: never used.

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


def value_digest(key: bytes, scope: str, name: str, value: str) -> str:
    """12 hex chars of HMAC-SHA256(key, "cockpit:<scope>:<name>\\0<value>"): shows that a value
    changed without revealing it. Keyed, so a short value cannot be recovered by hashing
    guesses without the install's key (`SecretStore.digest_key`)."""
    message = f"cockpit:{scope}:{name}\0{value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:12]


class SecretStore:
    def __init__(self, app: str) -> None:
        self.app = app
        self._backend = None
        self._digest_key: bytes | None = None

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
        """True when `COCKPIT_SECRETS_FROM_ENV` is `1` or names an environment (not `0`)."""
        return os.environ.get(FROM_ENV, "").strip() not in ("", "0")

    @staticmethod
    def env_var_names(env: Environment, name: str) -> list[str]:
        """Variables a value is read from in the from-env mode, in order: the scoped
        `COCKPIT_SECRET_<ENV>_<NAME>`, then the bare `<NAME>` only when
        `COCKPIT_SECRETS_FROM_ENV` is this environment's name."""
        scoped = re.sub(r"[^A-Za-z0-9]", "_", env.name).upper()
        names = [f"COCKPIT_SECRET_{scoped}_{name}"]
        if os.environ.get(FROM_ENV, "").strip() == env.name:
            names.append(name)
        return names

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
                f"{FROM_ENV} is set: secrets come from the environment, nothing is stored",
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

    def register(self, env: Environment) -> int:
        """Read every configured secret value of `env` so the process-wide redactor masks it
        in whatever is shown next (logs, status): a fresh `cockpit logs` process knows no value
        otherwise. Returns how many values were found. Raises SecretStoreError when the
        keyring is unusable: output that could carry a secret is not shown unredacted."""
        return len(self.values(env))

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
            if self.from_environment():
                hint = (f"{FROM_ENV}={os.environ.get(FROM_ENV)}: looked for "
                        + ", ".join(" or ".join(self.env_var_names(env, n)) for n in missing)
                        + f"; bare names are read only with {FROM_ENV}={env.name}")
            else:
                hint = " ; ".join(f"cockpit secrets set {env.name} {n}" for n in missing)
            raise SecretStoreError(
                f"environment {env.name!r} is missing secret(s): {', '.join(missing)}", hint=hint)
        return found

    def digest_key(self) -> bytes:
        """The key of every secrets digest, 32+ bytes. From `COCKPIT_SECRETS_DIGEST_KEY` when
        set (any mode); else from the keyring (service `cockpit:install`, user
        `secrets-digest-key`), created there with 32 random bytes on first use. In the
        from-env mode without the variable: SecretStoreError, since a key made up per run would
        make every run's digest differ (every deploy would look like a secrets change)."""
        if self._digest_key is not None:
            return self._digest_key
        given = os.environ.get(DIGEST_KEY_ENV, "")
        if given:
            key = given
        elif self.from_environment():
            raise SecretStoreError(
                f"{FROM_ENV} is set but {DIGEST_KEY_ENV} is not: the digest of secret values "
                "that release records publish is keyed, and needs the same key on every run",
                hint=f"store a random value (e.g. `openssl rand -hex 32`) as {DIGEST_KEY_ENV} "
                     "in your CI's secret store and pass it to the job",
            )
        else:
            backend = self._keyring()
            key = self._call("read", backend.get_password, INSTALL_SERVICE, DIGEST_KEY_NAME)
            if not key:
                self._call("write", backend.set_password, INSTALL_SERVICE, DIGEST_KEY_NAME,
                           _random.token_hex(32))
                # read back: of two processes creating it at once, the one stored wins for both
                key = self._call("read", backend.get_password, INSTALL_SERVICE, DIGEST_KEY_NAME)
                if not key:
                    raise SecretStoreError("keyring did not keep the secrets digest key",
                                           hint=INSTALL_HINT)
        REDACTOR.add(key)
        self._digest_key = key.encode()
        return self._digest_key

    def status_of(self, env: Environment, name: str) -> SecretStatus:
        """Set or not, and the value's digest; the digest is None in the from-env mode without
        a digest key (listing what is set must work before that key exists)."""
        value = self.get(env, name)
        digest = None
        if value is not None:
            try:
                digest = value_digest(self.digest_key(), env.secret_scope, name, value)
            except SecretStoreError:
                if not self.from_environment():
                    raise
        return SecretStatus(name, value is not None, digest)

    def status(self, env: Environment) -> list[SecretStatus]:
        return [self.status_of(env, name) for name in env.secret_names]

    def digest(self, env: Environment, values: dict[str, str] | None = None) -> str:
        """16 hex chars: an HMAC-SHA256 (key: `digest_key`) over every configured secret's name
        and value, for release records, labels and annotations. Raises SecretStoreError as
        `digest_key` does."""
        if not env.secret_names:  # nothing to hide: the same value as ever, no key needed
            return hashlib.sha256(b"").hexdigest()[:16]
        values = self.values(env) if values is None else values
        key = self.digest_key()
        parts = [f"cockpit:{env.secret_scope}"] + [
            f"{n}={value_digest(key, env.secret_scope, n, values[n]) if n in values else '-'}"
            for n in sorted(env.secret_names)
        ]
        return hmac.new(key, "\n".join(parts).encode(), hashlib.sha256).hexdigest()[:16]
