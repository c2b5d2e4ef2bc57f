"""The edge: Caddy config, one site file per environment, imported by a global Caddyfile.

Caddy terminates TLS (automatic HTTPS with the environment's ACME CA), redirects HTTP to
HTTPS and proxies to the environment's HAProxy port. Its config changes only in setup and
domain (a Caddy reload resets connections under load), never during a deploy.
"""

from __future__ import annotations


def render_global(
    *, admin_port: int, http_port: int, https_port: int, storage: str, sites_dir: str,
) -> str:
    return f"""# managed by cockpit: the edge (do not edit by hand)
{{
	admin 127.0.0.1:{admin_port}
	http_port {http_port}
	https_port {https_port}
	skip_install_trust
	storage file_system {{
		root {storage}
	}}
}}

import {sites_dir}/*.caddy
"""


def render_site(
    *, key: str, domain: str, upstream_port: int, acme_ca: str | None = None,
    acme_ca_root: str | None = None, acme_email: str | None = None,
) -> str:
    """A site with automatic HTTPS (Caddy adds the HTTP→HTTPS redirect itself)."""
    lines = [f"# managed by cockpit: environment {key}", f"{domain} {{"]
    tls = [f"\t\tca {acme_ca}"] if acme_ca else []
    if acme_ca_root:
        tls.append(f"\t\tca_root {acme_ca_root}")
    head = f"\ttls {acme_email}" if acme_email else "\ttls"
    if tls:
        lines += [head + " {", *tls, "\t}"]
    elif acme_email:
        lines.append(head)
    lines += [f"\treverse_proxy 127.0.0.1:{upstream_port}", "}"]
    return "\n".join(lines) + "\n"
