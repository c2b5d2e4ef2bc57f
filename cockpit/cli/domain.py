"""`cockpit domain ENV [DOMAIN]`: point a domain at the environment and report DNS, the
certificate (read from the live TLS handshake) and the HTTP→HTTPS redirect.

Every run writes to the target (the edge site, the ingress or the certificate request), so a
protected environment (prod) needs `--confirm ENV` before anything, cockpit.toml included
(exit 5 without, saying what would change). A read-only look is `cockpit status ENV`."""

from __future__ import annotations

import argparse

from cockpit.cli._common import common, load_context, renderer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("domain", parents=[common(yes=True, confirm=True, trust=True)],
                       help="set up and check an environment's domain and certificate")
    p.add_argument("env")
    p.add_argument("domain", nargs="?", help="the domain (default: the one in cockpit.toml); "
                   "a new one is written to cockpit.toml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cockpit import config as config_mod
    from cockpit import pipeline
    from cockpit.errors import UsageError

    out = renderer(args)
    ctx = load_context(args)
    env = ctx.config.env(args.env)
    domain = args.domain or env.domain
    if not domain:
        raise UsageError(f"{env.name} has no domain",
                         hint=f"cockpit domain {env.name} app.example.com")
    pipeline.confirm(ctx, env, "domain", pipeline.domain_changes(env, domain))  # before the write
    if domain != env.domain:
        def change(doc) -> None:
            doc["environments"][env.name]["domain"] = domain

        ctx.config = config_mod.edit(ctx.config.path, change)
        env = ctx.config.env(args.env)
    status = pipeline.configure_domain(ctx, env.name, domain, out.emit)
    lines = [f"{domain}: {status.status}"]
    if status.dns:
        dns = status.dns
        lines.append(f"  dns      {'ok' if dns.ok else 'FAIL'} {dns.records or ''}"
                     + (f" ({dns.error})" if dns.error else ""))
    for rec in status.records_to_create:
        lines.append(f"  create   {rec['type']} {rec['name']} → {rec['value']}")
    if status.tls:
        tls = status.tls
        lines.append(f"  tls      {'ok' if tls.ok else 'FAIL'} issuer {tls.issuer or '-'}, "
                     f"names {', '.join(tls.names) or '-'}, days left {tls.days_left}"
                     + (f" ({tls.error})" if tls.error else ""))
    lines.append(f"  redirect http→https: {'yes' if status.redirects_to_https else 'no'}")
    ctx.store.audit("domain", env.name, status.status, domain)
    out.result({"env": env.name, "domain": status.to_dict()}, human="\n".join(lines))
    return 0 if status.status == "issued" else 1
