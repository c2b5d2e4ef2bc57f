"""The order of every mutating command, the same for every provider.

    read live state → reconcile an interrupted run → build the release record → plan →
    show the plan → confirm (protected environments) → journal → provider.apply (gate inside) →
    record the release's status → audit

Providers own *how* (SSH, API calls); this module owns *what happens in which order*, and the
guardrails: prod needs its typed name, promote takes only a release that passed its gate, every
step goes to the journal, every outcome to the audit log.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from cockpit.errors import CockpitError, GateFailed, Refused, UsageError
from cockpit.events import (
    Emit,
    Event,
    Message,
    PlanShown,
    StepFailed,
    StepFinished,
    StepSkipped,
    StepStarted,
)
from cockpit.models import DomainStatus, Finding, LiveState, Plan, Release, Step
from cockpit.state import whoami

if TYPE_CHECKING:
    from cockpit.config import Environment
    from cockpit.provider import Context, Provider


def provider_for(ctx: Context, env: Environment) -> Provider:
    """One provider instance per (context, provider name)."""
    from cockpit.plugins import provider_class

    cache: dict[str, Any] = ctx.__dict__.setdefault("_providers", {})
    if env.provider not in cache:
        cache[env.provider] = provider_class(env.provider)(ctx)
    return cache[env.provider]


class Journaled:
    """An emitter that writes every step event of a run to the journal before passing it on."""

    def __init__(self, ctx: Context, run_id: str, emit: Emit) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.emit = emit
        self.lock: Any = None  # the run's DeployLock: a lost lock stops the run at its next step
        self.verify: set[str] = set()  # steps the lock is proven on the target before (switch)
        self.failed_step: str | None = None  # the step that failed (the release's meta keeps it)

    def __call__(self, event: Event) -> None:
        store = self.ctx.store
        if isinstance(event, StepStarted) and self.lock is not None and event.step != "unlock":
            self.lock.check(verify=event.step in self.verify)  # LockLost: nothing more changes
        if isinstance(event, StepStarted):
            store.journal(self.run_id, event.step, "started", event.title)
        elif isinstance(event, StepFinished):
            store.journal(self.run_id, event.step, "finished", event.detail)
        elif isinstance(event, StepFailed):
            store.journal(self.run_id, event.step, "failed", event.error)
            self.failed_step = event.step
        elif isinstance(event, StepSkipped):
            store.journal(self.run_id, event.step, "skipped", event.reason)
        self.emit(event)


# --------------------------------------------------------------------------- releases


def source_rev(root) -> str | None:
    """The git commit of the app, with `-dirty` when the tree has uncommitted changes."""
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def new_release_id(ctx: Context, env: Environment, digest: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(ctx.now()))
    base = f"{stamp}-{(digest.split(':')[-1] or 'planned')[:6]}"
    taken = {r.id for r in ctx.store.releases(env.name, limit=200)}
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def make_release(ctx: Context, env: Environment, image: str, digest: str,
                 promoted_from: str | None = None, *, require_secrets: bool = True) -> Release:
    values = ctx.secrets.require(env) if require_secrets else ctx.secrets.values(env)
    return Release(
        id=new_release_id(ctx, env, digest),
        app=ctx.config.app.name,
        env=env.name,
        image=image,
        digest=digest,
        config_hash=env.config_hash,
        secret_names=sorted(env.secret_names),
        secrets_digest=ctx.secrets.digest(env, values),
        source_rev=source_rev(ctx.config.root),
        created_at=ctx.now(),
        created_by=whoami(),
        promoted_from=promoted_from,
    )


def digest_of(image: str) -> str:
    """`repo@sha256:...` → `sha256:...`; a bare `sha256:...` id is its own digest."""
    if "@" in image:
        return image.split("@", 1)[1]
    if image.startswith("sha256:"):
        return image
    return ""


# --------------------------------------------------------------------------- guardrails


def refuse_read_only(ctx: Context, env_name: str, action: str) -> None:
    """Raise Refused (exit 5) when this invocation is read-only (`Options.read_only`, e.g.
    `cockpit mcp --read-only`): nothing changes a target then, an approved plan included."""
    if getattr(ctx.options, "read_only", False):
        raise Refused(f"{action} on {env_name!r} refused: this session is read-only",
                      hint="run it from a session started without --read-only")


def confirm(ctx: Context, env: Environment, action: str, changes: str | None = None) -> None:
    """Protected environments (`protected = true`, by default prod/production) need their name
    typed: `--confirm prod` or a prompt. The one rule for every command that changes a target
    (deploy, promote, rollback, reconcile, setup, domain, lock release); call it before anything
    changes. `changes` says what the action would change, e.g. "create or replace the edge
    route"; it goes into the refusal. Raises Refused (exit 5) when the name was not given, or
    when the session is read-only (any environment)."""
    refuse_read_only(ctx, env.name, action)
    if not env.protected:
        return
    given = ctx.options.confirm
    if given is None and ctx.options.confirm_typed is not None:
        given = ctx.options.confirm_typed(env.name)
    if given == env.name:
        ctx.options.confirm = env.name  # asked once per invocation, not once per step
        return
    would = f": it would {changes}" if changes else ""
    if given:
        raise Refused(f"{action} on {env.name!r} refused: confirmation {given!r} does not "
                      f"match{would}", hint=f"pass --confirm {env.name}")
    raise Refused(f"{action} on {env.name!r} needs explicit confirmation{would}",
                  hint=f"pass --confirm {env.name} (or type the name when asked)")


# What `setup` prepares, per built-in provider; said before a protected environment is touched.
SETUP_CHANGES = {
    "vps": "create or replace the edge route (Caddy site), the switch backend (HAProxy) and "
           "the host directories for {env}",
    "kubernetes": "create the namespace for {env} when it is missing",
    "fly": "create the Fly app for {env} and allocate its public IP addresses when missing",
}


def setup_changes(env: Environment) -> str:
    """One line: what `cockpit setup ENV` would create or replace on env's target."""
    text = SETUP_CHANGES.get(env.provider, "prepare {env}'s target on the {provider} provider "
                             "(whatever it creates once)")
    return text.format(env=env.name, provider=env.provider)


