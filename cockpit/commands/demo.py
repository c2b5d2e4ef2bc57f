"""`cockpit demo`: the whole last mile on examples/hello-app, against the local lab.

Brings the lab up (a real Docker engine, sshd "VPS", Caddy, HAProxy, Pebble, keyring), copies the
example app to a work folder, writes its cockpit.toml for the lab, stores a generated SECRET_KEY in
the keyring, prepares both environments, then opens the cockpit there. Without a terminal (or with
`--headless`) it runs the same flow as plain commands: deploy staging, promote to prod, status.
"""

from __future__ import annotations

import argparse
import os
import secrets as pysecrets
import shutil
import sys
from pathlib import Path

from cockpit.commands._common import common, renderer
from cockpit.errors import UsageError

REPO = Path(__file__).resolve().parents[2]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", parents=[common()], help="the cockpit on the example app, "
                       "against the local lab", description=__doc__)
    p.add_argument("--app", default=str(REPO / "examples" / "hello-app"),
                   help="the app to deploy (default: examples/hello-app)")
    p.add_argument("--dir", default=None, help="work folder (default: in cockpit's state dir)")
    p.add_argument("--headless", action="store_true",
                   help="run the flow as plain commands instead of opening the TUI")
    p.set_defaults(func=run)


def prepare(app: Path, workdir: Path, out) -> Path:
    """Lab up, app copied, cockpit.toml written for the lab, secrets present. Returns the toml."""
    from cockpit import lab
    from cockpit.commands.init import lab_values, render
    from cockpit.config import load, loads, write_atomic
    from cockpit.secrets import SecretStore

    if not (app / "Dockerfile").is_file():
        raise UsageError(f"{app} has no Dockerfile", hint="pass --app with a deployable app")
    out.text("bringing up the lab (first run builds the offline base image) ...")
    labenv = lab.up()
    os.environ.update(labenv.as_env())
    import keyring.core

    keyring.core.init_backend()

    workdir.mkdir(parents=True, exist_ok=True)
    for item in app.iterdir():
        if item.name in ("cockpit.toml", "cockpit.toml.bak") or item.name.startswith(".git"):
            continue
        target = workdir / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
    toml = workdir / "cockpit.toml"
    if not toml.exists():
        lab_vals = lab_values()
        vps = {k: lab_vals[k] for k in ("host", "user", "ssh_port")}
        text = render("hello", "vps", 8000, "/up", ["SECRET_KEY"], vps, lab_vals)
        loads(text, toml)
        write_atomic(toml, text)
        out.text(f"wrote {toml} for the lab")
    cfg = load(toml)
    store = SecretStore(cfg.app.name)
    for env in cfg.environments.values():
        for name in env.secret_names:
            if store.get(env, name) is None:
                store.set(env, name, pysecrets.token_urlsafe(24))
                out.text(f"{env.name}: generated {name} and stored it in the OS keyring")
    return toml


def run(args: argparse.Namespace) -> int:
    from cockpit.state import state_root

    out = renderer(args)
    app = Path(args.app).resolve()
    workdir = Path(args.dir).resolve() if args.dir else state_root() / "demo" / app.name
    toml = prepare(app, workdir, out)
    trust = os.environ.get("COCKPIT_LAB_SSH_HOSTKEY_SHA256", "")
    if sys.stdout.isatty() and sys.stdin.isatty() and not args.headless and not args.json:
        _setup_all(toml, trust, out)
        from cockpit.screens.app import run as run_tui

        os.chdir(workdir)
        return run_tui(toml)
    return _headless(toml, trust, out)


def _context(toml: Path, trust: str, confirm: str | None = None):
    from cockpit.config import load
    from cockpit.provider import Context, Options
    from cockpit.secrets import SecretStore
    from cockpit.state import Store

    cfg = load(toml)
    return Context(config=cfg, store=Store.open(cfg.app.name), secrets=SecretStore(cfg.app.name),
                   options=Options(yes=True, confirm=confirm,
                                   trust_host=[trust] if trust else []))


def _setup_all(toml: Path, trust: str, out) -> None:
    from cockpit.pipeline import provider_for

    ctx = _context(toml, trust)
    for env in ctx.config.environments.values():
        provider_for(ctx, env).setup(env, out.emit)


def _headless(toml: Path, trust: str, out) -> int:
    from cockpit import pipeline

    _setup_all(toml, trust, out)
    ctx = _context(toml, trust, confirm="prod")
    staging = pipeline.deploy(ctx, "staging", out.emit)
    out.text(f"staging: release {staging.id} is live ({staging.status})")
    prod = pipeline.promote(ctx, "staging", "prod", out.emit)
    out.text(f"prod: release {prod.id} is live, same image {prod.short_digest}")
    for name in ctx.config.environments:
        state = pipeline.live(ctx, name)
        env = ctx.config.env(name)
        port = env.settings.https_port
        tls = f", TLS days left {state.tls.days_left}" if state.tls and state.tls.ok else ""
        out.text(f"  {name}: https://{env.domain}:{port}/ serves release "
                 f"{state.current.id if state.current else '-'}{tls}")
    out.result({"staging": staging.to_dict(), "prod": prod.to_dict()},
               human=f"done. Open the cockpit there: cd {toml.parent} && cockpit")
    return 0
