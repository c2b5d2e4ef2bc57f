"""Alerts through Apprise: where they go (kept in the OS keyring), what they say, sending them.

An alert URL is an Apprise URL (`json://`, `jsons://`, `mailto://`, `slack://`, `discord://`,
`tgram://`, `ntfys://` and the rest of Apprise's list) and usually carries a token, so it is a
secret: it lives in the OS keyring under the service `cockpit:<secret scope>:alerts`, one item
per alert (user = its id) plus an `index` item listing the ids. What is shown is a *name*
(scheme and host, and the host only when it is a real host name, never a token in the host
place, as in `slack://TokenA/...`) and a keyed digest (`cockpit.secrets.value_digest`).

In the CI mode (`COCKPIT_SECRETS_FROM_ENV`) alert URLs are read from
`COCKPIT_ALERTS_<ENV>` (whitespace-separated) and nothing is stored.

This module imports only the standard library at the top: the watcher container
(`cockpit watch install`) runs it with Apprise and nothing else of cockpit's dependencies.
Apprise itself is imported lazily, when an alert is sent or a URL is checked.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets as _random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cockpit.errors import SecretStoreError, UsageError
from cockpit.redaction import REDACTOR, redact

if TYPE_CHECKING:
    from cockpit.config import Environment
    from cockpit.provider import Context
    from cockpit.secrets import SecretStore

INDEX = "index"
FROM_ENV_PREFIX = "COCKPIT_ALERTS_"

# What an alert is about. Incident kinds open and resolve; the deploy kinds are events.
KINDS = {
    "down": ("failure", "DOWN"),
    "recovered": ("success", "RECOVERED"),
    "tls": ("warning", "TLS certificate expires soon"),
    "tls_ok": ("success", "TLS certificate renewed"),
    "disk": ("warning", "disk almost full"),
    "disk_ok": ("success", "disk space back"),
    "restarts": ("warning", "instances restarting"),
    "restarts_ok": ("success", "no more restarts"),
    "deploy_started": ("info", "deploy started"),
    "deploy_finished": ("success", "deploy finished"),
    "rolled_back": ("failure", "rolled back"),
    "test": ("info", "test alert"),
}


def _next_steps(kind: str, env: str) -> list[str]:
    base = {
        "down": [f"cockpit status {env}", f"cockpit logs {env} --since 15m",
                 f"cockpit rollback {env}"],
        "recovered": [f"cockpit incidents {env}"],
        "tls": [f"cockpit domain {env}"],
        "disk": [f"cockpit status {env}", "docker system df (on the host)"],
        "restarts": [f"cockpit logs {env} --since 1h", f"cockpit status {env}"],
        "deploy_started": [f"cockpit status {env}"],
        "deploy_finished": [f"cockpit status {env}"],
        "rolled_back": [f"cockpit releases {env}", f"cockpit logs {env} --since 15m"],
    }
    return base.get(kind, [])


# --------------------------------------------------------------------------- naming


def describe_url(url: str) -> str:
    """A name for an alert URL that shows none of its secret parts: "scheme://host" when the
    host place holds a real host (a dotted name, an IP, localhost), else "scheme://…" (Slack,
    Discord, Telegram put tokens there). User, password, path and query are never shown."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
    except ValueError:
        return "invalid URL"
    if not re.fullmatch(r"[a-z][a-z0-9+.-]{0,30}", scheme):
        return "invalid URL"
    shown = ""
    if host:
        try:
            ipaddress.ip_address(host)
            shown = host
        except ValueError:
            if host == "localhost" or re.fullmatch(r"([a-z0-9-]{1,63}\.)+[a-z]{2,63}", host):
                shown = host
    if shown and parts.port:
        shown = f"{shown}:{parts.port}"
    return f"{scheme}://{shown or '…'}"


def _register(url: str) -> None:
    """Mask the URL and each of its secret-looking parts in everything cockpit shows."""
    REDACTOR.add(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    for piece in (parts.username, parts.password, parts.hostname if describe_url(url).endswith(
            "…") else None, *parts.path.split("/"), *re.split(r"[&=]", parts.query)):
        if piece and len(piece) >= 8:
            REDACTOR.add(piece)


def check_url(url: str) -> str:
    """The URL stripped; UsageError when it is empty, holds a line break, or Apprise does not
    know its scheme or cannot parse it (the error never echoes the URL)."""
    url = (url or "").strip()
    if not url:
        raise UsageError("no alert URL given (read from stdin or the prompt)")
    if any(c in url for c in "\r\n\0"):
        raise UsageError("an alert URL is one line")
    _register(url)
    import apprise

    _quiet_apprise()
    if apprise.Apprise.instantiate(url) is None:
        raise UsageError(f"Apprise cannot use this URL ({describe_url(url)})",
                         hint="see Apprise's list of services for the URL shape, e.g. "
                              "jsons://hooks.example.com/alert or mailto://user:pass@host")
    return url


def _quiet_apprise() -> None:
    """Apprise logs through `logging` (a failing URL's text can carry its token): never shown."""
    import logging

    log = logging.getLogger("apprise")
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())