def domain_changes(env: Environment, domain: str) -> str:
    """One line: what `cockpit domain ENV DOMAIN` would change (the target always; cockpit.toml
    when the domain is new)."""
    toml = f" and write it to cockpit.toml (now {env.domain or 'none'})" if domain != env.domain \
        else ""
    return (f"point {domain} at {env.name} (the edge site, ingress or certificate on the "
            f"{env.provider} target, and a certificate request){toml}")


def setup(ctx: Context, env_name: str, emit: Emit) -> list[Finding]:
    """Prepare env's target (`provider.setup`), confirmed first for a protected environment.
    Returns the provider's findings; raises Refused (exit 5) unconfirmed, ProviderError."""
    env = ctx.config.env(env_name)
    confirm(ctx, env, "setup", setup_changes(env))
    return provider_for(ctx, env).setup(env, emit)


def configure_domain(ctx: Context, env_name: str, domain: str, emit: Emit) -> DomainStatus:
    """Point `domain` at env on its target and report DNS/TLS (`provider.configure_domain`),
    confirmed first for a protected environment (Refused, exit 5)."""
    env = ctx.config.env(env_name)
    confirm(ctx, env, "domain", domain_changes(env, domain))
    return provider_for(ctx, env).configure_domain(env, domain, emit)


def release_lock(ctx: Context, env_name: str, held_by: str) -> None:
    """Remove env's deploy lock (`provider.lock_release`), `held_by` naming its holder for the
    confirmation; a protected environment needs its name typed first (Refused, exit 5)."""
    env = ctx.config.env(env_name)
    confirm(ctx, env, "lock release", f"remove the deploy lock of {env.name} held by {held_by}")
    provider_for(ctx, env).lock_release(env)


