"""Saved plans, applied once, and human approvals: the core of plan-bound apply.

    plan (reads live state, changes nothing) → saved with a plan_id, the live-state fingerprint
    it was made against, its hash and an expiry → [protected environment: a human approves the
    plan's hash out of band, `cockpit approve PLAN_ID` on a terminal] → apply(plan_id): refused
    unless the plan is unexpired, unapplied, approved when it must be, and live state still has
    the fingerprint; then claimed in one database transaction (two applies: one runs) and run
    through the ordinary pipeline (lock, journal, gate, audit).

The rules live here and in `cockpit.pipeline`, not in any tool list: `cockpit apply`, the MCP
server and the TUI all go through `apply`. Nothing here approves on a caller's say-so: `approve`
takes the environment's name as typed by a person, and its callers (the `approve` command on a
TTY, the TUI's approvals screen) are the only ones; the MCP server never calls it.

A rollback plan records its schema check (`data["schema"]`, `pipeline.schema_check`). When it
rolls back onto another schema head, no agent can accept that: the plan needs a human approval
on any environment, protected or not, and only an approval that explicitly accepted the schema
(`cockpit approve PLAN_ID --accept-schema`, bound to `schema_accepted_hash`) lets `apply` pass
`accept_schema` to the pipeline; nothing a caller sets on the context stands in for it.
"""

from __future__ import annotations

import secrets as _random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cockpit.errors import Refused, UsageError
from cockpit.events import Emit, Message, PlanShown
from cockpit.models import Release, stable_hash
from cockpit.state import whoami

if TYPE_CHECKING:
    from cockpit.config import Environment
    from cockpit.provider import Context

PLAN_TTL = 30 * 60.0  # seconds a plan can be applied after it was made
APPROVAL_TTL = 15 * 60.0  # seconds an approval stands (never past the plan's own expiry)
ACTIONS = ("deploy", "promote", "rollback")


@dataclass
class SavedPlan:
    """A plan as saved in the state store (`plans` table). `data` holds `args` (what apply
    passes to the pipeline: image, src, to), `steps` ([{id, title, destructive, detail}]),
    `changes` ({field: [live value, planned value]}), `notes`, `release` (the planned release,
    names and digests only), `protected`, and for a rollback `schema` (the schema check,
    `cockpit.schema.SchemaCheck.to_dict`: state, notes, newer, older). Times are Unix
    seconds."""

    plan_id: str
    env: str
    action: str
    created_at: float
    expires_at: float
    created_by: str
    client: str | None
    fingerprint: str
    plan_hash: str
    data: dict[str, Any]
    status: str = "planned"  # planned | applying | applied | failed
    outcome: str = ""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SavedPlan:
        return cls(**{k: row[k] for k in ("plan_id", "env", "action", "created_at",
                                          "expires_at", "created_by", "client", "fingerprint",
                                          "plan_hash", "data", "status", "outcome")})

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def content_hash(self) -> str:
        """sha256 over what the plan is: id, environment, action, arguments, steps, changes,
        release, fingerprint and expiry (not its status). Approvals are bound to it."""
        return stable_hash({"plan_id": self.plan_id, "env": self.env, "action": self.action,
                            "expires_at": self.expires_at, "fingerprint": self.fingerprint,
                            "data": self.data})

    @property
    def protected(self) -> bool:
        return bool(self.data.get("protected"))

    @property
    def schema_differs(self) -> bool:
        """A rollback onto another schema head: only a human may accept it."""
        return self.action == "rollback" and (self.data.get("schema") or {}).get(
            "state") == "differs"

    @property
    def needs_approval(self) -> bool:
        """A person must approve it: a protected environment, or another schema head."""
        return self.protected or self.schema_differs

    def to_dict(self) -> dict[str, Any]:
        """What callers show: the plan, its steps with destructive flags, what changes, the
        fingerprint, `expires_at` and whether a human approval is needed."""
        d = self.data
        return {"plan_id": self.plan_id, "env": self.env, "action": self.action,
                "args": d.get("args", {}), "steps": d.get("steps", []),
                "destructive": any(s.get("destructive") for s in d.get("steps", [])),
                "changes": d.get("changes", {}), "notes": d.get("notes", []),
                "release": d.get("release", {}), "fingerprint": self.fingerprint,
                "plan_hash": self.plan_hash, "created_at": self.created_at,
                "expires_at": self.expires_at, "created_by": self.created_by,
                "client": self.client, "protected": self.protected,
                "needs_approval": self.needs_approval, "schema": d.get("schema"),
                "needs_schema_acceptance": self.schema_differs, "status": self.status,
                "outcome": self.outcome}


