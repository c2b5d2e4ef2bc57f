"""A thin layer over the official `kubernetes` client: raw JSON in and out, errors as values.

Every call goes through the generated typed API methods (so the real client and its transport are
exercised), with `_preload_content=False` so we read plain dicts: the same code works across the
client's generator change (python-legacy models → pydantic models) and never depends on model
attribute names. API errors become `ProviderError`s that name the call, the namespace and what to
do. Imported lazily: `kubernetes` costs ~0.5 s to import.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from cockpit.errors import ProviderError

TIMEOUT = (5, 30)  # (connect, read) seconds for ordinary calls
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


RETRIES = 4  # retries of an idempotent call on 5xx or an unreachable server
RATE_RETRIES = 8  # 429 answers any call waits out
RETRY_STATUS = (500, 502, 503, 504)
BACKOFF_FIRST = 0.2  # seconds, doubling per retry up to BACKOFF_CAP
BACKOFF_CAP = 3.0
RETRY_AFTER_CAP = 30.0


def backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1-based): 0.2, 0.4, 0.8, ... capped at 3 s."""
    return min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (attempt - 1))


def retry_after(headers: Any, n: int) -> float:
    """Seconds to wait after a 429: its Retry-After in whole seconds (what the API server
    sends, k8s.io/apiserver's priority and fairness), capped at 30 s; else the backoff for
    the `n`th try."""
    value = ""
    if headers is not None:
        try:
            value = str(headers.get("Retry-After") or headers.get("retry-after") or "").strip()
        except AttributeError:
            value = ""
    try:
        return max(0.0, min(RETRY_AFTER_CAP, float(value)))
    except ValueError:
        return backoff(n)


def _idempotent(fn: Any, kwargs: dict[str, Any]) -> bool:
    """Reads, lists and server-side apply may be sent again; create, delete and other patches
    are not retried on 5xx (they may have taken effect)."""
    name = getattr(fn, "__name__", "")
    if name.startswith(("read_", "list_", "get_", "connect_get_")):
        return True
    return name.startswith("patch_") and kwargs.get("_content_type") == APPLY