def _merge_status(ctx: Context, env: Environment, releases: list[Release]) -> list[Release]:
    """Live state is the truth about what exists; the store remembers what the gate said."""
    for release in releases:
        known = ctx.store.get_release(env.name, release.id)
        if known is not None and release.status in ("", "unknown", "pending"):
            release.status = known.status
    return releases


def live(ctx: Context, env_name: str) -> LiveState:
    env = ctx.config.env(env_name)
    state = provider_for(ctx, env).live(env)
    _merge_status(ctx, env, state.releases)
    if state.current is not None:
        _merge_status(ctx, env, [state.current])
        if state.current.config_hash and state.current.config_hash != env.config_hash:
            state.drift.append(
                f"cockpit.toml changed since release {state.current.id} "
                "(deploy to apply it)"
            )
    return state


# --------------------------------------------------------------------------- runs


def _execute(ctx: Context, env: Environment, command: str, plan: Plan | None, emit: Emit,
             body: Callable[[Emit], Release], release: Release) -> Release:
    refuse_read_only(ctx, env.name, command)
    store = ctx.store
    run_id = store.begin_run(env.name, command, plan.to_dict() if plan else None)
    store.save_release(release)
    journal = Journaled(ctx, run_id, emit)
    started = ctx.now()
    _alert(ctx, env, "deploy_started", what=f"{command} of release {release.id} started",
           release=release.id, digest=release.digest)
    try:
        with deploy_lock(ctx, env, command, journal) as held:
            journal.lock = held
            journal.verify = {s.id for s in plan.steps if s.destructive} if plan else set()
            result = body(journal)
    except GateFailed as exc:
        release.status = getattr(exc, "release_status", "failed")  # watch window: rolled_back
        release.meta = {**release.meta, **getattr(exc, "release_meta", {}),
                        **({"failed_step": journal.failed_step} if journal.failed_step else {})}
        store.save_release(release)
        store.finish_run(run_id, "failed")
        store.audit(command, env.name, getattr(exc, "audit_outcome", "gate failed"),
                    f"release {release.id}: {exc.what}")
        _alert(ctx, env, "rolled_back", what=f"{command} of release {release.id}: {exc.what}",
               since=started, release=release.id, digest=release.digest)
        raise
    except KeyboardInterrupt:
        store.journal(run_id, "interrupted", "failed", "interrupted by the user")
        _reconcile_run(ctx, env, store.unfinished_runs(env.name), emit, only=run_id)
        store.audit(command, env.name, "interrupted", f"release {release.id}")
        raise
    except CockpitError as exc:
        release.status = "failed"
        if journal.failed_step:  # a rollback to it says why it never served (rollback_target)
            release.meta = {**release.meta, "failed_step": journal.failed_step}
        store.save_release(release)
        if getattr(exc, "unfinished", False):  # not undone (cockpit.gate.GateUnfinished): the
            # run stays open and the next command's reconcile finishes it
            store.journal(run_id, "unfinished", "failed", exc.what)
            store.audit(command, env.name, "unfinished", f"release {release.id}: {exc.what}")
            raise
        store.finish_run(run_id, "failed")
        store.audit(command, env.name, "failed", f"release {release.id}: {exc.what}")
        raise
    except Exception as exc:
        store.finish_run(run_id, "failed")
        store.audit(command, env.name, "failed", f"release {release.id}: {type(exc).__name__}")
        raise
    store.save_release(result)
    store.finish_run(run_id, "ok")
    store.audit(command, env.name, "ok",
                f"release {result.id} image {result.digest or result.image} status {result.status}")
    _alert(ctx, env, "deploy_finished", what=f"{command} of release {result.id} serves",
           release=result.id, digest=result.digest)
    return result


