"""The provider contract: what every target (VPS, Kubernetes, Fly, a third party's) implements.

A provider is constructed with a `Context` (config, state store, secret store, options) and is
then asked, per environment, to read live state, plan, apply, roll back, tail logs, set secrets
and configure a domain. The core (`cockpit.pipeline`) owns the order of things: confirmation,
journal, audit, release records; providers own how it is done on their target.

Providers are found through the `cockpit.providers.v1` entry-point group (`cockpit.plugins`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from cockpit.events import Emit, HealthSample, LogLine
from cockpit.models import DomainStatus, Finding, LiveState, LockInfo, Plan, Release

if TYPE_CHECKING:
    from cockpit.config import Config, Environment
    from cockpit.lock import LockStore
    from cockpit.secrets import SecretStore
    from cockpit.state import Store


class ProviderSettings(BaseModel):
    """Base for a provider's own keys in `[environments.<name>]` (strict, no unknown keys)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # {key: (description, prompt)}: what each key is and the question the wizard asks. Applied
    # to the fields (`Field.description`, `json_schema_extra["prompt"]`) when the class is
    # made, unless the Field sets its own; `key_docs()` reads them back.
    DOCS: ClassVar[dict[str, tuple[str, str]]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        changed = False
        for name, (description, prompt) in cls.DOCS.items():
            f = cls.model_fields.get(name)
            if f is None:  # a key another version of the model has: nothing to document
                continue
            if not f.description:
                f.description = description
                changed = True
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            if not extra.get("prompt"):
                f.json_schema_extra = {**extra, "prompt": prompt}
                changed = True
        if changed:
            cls.model_rebuild(force=True)

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

    @classmethod
    def key_docs(cls) -> list[KeyDoc]:
        """Every key as `cockpit init`, the wizard and the generators render it, in declaration
        order: from each field's `description` and `json_schema_extra` (`prompt`, `expect`,
        `access`). A key without a description or prompt gets its name (the contract tests
        require both on every built-in provider)."""
        import typing

        from pydantic_core import PydanticUndefined

        docs = []
        for name, f in cls.model_fields.items():
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            choices: tuple[str, ...] = ()
            if typing.get_origin(f.annotation) is typing.Literal:
                choices = tuple(str(a) for a in typing.get_args(f.annotation))
            required = f.is_required()
            default = None if required or f.default is PydanticUndefined else f.default
            docs.append(KeyDoc(key=name, description=f.description or "",
                               prompt=str(extra.get("prompt") or ""),
                               expect=str(extra.get("expect") or ""), default=default,
                               required=required, access=bool(extra.get("access")),
                               choices=choices))
        return docs


@dataclass(frozen=True)
class KeyDoc:
    """One provider setting as people see it: `description` says what it is, `prompt` is the
    question the wizard asks, `expect` the accepted form; `default` is None when required."""

    key: str
    description: str
    prompt: str
    expect: str = ""
    default: Any = None
    required: bool = False
    access: bool = False
    choices: tuple[str, ...] = ()


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
    accept_schema: bool = False  # roll back onto another schema head (--accept-schema)
    skip_backup: bool = False  # no backup before the release command (--skip-backup)


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


class Provider(ABC):
    """What every provider implements: an abstract base with default hooks.

    The abstract methods below are the contract; everything else has a default the core relies
    on, so call sites never probe with `hasattr`/`inspect`. Override a hook to do better:

    - `health(env) -> HealthSample | None`: one sample for the dashboard, the way users arrive
      (VPS: HTTPS through the edge; Kubernetes: the Service; Fly: the serving machines'
      checks). Default None: the dashboard requests https://<domain><health_path>.
    - `logs(..., stop=threading.Event)`: `stop` is part of the signature; a follow ends when it
      is set, even while no line arrives (the logs screen sets it when it closes).
    - `build(env, emit)`: default builds with the local Docker Engine (`cockpit.build`).
    - `lock_store(env)`: the deploy lock's storage on the target (`cockpit.lock.LockStore`);
      the pipeline holds it around every run and reconcile. Default None: no lock.
      `lock_status`/`lock_release` default to reading/removing it.
    - `reconcile(env, journal, emit)`: default says there is nothing to finish or undo.
    - `watch_traffic(env, release)`: a sampler of the real traffic the target can tell about,
      read once per interval of the watch window after a switch (`cockpit.watch`). Default
      None: the window judges its own probes only.
    - `schema_head(env, release)`: the schema head after the release command (`cockpit.schema`)
      for the release's meta; default None (not recorded).
    - `close()`: release connections; default does nothing.
    - `settings_model.access_keys()`: the settings that say how cockpit reaches the target
      (marked `json_schema_extra={"access": True}`), left out of the config hash.

    A third party's class that does not subclass `Provider` is given these defaults when it is
    loaded (`cockpit.plugins.provider_class`), with a deprecation warning.
    """

    name: ClassVar[str]
    settings_model: ClassVar[type[ProviderSettings]]
    description: ClassVar[str] = ""  # one line shown by `cockpit init` and the wizard
    credential_names: ClassVar[tuple[str, ...]] = ()  # keyring items the provider needs

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ the contract

    @abstractmethod
    def preflight(self, env: Environment) -> list[Finding]:
        """Credentials, reachability, rights. Errors are findings with severity 'error'."""

    @abstractmethod
    def setup(self, env: Environment, emit: Emit) -> list[Finding]:
        """Prepare the target once (idempotent): edge, switch layer, directories, namespace."""

    @abstractmethod
    def live(self, env: Environment) -> LiveState:
        """Read what runs now; the truth every command starts from."""

    @abstractmethod
    def plan_deploy(self, env: Environment, release: Release) -> Plan:
        """Ordered steps to make `release` serve `env`; changes nothing."""

    @abstractmethod
    def apply(self, plan: Plan, emit: Emit) -> Release:
        """Carry out the plan through the health gate. Returns the release with its status.

        A failed gate must leave the previous release serving and raise GateFailed. Emit a
        StepStarted before each step (the pipeline stops a run whose lock was lost there)."""

    @abstractmethod
    def rollback(self, env: Environment, to: Release, emit: Emit) -> Release:
        """Serve `to` again (its image, env and config) through the same gate and switch."""

    @abstractmethod
    def logs(self, env: Environment, *, follow: bool, since: str | None = None,
             tail: int | None = None, stop: Any = None) -> Iterator[LogLine]:
        """Lines from every instance of the environment, source-prefixed, secrets redacted;
        `stop` (a threading.Event) ends a follow."""

    @abstractmethod
    def set_secrets(self, env: Environment, secrets: Mapping[str, str]) -> None:
        """Push secret values to the target where the target stores them (Fly, Kubernetes)."""

    @abstractmethod
    def configure_domain(self, env: Environment, domain: str, emit: Emit) -> DomainStatus:
        """Point the domain at the environment and report DNS and certificate status."""

    # ------------------------------------------------------------------ default hooks

    def reconcile(self, env: Environment, journal: list[dict[str, Any]], emit: Emit) -> str:
        """Finish or undo an interrupted run; returns a one-line account for the user."""
        return "nothing to reconcile for this provider"

    def health(self, env: Environment) -> HealthSample | None:
        """One health sample the way users arrive; None: the core probes the domain."""
        return None

    def watch_traffic(self, env: Environment, release: Release) -> Callable[[], Any] | None:
        """A function returning one `cockpit.watch.TrafficSample` per call (cumulative request
        and 5xx counters, restarts, instances not ready) for the watch window of `release`
        after a switch; raises ProviderError when the target cannot be read. Default None:
        the target tells nothing, and the window judges its own probes only."""
        return None

    def schema_head(self, env: Environment, release: Release) -> dict[str, Any] | None:
        """The schema head after `release`'s release command succeeded, for
        `Release.meta["schema"]` (`cockpit.schema`: run `schema.probe_for(release command)`
        the way the release command runs, then `schema.parse`). Raises ProviderError or
        SchemaProbeError when the probe fails. Default None: not recorded on this target (a
        rollback then says so in its plan and does not refuse)."""
        return None

    def one_off(self, env: Environment, argv: list[str], write: Callable[[str, bool], None],
                *, interactive: bool = False) -> tuple[str, int]:
        """Run `argv` once beside env's app (`cockpit exec ENV -- CMD`): in a throwaway
        instance of the serving release's image with its env and secrets, the image's
        entrypoint kept and `argv` as its command; removed afterwards. Each output line goes
        to `write(line, is_stderr)` as it comes (unmasked: the caller masks). Returns
        (serving release id, the command's exit status 0-255). Raises UsageError (exit 2)
        for `interactive` where no terminal can be given or when nothing serves,
        ProviderError when the target fails. Default: UsageError, not on this provider."""
        from cockpit.errors import UsageError

        raise UsageError(f"cockpit exec is not yet on {self.name}")

    def build(self, env: Environment, emit: Emit) -> tuple[str, str]:
        """Build the app's image: (image reference, digest). Default: the local engine."""
        from cockpit.build import build_image

        return build_image(self.ctx.config, emit)

    def lock_store(self, env: Environment) -> LockStore | None:
        """The deploy lock's storage on env's target; None when the provider has none."""
        return None

    def lock_status(self, env: Environment) -> LockInfo | None:
        """The lock as it stands (expired or not), None when free. Raises UsageError when the
        provider has no lock; ProviderError when the target cannot be reached."""
        store = self.lock_store(env)
        if store is None:
            from cockpit.errors import UsageError

            raise UsageError(f"the {self.name} provider has no deploy lock of its own")
        held = store.read()
        return held.info() if held is not None else None

    def lock_release(self, env: Environment) -> bool:
        """Remove the lock whoever holds it (the caller confirmed). True when removed."""
        store = self.lock_store(env)
        return bool(store is not None and store.release(None))

    def remove_plan(self, env: Environment, *, accessories: bool, volumes: bool,
                    secrets: bool) -> Any:
        """What `cockpit remove ENV` would take off the target, read from live state; changes
        nothing. Returns a removal plan with `env`, `host` (where, in words), `kept` (list of
        str: what stays and why), `flags` ({accessories, volumes, secrets}: bool), `empty`
        (True on a second run), `steps()` (list of `Step`) and `to_dict()` (JSON-able).
        Raises UsageError when the provider cannot remove (default) or the flags conflict,
        ProviderError when the target cannot be read."""
        from cockpit.errors import UsageError

        raise UsageError(f"cockpit remove is not yet on {self.name}: {env.name} was not "
                         "changed",
                         hint="remove it with your provider's tools")

    def remove(self, env: Environment, plan: Any, emit: Emit) -> list[str]:
        """Carry out `plan` (from `remove_plan`) holding the deploy lock, one step event per
        step; returns one line per thing removed. Raises ProviderError (what was done stays
        done; a second run carries on) or LockHeld."""
        from cockpit.errors import UsageError

        raise UsageError(f"cockpit remove is not yet on {self.name}")

    def remove_finish(self, env: Environment, plan: Any, done: list[str]) -> str:
        """After the deploy lock is released: what only goes once the lock is gone (the VPS
        host directory the lock lives in, a Kubernetes namespace cockpit made). Returns
        "removed", "held" (another run took the lock meanwhile: kept) or "gone"."""
        return "gone"

    def close(self) -> None:
        """Release connections the provider keeps open."""
        return None


def settings_lines(provider: str, app: str, env: str) -> list[str]:
    """cockpit.toml lines for `[environments.<env>]` of any provider, from its settings model's
    metadata (`key_docs`): each required key with an empty value to fill in, each optional key
    commented out with its default, every one with its description. Raises ConfigError for an
    unknown provider."""
    import json

    from cockpit.plugins import provider_class

    lines = []
    for doc in provider_class(provider).settings_model.key_docs():
        if doc.access and not doc.required:
            continue  # how cockpit reaches the target: defaults are right for most
        if doc.required:
            lines.append(f"{doc.key} = \"\"  # {doc.description} ({doc.prompt})")
        else:
            try:
                value = json.dumps(doc.default)
            except (TypeError, ValueError):
                value = json.dumps(str(doc.default))
            value = "true" if doc.default is True else "false" if doc.default is False else value
            if doc.default is None:
                value = '""'
            lines.append(f"# {doc.key} = {value}  # {doc.description}")
    return lines
