"""The cockpit.toml template: what `cockpit init`, `cockpit demo` and the wizard write.

One renderer for every caller (the CLI, the TUI wizard, the demo), so a file written by any of them
loads with `cockpit.config.loads` and says the same things. Nothing here writes a file: callers
validate the text with `loads` and write it with `write_atomic`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from cockpit.errors import UsageError
from cockpit.scan.detect import DEFAULT_HEALTH_PATH  # one default for init, generate, demo

SECRETISH = re.compile(r"(SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|PRIVATE|CREDENTIAL|_KEY$)")


def slug(name: str) -> str:
    """`name` as an app name: lower-case letters, digits and dashes, at most 40 characters
    ("My App!" -> "my-app"); "app" when nothing is left."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40].strip("-")
    return slug or "app"


def scan_or_none(root: Path):
    """The scan of `root` (a ScanResult), or None when the scan cannot run."""
    try:
        from cockpit.scan import scan  # the scanner, when present
    except ImportError:
        return None
    try:
        return scan(root)
    except Exception:
        return None


ENVS = (("staging", 8101, "staging"), ("prod", 8201, "prod"))
# plain variables whose value is the environment's own name: allowed hosts, public URLs
# (exact names: DB_HOST or API_BASE_URL name some other service, never this app's domain)
_HOSTS = re.compile(r"^(\w+_)?ALLOWED_HOSTS$|^(SERVER_NAME|DOMAIN|APP_DOMAIN|SITE_DOMAIN|"
                    r"APP_HOST|PUBLIC_HOST|VIRTUAL_HOST)$")
_URLS = re.compile(r"^(\w+_)?(CSRF_)?TRUSTED_ORIGINS$|^(BASE_URL|PUBLIC_URL|SITE_URL|APP_URL|"
                   r"ORIGIN|PUBLIC_BASE_URL|APP_BASE_URL|NEXTAUTH_URL|EXTERNAL_URL)$")
_KNOWN = {"NODE_ENV": "production", "LOG_LEVEL": "info", "RAILS_ENV": "production",
          "APP_ENV": "production", "FLASK_ENV": "production", "ENVIRONMENT": "production"}


def domain_for(name: str, env: str, sub: str, lab: dict | None) -> str:
    """The domain init writes (lab) or suggests (commented) for an environment."""
    return f"{sub}.{name}.test" if lab else f"{sub}.example.com"


def _secretish(var) -> bool:
    return bool(getattr(var, "secret", False) or SECRETISH.search(var.name))


def plain_env_for_scan(result, domains: dict[str, str]) -> tuple[dict[str, str],
                                                                 dict[str, dict[str, str]],
                                                                 list[str]]:
    """Plain configuration for the variables a scan says the app reads: ([app.env],
    {env: [environments.<env>.env]}, names still needing a value).

    Values init knows: allowed hosts / host names = the environment's domain; public URLs =
    `https://<domain>`; NODE_ENV (and every Node app) = production; LOG_LEVEL = info. A
    required variable with no known value is returned in the third list (init writes it as a
    commented line). Secret-like names (SECRETISH, `EnvVar.secret`), build-time variables
    and platform variables (PORT ...) are never plain configuration."""
    from cockpit.scan.detect import is_platform_env

    app_env: dict[str, str] = {}
    per_env: dict[str, dict[str, str]] = {e: {} for e in domains}
    unknown: list[str] = []
    for var in getattr(result, "env_vars", None) or []:
        name = var.name
        if is_platform_env(name) or var.build_time or _secretish(var):
            continue
        if name in (getattr(result, "image_env", None) or {}):
            continue  # the image sets it (e.g. DJANGO_SETTINGS_MODULE)
        if _HOSTS.search(name):
            for env, domain in domains.items():
                per_env[env][name] = domain
        elif _URLS.search(name):
            for env, domain in domains.items():
                per_env[env][name] = f"https://{domain}"
        elif name in _KNOWN:
            app_env[name] = _KNOWN[name]
        elif var.required and name not in unknown:
            unknown.append(name)
    if getattr(result, "stack", None) == "node":
        app_env.setdefault("NODE_ENV", "production")
    return app_env, {e: v for e, v in per_env.items() if v}, unknown