def _alert(ctx: Context, env: Environment, kind: str, **facts: Any) -> None:
    """Tell the environment's alert URLs (cockpit.alerts.notify: deploy started, finished,
    rolled back by a gate or the watch window). Never raises and sends nothing, importing
    nothing heavy, when the environment has no alert URLs."""
    from cockpit.alerts import notify

    notify(ctx, env.name, kind, **facts)


@contextmanager
def deploy_lock(ctx: Context, env: Environment, command: str, emit: Emit) -> Iterator[Any]:
    """Hold env's deploy lock (`cockpit.lock`) for a run or a reconcile, when its provider has
    one (`provider.lock_store`); yields the DeployLock or None. Raises LockHeld (exit 4)."""
    store = provider_for(ctx, env).lock_store(env)
    if store is None:
        yield None
        return
    from cockpit.lock import hold

    with hold(store, env=env.name, command=command, emit=emit) as held:
        yield held


def _show(plan: Plan, emit: Emit) -> None:
    emit(PlanShown(env=plan.env, action=plan.action, steps=[s.to_dict() for s in plan.steps]))
    for note in plan.notes:
        emit(Message(note, env=plan.env))


def build(ctx: Context, env: Environment, emit: Emit) -> tuple[str, str]:
    return provider_for(ctx, env).build(env, emit)


def _watched(ctx: Context, env: Environment, provider: Provider, command: str,
             plan: Plan) -> Callable[[Emit], Release]:
    """provider.apply, then the watch window on what it switched to (cockpit.watch): a breach
    switches back to plan.previous and raises WatchBreached (exit 3). Before apply, a verified
    backup of the accessories a release command could migrate (cockpit.backups.before_release:
    protected environments by default); a failed release command's hint names it."""

    def body(journal: Emit) -> Release:
        from cockpit.backups import before_release
        from cockpit.watch import after_switch

        with before_release(ctx, env, plan.release, journal):
            result = provider.apply(plan, journal)
        record_schema(env, provider, result, journal)
        return after_switch(ctx, env, provider, result, plan.previous, journal, command=command)

    return body


def record_schema(env: Environment, provider: Provider, release: Release, emit: Emit) -> None:
    """After the release command succeeded: the schema head (`provider.schema_head`, see
    `cockpit.schema`) into `release.meta["schema"]`, when the release command runs a known
    migration tool. A probe that fails is said (a warning) and leaves no record: the deploy
    itself succeeded, and a rollback then notes the missing head instead of refusing."""
    from cockpit import schema

    if schema.probe_for(getattr(env, "release_command", None)) is None:
        return
    started = time.monotonic()
    try:
        head = provider.schema_head(env, release)
    except (CockpitError, ValueError) as exc:
        what = getattr(exc, "what", None) or str(exc)
        emit(Message(f"the schema head of release {release.id} was not recorded: {what}",
                     level="warning", env=env.name))
        return
    if head:
        release.meta = {**release.meta, "schema": head}
        emit(Message(f"schema head of release {release.id}: {schema.head_text(head)} (read "
                     f"in {time.monotonic() - started:.1f} s)", env=env.name))


def recorded_schema(ctx: Context, env: Environment, release: Release | None) -> None:
    """Live state may not carry a release's schema record: take the store's copy into meta
    (`schema`, and `schema_db` when an accepted rollback left it: `cockpit.schema`)."""
    from cockpit.schema import META_KEYS

    if release is None or release.meta.get("schema"):
        return
    known = ctx.store.get_release(env.name, release.id)
    if known is not None and known.meta.get("schema"):
        release.meta = {**release.meta, **{k: known.meta[k] for k in META_KEYS
                                           if known.meta.get(k)}}


def schema_check(ctx: Context, env: Environment, target: Release,
                 current: Release | None) -> Any:
    """What serving `target` instead of `current` means for env's schema
    (`cockpit.schema.SchemaCheck`), from the releases' recorded heads (live state, else the
    store's copy, taken into their meta). The one rule `rollback`, a saved rollback plan and
    the TUI's confirmation use; reads the state store only."""
    from cockpit import schema

    recorded_schema(ctx, env, target)
    recorded_schema(ctx, env, current)
    return schema.compare(current, target)