# --------------------------------------------------------------------------- keyring store


@dataclass(frozen=True)
class AlertTarget:
    id: str
    name: str
    digest: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "digest": self.digest}


class AlertStore:
    """Alert URLs of each environment in the OS keyring (through `SecretStore`'s backend, so the
    same refusal of plain-file backends applies). Raises SecretStoreError when the keyring is
    unusable, UsageError for an unknown id."""

    def __init__(self, secrets: SecretStore) -> None:
        self.secrets = secrets

    @staticmethod
    def service(env: Environment) -> str:
        return f"cockpit:{env.secret_scope}:alerts"

    @staticmethod
    def env_var(env: Environment) -> str:
        return FROM_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", env.name).upper()

    def _backend(self):
        return self.secrets._keyring()

    def _ids(self, env: Environment) -> list[str]:
        raw = self.secrets._call("read", self._backend().get_password, self.service(env), INDEX)
        try:
            ids = json.loads(raw) if raw else []
        except ValueError:
            ids = []
        return [i for i in ids if isinstance(i, str)]

    def _write_ids(self, env: Environment, ids: list[str]) -> None:
        self.secrets._call("write", self._backend().set_password, self.service(env), INDEX,
                           json.dumps(ids))

    def urls(self, env: Environment) -> dict[str, str]:
        """{id: URL} of every alert of `env` (every URL registered with the redactor)."""
        if self.secrets.from_environment():
            found = os.environ.get(self.env_var(env), "").split()
            out = {f"env{n}": u for n, u in enumerate(found, start=1)}
        else:
            out = {}
            for alert_id in self._ids(env):
                url = self.secrets._call("read", self._backend().get_password,
                                         self.service(env), alert_id)
                if url:
                    out[alert_id] = url
        for url in out.values():
            _register(url)
        return out

    def _target(self, env: Environment, alert_id: str, url: str) -> AlertTarget:
        from cockpit.secrets import value_digest

        try:
            digest = value_digest(self.secrets.digest_key(), env.secret_scope,
                                  f"alert:{alert_id}", url)
        except SecretStoreError:
            if not self.secrets.from_environment():
                raise
            digest = None
        return AlertTarget(alert_id, describe_url(url), digest)

    def list(self, env: Environment) -> list[AlertTarget]:
        return [self._target(env, i, u) for i, u in self.urls(env).items()]

    def ensure_writable(self, env: Environment) -> None:
        """SecretStoreError when nothing can be stored: the CI mode, or no usable keyring."""
        if self.secrets.from_environment():
            raise SecretStoreError(
                "COCKPIT_SECRETS_FROM_ENV is set: alert URLs come from the environment",
                hint=f"set {self.env_var(env)} (space-separated Apprise URLs) in CI's secrets")
        self._backend()

    def add(self, env: Environment, url: str) -> AlertTarget:
        """Store a (checked) URL; returns its target. The same URL twice is stored once."""
        self.ensure_writable(env)
        url = check_url(url)
        for alert_id, known in self.urls(env).items():
            if known == url:
                return self._target(env, alert_id, url)
        alert_id = _random.token_hex(3)
        self.secrets._call("write", self._backend().set_password, self.service(env), alert_id,
                           url)
        self._write_ids(env, [*self._ids(env), alert_id])
        return self._target(env, alert_id, url)

    def remove(self, env: Environment, alert_id: str) -> bool:
        """Delete one alert; False when there is no such id."""
        ids = self._ids(env)
        if alert_id not in ids:
            return False
        from keyring.errors import PasswordDeleteError

        try:
            self._backend().delete_password(self.service(env), alert_id)
        except PasswordDeleteError:
            pass
        except Exception as exc:
            raise SecretStoreError(f"keyring delete failed: {type(exc).__name__}") from None
        self._write_ids(env, [i for i in ids if i != alert_id])
        return True


# --------------------------------------------------------------------------- composing, sending


@dataclass
class Alert:
    """One message: `title` (one line) and `body` (lines: environment, what, since, last
    release, next). `level`: info, success, warning, failure."""

    env: str
    kind: str
    title: str
    body: str
    level: str
    facts: dict[str, Any] = field(default_factory=dict)