def schema_accepted_hash(plan: SavedPlan) -> str:
    """What an approval that accepted the plan's schema is bound to: sha256 over the plan's
    hash and the acceptance (an approval of the bare plan hash does not accept it)."""
    return stable_hash({"plan_hash": plan.plan_hash, "accept_schema": True})


def _approval_hash(plan: SavedPlan) -> str:
    """The hash the plan's approval must carry for `apply` to run it."""
    return schema_accepted_hash(plan) if plan.schema_differs else plan.plan_hash


# --------------------------------------------------------------------------- fingerprint


def _release_key(release: Release | None) -> dict[str, Any] | None:
    if release is None:
        return None
    return {"id": release.id, "digest": release.digest, "image": release.image,
            "config_hash": release.config_hash, "secrets_digest": release.secrets_digest,
            "status": release.status}


def fingerprint(ctx: Context, action: str, env_name: str, src: str | None = None) -> str:
    """sha256 of what the plan depends on, read now: the target's serving release (id, image,
    digest, config and secrets digests, gate status) and the releases kept there (live state,
    `pipeline.live`), this cockpit.toml's config hash for the environment, the digest of its
    secret values in the keyring, and for a promote the source's serving release. Health samples
    and the lock are left out (they change without anything being deployed). Raises what
    `pipeline.live` raises (ProviderError, SecretStoreError)."""
    from cockpit import pipeline

    env = ctx.config.env(env_name)
    state = pipeline.live(ctx, env_name)
    parts: dict[str, Any] = {
        "env": env.name, "provider": env.provider, "config_hash": env.config_hash,
        "secrets_digest": ctx.secrets.digest(env),
        "current": _release_key(state.current),
        "kept": sorted(r.id for r in state.releases),
    }
    if action == "promote" and src:
        parts["source"] = _release_key(pipeline.live(ctx, src).current)
    if action == "deploy":
        parts["source_rev"] = pipeline.source_rev(ctx.config.root)
    return stable_hash(parts)


# --------------------------------------------------------------------------- make