def plan_deploy(ctx: Context, env_name: str, emit: Emit, image: str | None = None) -> Plan:
    """What `deploy` would do, without building or changing anything."""
    env = ctx.config.env(env_name)
    provider = provider_for(ctx, env)
    image = image or f"{ctx.config.app.name}:(built at deploy from {ctx.config.app.dockerfile})"
    release = make_release(ctx, env, image, digest_of(image), require_secrets=False)
    plan = provider.plan_deploy(env, release)
    _backup_note(ctx, env, plan)
    _show(plan, emit)
    return plan


def _backup_note(ctx: Context, env: Environment, plan: Plan) -> None:
    """The backup before the release command (cockpit.backups.before_release), in the plan."""
    from cockpit.backups import plan_note

    note = plan_note(ctx, env)
    if note:
        plan.notes.append(note)


def deploy(ctx: Context, env_name: str, emit: Emit, image: str | None = None,
           dry_run: bool | None = None) -> Release:
    env = ctx.config.env(env_name)
    dry_run = ctx.options.dry_run if dry_run is None else dry_run
    if dry_run:
        return plan_deploy(ctx, env_name, emit, image).release
    provider = provider_for(ctx, env)
    confirm(ctx, env, "deploy")  # before anything changes, reconcile included
    reconcile(ctx, env_name, emit)
    ctx.secrets.require(env)  # before building: a missing secret is a quick, clear error
    if image:
        digest = digest_of(image)
    else:
        image, digest = build(ctx, env, emit)
    release = make_release(ctx, env, image, digest)
    plan = provider.plan_deploy(env, release)
    _backup_note(ctx, env, plan)
    _show(plan, emit)
    return _execute(ctx, env, "deploy", plan, emit,
                    _watched(ctx, env, provider, "deploy", plan), release)


def promote(ctx: Context, src_name: str, dst_name: str, emit: Emit,
            dry_run: bool | None = None) -> Release:
    """Deploy the exact image staging serves (same digest) to prod with prod's config/secrets."""
    if src_name == dst_name:
        raise UsageError("promote needs two different environments")
    ctx.config.env(src_name)
    dst = ctx.config.env(dst_name)
    state = live(ctx, src_name)
    current = state.current
    if current is None:
        raise Refused(f"nothing to promote: no release serves {src_name!r}",
                      hint=f"cockpit deploy {src_name}")
    if current.status != "healthy":
        raise Refused(
            f"release {current.id} on {src_name!r} did not pass its health gate "
            f"(status {current.status!r}); only a healthy release is promoted",
            hint=f"fix it and deploy {src_name} again",
        )
    provider = provider_for(ctx, dst)
    if not dry_run and not ctx.options.dry_run:
        confirm(ctx, dst, "promote")  # before anything changes, reconcile included
        reconcile(ctx, dst_name, emit)
    release = make_release(ctx, dst, current.image, current.digest,
                           promoted_from=f"{src_name}/{current.id}",
                           require_secrets=not (dry_run or ctx.options.dry_run))
    release.source_rev = current.source_rev
    plan = provider.plan_deploy(dst, release)
    _backup_note(ctx, dst, plan)
    plan.action = "promote"
    plan.notes.insert(0, f"promoting {src_name} release {current.id} "
                         f"(image {current.short_digest}) to {dst_name}; no rebuild")
    check = _promotion_schema(ctx, src_name, dst, current, plan)
    _show(plan, emit)
    if dry_run or ctx.options.dry_run:
        return release
    if check.refuse and not getattr(ctx.options, "accept_schema", False):
        from cockpit import schema

        raise Refused(schema.promotion_refusal(check, dst_name, current.id),
                      hint="pass --accept-schema to promote anyway (or deploy a release that "
                           f"knows those migrations to {src_name} first)")
    confirm(ctx, dst, "promote")
    return _execute(ctx, dst, "promote", plan, emit,
                    _watched(ctx, dst, provider, "promote", plan), release)