# A connection string (DATABASE_URL, REDIS_URL, SENTRY_DSN ...): secret when set, but no value
# can be generated for it, and one the code defaults (`or "sqlite:///app.db"`) is optional.
CONNECTION_STRING = re.compile(r"(?i)(^|_)(URL|URI|DSN)$")


def is_connection_string(name: str) -> bool:
    """True for names of connection strings: a value names another service (a database, a
    cache, an error tracker) and cannot be a random token."""
    return bool(CONNECTION_STRING.search(name))


def secrets_for_scan(result) -> list[str]:
    """The secret names a scan says the app reads (credential-like names), platform and
    build-time variables left out, and connection strings the code has a default for (the app
    runs without them; a required one stays, for the user to set)."""
    from cockpit.scan.detect import is_platform_env

    names: list[str] = []
    for var in getattr(result, "env_vars", None) or []:
        if is_platform_env(var.name) or var.build_time:
            continue
        if is_connection_string(var.name) and not var.required:
            continue
        if _secretish(var) and var.name not in names:
            names.append(var.name)
    return names


def lab_build_args(dockerfile: Path, lab: dict | None) -> dict[str, str]:
    """`[app] build_args` for the lab: cockpit.lab.images.build_args_for(dockerfile) (the lab
    images standing in for the official ones the Dockerfile's ARGs name); while that module is
    missing, the lab's one base image for an `ARG BASE_IMAGE`. {} without a Dockerfile."""
    if not dockerfile.is_file():
        return {}
    try:
        from cockpit.lab.images import build_args_for
    except ImportError:
        base = (lab or {}).get("base_image")
        text = dockerfile.read_text(encoding="utf-8", errors="replace")
        has_arg = re.search(r"(?m)^\s*ARG\s+BASE_IMAGE\b", text)
        return {"BASE_IMAGE": base} if base and has_arg else {}
    return dict(build_args_for(dockerfile))


def image_workdir(dockerfile: Path, default: str = "/app") -> str:
    """The WORKDIR of a Dockerfile's last stage (where the app's relative paths resolve at run
    time), `default` (the generated Dockerfiles' /app) without a Dockerfile or an absolute
    WORKDIR. Source: the file's own FROM/WORKDIR lines."""
    try:
        text = dockerfile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return default
    workdir = default
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word.upper() == "FROM":
            workdir = default  # a new stage: the base image's WORKDIR is not known here
        elif word.upper() == "WORKDIR" and rest.strip():
            value = rest.strip().strip("\"'")
            if value.startswith("/"):
                workdir = value.rstrip("/") or "/"
            elif "$" not in value:
                workdir = f"{workdir.rstrip('/')}/{value}"
    return workdir


