"""FlyProvider's setup operations: module functions taking the provider first (the class in
__init__.py delegates to them, the way the VPS provider's class does)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from cockpit.providers.fly.settings import FlySettings

from cockpit.errors import ProviderError, SecretStoreError
from cockpit.events import Emit, StepFinished, StepStarted
from cockpit.models import (
    Finding,
)

if TYPE_CHECKING:

    from cockpit.config import Environment

from cockpit.providers.fly.flow import TOKEN_NAME


def _token(provider, env: Environment) -> str:
    token = None
    secrets = getattr(provider.ctx, "secrets", None)
    if secrets is not None:
        try:
            token = secrets.get(env, TOKEN_NAME)
        except SecretStoreError:
            token = None
    token = token or os.environ.get(TOKEN_NAME)
    if not token:
        raise ProviderError(
            f"no Fly API token for environment {env.name!r}",
            where=f"keyring service cockpit:{env.secret_scope}",
            hint=f"store one with `cockpit secrets set {env.name} {TOKEN_NAME}` "
                 f"(`fly tokens create deploy -a {env.settings.app}`), or export "
                 f"{TOKEN_NAME} in CI",
        )
    from cockpit.redaction import REDACTOR

    REDACTOR.add(token)
    return token


def preflight(provider, env: Environment) -> list[Finding]:
    from cockpit.providers.fly.api import FlyApiError

    s: FlySettings = env.settings
    where = f"environments.{env.name}"
    try:
        api = provider._api(env)
    except ProviderError as exc:
        return [Finding("fly.token", "error", exc.what, where=exc.where, fix=exc.hint)]
    findings: list[Finding] = []
    try:
        app = api.get_app()
    except FlyApiError as exc:
        sev_id = "fly.token" if exc.status == 401 else "fly.api"
        return [Finding(sev_id, "error", exc.what, where=where, fix=exc.hint)]
    findings.append(Finding("fly.token", "info", "the Fly API accepts the token", where))
    if app is not None:
        org = (app.get("organization") or {}).get("slug")
        if org and org != s.org:
            findings.append(Finding(
                "fly.org", "warning", f"app {s.app!r} belongs to org {org!r}, not {s.org!r}",
                where=f"{where}.org", fix=f"set org = \"{org}\""))
        findings.append(Finding("fly.app", "info", f"app {s.app!r} exists", where))
        return findings
    try:
        api.request("GET", "/apps", op="list apps of the org", params={"org_slug": s.org})
    except FlyApiError as exc:
        findings.append(Finding(
            "fly.org", "error", f"app {s.app!r} does not exist and the token cannot use "
            f"org {s.org!r}: {exc.what}", where=f"{where}.org",
            fix="use a token of that org, or fix the org setting"))
        return findings
    findings.append(Finding("fly.app", "info",
                            f"app {s.app!r} does not exist yet; deploy or setup creates it "
                            f"in org {s.org!r}", where))
    return findings


def _ensure_app(provider, env: Environment, emit: Emit) -> bool:
    """Create the app if missing; True when it was created."""
    from cockpit.providers.fly.api import FlyApiError

    api = provider._api(env)
    if api.get_app() is not None:
        return False
    emit(StepStarted(step="app", title=f"create Fly app {env.settings.app}", env=env.name))
    try:
        made = api.request("POST", "/apps", op="create app", idempotent=False,
                           params={"wait": "true"},
                           json={"app_name": env.settings.app, "name": env.settings.app,
                                 "org_slug": env.settings.org})
        # the app's id, so that `cockpit remove` deletes only this app, not one made again
        # under the same name by someone else (teardown.created_key)
        app_id = (made or {}).get("id") if isinstance(made, dict) else None
        app_id = app_id or (api.get_app() or {}).get("id")
        provider._store_set(f"fly:{env.settings.app}:created", app_id or True)
    except FlyApiError as exc:
        if exc.body.get("status") != "name_taken":
            raise
    emit(StepFinished(step="app", detail="created", env=env.name))
    return True


def _ensure_ips(provider, env: Environment, emit: Emit) -> list[dict[str, Any]]:
    api = provider._api(env)
    path = f"/apps/{env.settings.app}/ip_assignments"
    ips = (api.request("GET", path, op="list IPs") or {}).get("ips") or []
    kinds = {("v6" if ":" in i.get("ip", "") else "v4") for i in ips}
    for kind, body_type in (("v4", "shared_v4"), ("v6", "v6")):
        if kind in kinds:
            continue
        emit(StepStarted(step=f"ip:{kind}", title=f"allocate a {body_type} address",
                         env=env.name))
        ip = api.request("POST", path, op=f"allocate {body_type} IP", idempotent=False,
                         json={"type": body_type, "org_slug": env.settings.org})
        ips.append(ip)
        emit(StepFinished(step=f"ip:{kind}", detail=str(ip.get("ip")), env=env.name))
    return ips


def setup(provider, env: Environment, emit: Emit) -> list[Finding]:
    created = provider._ensure_app(env, emit)
    ips = provider._ensure_ips(env, emit)
    return [Finding("fly.app", "info",
                    f"app {env.settings.app!r} " + ("created" if created else "exists")
                    + f"; addresses: {', '.join(i.get('ip', '?') for i in ips)}")]