def _promotion_schema(ctx: Context, src_name: str, dst: Environment, source: Release,
                      plan: Plan) -> Any:
    """The schema side of a promote (`cockpit.schema.promotion`): the migrations dst's release
    command will apply, from the source release's recorded head and the head of dst's serving
    release; into the plan's notes and `plan.data["schema"]`. Reads the state store only."""
    from cockpit import schema

    recorded_schema(ctx, ctx.config.env(src_name), source)
    recorded_schema(ctx, dst, plan.previous)
    check = schema.promotion(plan.previous, source, dst.name)
    if check.state != "none":
        plan.notes += check.notes
    plan.data["schema"] = check.to_dict()
    return check


def rollback_target(
    ctx: Context, env_name: str, to: str | None = None
) -> tuple[Release, Release | None]:
    """The release to go back to (default: the newest healthy one before the current)."""
    state = live(ctx, env_name)
    current = state.current
    known = {r.id: r for r in state.releases}
    for r in ctx.store.releases(env_name, limit=100):
        known.setdefault(r.id, r)
    ordered = sorted(known.values(), key=lambda r: (r.created_at, r.id), reverse=True)
    if to:
        matches = [r for r in ordered if r.id == to or r.id.startswith(to)]
        if not matches:
            raise UsageError(f"no release {to!r} in {env_name!r}",
                             hint=f"cockpit releases {env_name}")
        if len(matches) > 1 and not any(r.id == to for r in matches):
            raise UsageError(f"{to!r} matches several releases: "
                             + ", ".join(r.id for r in matches[:5]))
        target = next((r for r in matches if r.id == to), matches[0])
        if current is not None and target.id == current.id:
            raise Refused(f"release {target.id} already serves {env_name!r}")
        if target.status == "failed":  # before any lock: there is nothing of it to go back to
            raise _never_served(ctx, env_name, target, current, ordered, state.releases)
        return target, current
    live_ids = {r.id for r in state.releases}
    for release in ordered:
        if current is not None and (release.id == current.id
                                    or release.created_at > current.created_at):
            continue
        if release.status in ("healthy", "superseded", "rolled_back") and release.id in live_ids:
            return release, current
    raise Refused(f"no earlier healthy release of {env_name!r} is kept on the target",
                  hint=f"cockpit releases {env_name}")


def _never_served(ctx: Context, env_name: str, target: Release, current: Release | None,
                  ordered: list[Release], kept: list[Release]) -> UsageError:
    """The error for `rollback --to` a release whose deploy failed (status "failed"): why it
    never served (its journaled failed step, `meta["failed_step"]`, from the target's record
    or this machine's store) and the releases a rollback can go to (healthy, superseded or
    rolled back, still kept on the target, not the current one), newest first."""
    stored = ctx.store.get_release(env_name, target.id)
    step = target.meta.get("failed_step") or (stored.meta.get("failed_step") if stored else None)
    if step == "release_command":
        why = f"release {target.id} never served: its release command failed, so it was " \
              "never started"
    elif step:
        why = f"release {target.id} failed its deploy at step {step}"
    else:
        why = f"release {target.id} failed its deploy"
    kept_ids = {r.id for r in kept}
    can = [r for r in ordered if r.status in ("healthy", "superseded", "rolled_back")
           and r.id in kept_ids and (current is None or r.id != current.id)]
    if can:
        listed = "; it can roll back to " + ", ".join(f"{r.id} ({r.status})" for r in can[:5])
        hint = f"cockpit rollback {env_name} --to {can[0].id}"
    else:
        listed = "; no release it can roll back to is kept on the target"
        hint = f"cockpit deploy {env_name} (a fix forward); cockpit releases {env_name}"
    return UsageError(why + listed, hint=hint)