def render_for_scan(name: str, result, provider: str = "vps", vps: dict | None = None,
                    lab: dict | None = None, build_args: dict[str, str] | None = None, *,
                    port: int | None = None, health: str | None = None,
                    secrets: list[str] | None = None,
                    domains: dict[str, str] | None = None,
                    host_ports: dict[str, int] | None = None) -> str:
    """A commented cockpit.toml for an app from its scan (a `cockpit.scan.model.ScanResult`).

    - name: the app name (lowercase a-z0-9-); provider: "vps" | "kubernetes" | "fly";
    - vps: {"host", "user", "ssh_port"} for provider vps (None values: placeholders);
    - lab: `lab_values()` for the local lab (addresses, ACME, DNS), or None;
    - build_args: `[app] build_args`; None with `lab` = `lab_build_args(<root>/Dockerfile)`;
    - port / health / secrets: override the scan's port (else 8000), health path (else /up)
      and secret names (else `secrets_for_scan`);
    - domains: {env: domain} per environment (default: `<env>.<name>.test` with the lab,
      else `<env>.example.com`, written commented out); plain variables such as allowed hosts
      take these values, so pass the domains the environments will really have;
    - host_ports: {env: host_port} (default: 8101 staging, 8201 prod), e.g. the free ones
      `cockpit.providers.vps.ports.reserve_for_init` found on the host.
    Fills `[app] release_command` (ScanResult.release_command), `[app.volumes]` (one per
    ScanResult.data_dirs entry, at `image_workdir(<root>/Dockerfile)`/<dir>), `[app.env]` and
    `[environments.<env>.env]` (`plain_env_for_scan`). Returns TOML text that
    `cockpit.config.loads` accepts; for kubernetes/fly, volumes are left as a comment (they
    need provider vps)."""
    from cockpit.generate import scan_volumes

    root = Path(getattr(result, "root", ".") or ".")
    given_domains = dict(domains or {})
    domains = {env: given_domains.get(env) or domain_for(name, env, sub, lab)
               for env, _, sub in ENVS}
    from cockpit.accessories import KINDS, for_scan, url_scheme_for_scan

    kinds = for_scan(result)
    scheme = url_scheme_for_scan(result) if "postgres" in kinds else None
    if secrets is None:
        secrets = secrets_for_scan(result)
    # an accessory's URL is cockpit's to set, never a secret to type in
    secrets = [s for s in secrets if s not in {KINDS[k].env_var for k in kinds}]
    app_env, env_env, unknown = plain_env_for_scan(result, domains)
    if build_args is None and lab:
        build_args = lab_build_args(root / "Dockerfile", lab)
    return render(
        name, provider, int(port or getattr(result, "port", None) or 8000),
        health or getattr(result, "health_path", None) or DEFAULT_HEALTH_PATH, list(secrets),
        vps, lab,
        release_command=getattr(result, "release_command", None),
        volumes=scan_volumes(result, image_workdir(root / "Dockerfile")), app_env=app_env,
        env_env=env_env, unknown_env=unknown,
        build_args=build_args, domains=given_domains or None, host_ports=host_ports,
        accessories=kinds, url_schemes={"postgres": scheme} if scheme else None,
    )