class _Capture:
    """Passes events on and keeps the plan's steps and notes."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.steps: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def __call__(self, event) -> None:  # noqa: ANN001
        if isinstance(event, PlanShown):
            self.steps = list(event.steps)
        elif isinstance(event, Message):
            self.notes.append(event.text)
        self.emit(event)


def make(ctx: Context, action: str, env_name: str, emit: Emit, *, image: str | None = None,
         src: str | None = None, to: str | None = None, client: str | None = None) -> SavedPlan:
    """Plan `action` on `env_name` (the destination of a promote, with `src` its source; `to` a
    release id or prefix for a rollback; `image` a pinned reference for a deploy, else it is
    built at apply), changing nothing on the target, and save it. Returns the SavedPlan
    (expires PLAN_TTL seconds from now). Raises UsageError (unknown environment or release),
    Refused (nothing to promote or roll back to), ProviderError."""
    from cockpit import pipeline

    if action not in ACTIONS:
        raise UsageError(f"unknown plan action {action!r} (expected one of {', '.join(ACTIONS)})")
    env = ctx.config.env(env_name)
    capture = _Capture(emit)
    if action == "deploy":
        release = pipeline.plan_deploy(ctx, env_name, capture, image=image).release
        args: dict[str, Any] = {"image": image}
    elif action == "promote":
        if not src:
            raise UsageError("a promote plan needs its source environment")
        release = pipeline.promote(ctx, src, env_name, capture, dry_run=True)
        args = {"src": src}
    else:
        release = pipeline.rollback(ctx, env_name, capture, to=to, dry_run=True)
        args = {"to": release.id}
    current = pipeline.live(ctx, env_name).current
    schema_check = (pipeline.schema_check(ctx, env, release, current).to_dict()
                    if action == "rollback" else None)
    changes = {}
    for field in ("image", "digest", "config_hash", "secrets_digest"):
        old = getattr(current, field) if current else None
        new = getattr(release, field)
        if old != new:
            changes[field] = [old, new]
    now = ctx.now()
    saved = SavedPlan(
        plan_id="plan-" + _random.token_hex(6), env=env.name, action=action, created_at=now,
        expires_at=now + PLAN_TTL, created_by=whoami(), client=client,
        fingerprint=fingerprint(ctx, action, env_name, src), plan_hash="",
        data={"args": args, "steps": capture.steps, "changes": changes, "notes": capture.notes,
              "release": {k: v for k, v in release.to_dict().items()
                          if k in ("id", "image", "digest", "config_hash", "secret_names",
                                   "secrets_digest", "promoted_from", "source_rev")},
              "protected": env.protected})
    if schema_check is not None:
        saved.data["schema"] = schema_check
    from cockpit.redaction import redact_any

    saved.data = redact_any(saved.data)
    saved.plan_hash = saved.content_hash()
    ctx.store.save_plan(saved.row())
    ctx.store.audit(f"plan {action}", env.name, "ok", f"plan {saved.plan_id}", client=client)
    return saved


# --------------------------------------------------------------------------- read


def get(ctx: Context, plan_id: str) -> SavedPlan:
    """The saved plan; UsageError (exit 2) when there is none; Refused (exit 5) when its record
    no longer hashes to what was saved (altered after it was made)."""
    row = ctx.store.get_plan(str(plan_id))
    if row is None:
        raise UsageError(f"no plan {plan_id!r}", hint="make one: cockpit plan ENV --json")
    plan = SavedPlan.from_row(row)
    if plan.content_hash() != plan.plan_hash:
        raise Refused(f"plan {plan_id} was altered after it was made; it is not run",
                      hint="plan again")
    return plan


def approval_status(ctx: Context, plan_id: str) -> dict[str, Any]:
    """{plan_id, env, action, status, expires_at, expired, needs_approval,
    needs_schema_acceptance, approved, schema_accepted, approved_by, approved_at,
    approval_expires_at, approval_used, ready}: `approved` is True for an unused, unexpired
    approval of this plan that accepted its schema when it must (`schema_accepted`); `ready`
    when `apply` would pass the approval rule now (fingerprint not checked here)."""
    plan = get(ctx, plan_id)
    now = ctx.now()
    row = ctx.store.approval(plan.plan_id)
    valid = bool(row and row["plan_hash"] == _approval_hash(plan) and row["used_at"] is None
                 and row["expires_at"] > now)
    return {"plan_id": plan.plan_id, "env": plan.env, "action": plan.action,
            "status": plan.status, "expires_at": plan.expires_at,
            "expired": now >= plan.expires_at, "needs_approval": plan.needs_approval,
            "needs_schema_acceptance": plan.schema_differs, "approved": valid,
            "schema_accepted": bool(row and row["plan_hash"] == schema_accepted_hash(plan)),
            "approved_by": row["approved_by"] if row else None,
            "approved_at": row["approved_at"] if row else None,
            "approval_expires_at": row["expires_at"] if row else None,
            "approval_used": bool(row and row["used_at"] is not None),
            "ready": plan.status == "planned" and now < plan.expires_at
            and (valid or not plan.needs_approval)}


def pending(ctx: Context) -> list[SavedPlan]:
    """Unexpired, unapplied plans that need a human's approval (protected environments,
    rollbacks onto another schema head), newest first; an approved one stays listed until it is
    applied."""
    now = ctx.now()
    out = []
    for row in ctx.store.plans(limit=200):
        plan = SavedPlan.from_row(row)
        if plan.needs_approval and plan.status == "planned" and plan.expires_at > now:
            out.append(plan)
    return out


def _short(value: Any) -> str:
    """A digest cut to 12 hex characters ("sha256:0b86cbcfadc1…"); "-" for none."""
    if not value:
        return "-"
    text = str(value)
    head, sep, digest = text.partition("sha256:")
    return f"{head}{sep}{digest[:12]}…" if sep and len(digest) > 12 else text


def describe(plan: SavedPlan, now: float) -> list[str]:
    """The lines a person reads before approving: what, where, who made it, when it expires,
    each step (destructive ones marked), each change, the notes, the fingerprint and hash."""
    d = plan.to_dict()
    left = max(0, int(plan.expires_at - now))
    lines = [f"plan {plan.plan_id}: {plan.action} on {plan.env!r} "
             f"(made by {plan.created_by}{', client ' + plan.client if plan.client else ''}; "
             f"expires in {left // 60}m{left % 60:02d}s)"]
    if d["args"].get("src"):
        lines.append(f"  from {d['args']['src']}")
    for step in d["steps"]:
        mark = "  DESTRUCTIVE" if step.get("destructive") else ""
        lines.append(f"  step {step['id']}: {step['title']}{mark}")
    for field, (old, new) in d["changes"].items():
        lines.append(f"  change {field}: {_short(old)} → {_short(new)}")
    for note in d["notes"]:
        lines.append(f"  note {note}")
    if plan.schema_differs:
        lines.append("  SCHEMA: this rollback is onto another schema head (the migrations in "
                     "between are in the notes above); a rollback undoes no migration. "
                     "Approve it only with --accept-schema")
    lines.append(f"  made against live state {plan.fingerprint[:19]}…; plan hash "
                 f"{plan.plan_hash[:19]}…")
    return lines


# --------------------------------------------------------------------------- approve


def approve(ctx: Context, plan_id: str, typed: str | None, *,
            accept_schema: bool = False) -> dict[str, Any]:
    """A human's approval of a plan that needs one (`SavedPlan.needs_approval`): `typed` is the
    environment's name as the person typed it (the `approve` command on a TTY, the TUI's
    approvals screen); `accept_schema` is the person's explicit acceptance of a rollback onto
    another schema head (`--accept-schema`), required for such a plan and refused for any
    other. Bound to the plan's hash (`schema_accepted_hash` when accepted), single use,
    expiring APPROVAL_TTL seconds from now (never after the plan). Returns approval_status.
    Raises Refused (exit 5) when the name does not match, the schema was not accepted (or
    there is none to accept), the plan expired, ran already or needs no approval; UsageError
    for an unknown plan."""
    plan = get(ctx, plan_id)
    now = ctx.now()
    if not plan.needs_approval:
        raise Refused(f"plan {plan.plan_id} is for {plan.env!r}, which is not protected: it needs "
                      "no approval", hint=f"cockpit apply {plan.plan_id}")
    if plan.schema_differs and not accept_schema:
        ctx.store.audit("approve", plan.env, "refused",
                        f"plan {plan.plan_id}: schema not accepted")
        raise Refused(f"plan {plan.plan_id} rolls back {plan.env!r} onto another schema head "
                      "(the migrations in between are in its notes): approving it needs the "
                      "schema accepted explicitly",
                      hint=f"read the plan, then cockpit approve {plan.plan_id} --accept-schema")
    if accept_schema and not plan.schema_differs:
        raise Refused(f"plan {plan.plan_id} does not roll back onto another schema head: there "
                      "is no schema to accept", hint=f"cockpit approve {plan.plan_id}")
    if plan.status != "planned":
        raise Refused(f"plan {plan.plan_id} was already {plan.status}", hint="plan again")
    if now >= plan.expires_at:
        raise Refused(f"plan {plan.plan_id} expired", hint="plan again")
    if (typed or "").strip() != plan.env:
        ctx.store.audit("approve", plan.env, "refused", f"plan {plan.plan_id}: name mismatch")
        raise Refused(f"approval of plan {plan.plan_id} refused: the typed name does not match "
                      f"{plan.env!r}")
    expires = min(plan.expires_at, now + APPROVAL_TTL)
    ctx.store.approve_plan(plan.plan_id, _approval_hash(plan), whoami(), expires)
    ctx.store.audit("approve", plan.env, "ok",
                    f"plan {plan.plan_id} ({plan.action}) hash {plan.plan_hash[7:19]}"
                    + ("; schema accepted" if plan.schema_differs else ""))
    return approval_status(ctx, plan.plan_id)


# --------------------------------------------------------------------------- apply


def _refuse(ctx: Context, plan: SavedPlan, why: str, hint: str, client: str | None) -> Refused:
    ctx.store.audit("apply", plan.env, "refused", f"plan {plan.plan_id}: {why}", client=client)
    return Refused(f"plan {plan.plan_id} not applied: {why}", hint=hint)


def apply(ctx: Context, plan_id: str, emit: Emit, client: str | None = None) -> Release:
    """Run a saved plan once, under every rule: not in a read-only session, unaltered,
    unexpired, unapplied, approved by a human when its environment is protected or it rolls
    back onto another schema head (then the approval must have accepted the schema: only then
    is `accept_schema` passed to the pipeline, whatever the context said), and made against
    the live state the target has now (the fingerprint); then claimed atomically and
    run through the pipeline (deploy, promote or rollback, with the plan's arguments). Returns
    the resulting release. Raises Refused (exit 5) for a broken rule, GateFailed and
    ProviderError as the pipeline does; the plan is then 'failed' and cannot be retried."""
    from cockpit import pipeline
    from cockpit.errors import CockpitError

    plan = get(ctx, plan_id)
    env: Environment = ctx.config.env(plan.env)
    pipeline.refuse_read_only(ctx, env.name, f"apply of plan {plan.plan_id}")
    if plan.status != "planned":
        raise _refuse(ctx, plan, f"it was already {plan.status}", "plan again", client)
    if ctx.now() >= plan.expires_at:
        raise _refuse(ctx, plan, "it expired", "plan again", client)
    if env.protected and plan.protected is not True:
        raise _refuse(ctx, plan, f"{env.name!r} is protected now", "plan again", client)
    if plan.schema_differs and not approval_status(ctx, plan.plan_id)["approved"]:
        raise _refuse(ctx, plan, "it rolls back onto another schema head and a human has not "
                      "approved it with the schema accepted", f"a person reads the plan and runs "
                      f"`cockpit approve {plan.plan_id} --accept-schema` in a terminal (or "
                      "approves it in the TUI's approvals list), then apply", client)
    if plan.protected and not approval_status(ctx, plan.plan_id)["approved"]:
        raise _refuse(ctx, plan, f"{env.name!r} is protected and a human has not approved "
                      "this plan", f"a person runs `cockpit approve {plan.plan_id}` in a "
                      "terminal (or approves it in the TUI's approvals list), then apply", client)
    args = plan.data.get("args", {})
    if fingerprint(ctx, plan.action, env.name, args.get("src")) != plan.fingerprint:
        raise _refuse(ctx, plan, "live state changed since the plan was made",
                      "plan again and apply the new plan", client)
    reason = ctx.store.claim_plan(plan.plan_id, whoami(), approval_hash=_approval_hash(plan)
                                  if plan.needs_approval else None)
    if reason:
        raise _refuse(ctx, plan, reason, "plan again", client)
    ctx.options.dry_run = False
    # only a human approval that accepted this plan's schema (just consumed) accepts it
    ctx.options.accept_schema = plan.schema_differs
    if env.protected:
        ctx.options.confirm = env.name  # the human approval of this plan stands for the name
    try:
        if plan.action == "deploy":
            release = pipeline.deploy(ctx, env.name, emit, image=args.get("image"))
        elif plan.action == "promote":
            release = pipeline.promote(ctx, args["src"], env.name, emit)
        else:
            release = pipeline.rollback(ctx, env.name, emit, to=args["to"])
    except CockpitError as exc:
        ctx.store.finish_plan(plan.plan_id, "failed", exc.what)
        ctx.store.audit("apply", env.name, "failed", f"plan {plan.plan_id}: {exc.what}",
                        client=client)
        raise
    except BaseException as exc:
        ctx.store.finish_plan(plan.plan_id, "failed", type(exc).__name__)
        raise
    finally:
        ctx.options.confirm = None
        ctx.options.accept_schema = False
    ctx.store.finish_plan(plan.plan_id, "applied", f"release {release.id} {release.status}")
    ctx.store.audit("apply", env.name, "ok", f"plan {plan.plan_id}: release {release.id}",
                    client=client)
    return release
