"""The provider contract: what every target (VPS, Kubernetes, Fly, a third party's) implements.

A provider is constructed with a `Context` (config, state store, secret store, options) and is
then asked, per environment, to read live state, plan, apply, roll back, tail logs, set secrets
and configure a domain. The core (`cockpit.pipeline`) owns the order of things: confirmation,
journal, audit, release records; providers own how it is done on their target.

Providers are found through the `cockpit.providers` entry-point group (`cockpit.plugins`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from cockpit.events import Emit, LogLine
from cockpit.models import DomainStatus, Finding, LiveState, Plan, Release

if TYPE_CHECKING:
    from cockpit.config import Config, Environment
    from cockpit.secrets import SecretStore
    from cockpit.state import Store


class ProviderSettings(BaseModel):
    """Base for a provider's own keys in `[environments.<name>]` (strict, no unknown keys)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @classmethod
    def access_keys(cls) -> frozenset[str]:
        """Keys that say how cockpit reaches and operates the target (credentials' paths, API
        endpoints, admin ports, waits), not what a release runs there. Marked with
        `json_schema_extra={"access": True}`; left out of the config hash, so moving a
        kubeconfig or changing a timeout is not reported as drift."""
        return frozenset(name for name, f in cls.model_fields.items()
                         if isinstance(f.json_schema_extra, dict)
                         and f.json_schema_extra.get("access"))

    def exclusive(self, app: str, env: str) -> dict[str, tuple[str, Any]]:
        """Resources no two environments may share: {setting key: (label, value)}.

        The config loader refuses a file where two environments return the same (label, value),
        e.g. the same container name, host port, namespace or Fly app (staging/prod separation).
        """
        return {}


@dataclass
class Options:
    """Per-invocation switches from the CLI or TUI."""

    yes: bool = False  # answer ordinary prompts with yes
    confirm: str | None = None  # the typed environment name for prod actions
    dry_run: bool = False
    trust_host: list[str] = field(default_factory=list)  # "SHA256:..." fingerprints to trust
    ask: Callable[[str], bool] | None = None  # interactive yes/no, None when no terminal
    confirm_typed: Callable[[str], str | None] | None = None  # asks to type an env's name
    debug: bool = False
    no_watch: bool = False  # skip the watch window after a switch (--no-watch; cockpit.watch)
    read_only: bool = False  # nothing may change a target (the pipeline refuses)


@dataclass
class Context:
    config: Config
    store: Store
    secrets: SecretStore
    options: Options = field(default_factory=Options)
    clock: Callable[[], float] | None = None  # injected for deterministic tests and snapshots

    def now(self) -> float:
        import time

        return (self.clock or time.time)()


@runtime_checkable
class Provider(Protocol):
    """What every provider implements. Optional, found with getattr by their callers:

    - `health(env) -> HealthSample | None`: one sample for the dashboard, the way users arrive
      (VPS: HTTPS through the edge; Kubernetes: the Service; Fly: the serving machines'
      checks). Without it the dashboard requests https://<domain><health_path>.
    - `logs(..., stop=threading.Event)`: a follow that ends when `stop` is set, even while no
      line arrives (the logs screen sets it when it closes).
    - `settings_model.access_keys()`: the settings that say how cockpit reaches the target
      (marked `json_schema_extra={"access": True}`), left out of the config hash.
    """

    name: ClassVar[str]
    settings_model: ClassVar[type[ProviderSettings]]

    def __init__(self, ctx: Context) -> None: ...

    def preflight(self, env: Environment) -> list[Finding]:
        """Credentials, reachability, rights. Errors are findings with severity 'error'."""
        ...

    def setup(self, env: Environment, emit: Emit) -> list[Finding]:
        """Prepare the target once (idempotent): edge, switch layer, directories, namespace."""
        ...

    def live(self, env: Environment) -> LiveState:
        """Read what runs now; the truth every command starts from."""
        ...

    def plan_deploy(self, env: Environment, release: Release) -> Plan:
        """Ordered steps to make `release` serve `env`; changes nothing."""
        ...

    def apply(self, plan: Plan, emit: Emit) -> Release:
        """Carry out the plan through the health gate. Returns the release with its status.

        A failed gate must leave the previous release serving and raise GateFailed.
        """
        ...

    def rollback(self, env: Environment, to: Release, emit: Emit) -> Release:
        """Serve `to` again (its image, env and config) through the same gate and switch."""
        ...

    def logs(
        self, env: Environment, *, follow: bool, since: str | None = None, tail: int | None = None
    ) -> Iterator[LogLine]:
        """Lines from every instance of the environment, source-prefixed, secrets redacted."""
        ...

    def set_secrets(self, env: Environment, secrets: Mapping[str, str]) -> None:
        """Push secret values to the target where the target stores them (Fly, Kubernetes)."""
        ...

    def configure_domain(self, env: Environment, domain: str, emit: Emit) -> DomainStatus:
        """Point the domain at the environment and report DNS and certificate status."""
        ...

    def reconcile(self, env: Environment, journal: list[dict[str, Any]], emit: Emit) -> str:
        """Finish or undo an interrupted run; returns a one-line account for the user."""
        ...