def _when(ts: float | None, now: float) -> str:
    if not ts:
        return "-"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
    secs = max(0, int(now - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size or unit == "s":
            return f"{stamp} ({secs // size}{unit} ago)"
    return stamp


def compose(app: str, env: str, kind: str, *, now: float | None = None,
            **facts: Any) -> Alert:
    """The alert for `kind` (a key of KINDS) in `env`. Facts read (all optional): `what` (what
    failed, one line), `since` (epoch s the problem started), `release` and `digest` (the last
    release), `url`, `reminder` (True for the hourly reminder: the title says so),
    `incident` (its id), `next` (commands to run next; default per kind). Every text is
    redacted."""
    now = time.time() if now is None else now
    level, label = KINDS.get(kind, ("info", kind))
    prefix = "still " if facts.get("reminder") else ""
    title = f"[cockpit] {app} · {env}: {prefix}{label}"
    lines = [f"Environment: {env} ({app})"]
    if facts.get("url"):
        lines.append(f"URL: {facts['url']}")
    lines.append(f"What: {facts.get('what') or label}")
    if facts.get("since"):
        lines.append(f"Since: {_when(facts['since'], now)}")
    if facts.get("release"):
        digest = str(facts.get("digest") or "")
        lines.append(f"Last release: {facts['release']}"
                     + (f" ({digest.split(':')[-1][:12]})" if digest else ""))
    else:
        lines.append("Last release: unknown")
    if facts.get("incident"):
        lines.append(f"Incident: #{facts['incident']}")
    steps = facts.get("next")
    steps = list(steps) if steps is not None else _next_steps(kind, env)
    if steps:
        lines.append("Next: " + " ; ".join(steps))
    return Alert(env, kind, redact(title), redact("\n".join(lines)), level,
                 {k: v for k, v in facts.items() if k != "next"})


def send(urls: dict[str, str], alert: Alert, timeout: float = 10.0) -> dict[str, Any]:
    """Send `alert` to each URL ({id: url}) with Apprise, one at a time. Returns
    {"sent": [ids], "failed": [{"id", "name"}]}; never raises for a failed delivery and never
    shows a URL (only its name)."""
    import apprise

    _quiet_apprise()
    types = {"info": apprise.NotifyType.INFO, "success": apprise.NotifyType.SUCCESS,
             "warning": apprise.NotifyType.WARNING, "failure": apprise.NotifyType.FAILURE}
    sent, failed = [], []
    for alert_id, url in urls.items():
        _register(url)
        ok = False
        try:
            job = apprise.Apprise()
            if job.add(url):
                ok = bool(job.notify(title=alert.title, body=alert.body,
                                     notify_type=types.get(alert.level,
                                                           apprise.NotifyType.INFO)))
        except Exception:  # a plugin's own error: the URL failed, others still get theirs
            ok = False
        if ok:
            sent.append(alert_id)
        else:
            failed.append({"id": alert_id, "name": describe_url(url)})
    return {"sent": sent, "failed": failed}


def notify(ctx: Context, env: str, kind: str, **facts: Any) -> dict[str, Any]:
    """Send one alert about `env` to its alert URLs: the hook the pipeline and the watch window
    call (kinds "deploy_started", "deploy_finished", "rolled_back", or any key of KINDS).

    `facts` as for `compose`; `release`/`digest` default to the newest release the state store
    knows. Never raises (a deploy must not fail because an alert could not be sent): returns
    {"sent": [ids], "failed": [...], "error": str|None}; an environment without alert URLs
    returns {"sent": [], "failed": [], "error": None} without importing Apprise. Each alert
    sent is recorded in the audit log (command "alert <kind>", the targets' names only)."""
    result: dict[str, Any] = {"sent": [], "failed": [], "error": None}
    try:
        environment = ctx.config.env(env)
        urls = AlertStore(ctx.secrets).urls(environment)
        if not urls:
            return result
        if "release" not in facts:
            latest = ctx.store.releases(env, limit=1)
            if latest:
                facts["release"] = latest[0].id
                facts.setdefault("digest", latest[0].digest)
        from cockpit.config import env_url

        facts.setdefault("url", env_url(environment))
        alert = compose(ctx.config.app.name, env, kind, now=ctx.now(), **facts)
        result.update(send(urls, alert))
        ctx.store.audit(f"alert {kind}", env, "ok" if not result["failed"] else "failed",
                        f"sent {len(result['sent'])}, failed {len(result['failed'])}")
    except Exception as exc:  # noqa: BLE001 - reported, never raised into the caller
        result["error"] = redact(f"{type(exc).__name__}: {exc}")[:300]
    return result