def rollback(ctx: Context, env_name: str, emit: Emit, to: str | None = None,
             dry_run: bool | None = None) -> Release:
    env = ctx.config.env(env_name)
    provider = provider_for(ctx, env)
    if not (dry_run or ctx.options.dry_run):
        confirm(ctx, env, "rollback")  # before anything changes, reconcile included
        reconcile(ctx, env_name, emit)
    target, current = rollback_target(ctx, env_name, to)
    changes = target.changes_from(current)
    plan = Plan(env=env.name, action="rollback", release=target, previous=current, changes=changes,
                steps=[Step("rollback", f"serve release {target.id} again through the gate",
                            destructive=True)])
    plan.notes += [f"{k}: {a} → {b}" for k, (a, b) in changes.items()]
    from cockpit import schema

    check = schema_check(ctx, env, target, current)
    if check.state != "none" or schema.detect(getattr(env, "release_command", None)):
        plan.notes += check.notes  # (nothing to say for an app without migrations)
    plan.data["schema"] = check.to_dict()
    _show(plan, emit)
    if dry_run or ctx.options.dry_run:
        return target
    if check.refuse and not getattr(ctx.options, "accept_schema", False):
        raise Refused(schema.refusal(check, env.name, target.id),
                      hint="pass --accept-schema to roll back onto this schema anyway (or "
                           "deploy a fix forward)")
    confirm(ctx, env, "rollback")

    def body(journal: Emit) -> Release:
        # a rollback never undoes migrations: the database keeps the head it has now
        target.meta = schema.after_rollback(current, target)
        result = provider.rollback(env, target, journal)
        result.meta = {**{k: v for k, v in result.meta.items() if k not in schema.META_KEYS},
                       **{k: target.meta[k] for k in schema.META_KEYS if k in target.meta}}
        if current is not None:
            current.status = "rolled_back"
            ctx.store.save_release(current)
        from cockpit.watch import after_switch

        return after_switch(ctx, env, provider, result, current, journal, command="rollback")

    return _execute(ctx, env, "rollback", plan, emit, body, target)


# --------------------------------------------------------------------------- reconcile


def _alive(pid: int | None) -> bool:
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reconcile_run(ctx: Context, env: Environment, runs, emit: Emit, only: str | None = None
                   ) -> list[str]:
    if runs:
        refuse_read_only(ctx, env.name, "reconcile")
    provider = provider_for(ctx, env)
    said = []
    for run in runs:
        if only and run.run_id != only:
            continue
        if only is None and _alive(run.pid) and run.who == whoami():
            continue  # still running in another process on this machine
        with deploy_lock(ctx, env, "reconcile", emit) as held:  # others' runs are left alone
            account = provider.reconcile(env, run.steps, emit)
        if held is not None and held.took_over:
            account = f"{held.took_over}; {account}"
        text = f"interrupted {run.command} ({run.run_id}, started by {run.who}): {account}"
        emit(Message(text, level="warning", env=env.name))
        ctx.store.finish_run(run.run_id, "reconciled")
        ctx.store.audit("reconcile", env.name, "ok", text)
        said.append(text)
    return said


def reconcile(ctx: Context, env_name: str, emit: Emit) -> list[str]:
    """Finish or undo what an interrupted run left behind, and say which."""
    env = ctx.config.env(env_name)
    runs = ctx.store.unfinished_runs(env.name)
    if not runs:
        return []
    if env.protected:
        commands = ", ".join(f"{r.command} ({r.run_id})" for r in runs)
        try:
            confirm(ctx, env, "reconcile")
        except Refused as exc:
            raise Refused(f"{env.name!r} has interrupted runs to finish or undo first: {commands}; "
                          f"{exc.message}", hint=exc.hint) from None
    return _reconcile_run(ctx, env, runs, emit)