class ApiFailure(ProviderError):
    """A refused or failed API call; `status` is the HTTP status (0 when unreachable)."""

    def __init__(self, what: str, *, status: int = 0, reason: str = "", where: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(what, where=where, hint=hint)
        self.status = status
        self.reason = reason


def credential_commands(path: str | Path) -> list[str]:
    """The commands a kubeconfig runs to get credentials: each user's `exec.command` (client-go
    credential plugins, kubernetes.io/docs/reference/access-authn-authz/authentication/
    #client-go-credential-plugins) and legacy `auth-provider.config.cmd-path`. [] when the file
    cannot be read as YAML (loading it reports that)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return []
    out = []
    for entry in data.get("users") or [] if isinstance(data, dict) else []:
        user = (entry or {}).get("user") or {}
        if not isinstance(user, dict):
            continue
        exe = user.get("exec") or {}
        if isinstance(exe, dict) and exe.get("command"):
            out.append(" ".join([str(exe["command"]), *map(str, exe.get("args") or [])]))
        cmd = ((user.get("auth-provider") or {}).get("config") or {}).get("cmd-path")
        if cmd:
            out.append(str(cmd))
    return out


def check_repo_kubeconfig(path: str | None, root: Path | None,
                          ask: Any = None) -> None:
    """Refuse a kubeconfig that lies inside the app's folder (a cloned repository can ship one)
    and runs commands for credentials, unless the user approved this exact file: interactively
    (`ask(question) -> bool`), or with COCKPIT_TRUST_KUBECONFIG=sha256:<hex of the file>.
    A kubeconfig outside the folder (~/.kube, $KUBECONFIG) is the user's own and is not asked
    about. Raises ProviderError naming the file and the commands."""
    import hashlib

    if not path or root is None:
        return
    file = Path(path).expanduser().resolve()
    try:
        file.relative_to(Path(root).resolve())
    except ValueError:
        return
    commands = credential_commands(file)
    if not commands:
        return
    digest = "sha256:" + hashlib.sha256(file.read_bytes()).hexdigest()
    trusted = {t.strip() for t in os.environ.get("COCKPIT_TRUST_KUBECONFIG", "").split(",")}
    if digest in trusted:
        return
    shown = "; ".join(c[:120] for c in commands[:3])
    if ask is not None and ask(f"{file} is inside the app's folder and runs `{shown}` to get "
                               "cluster credentials. Run it?"):
        return
    raise ProviderError(
        f"the kubeconfig {file} is inside the app's folder and runs `{shown}` to get "
        "credentials; cockpit does not run commands from a repository's files without asking",
        where=str(file),
        hint=f"if you trust it, set COCKPIT_TRUST_KUBECONFIG={digest} (or answer the prompt in a "
             "terminal); else point `kubeconfig` at your own file outside the app folder")


class Kube:
    def __init__(self, kubeconfig: str | None, context: str | None, *, root: Path | None = None,
                 namespace: str = "default") -> None:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        path = kubeconfig
        if path and root is not None and not Path(path).expanduser().is_absolute():
            path = str(root / path)  # relative to cockpit.toml
        if path:
            path = str(Path(path).expanduser())
        else:  # $KUBECONFIG read now: the client reads it once, when it is imported
            path = os.environ.get("KUBECONFIG") or None
        cfg = client.Configuration()
        try:
            config.load_kube_config(config_file=path, context=context, client_configuration=cfg,
                                    persist_config=False)
        except (ConfigException, OSError, TypeError, ValueError) as exc:
            raise ProviderError(
                f"cannot load kubeconfig {path or '(default: $KUBECONFIG or ~/.kube/config)'}"
                f"{f' context {context!r}' if context else ''}: {exc}",
                hint="set `kubeconfig` and `context` in the environment's table of cockpit.toml",
            ) from None
        from urllib3.util.retry import Retry

        # an unreachable cluster should fail in seconds, not minutes; status answers (429, 5xx)
        # come back to `call`, which retries them knowingly (urllib3 would turn an exhausted
        # 429 into a connection error)
        cfg.retries = Retry(total=1, respect_retry_after_header=False, raise_on_status=False)
        self.sleep = time.sleep  # between retries (`call`); tests may replace it
        self.where = f"{context or 'current-context'}/{namespace}"
        self.namespace = namespace
        self.host = cfg.host
        self.api = client.ApiClient(cfg)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.net = client.NetworkingV1Api(self.api)
        self.coord = client.CoordinationV1Api(self.api)
        self.authz = client.AuthorizationV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.version_api = client.VersionApi(self.api)

    def close(self) -> None:
        try:
            self.api.close()
        except Exception:  # closing a pool never matters enough to fail a command
            pass

    # ------------------------------------------------------------------ calling

    def call(self, what: str, fn: Any, *args: Any, retry: bool | None = None,
             raw: bool = False, **kwargs: Any) -> Any:
        """Call a generated API method; return the decoded JSON body (or raw text; always the
        text with `raw`, e.g. a pod's log, which may itself be one JSON line).

        A 429 (API priority and fairness, or a proxy) is waited out by its Retry-After, up to
        `RATE_RETRIES` times, on any call: the server did not process it. 5xx answers and
        unreachable-server errors are retried with capped exponential backoff (`backoff`),
        `RETRIES` times, only on idempotent calls: reads, lists, server-side apply (`retry`
        None: judged from the method's name and content type; False: one try, e.g. a health
        sample). Raises ApiFailure naming the call, the status and the tries."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", TIMEOUT)
        idempotent = _idempotent(fn, kwargs) if retry is None else retry
        attempt = limited = 0
        while True:
            attempt += 1
            try:
                resp = fn(*args, _preload_content=False, **kwargs)
                data = resp.data
                break
            except ApiException as exc:
                status = int(getattr(exc, "status", 0) or 0)
                if status == 429 and retry is not False and limited < RATE_RETRIES:
                    limited += 1
                    attempt -= 1
                    self.sleep(retry_after(getattr(exc, "headers", None), limited))
                    continue
                if status in RETRY_STATUS and idempotent and attempt <= RETRIES:
                    self.sleep(backoff(attempt))
                    continue
                failure = self._failure(what, exc)
                if status == 429:
                    failure.what += (f" (rate limited {limited + 1} times, honouring "
                                     "Retry-After)")
                elif status in RETRY_STATUS:
                    failure.what += (f" (after {attempt} tries)" if idempotent
                                     else " (not retried: the call may have taken effect)")
                failure.args = (failure.message,)
                raise failure from None
            except HTTPError as exc:
                if idempotent and attempt <= RETRIES:
                    self.sleep(backoff(attempt))
                    continue
                raise ApiFailure(f"{what}: the Kubernetes API at {self.host} is unreachable "
                                 f"({type(exc).__name__})", where=self.where,
                                 hint="check the kubeconfig context and that the cluster is up") \
                    from None
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        if raw:
            return text if isinstance(text, str) else ""
        try:
            return json.loads(text) if text else {}
        except ValueError:
            return text

    def _failure(self, what: str, exc: Any) -> ApiFailure:
        status = int(getattr(exc, "status", 0) or 0)
        message, reason = str(getattr(exc, "reason", "") or ""), ""
        body = getattr(exc, "body", None)
        if body:
            try:
                parsed = json.loads(body)
                message = parsed.get("message") or message
                reason = parsed.get("reason") or ""
            except (ValueError, AttributeError):
                pass
        hint = None
        if status == 403:
            hint = ("the kubeconfig user lacks this right; ask a cluster admin for a Role "
                    "binding in the namespace (see `cockpit preflight`)")
        elif status == 401:
            hint = "the kubeconfig credentials were refused; refresh them"
        return ApiFailure(f"{what}: {status} {message}".strip(), status=status, reason=reason,
                          where=self.where, hint=hint)

    def get(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """Like call, but a 404 is None."""
        try:
            return self.call(what, fn, *args, **kwargs)
        except ApiFailure as exc:
            if exc.status == 404:
                return None
            raise

    def apply(self, obj: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
        """Server-side apply with field manager `cockpit`, forcing ownership of our fields.
        `strict`: fieldValidation=Strict, so the API server refuses (400) a field it does not
        know instead of dropping it with a warning (Kubernetes API docs, "Field validation")."""
        kind, name = obj["kind"], obj["metadata"]["name"]
        ns = obj["metadata"].get("namespace", self.namespace)
        fns = {
            "Namespace": (self.core.patch_namespace, (name,)),
            "Secret": (self.core.patch_namespaced_secret, (name, ns)),
            "Service": (self.core.patch_namespaced_service, (name, ns)),
            "Deployment": (self.apps.patch_namespaced_deployment, (name, ns)),
            "Ingress": (self.net.patch_namespaced_ingress, (name, ns)),
            "StatefulSet": (self.apps.patch_namespaced_stateful_set, (name, ns)),
        }
        fn, args = fns[kind]
        extra = {"field_validation": "Strict"} if strict else {}
        return self.call(f"apply {kind.lower()} {name}", fn, *args, obj,
                         field_manager="cockpit", force=True, _content_type=APPLY, **extra)

    def version(self) -> dict[str, Any]:
        return self.call("read server version", self.version_api.get_code)

    def namespace_exists(self) -> bool:
        """True when the namespace exists, or when we may not look (a namespace-scoped user
        cannot read the cluster-scoped Namespace object; its rights inside are what count)."""
        try:
            return self.get("read namespace", self.core.read_namespace,
                            self.namespace) is not None
        except ApiFailure as exc:
            if exc.status == 403:
                return True
            raise

    def deployment(self, name: str) -> dict[str, Any] | None:
        return self.get(f"read deployment {name}", self.apps.read_namespaced_deployment, name,
                        self.namespace)

    def replicasets(self, selector: str) -> list[dict[str, Any]]:
        return self.call("list replicasets", self.apps.list_namespaced_replica_set,
                         self.namespace, label_selector=selector)["items"]

    def pods(self, selector: str) -> list[dict[str, Any]]:
        return self.call("list pods", self.core.list_namespaced_pod, self.namespace,
                         label_selector=selector)["items"]

    def events(self) -> list[dict[str, Any]]:
        return self.call("list events", self.core.list_namespaced_event, self.namespace)["items"]

    def pod_log(self, name: str, *, tail: int | None = None, previous: bool = False,
                container: str = "app") -> str:
        kwargs: dict[str, Any] = {"container": container}
        if tail is not None:
            kwargs["tail_lines"] = tail
        if previous:
            kwargs["previous"] = True
        return self.call(f"read log of pod {name}", self.core.read_namespaced_pod_log, name,
                         self.namespace, raw=True, **kwargs)

    def can(self, verb: str, group: str, resource: str, subresource: str | None = None,
            namespace: str | None = None) -> tuple[bool, str]:
        attrs: dict[str, Any] = {"verb": verb, "group": group, "resource": resource}
        if namespace:
            attrs["namespace"] = namespace
        if subresource:
            attrs["subresource"] = subresource
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs}}
        out = self.call("SelfSubjectAccessReview", self.authz.create_self_subject_access_review,
                        body)
        status = out.get("status") or {}
        return bool(status.get("allowed")), status.get("reason") or ""