def render(name: str, provider: str, port: int, health: str, secrets: list[str],
           vps: dict | None = None, lab: dict | None = None, *,
           release_command: str | None = None, volumes: dict[str, str] | None = None,
           app_env: dict[str, str] | None = None,
           env_env: dict[str, dict[str, str]] | None = None,
           unknown_env: list[str] | None = None, build_args: dict[str, str] | None = None,
           domains: dict[str, str] | None = None,
           host_ports: dict[str, int] | None = None,
           accessories: list[str] | None = None,
           url_schemes: dict[str, str] | None = None) -> str:
    """A commented cockpit.toml with a staging and a prod environment (text; not validated).

    The keyword arguments are the scan's answers (see `render_for_scan`): the release command,
    volumes (name -> absolute path), plain configuration for every environment (`app_env`) or
    one (`env_env[env]`), required variables with no known value (commented lines), build
    args (else `BASE_IMAGE` = the lab's base image with `lab`), domains per environment and
    host ports per environment (`host_ports`; default 8101 staging, 8201 prod), the
    accessories' kinds and their URL schemes (`url_schemes`: {kind: scheme}, from
    `cockpit.accessories.url_scheme_for_scan`)."""
    lab = lab or {}
    vps = vps or {}
    q = json.dumps
    secrets = list(secrets)
    app_env = {k: v for k, v in (app_env or {}).items() if k not in secrets}
    env_env = {e: {k: v for k, v in t.items() if k not in secrets}
               for e, t in (env_env or {}).items()}
    domains = domains or {}
    lines = [
        "# cockpit.toml: how this app is built, where it runs, which secrets it needs.",
        "# Secret VALUES never go here: `cockpit secrets set ENV NAME` puts them in the OS "
        "keyring.",
        "",
        "[app]",
        f"name = {q(name)}",
        'context = "."             # build context, relative to this file',
        'dockerfile = "Dockerfile"',
        f"port = {port}               # the port the app listens on inside its container",
        f"health_path = {q(health)}       # must answer 2xx when the app can serve",
    ]
    if release_command:
        lines += ["# run once per deploy and promote, in a one-off container of the new image,",
                  "# before the new release takes traffic (a non-zero exit stops the deploy)",
                  f"release_command = {q(release_command)}"]
    if build_args is None and lab.get("base_image"):
        build_args = {"BASE_IMAGE": lab["base_image"]}
    if build_args:
        lines += ["", "[app.build_args]"]
        lines += [f"{k} = {q(v)}" for k, v in sorted(build_args.items())]
    if app_env or unknown_env:
        lines += ["", "[app.env]  # plain configuration for every environment (never secrets)"]
        lines += [f"{k} = {q(v)}" for k, v in sorted(app_env.items())]
        lines += [f"# {k} = \"\"  # the app reads it without a default: give it a value"
                  for k in unknown_env or [] if k not in app_env and k not in secrets]
    if volumes:
        if provider == "vps":
            lines += ["", "# where the app writes at run time; each environment gets its own",
                      "# docker volume on its host (and runs one instance there)",
                      "[app.volumes]"]
            lines += [f"{k if re.fullmatch(r'[A-Za-z0-9_-]+', k) else q(k)} = {q(v)}"
                      for k, v in sorted(volumes.items())]
        else:
            lines += ["", "# [app.volumes] need provider vps; the app writes to: "
                      + ", ".join(sorted(volumes.values()))]
    lines += _accessory_lines(accessories or [], provider, lab, url_schemes or {})
    envs = ENVS
    for env, host_port, sub in envs:
        host_port = (host_ports or {}).get(env) or host_port
        lines += ["", f"[environments.{env}]", f"provider = {q(provider)}"]
        if env == "prod":
            lines.append("# prod is protected: actions need `--confirm prod` or the typed name")
        if provider == "vps":
            lines += [
                f"host = {q(vps.get('host') or 'your-server.example.com')}",
                f"user = {q(vps.get('user') or 'deploy')}",
                f"ssh_port = {vps.get('ssh_port') or 22}",
                f"host_port = {host_port}           # this environment's loopback port on the host",
            ]
            if lab:
                lines += [
                    f"identity_file = {q(lab['ssh_key'])}",
                    'network = "bridge"         # the app joins its accessories\' network'
                    if accessories else
                    'network = "host"           # lab: containers share the host network',
                ]
                if not accessories:  # only the host network needs it (isolation.py)
                    lines.append("allow_host_network = true  # lab only: prod refuses the host "
                                 "network without it")
                lines += [
                    f"http_port = {lab['http_port']}",
                    f"https_port = {lab['https_port']}",
                    f"dns_resolver = {q(lab['dns'])}",
                ]
                if lab.get("registry"):
                    lines.append(f"registry = {q(lab['registry'])}")
                lines += [
                    f"domain = {q(domains.get(env) or f'{sub}.{name}.test')}",
                    f"acme_ca = {q(lab['acme_ca'])}",
                    f"acme_ca_root = {q(lab['acme_ca_root'])}",
                ]
                if lab.get("acme_issuer_root"):  # the edge gate verifies Pebble's certificates
                    lines.append(f"edge_ca_file = {q(lab['acme_issuer_root'])}")
                admin = str(lab.get("caddy_admin") or "").rpartition(":")[2]
                if admin.isdigit() and admin != "2019":
                    lines.append(f"edge_admin_port = {admin}")
            else:
                lines.append(f"# domain = {q(domains.get(env) or f'{sub}.example.com')}")
        elif provider == "kubernetes":
            lines += [f"namespace = {q(f'{name}-{env}')}",
                      '# kubeconfig = "~/.kube/config"',
                      '# context = "my-cluster"',
                      '# image_repository = "registry.example.com/app"  # the cluster pulls here',
                      f"# domain = \"{sub}.example.com\""]
        elif provider == "fly":
            lines += [f"app = {q(f'{name}-{env}')}", 'org = "personal"', 'regions = ["iad"]',
                      f"# domain = \"{sub}.example.com\""]
        else:  # any other provider: its keys from its settings model's metadata
            from cockpit.provider import settings_lines

            lines += settings_lines(provider, name, env)
        lines += ["replicas = 1", "", f"[environments.{env}.gate]",
                  "count = 3                  # consecutive 2xx answers before traffic switches",
                  "deadline = 60.0            # seconds before the gate gives up"]
        if env_env.get(env):
            lines += ["", f"[environments.{env}.env]  # over [app.env] in {env}"]
            lines += [f"{k} = {q(v)}" for k, v in sorted(env_env[env].items())]
    lines += ["", "[secrets]", "# the names each environment needs"]
    for env, _, _ in envs:
        lines.append(f"{env} = {q(secrets)}")
    return "\n".join(lines) + "\n"


