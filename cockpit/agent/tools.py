"""What every agent tool does, as plain functions: `Session.call(tool, args, fn)` runs one.

A `Session` is one agent connection's view of one app: the cockpit.toml (read again on every
call, so an edit is seen), the state store, the keyring. Each call gets a fresh `Context` whose
options say only what the server was started with (`read_only`); nothing a call passes can set
`confirm` or approve anything. Before a call runs, every environment's secret values are read so
the process-wide redactor masks them; every result is redacted again before it leaves, and
every call is written to the audit log with the client's name, the tool, a digest of its
arguments and its result.

No function here runs a shell command, reads a file the caller names, or returns a secret value,
a token, a kubeconfig, an SSH key or a process environment.
"""

from __future__ import annotations

import collections
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cockpit.errors import CockpitError, ConfigError, Refused, UsageError
from cockpit.redaction import redact, redact_any

MAX_LOG_LINES = 500  # the most log lines one `logs` call returns
DEFAULT_LOG_LINES = 100
LOG_LINE_CHARS = 1000  # a longer line keeps its first characters and ends with …
EXPLAIN_LOG_LINES = 30


def args_digest(args: dict[str, Any]) -> str:
    """12 hex chars of sha256 over the canonical JSON of a call's arguments (audit log)."""
    blob = json.dumps(args, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


class ToolRefused(Exception):
    """A call that did not run: `kind` is "refused", "bad input" or "failed"; `text` is
    redacted and says what to do."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text


class Session:
    """One app's agent session. `config_path`: a cockpit.toml, or None for the one found from
    the current directory. Raises ConfigError at construction when it does not load."""

    def __init__(self, config_path: Path | None = None, *, read_only: bool = False,
                 clock: Callable[[], float] | None = None) -> None:
        from cockpit import config
        from cockpit.secrets import SecretStore
        from cockpit.state import Store

        first = config.load(config_path)
        self.config_path = first.path
        self.read_only = read_only
        self.clock = clock
        self.store = Store.open(first.app.name)
        self.secrets = SecretStore(first.app.name)
        self.app = first.app.name

    def context(self):  # -> cockpit.provider.Context
        """A fresh Context: the current cockpit.toml, options from the server only."""
        from cockpit import config
        from cockpit.provider import Context, Options

        cfg = config.load(self.config_path)
        if cfg.app.name != self.app:
            raise UsageError(f"{self.config_path}: app.name changed from {self.app!r} to "
                             f"{cfg.app.name!r}; restart cockpit mcp")
        return Context(config=cfg, store=self.store, secrets=self.secrets,
                       options=Options(read_only=self.read_only), clock=self.clock)

    def close(self) -> None:
        self.store.close()

    def call(self, tool: str, args: dict[str, Any], fn: Callable[[Any], dict[str, Any]],
             client: str | None = None) -> dict[str, Any]:
        """Run `fn(ctx)` as tool `tool`: secrets registered first, the result redacted, the call
        audited (`mcp:<tool>`, env from args, result ok/refused/failed, detail "args <digest>").
        Raises ToolRefused with a redacted message for any error (internal errors say only
        their type)."""
        env = args.get("env") or args.get("dst")
        digest = args_digest(args)
        ctx = None
        try:
            ctx = self.context()
            register_all(ctx)
            result = redact_any(fn(ctx))
        except CockpitError as exc:
            kind = "refused" if isinstance(exc, Refused) else (
                "bad input" if isinstance(exc, UsageError | ConfigError) else "failed")
            text = redact(exc.message + (f" (hint: {exc.hint})" if exc.hint else ""))
            self.store.audit(f"mcp:{tool}", env, kind, f"args {digest}: {exc.what}",
                             client=client)
            raise ToolRefused(kind, text) from None
        except Exception as exc:
            self.store.audit(f"mcp:{tool}", env, "failed",
                             f"args {digest}: internal error {type(exc).__name__}", client=client)
            raise ToolRefused("failed", f"internal error: {type(exc).__name__}") from None
        detail = f"args {digest}"
        if isinstance(result, dict) and result.get("plan_id"):
            detail += f" plan {result['plan_id']}"
        self.store.audit(f"mcp:{tool}", env, "ok", detail, client=client)
        return result


def register_all(ctx) -> None:  # noqa: ANN001
    """Read every environment's secret values and its provider's credentials (e.g.
    FLY_API_TOKEN) so the process-wide redactor masks them in whatever is shown next. Raises
    SecretStoreError when the keyring is unusable (nothing is shown unmasked then)."""
    from cockpit.plugins import provider_class

    for env in ctx.config.environments.values():
        ctx.secrets.register(env)
        for name in getattr(provider_class(env.provider), "credential_names", ()):
            ctx.secrets.get(env, name)


# --------------------------------------------------------------------------- read-only tools


def _release(release) -> dict[str, Any] | None:  # noqa: ANN001
    if release is None:
        return None
    return {"id": release.id, "image": release.image, "digest": release.digest,
            "status": release.status, "created_at": release.created_at,
            "created_by": release.created_by, "promoted_from": release.promoted_from,
            "source_rev": release.source_rev, "config_hash": release.config_hash,
            "secrets_digest": release.secrets_digest}


def status(ctx, env: str | None = None) -> dict[str, Any]:  # noqa: ANN001
    """{environments: [{env, provider, protected, url, release, health, instances, lock,
    drift, error}]}: live state read from each target (`pipeline.live`); `error` says why a
    target could not be read (the others are still shown). `health` is "healthy" when
    every serving instance reports healthy, "unhealthy" when one does not, else "unknown"."""
    from cockpit import pipeline
    from cockpit.config import env_url

    names = [ctx.config.env(env).name] if env else list(ctx.config.environments)
    out = []
    for name in names:
        e = ctx.config.env(name)
        try:
            state = pipeline.live(ctx, name)
        except CockpitError as exc:  # one unreachable target does not hide the others
            out.append({"env": name, "provider": e.provider, "protected": e.protected,
                        "url": env_url(e), "release": None, "health": "unknown",
                        "instances": [], "lock": None, "drift": [],
                        "error": redact(exc.message)})
            continue
        serving = [i for i in state.instances if i.serving] or state.instances
        if serving and all(i.health == "healthy" for i in serving):
            health = "healthy"
        elif any(i.health == "unhealthy" for i in serving):
            health = "unhealthy"
        else:
            health = "unknown"
        out.append({
            "env": name, "provider": e.provider, "protected": e.protected, "url": env_url(e),
            "release": _release(state.current), "health": health,
            "instances": [{"name": i.name, "state": i.state, "health": i.health,
                           "serving": i.serving, "restarts": i.restarts,
                           "release_id": i.release_id} for i in state.instances],
            "lock": ({"holder": state.lock.holder, "command": state.lock.command,
                      "expires_at": state.lock.expires_at} if state.lock else None),
            "drift": list(state.drift), "error": None,
        })
    return {"environments": out}


def releases(ctx, env: str) -> dict[str, Any]:  # noqa: ANN001
    """{env, current, releases: [release]}, newest first, read from the target."""
    from cockpit import pipeline

    state = pipeline.live(ctx, ctx.config.env(env).name)
    return {"env": env, "current": state.current.id if state.current else None,
            "releases": [_release(r) for r in state.releases]}


def _log_lines(ctx, env_name: str, lines: int) -> tuple[list[dict[str, str]], int]:  # noqa: ANN001
    """The last `lines` lines of every instance together, each redacted and made inert
    (escapes visible, at most LOG_LINE_CHARS characters). Returns (lines, lines read)."""
    from cockpit.output import inert
    from cockpit.pipeline import provider_for

    e = ctx.config.env(env_name)
    kept: collections.deque[dict[str, str]] = collections.deque(maxlen=lines)
    seen = 0
    for line in provider_for(ctx, e).logs(e, follow=False, tail=lines):
        seen += 1
        kept.append({"source": inert(redact(line.source), limit=200),
                     "line": inert(redact(line.line), limit=LOG_LINE_CHARS)})
    return list(kept), seen


def logs(ctx, env: str, lines: int = DEFAULT_LOG_LINES) -> dict[str, Any]:  # noqa: ANN001
    """{env, lines: [{source, line}], limit, truncated}: at most `lines` (1..MAX_LOG_LINES,
    clamped) of the newest log lines, secret values masked. `truncated` is True when more lines
    were read than returned."""
    limit = max(1, min(int(lines), MAX_LOG_LINES))
    kept, seen = _log_lines(ctx, ctx.config.env(env).name, limit)
    return {"env": env, "lines": kept, "limit": limit, "truncated": seen > len(kept)}


def scan(ctx) -> dict[str, Any]:  # noqa: ANN001
    """{root, stack, framework, port, health_path, findings: [{id, severity, message, where,
    fix, fixable}]} of the app's own folder (never another path); values of hardcoded secrets
    are masked by the scanner."""
    from cockpit.scan import scan as run_scan

    result = run_scan(ctx.config.root)
    return {"root": str(ctx.config.root), "stack": result.stack, "framework": result.framework,
            "port": result.port, "health_path": result.health_path,
            "findings": [{"id": f.id, "severity": f.severity, "message": f.message,
                          "where": f.where, "fix": f.fix, "fixable": f.fixable}
                         for f in result.findings]}


def secrets_list(ctx, env: str) -> dict[str, Any]:  # noqa: ANN001
    """{env, secrets: [{name, set, digest}]}: names, set or missing, a keyed digest; never a
    value."""
    e = ctx.config.env(env)
    return {"env": e.name, "secrets": [s.to_dict() for s in ctx.secrets.status(e)]}


def explain_failure(ctx, env: str) -> dict[str, Any]:  # noqa: ANN001
    """{env, run: {run_id, command, started_at, who} | None, failed_step, error, steps: [{step,
    status, detail}], audit: [entries], last_log_lines: [{source, line}]}: the newest failed or
    interrupted run of env from the journal (its steps carry the gate's samples and errors), the
    audit entries around it and the app's last log lines, all redacted."""
    e = ctx.config.env(env)
    runs = [r for r in ctx.store.runs(e.name, limit=50)
            if r.status in ("failed", "reconciled")]
    if not runs:
        return {"env": e.name, "run": None, "failed_step": None, "error": None, "steps": [],
                "audit": [], "last_log_lines": []}
    run = runs[0]
    failed = [s for s in run.steps if s["status"] == "failed"]
    entries = [a for a in ctx.store.audit_log(e.name, limit=50)
               if a["result"] not in ("ok",) and a["ts"] >= run.started_at][:5]
    try:
        last, _ = _log_lines(ctx, e.name, EXPLAIN_LOG_LINES)
    except CockpitError as exc:
        last = [{"source": "cockpit", "line": f"logs unavailable: {exc.what}"}]
    return {
        "env": e.name,
        "run": {"run_id": run.run_id, "command": run.command, "started_at": run.started_at,
                "who": run.who, "status": run.status},
        "failed_step": failed[-1]["step"] if failed else None,
        "error": failed[-1]["detail"] if failed else None,
        "steps": [{"step": s["step"], "status": s["status"], "detail": s["detail"]}
                  for s in run.steps],
        "audit": [{"ts": a["ts"], "command": a["command"], "result": a["result"],
                   "detail": a["detail"]} for a in entries],
        "last_log_lines": last,
    }


def approval_status(ctx, plan_id: str) -> dict[str, Any]:  # noqa: ANN001
    """See `cockpit.plans.approval_status`."""
    from cockpit import plans

    return plans.approval_status(ctx, plan_id)


def config_view(ctx) -> dict[str, Any]:  # noqa: ANN001
    """The resolved cockpit.toml (`Config.to_dict`): secret names only, never values."""
    return ctx.config.to_dict()


def audit_view(ctx, limit: int = 100) -> dict[str, Any]:  # noqa: ANN001
    """{entries: [{ts, who, client, command, env, result, detail}]}, newest first."""
    rows = ctx.store.audit_log(limit=max(1, min(limit, 500)))
    return {"entries": [{k: r.get(k) for k in ("ts", "who", "client", "command", "env",
                                                "result", "detail")} for r in rows]}


# --------------------------------------------------------------------------- plans


def plan(ctx, action: str, env: str, *, image: str | None = None, src: str | None = None,  # noqa: ANN001
         to: str | None = None, client: str | None = None) -> dict[str, Any]:
    """A saved plan (`cockpit.plans.make`), as `SavedPlan.to_dict`."""
    from cockpit import plans

    return plans.make(ctx, action, env, lambda event: None, image=image, src=src, to=to,
                      client=client).to_dict()


def apply(ctx, plan_id: str, client: str | None = None) -> dict[str, Any]:  # noqa: ANN001
    """{plan_id, env, action, release, events: [text]}: the plan run under every rule of
    `cockpit.plans.apply`; the events are the run's step lines, redacted."""
    from cockpit import plans
    from cockpit.events import Message, StepFailed, StepFinished, StepStarted

    said: list[str] = []

    def emit(event) -> None:  # noqa: ANN001
        if isinstance(event, StepStarted):
            said.append(f"start {event.step}: {event.title}")
        elif isinstance(event, StepFinished):
            said.append(f"done {event.step}: {event.detail}")
        elif isinstance(event, StepFailed):
            said.append(f"failed {event.step}: {event.error}")
        elif isinstance(event, Message):
            said.append(event.text)
        del said[:-200]

    release = plans.apply(ctx, plan_id, emit, client=client)
    saved = plans.get(ctx, plan_id)
    return {"plan_id": saved.plan_id, "env": saved.env, "action": saved.action,
            "status": saved.status, "release": _release(release),
            "events": [redact(s)[:LOG_LINE_CHARS] for s in said]}
