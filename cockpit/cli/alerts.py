"""`cockpit alerts add|list|remove|test ENV`: where an environment's alerts go (Apprise URLs).

`add` reads the URL from a hidden prompt, or from stdin when piped, so its token stays out of
the shell's history; a URL on the command line is accepted only with `--url-from-argv` (and
then it is in the history). URLs live in the OS keyring; `list` shows each one's id, a name
(scheme and host, never a token) and a digest.
"""

from __future__ import annotations

import argparse
import sys

from cockpit.cli._common import common, load_config, renderer
from cockpit.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alerts", help="alert destinations (Apprise URLs, kept in the keyring)",
                       description=__doc__)
    inner = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = inner.add_parser("add", parents=[common()],
                         help="add an alert URL (hidden prompt or stdin)")
    a.add_argument("env")
    a.add_argument("url", nargs="?", help=argparse.SUPPRESS)
    a.add_argument("--url-from-argv", action="store_true",
                   help="accept the URL as an argument (it then lands in the shell history)")
    a.set_defaults(func=run_add)
    ls = inner.add_parser("list", parents=[common()], help="ids, names and digests")
    ls.add_argument("env")
    ls.set_defaults(func=run_list)
    r = inner.add_parser("remove", parents=[common()], help="remove one alert URL")
    r.add_argument("env")
    r.add_argument("id")
    r.set_defaults(func=run_remove)
    t = inner.add_parser("test", parents=[common()], help="send a test alert to every URL")
    t.add_argument("env")
    t.set_defaults(func=run_test)


def _store(cfg):
    from cockpit.alerts import AlertStore
    from cockpit.secrets import SecretStore

    return AlertStore(SecretStore(cfg.app.name))


def read_url() -> str:
    """The URL from a hidden prompt on a terminal, or the first line of stdin when piped."""
    import getpass

    if sys.stdin.isatty():
        return getpass.getpass("Apprise URL (input hidden): ")
    return sys.stdin.readline().strip()


def run_add(args: argparse.Namespace) -> int:
    out = renderer(args)
    cfg = load_config(args)
    env = cfg.env(args.env)
    if args.url and not args.url_from_argv:
        raise UsageError(
            "an alert URL carries a token: it is read from stdin or a hidden prompt, not argv",
            hint=f"cockpit alerts add {env.name}   (then paste it), or "
                 f"`printf '%s\\n' \"$URL\" | cockpit alerts add {env.name}`; "
                 "--url-from-argv accepts it anyway")
    store = _store(cfg)
    store.ensure_writable(env)  # fail before the URL is typed
    url = args.url if args.url else read_url()
    target = store.add(env, url)
    out.result(target.to_dict() | {"env": env.name, "service": store.service(env)},
               human=f"{env.name}: alert {target.id} added ({target.name}, digest "
                     f"{target.digest}); try it: cockpit alerts test {env.name}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    out = renderer(args)
    cfg = load_config(args)
    env = cfg.env(args.env)
    targets = _store(cfg).list(env)
    lines = [f"{env.name} alerts:"] + ([f"  {t.id:<8} {t.name:<40} {t.digest or ''}"
                                        for t in targets] or
                                       [f"  (none; add one: cockpit alerts add {env.name})"])
    out.result({"env": env.name, "alerts": [t.to_dict() for t in targets]},
               human="\n".join(lines))
    return 0


def run_remove(args: argparse.Namespace) -> int:
    out = renderer(args)
    cfg = load_config(args)
    env = cfg.env(args.env)
    removed = _store(cfg).remove(env, args.id)
    if not removed:
        raise UsageError(f"{env.name} has no alert {args.id!r}",
                         hint=f"cockpit alerts list {env.name}")
    out.result({"env": env.name, "id": args.id, "removed": True},
               human=f"{env.name}: alert {args.id} removed")
    return 0


def run_test(args: argparse.Namespace) -> int:
    from cockpit import alerts

    out = renderer(args)
    cfg = load_config(args)
    env = cfg.env(args.env)
    store = _store(cfg)
    urls = store.urls(env)
    if not urls:
        raise UsageError(f"{env.name} has no alert URL", hint=f"cockpit alerts add {env.name}")
    from cockpit.config import env_url

    alert = alerts.compose(cfg.app.name, env.name, "test", url=env_url(env),
                           what="a test alert from `cockpit alerts test`: delivery works")
    result = alerts.send(urls, alert)
    names = {t.id: t.name for t in store.list(env)}
    lines = [f"  {i:<8} {names.get(i, '')}: sent" for i in result["sent"]]
    lines += [f"  {f['id']:<8} {f['name']}: FAILED" for f in result["failed"]]
    out.result({"env": env.name, **result}, human=f"{env.name} test alert:\n" + "\n".join(lines))
    return 0 if not result["failed"] else 1