def _accessory_lines(kinds: list[str], provider: str, lab: dict,
                     schemes: dict[str, str] | None = None) -> list[str]:
    """`[accessories.<kind>]` tables for the kinds the scan found (cockpit.accessories.for_scan):
    the official image's default version, or the lab's image and its version, and
    `url_scheme` when `schemes` has one for the kind (on Fly, where the URL is the user's
    secret, a comment saying which scheme it needs)."""
    from cockpit.accessories import KINDS, LAB_IMAGES

    if not kinds:
        return []
    if provider == "vps":
        out = ["", "# Postgres / Redis beside the app: each environment its own container, volume",
               "# and private network; the password is generated into the keyring and the app",
               "# gets the URL (DATABASE_URL / REDIS_URL)"]
    else:
        out = ["", f"# on {provider} accessories are external: store each URL with",
               "# `cockpit secrets set ENV DATABASE_URL` (or REDIS_URL)"]
    for kind in kinds:
        out += [f"[accessories.{kind}]", f'kind = "{kind}"']
        if lab and provider == "vps":
            image, version = LAB_IMAGES[kind]
            out += [f'version = "{version}"', f'image = "{image}"  # lab: built from Debian']
        else:
            out.append(f'version = "{KINDS[kind].version}"')
        scheme = (schemes or {}).get(kind)
        if scheme and provider == "fly":
            out.append(f"# the app's driver needs {KINDS[kind].env_var} to start with {scheme}://")
        elif scheme:
            out.append(f'url_scheme = "{scheme}"  # the driver SQLAlchemy reads from the URL')
    return out


def lab_values() -> dict:
    env = os.environ
    if not env.get("COCKPIT_LAB_SSH_PORT"):
        raise UsageError("--lab needs the lab's variables", hint="eval \"$(scripts/lab env)\"")
    return {
        "host": env.get("COCKPIT_LAB_SSH_HOST", "127.0.0.1"),
        "user": env.get("COCKPIT_LAB_SSH_USER", "deploy"),
        "ssh_port": int(env["COCKPIT_LAB_SSH_PORT"]),
        "ssh_key": env.get("COCKPIT_LAB_SSH_KEY", ""),
        "http_port": int(env.get("COCKPIT_LAB_HTTP_PORT", "8080")),
        "https_port": int(env.get("COCKPIT_LAB_HTTPS_PORT", "8443")),
        "dns": env.get("COCKPIT_LAB_DNS", "127.0.0.1:8053"),
        "registry": env.get("COCKPIT_LAB_REGISTRY", ""),
        "acme_ca": env.get("COCKPIT_LAB_ACME_CA", "https://127.0.0.1:14000/dir"),
        "acme_ca_root": env.get("COCKPIT_LAB_ACME_CA_ROOT", ""),
        "acme_issuer_root": env.get("COCKPIT_LAB_ACME_ISSUER_ROOT", ""),
        "caddy_admin": env.get("COCKPIT_LAB_CADDY_ADMIN", ""),
        "base_image": env.get("COCKPIT_LAB_BASE_IMAGE", ""),
        "hostkey": env.get("COCKPIT_LAB_SSH_HOSTKEY_SHA256", ""),
    }
