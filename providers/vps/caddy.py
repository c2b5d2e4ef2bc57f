"""The edge: Caddy config, one site file per environment, imported by a global Caddyfile.

Caddy terminates TLS (automatic HTTPS with the environment's ACME CA), redirects HTTP to
HTTPS and proxies to the environment's HAProxy port. Its config changes only in setup and
domain (a Caddy reload resets connections under load), never during a deploy.

Every value written comes from cockpit.toml, which refuses control characters already; the
renderers check again and write each value as exactly one Caddyfile token, so a value can never
end its line and start a directive of its own (a newline in `acme_ca` once added an `import`).
"""

from __future__ import annotations

import re

# Plain Caddyfile token: URL, path and email characters ('#' starts a comment). Anything else
# is quoted.
_BARE = re.compile(r"^[A-Za-z0-9._~:/?\[\]@!$&'()*+,;=%-]+$")
# Never written: control characters end a line or the token; braces are Caddy placeholders and
# `{$VAR}` is replaced by Caddy's environment even inside quotes; backticks and backslashes quote
# and escape.
_REFUSED = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029{}`\\]")
_DOMAIN = re.compile(r"^([a-zA-Z0-9-]{1,63}\.)*[a-zA-Z0-9-]{1,63}$")


def token(value: object, what: str) -> str:
    """`value` as one Caddyfile token: bare when it holds only URL/path/email characters, else
    double-quoted (`"` escaped as `\\"`).

    Raises ValueError naming `what` for an empty value or one holding a control character
    (newline, CR, NUL, ...), a brace, a backtick or a backslash: there is no safe way to write
    those, and cockpit.toml's validation refuses them before this is reached.
    """
    text = str(value)
    if not text or _REFUSED.search(text):
        raise ValueError(f"{what}: {text!r} cannot be written to the Caddyfile (control "
                         "characters, braces, backticks and backslashes are refused)")
    if _BARE.match(text):
        return text
    return '"' + text.replace('"', '\\"') + '"'


def _port(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"{what}: expected a port 1-65535, got {value!r}")
    return value


def render_global(
    *, http_port: int, https_port: int, storage: str, sites_dir: str,
    admin_sock: str | None = None, admin_port: int | None = None,
) -> str:
    """The global Caddyfile: the admin API on the unix socket `admin_sock` (Caddy creates it
    0755, so only its own user can connect: no other local user or host-network container can
    rewrite the edge), or, given only `admin_port`, on 127.0.0.1:`admin_port` (the old
    unsupervised edge); the edge's ports, certificate storage under `storage`, and an import of
    every `<sites_dir>/*.caddy`. Raises ValueError for a value that cannot be one Caddyfile
    token (see `token`) and when neither admin address is given."""
    sites = token(f"{sites_dir}/*.caddy", "sites_dir")
    if admin_sock:
        admin = token(f"unix/{admin_sock}", "admin_sock")
    elif admin_port is not None:
        admin = f"127.0.0.1:{_port(admin_port, 'admin_port')}"
    else:
        raise ValueError("admin_sock or admin_port is required")
    return f"""# managed by cockpit: the edge (do not edit by hand)
{{
	admin {admin}
	http_port {_port(http_port, "http_port")}
	https_port {_port(https_port, "https_port")}
	skip_install_trust
	storage file_system {{
		root {token(storage, "storage")}
	}}
}}

import {sites}
"""


def render_site(
    *, key: str, domain: str, upstream_port: int, acme_ca: str | None = None,
    acme_ca_root: str | None = None, acme_email: str | None = None,
) -> str:
    """A site with automatic HTTPS (Caddy adds the HTTP→HTTPS redirect itself), proxying to
    127.0.0.1:`upstream_port`. Raises ValueError for a domain that is not a DNS name or a value
    that cannot be one Caddyfile token (see `token`)."""
    if not _DOMAIN.match(str(domain)):
        raise ValueError(f"domain: {domain!r} is not a DNS name")
    if _REFUSED.search(str(key)):
        raise ValueError(f"key: {key!r} holds a control character")
    lines = [f"# managed by cockpit: environment {key}", f"{domain} {{"]
    tls = [f"\t\tca {token(acme_ca, 'acme_ca')}"] if acme_ca else []
    if acme_ca_root:
        tls.append(f"\t\tca_root {token(acme_ca_root, 'acme_ca_root')}")
    head = f"\ttls {token(acme_email, 'acme_email')}" if acme_email else "\ttls"
    if tls:
        lines += [head + " {", *tls, "\t}"]
    elif acme_email:
        lines.append(head)
    lines += [f"\treverse_proxy 127.0.0.1:{_port(upstream_port, 'upstream_port')}", "}"]
    return "\n".join(lines) + "\n"
