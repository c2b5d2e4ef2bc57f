"""The UI's one door to the core. Every method may block: call it from a thread worker.

Screens never talk to a target: they ask the session, which asks `cockpit.pipeline` and the
provider contract. Tests build a session over an injected `Context` (fixed clock, temporary
state store, their own provider), so what the screens render is deterministic.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.errors import CockpitError

FILENAME = "cockpit.toml"  # cockpit.config.FILENAME, repeated to keep pydantic off start-up

if TYPE_CHECKING:
    from cockpit.config import Config, Environment
    from cockpit.events import Emit, Event, HealthSample, LogLine
    from cockpit.models import DomainStatus, Finding, LiveState, Release
    from cockpit.provider import Context
    from cockpit.schema import SchemaCheck


class Interrupted(CockpitError):
    """The person quit mid-run; raised from `emit` so the pipeline stops at the next event."""

    kind = "interrupted"


class Session:
    def __init__(self, config_path: Path | None = None, ctx: Context | None = None,
                 clock: Any = None) -> None:
        self.config_path = config_path
        self.clock = clock  # injected into contexts this session builds (tests, snapshots)
        self._ctx = ctx
        self._lock = threading.Lock()
        self.cancel = threading.Event()  # set when the person quits mid-run
        self._runs: list[tuple[str, str]] = []  # (env, command) of runs this session started
        self.ask: Any = None  # yes/no from a worker thread (host key trust), set by the app

    # ------------------------------------------------------------------ context

    @property
    def configured(self) -> bool:
        if self._ctx is not None:
            return True
        return self._find() is not None

    @property
    def ctx(self) -> Context:
        with self._lock:
            if self._ctx is None:
                from cockpit import config as config_mod
                from cockpit.provider import Context, Options
                from cockpit.secrets import SecretStore
                from cockpit.state import Store

                cfg = config_mod.load(self._path())
                self._ctx = Context(config=cfg, store=Store.open(cfg.app.name),
                                    secrets=SecretStore(cfg.app.name),
                                    options=Options(ask=self._ask), clock=self.clock)
            return self._ctx

    def _ask(self, question: str) -> bool:
        return bool(self.ask(question)) if self.ask is not None else False

    def reload(self, ctx: Context | None = None) -> None:
        """Drop the cached context (after the wizard wrote cockpit.toml)."""
        with self._lock:
            self._ctx = ctx

    def _find(self) -> Path | None:
        """The cockpit.toml to use, without importing the config loader (start-up path)."""
        path = self.config_path
        if path is not None:
            path = path / FILENAME if path.is_dir() else path
            return path if path.is_file() else None
        here = Path.cwd().resolve()
        for folder in (here, *here.parents):
            if (folder / FILENAME).is_file():
                return folder / FILENAME
        return None

    def _path(self) -> Path:
        found = self._find()
        if found is None:
            from cockpit.config import find

            return find()  # raises the ConfigError that says what to do
        return found

    def peek(self) -> tuple[str, list[tuple[str, str, bool]]]:
        """(app name, [(environment, provider, protected)]) from a quick tomllib read, so the
        first frame paints before the full config (pydantic, tomlkit) is loaded off-thread.
        Falls back to the full load when the quick read cannot tell."""
        if self._ctx is not None:
            cfg = self._ctx.config
            return cfg.app.name, [(n, e.provider, e.protected) for n, e in
                                  cfg.environments.items()]
        import tomllib

        try:
            data = tomllib.loads(self._path().read_text(encoding="utf-8"))
            envs = []
            for name, table in data.get("environments", {}).items():
                protected = table.get("protected")
                if protected is None:
                    protected = name in ("prod", "production")
                envs.append((name, str(table["provider"]), bool(protected)))
            return str(data["app"]["name"]), envs
        except Exception:  # anything odd: the full loader gives the located error
            cfg = self.config
            return cfg.app.name, [(n, e.provider, e.protected) for n, e in
                                  cfg.environments.items()]

    @property
    def config(self) -> Config:
        return self.ctx.config

    def now(self) -> float:
        return self.ctx.now()

    def env_names(self) -> list[str]:
        return [name for name, _, _ in self.peek()[1]]

    def env(self, name: str) -> Environment:
        return self.config.env(name)

    def provider(self, env_name: str) -> Any:
        from cockpit.pipeline import provider_for

        return provider_for(self.ctx, self.env(env_name))

    def _confirmed_ctx(self, env_name: str, typed: str | None, *,
                       accept_schema: bool = False) -> Context:
        options = dataclasses.replace(self.ctx.options, yes=True, confirm=typed,
                                      accept_schema=accept_schema,
                                      ask=self.ask or self.ctx.options.ask)
        return dataclasses.replace(self.ctx, options=options)

    # ------------------------------------------------------------------ reads

    def live(self, env_name: str) -> LiveState:
        """Live state with the store's gate results merged and drift noted (the pipeline's)."""
        from cockpit import pipeline

        return pipeline.live(self.ctx, env_name)

    def health(self, env_name: str, live: LiveState | None = None) -> HealthSample | None:
        """One health sample through the path users take, when the core can tell the URL."""
        env = self.env(env_name)
        own = self.provider(env_name).health(env)  # the provider's way, if it has one
        if own is not None:
            return own
        if not env.domain:
            return None
        from cockpit.probes import http_health

        url = f"https://{env.domain}{env.app.health_path}"
        sample = http_health(url, timeout=min(env.gate.timeout, 3.0))
        return dataclasses.replace(sample, env=env_name)

    def releases(self, env_name: str, live: LiveState | None = None) -> list[Release]:
        """Live history first (the truth), merged with what the local store remembers."""
        live = live or self.live(env_name)
        seen = {r.id for r in live.releases}
        merged = list(live.releases)
        try:
            merged += [r for r in self.ctx.store.releases(env_name, 50) if r.id not in seen]
        except Exception:  # the store is a cache: a broken cache must not hide live history
            pass
        merged.sort(key=lambda r: r.created_at, reverse=True)
        return merged

    def audit_log(self, env_name: str | None = None) -> list[dict[str, Any]]:
        return self.ctx.store.audit_log(env_name)

    def logs(self, env_name: str, *, follow: bool = True, tail: int | None = 200,
             stop: Any = None) -> Iterator[LogLine]:
        """`stop` (a threading.Event) ends a follow (part of every provider's `logs`)."""
        provider = self.provider(env_name)
        self.ctx.secrets.register(self.env(env_name))  # mask values a fresh process never read
        return provider.logs(self.env(env_name), follow=follow, tail=tail, stop=stop)

    def preflight(self, env_name: str) -> list[Finding]:
        return self.provider(env_name).preflight(self.env(env_name))

    def secret_status(self, env_name: str) -> list[Any]:
        return self.ctx.secrets.status(self.env(env_name))

    def set_secret(self, env_name: str, name: str, value: str) -> None:
        self.ctx.secrets.set(self.env(env_name), name, value)

    def configure_domain(self, env_name: str, domain: str, emit: Emit,
                         typed: str | None = None) -> DomainStatus:
        """Point `domain` at the environment (the pipeline's; a protected one needs `typed`,
        its name as the user typed it, else Refused)."""
        from cockpit import pipeline

        return pipeline.configure_domain(self._confirmed_ctx(env_name, typed), env_name, domain,
                                         emit)

    def setup(self, env_name: str, emit: Emit, typed: str | None = None) -> list[Finding]:
        """Prepare the environment's target (the pipeline's; a protected one needs `typed`, its
        name as the user typed it, else Refused)."""
        from cockpit import pipeline

        return pipeline.setup(self._confirmed_ctx(env_name, typed), env_name, emit)

    # ------------------------------------------------------------------ actions

    def _guard(self, emit: Emit) -> Emit:
        cancel = self.cancel

        def guarded(event: Event) -> None:
            if cancel.is_set():
                raise Interrupted("stopped: cockpit is quitting",
                                  hint="the run was recorded as interrupted; run it again")
            emit(event)

        return guarded

    def plan(self, env_name: str, emit: Emit) -> Release:
        from cockpit import pipeline

        return pipeline.deploy(self.ctx, env_name, self._guard(emit), dry_run=True)

    def deploy(self, env_name: str, emit: Emit, typed: str | None = None) -> Release:
        from cockpit import pipeline

        self._runs.append((env_name, "deploy"))
        return pipeline.deploy(self._confirmed_ctx(env_name, typed), env_name, self._guard(emit))

    def promote(self, src: str, dst: str, emit: Emit, typed: str | None = None) -> Release:
        from cockpit import pipeline

        self._runs.append((dst, "promote"))
        return pipeline.promote(self._confirmed_ctx(dst, typed), src, dst, self._guard(emit))

    def schema_check(self, env_name: str, target: Release,
                     current: Release | None) -> SchemaCheck:
        """What rolling env back from `current` to `target` means for its schema (the
        pipeline's `schema_check`: state same | differs | unknown | none, the migrations in
        between, the plan's notes). Reads the local state store only (no target)."""
        from cockpit import pipeline

        return pipeline.schema_check(self.ctx, self.env(env_name), target, current)

    def rollback(self, env_name: str, emit: Emit, to: str | None = None,
                 typed: str | None = None, accept_schema: bool = False) -> Release:
        """Serve release `to` again (the pipeline's rollback). A protected environment needs
        `typed`, its name as the user typed it; a target on another schema head needs
        `accept_schema` (the person accepted it explicitly), else Refused (exit 5)."""
        from cockpit import pipeline

        self._runs.append((env_name, "rollback"))
        ctx = self._confirmed_ctx(env_name, typed, accept_schema=accept_schema)
        return pipeline.rollback(ctx, env_name, self._guard(emit), to=to)

    def accessories(self, env_name: str) -> list[dict[str, Any]]:
        """Each accessory of the environment as `cockpit accessories status ENV` reads it:
        {"name", "kind", "state", "health"} (and "external", "env_var" for one whose URL
        comes from the keyring). Raises UsageError when the environment has none."""
        from cockpit import accessories as core
        from cockpit.errors import UsageError

        env = self.env(env_name)
        if not env.accessories:
            raise UsageError(f"{env_name} has no accessories")
        rows: list[dict[str, Any]] = []
        if core.hosted(env):
            from cockpit.providers.vps import accessories as where
        elif any(core.in_cluster(env, a) for a in env.accessories.values()):
            from cockpit.providers.kubernetes import accessories as where
        else:
            where = None
        if where is not None:
            rows = list(where.status(self.provider(env_name), env))
        seen = {r["name"] for r in rows}
        for name, acc in sorted(env.accessories.items()):
            if name not in seen:
                is_set = self.ctx.secrets.get(env, acc.url_var) is not None
                rows.append({"name": name, "kind": acc.kind, "state": "external",
                             "health": "set" if is_set else "missing", "external": True,
                             "env_var": acc.url_var})
        return rows

    def backup(self, env_name: str, name: str, emit: Emit) -> Any:
        """Back up accessory `name` and verify it by a restore into a throwaway server (the
        same as `cockpit backup ENV NAME`, into the state dir's backup folder), audited.
        Returns the cockpit.backups.Backup record."""
        from cockpit import backups

        env = self.env(env_name)
        record = backups.backup(self.ctx, env, name, None, self._guard(emit))
        self.ctx.store.audit("backup", env.name, "ok" if record.verified else "failed",
                             f"{name} {record.id} ({record.size} bytes)")
        return record

    def newest_backup(self, env_name: str, name: str) -> Any:
        """The newest verified backup of accessory `name` in this machine's backup folder
        (cockpit.backups.listing), or None."""
        from cockpit import backups

        env = self.env(env_name)
        return next((b for b in backups.listing(env.app.name, env.name, name) if b.verified),
                    None)

    def restore(self, env_name: str, name: str, ref: str, emit: Emit,
                typed: str | None = None) -> dict[str, Any]:
        """Restore backup `ref` of accessory `name` into a fresh volume and switch to it (the
        same as `cockpit restore ENV NAME --from REF`); a protected environment needs
        `typed`, its name as the user typed it, else Refused. Returns backups.restore's dict."""
        from cockpit import backups

        ctx = self._confirmed_ctx(env_name, typed)
        return backups.restore(ctx, self.env(env_name), name, ref, None, self._guard(emit))

    def close_open_runs(self) -> list[str]:
        """Mark runs this session started and left open as interrupted (quitting mid-run)."""
        closed = []
        if self._ctx is None:
            return closed
        store = self._ctx.store
        for env_name in {env for env, _ in self._runs}:
            for run in store.unfinished_runs(env_name):
                import os

                if run.pid not in (None, os.getpid()):
                    continue
                store.journal(run.run_id, "quit", "interrupted", "cockpit TUI quit mid-run")
                store.finish_run(run.run_id, "interrupted")
                closed.append(run.run_id)
        return closed
