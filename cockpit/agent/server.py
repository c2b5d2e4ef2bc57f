"""`cockpit mcp`: the MCP server (official Python SDK, `mcp` 2.x `MCPServer`).

Imported only by `cockpit mcp` and the tests: the SDK costs ~0.7 s to import and never reaches
the CLI's or the TUI's start-up (tests/core/test_imports.py).

Every tool is typed (a pydantic output model, so clients get an outputSchema and
structuredContent) and annotated (`readOnlyHint`, `destructiveHint`, `idempotentHint`); every
call goes through `cockpit.agent.tools.Session.call` (secrets registered, output redacted, call
audited with the client's name). There is no tool that approves a plan, runs a shell command,
reads a path the caller names, or returns a secret value, token or credential file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context as MCPContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from cockpit import __version__
from cockpit.agent import tools
from cockpit.agent.tools import Session, ToolRefused

INSTRUCTIONS = """\
Cockpit deploys this app (its cockpit.toml) to staging and prod and keeps it live.
Read first: status, releases, logs, scan, secrets_list, explain_failure.
To change anything: make a plan (plan_deploy, plan_promote, plan_rollback), read its steps and
changes, then apply(plan_id). A plan runs once, only while live state still matches it, and
before it expires. A plan on a protected environment (prod) runs only after a person approves it
in a terminal with `cockpit approve PLAN_ID`: ask them to, then check approval_status. No tool
can approve, and no argument replaces the approval. A rollback plan onto another schema head
(needs_schema_acceptance; its schema check lists the migrations in between) runs on any
environment only after a person approves it with `cockpit approve PLAN_ID --accept-schema`: no
tool can accept a schema. Secret values are never shown (••••).
"""

READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True,
                       openWorldHint=False)
PLAN = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=False,
                       openWorldHint=False)
APPLY = ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=True,
                        openWorldHint=False)


# --------------------------------------------------------------------------- output models


class ReleaseOut(BaseModel):
    id: str
    image: str
    digest: str
    status: str
    created_at: float
    created_by: str
    promoted_from: str | None = None
    source_rev: str | None = None
    config_hash: str
    secrets_digest: str


class InstanceOut(BaseModel):
    name: str
    state: str
    health: str
    serving: bool
    restarts: int
    release_id: str | None = None


class LockOut(BaseModel):
    holder: str
    command: str
    expires_at: float


class EnvStatusOut(BaseModel):
    env: str
    provider: str
    protected: bool
    url: str | None = None
    release: ReleaseOut | None = None
    health: str = Field(description="healthy | unhealthy | unknown (serving instances)")
    instances: list[InstanceOut]
    lock: LockOut | None = None
    drift: list[str]
    error: str | None = Field(default=None, description="why the target could not be read")


class StatusOut(BaseModel):
    environments: list[EnvStatusOut]


class ReleasesOut(BaseModel):
    env: str
    current: str | None = None
    releases: list[ReleaseOut]


class LogLineOut(BaseModel):
    source: str
    line: str


class LogsOut(BaseModel):
    env: str
    lines: list[LogLineOut]
    limit: int = Field(description=f"lines asked for, clamped to 1..{tools.MAX_LOG_LINES}")
    truncated: bool = Field(description="more lines were read than returned")


class FindingOut(BaseModel):
    id: str
    severity: str
    message: str
    where: str | None = None
    fix: str | None = None
    fixable: bool = False


class ScanOut(BaseModel):
    root: str
    stack: str
    framework: str | None = None
    port: int | None = None
    health_path: str | None = None
    findings: list[FindingOut]


class StepOut(BaseModel):
    id: str
    title: str
    destructive: bool
    detail: str = ""


class SchemaCheckOut(BaseModel):
    state: str = Field(description="same | differs | unknown | none (cockpit.schema)")
    notes: list[str]
    newer: list[str] = Field(description="migrations the database has that the target's code "
                             "does not know")
    older: list[str] = Field(description="migrations the target had that the serving one has "
                             "not")


class PlanOut(BaseModel):
    plan_id: str
    env: str
    action: str = Field(description="deploy | promote | rollback")
    args: dict[str, str | None]
    steps: list[StepOut]
    destructive: bool
    changes: dict[str, list[str | None]] = Field(
        description="field -> [live value, planned value]")
    notes: list[str]
    release: dict[str, Any]
    fingerprint: str = Field(description="live state the plan was made against")
    plan_hash: str
    created_at: float
    expires_at: float
    created_by: str
    client: str | None = None
    protected: bool
    needs_approval: bool = Field(description="a person must run `cockpit approve PLAN_ID`")
    schema_: SchemaCheckOut | None = Field(
        default=None, alias="schema", serialization_alias="schema",
        description="a rollback's schema check (other actions: none)")
    needs_schema_acceptance: bool = Field(
        default=False, description="a rollback onto another schema head: a person must run "
        "`cockpit approve PLAN_ID --accept-schema`; no tool can accept it")
    status: str
    outcome: str = ""


class ApplyOut(BaseModel):
    plan_id: str
    env: str
    action: str
    status: str
    release: ReleaseOut | None = None
    events: list[str]


class RunOut(BaseModel):
    run_id: str
    command: str
    started_at: float
    who: str
    status: str


class JournalStepOut(BaseModel):
    step: str
    status: str
    detail: str


class AuditOut(BaseModel):
    ts: float
    command: str
    result: str
    detail: str


class ExplainOut(BaseModel):
    env: str
    run: RunOut | None = None
    failed_step: str | None = None
    error: str | None = None
    steps: list[JournalStepOut]
    audit: list[AuditOut]
    last_log_lines: list[LogLineOut]


class SecretOut(BaseModel):
    name: str
    set: bool
    digest: str | None = None


class SecretsOut(BaseModel):
    env: str
    secrets: list[SecretOut]


class ApprovalOut(BaseModel):
    plan_id: str
    env: str
    action: str
    status: str
    expires_at: float
    expired: bool
    needs_approval: bool
    needs_schema_acceptance: bool = False
    approved: bool
    schema_accepted: bool = Field(default=False, description="the approval accepted the "
                                  "rollback's schema (`cockpit approve --accept-schema`)")
    approved_by: str | None = None
    approved_at: float | None = None
    approval_expires_at: float | None = None
    approval_used: bool
    ready: bool = Field(description="apply would pass the approval rule now")


# --------------------------------------------------------------------------- server


def client_name(mcp_ctx: MCPContext | None) -> str:
    """"name version" of the connected client from its initialize/discover info, else
    "unknown client"."""
    try:
        params = mcp_ctx.session.client_params  # type: ignore[union-attr]
        info = params.client_info if params else None
    except Exception:
        info = None
    if info is None:
        return "unknown client"
    return f"{info.name} {info.version}".strip()[:100]


def _jsonable(value: Any) -> Any:
    return sorted(value) if isinstance(value, set | frozenset) else str(value)


def build(session: Session) -> MCPServer:
    """The MCP server for one app's Session (tools and the config and audit resources)."""
    server = MCPServer("cockpit", version=__version__, instructions=INSTRUCTIONS,
                       title="Cockpit deployments")

    def run(tool: str, args: dict[str, Any], fn, mcp_ctx: MCPContext | None,  # noqa: ANN001
            model: type[BaseModel]) -> Any:
        try:
            return model(**session.call(tool, args, fn, client=client_name(mcp_ctx)))
        except ToolRefused as exc:
            raise ToolError(f"{exc.kind}: {exc.text}") from None

    @server.tool(annotations=READ)
    def status(mcp_ctx: MCPContext, env: str | None = None) -> StatusOut:
        """Every environment (or one): serving release, health, URL, instances, lock, drift.
        Read from the targets now."""
        return run("status", {"env": env}, lambda c: tools.status(c, env), mcp_ctx, StatusOut)

    @server.tool(annotations=READ)
    def releases(mcp_ctx: MCPContext, env: str) -> ReleasesOut:
        """Release history of an environment, newest first (ids for plan_rollback's `to`)."""
        return run("releases", {"env": env}, lambda c: tools.releases(c, env), mcp_ctx,
                   ReleasesOut)

    @server.tool(annotations=READ)
    def logs(mcp_ctx: MCPContext, env: str,
             lines: int = tools.DEFAULT_LOG_LINES) -> LogsOut:
        """The newest application log lines of an environment (every instance), at most
        `lines` (clamped to 1..500); secret values are masked as ••••."""
        return run("logs", {"env": env, "lines": lines}, lambda c: tools.logs(c, env, lines),
                   mcp_ctx, LogsOut)

    @server.tool(annotations=READ)
    def scan(mcp_ctx: MCPContext) -> ScanOut:
        """Scan the app's folder for what breaks a first deploy (stable ids, file:line, fix).
        Reads only this app's folder; changes nothing."""
        return run("scan", {}, tools.scan, mcp_ctx, ScanOut)

    @server.tool(annotations=PLAN)
    def plan_deploy(mcp_ctx: MCPContext, env: str, image: str | None = None) -> PlanOut:
        """Plan a deploy of the app to `env` (the image is built at apply, or `image`, a pinned
        reference such as registry/app@sha256:...). Changes nothing; returns plan_id, steps with
        destructive flags, what changes, the live-state fingerprint and expires_at."""
        return run("plan_deploy", {"env": env, "image": image},
                   lambda c: tools.plan(c, "deploy", env, image=image,
                                        client=client_name(mcp_ctx)), mcp_ctx, PlanOut)

    @server.tool(annotations=PLAN)
    def plan_promote(mcp_ctx: MCPContext, src: str, dst: str) -> PlanOut:
        """Plan promoting the exact image `src` serves (same digest, healthy only) to `dst` with
        dst's config and secrets. Changes nothing; returns a plan_id for apply."""
        return run("plan_promote", {"src": src, "dst": dst},
                   lambda c: tools.plan(c, "promote", dst, src=src,
                                        client=client_name(mcp_ctx)), mcp_ctx, PlanOut)

    @server.tool(annotations=PLAN)
    def plan_rollback(mcp_ctx: MCPContext, env: str, to: str | None = None) -> PlanOut:
        """Plan serving an earlier release of `env` again (`to`: a release id or prefix; default
        the previous healthy one). Changes nothing; returns a plan_id for apply."""
        return run("plan_rollback", {"env": env, "to": to},
                   lambda c: tools.plan(c, "rollback", env, to=to,
                                        client=client_name(mcp_ctx)), mcp_ctx, PlanOut)

    @server.tool(annotations=APPLY)
    def apply(mcp_ctx: MCPContext, plan_id: str) -> ApplyOut:
        """Run a saved plan, at most once: refused when it expired, ran already, live state
        changed since it was made (plan again), the session is read-only, or it is for a
        protected environment and a person has not approved it with `cockpit approve PLAN_ID`,
        or it rolls back onto another schema head and a person has not approved it with
        `cockpit approve PLAN_ID --accept-schema`. Takes nothing but the plan_id."""
        return run("apply", {"plan_id": plan_id},
                   lambda c: tools.apply(c, plan_id, client=client_name(mcp_ctx)), mcp_ctx,
                   ApplyOut)

    @server.tool(annotations=READ)
    def explain_failure(mcp_ctx: MCPContext, env: str) -> ExplainOut:
        """The last failed run of `env`: the step that failed, its error and gate samples from
        the journal, and the app's last log lines (secrets masked)."""
        return run("explain_failure", {"env": env}, lambda c: tools.explain_failure(c, env),
                   mcp_ctx, ExplainOut)

    @server.tool(annotations=READ)
    def secrets_list(mcp_ctx: MCPContext, env: str) -> SecretsOut:
        """Secret names of `env`: set or missing and a keyed digest. Never a value."""
        return run("secrets_list", {"env": env}, lambda c: tools.secrets_list(c, env), mcp_ctx,
                   SecretsOut)

    @server.tool(annotations=READ)
    def approval_status(mcp_ctx: MCPContext, plan_id: str) -> ApprovalOut:
        """Whether a plan needs a person's approval, has it, and is ready to apply."""
        return run("approval_status", {"plan_id": plan_id},
                   lambda c: tools.approval_status(c, plan_id), mcp_ctx, ApprovalOut)

    @server.resource("cockpit://config", name="config", mime_type="application/json",
                     description="The resolved cockpit.toml (secret names only).")
    def config_resource() -> str:
        import json

        return json.dumps(session.call("resource:config", {}, tools.config_view), indent=1,
                          default=_jsonable)

    @server.resource("cockpit://audit", name="audit", mime_type="application/json",
                     description="The newest 100 audit entries (who, client, command, result).")
    def audit_resource() -> str:
        import json

        return json.dumps(session.call("resource:audit", {}, tools.audit_view), indent=1,
                          default=_jsonable)

    return server


def serve(config_path: Path | None, *, read_only: bool = False,
          http: tuple[str, int] | None = None, token: str | None = None) -> None:
    """Run until the client goes away (stdio) or the process is stopped (HTTP)."""
    session = Session(config_path, read_only=read_only)
    server = build(session)
    try:
        if http is None:
            server.run("stdio")
        else:
            from cockpit.agent.http import run_http

            run_http(server, http[0], http[1], token or "")
    finally:
        session.close()
