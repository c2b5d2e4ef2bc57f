"""`cockpit secrets set|list|unset ENV`: values live only in the OS keyring.

`set` reads the value from a hidden prompt, or from stdin when piped; never from argv.
`list` shows names, set/missing and a short digest, never values.
"""

from __future__ import annotations

import argparse

from cockpit.cli._common import common, load_config, read_secret_value, renderer
from cockpit.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("secrets", help="set, list and unset secrets (OS keyring)",
                       description=__doc__)
    inner = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = inner.add_parser("set", parents=[common()], help="store a value (hidden prompt or stdin)")
    s.add_argument("env")
    s.add_argument("name")
    s.set_defaults(func=run_set)
    ls = inner.add_parser("list", parents=[common()], help="names, set/missing, digest")
    ls.add_argument("env")
    ls.set_defaults(func=run_list)
    u = inner.add_parser("unset", parents=[common()], help="remove a value from the keyring")
    u.add_argument("env")
    u.add_argument("name")
    u.set_defaults(func=run_unset)


def _store(cfg):
    from cockpit.secrets import SecretStore

    return SecretStore(cfg.app.name)


def credential_names(env) -> tuple[str, ...]:
    """Names the environment's provider itself needs (e.g. FLY_API_TOKEN), kept in the keyring."""
    from cockpit.plugins import provider_class

    return tuple(provider_class(env.provider).credential_names)


def run_set(args: argparse.Namespace) -> int:
    out = renderer(args)
    cfg = load_config(args)
    env = cfg.env(args.env)
    if args.name not in env.secret_names and args.name not in credential_names(env):
        raise UsageError(
            f"{args.name!r} is not a secret of environment {env.name!r} "
            f"(declared: {', '.join(env.secret_names) or 'none'})",
            where=f"{cfg.path.name} [secrets] {env.name}",
            hint=f"add \"{args.name}\" to `{env.name} = [...]` under [secrets] first",
        )
    store = _store(cfg)
    store.ensure_writable(env, args.name)  # fail before asking for the value
    value = read_secret_value(args.name)
    store.set(env, args.name, value)
    status = store.status_of(env, args.name)
    out.result(status.to_dict() | {"env": env.name, "service": store.service(env)},
               human=f"{env.name}: {args.name} stored in the keyring (digest {status.digest})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    out = renderer(args)
    cfg = load_config(args)
    env = cfg.env(args.env)
    store = _store(cfg)
    rows = store.status(env)
    creds = [store.status_of(env, name) for name in credential_names(env)]
    lines = [f"{env.name} secrets (keyring service {store.service(env)}):"]
    lines += [f"  {s.name:<24} {'set' if s.is_set else 'MISSING':<8} {s.digest or ''}"
              for s in rows] or ["  (none declared)"]
    lines += [f"  {s.name:<24} {'set' if s.is_set else 'missing':<8} {s.digest or ''}"
              f"  (provider credential)" for s in creds]
    out.result({"env": env.name, "secrets": [s.to_dict() for s in rows],
                "credentials": [s.to_dict() for s in creds]}, human="\n".join(lines))
    return 0 if all(s.is_set for s in rows) else 1


def run_unset(args: argparse.Namespace) -> int:
    out = renderer(args)
    cfg = load_config(args)
    env = cfg.env(args.env)
    removed = _store(cfg).unset(env, args.name)
    out.result({"env": env.name, "name": args.name, "removed": removed},
               human=f"{env.name}: {args.name} " + ("removed" if removed else "was not set"))
    return 0
