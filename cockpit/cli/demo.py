"""`cockpit demo [--app PATH] [--dir WORK]`: any app directory, from its folder to prod on the
local lab, in one command.

Stages, each named in an error together with what to do:
  copy      the app is copied to WORK (default: in cockpit's state dir); the app's own folder
            is only read, never written
  lab       the lab comes up (a real Docker engine, sshd "VPS", Caddy, HAProxy, Pebble, keyring)
  scan      what stack this is, how it starts, what blocks a first deploy
  fix       the safe fixes, the same as `cockpit scan --fix --yes` (in WORK only)
  generate  what is missing: Dockerfile, .dockerignore (`cockpit generate`)
  config    a lab cockpit.toml named after the app, with its own host ports and domains, and
            the accessories the scan finds the app needs (Postgres, Redis: one per
            environment, on its private network, the URL in DATABASE_URL / REDIS_URL)
  secrets   a generated value for each secret the app needs, into the OS keyring
  setup     both environments prepared (edge, switch, directories)
  deploy    staging built, gated and switched
  promote   the same image promoted to prod
Afterwards the ordinary commands work in WORK (`cd WORK && cockpit deploy prod --confirm prod`).
Without a terminal (or with `--headless`/`--json`) the whole flow runs as plain commands; on a
terminal the cockpit opens once both environments are set up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets as pysecrets
import shutil
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cockpit.changes import drop_backups, fix_plan, missing_artifacts, write_changes
from cockpit.cli._common import common, renderer
from cockpit.errors import CockpitError, ProviderError, UsageError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_APP = REPO / "examples" / "hello-app"
MARKER = ".cockpit-demo.json"  # marks a work folder the demo made (and may refresh)
ENVS = ("staging", "prod")
# Never copied into the work folder: version control, local environments, caches, the app's
# own cockpit config (the demo writes a lab one).
IGNORED = (".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache",
           ".pytest_cache", ".ruff_cache", ".tox", "cockpit.toml", "cockpit.toml.bak", MARKER)
# Lab host ports: each environment takes host_port, +1 and +2 (its two slots).
PORT_RANGE = (9100, 9900)
GENERIC_NAMES = {"app", "src", "web", "code", "project", "repo", "main", "api", "site", "server",
                 "work", "demo", "tmp"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", parents=[common()], help="take an app to prod on the local lab "
                       "(default: examples/hello-app)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--app", default=str(DEFAULT_APP),
                   help="the app's directory (default: examples/hello-app); only read")
    p.add_argument("--dir", default=None,
                   help="work folder (default: <state dir>/demo/<app>); empty, new, or an "
                        "earlier demo's")
    p.add_argument("--headless", action="store_true",
                   help="run the flow as plain commands instead of opening the TUI")
    p.set_defaults(func=run)


# ----------------------------------------------------------------------------- stages


STAGE_HINTS = {
    "copy": "pass --app with an app directory and --dir with a new or empty folder",
    "lab": "see `scripts/lab status`; `scripts/lab up` brings it up",
    "scan": "run `cockpit scan {work}` to see what the scanner reads",
    "fix": "run `cockpit scan {work} --fix` to see the proposed changes",
    "generate": "run `cockpit generate dockerfile --dir {work}` to see what it writes",
    "config": "run `cockpit config check` in {work}",
    "secrets": "is the lab's keyring up? `eval \"$(scripts/lab env)\"` then "
               "`cockpit secrets list staging` in {work}",
    "setup": "run `cockpit setup staging` in {work} for the details",
    "deploy": "run `cockpit deploy staging` in {work}; `cockpit logs staging` shows the app",
    "promote": "run `cockpit promote staging prod --confirm prod` in {work}",
}


@contextmanager
def stage(name: str, work: Path | None = None) -> Iterator[None]:
    """Name the stage in any error raised inside: `demo <stage>: <what>`, the error's own hint
    first, then what to do at this stage. CockpitErrors keep their class (so their exit code:
    2 bad input, 1 failed, 3 gate, 4 locked, 5 refused); anything else becomes a ProviderError
    (exit 1) for the lab, a UsageError (exit 2) for file-system problems in copy."""
    hint = STAGE_HINTS[name].format(work=work or "the work folder")
    try:
        yield
    except CockpitError as exc:
        exc.what = f"demo {name}: {exc.what}"
        exc.hint = f"{exc.hint}; {hint}" if exc.hint else hint
        exc.args = (exc.message,)
        raise
    except OSError as exc:
        cls = UsageError if name == "copy" else ProviderError
        raise cls(f"demo {name}: {exc}", hint=hint) from exc
    except Exception as exc:
        if type(exc).__name__ == "LabError":
            raise ProviderError(f"demo {name}: {exc}", hint=hint) from exc
        raise


# ----------------------------------------------------------------------------- copy


def app_name(app: Path) -> str:
    """The lab app name: a slug of the folder name (a-z, 0-9, '-', at most 40 characters), or
    of the package name (pyproject.toml [project] name, package.json name, go.mod module) when
    the folder's name is a generic one like `app` or `src`. examples/hello-app keeps the name
    `hello` it always had in the demo (its keyring item and state)."""
    from cockpit.template import slug

    if app.resolve() == DEFAULT_APP.resolve():
        return "hello"
    folder = slug(app.resolve().name)
    if folder not in GENERIC_NAMES:
        return folder
    package = _package_name(app)
    return slug(package) if package else folder


def taken_on_lab(name: str) -> bool:
    """True when the lab VPS has containers labelled `cockpit.app=<name>` or an app folder
    `~deploy/.cockpit/apps/<name>`: another app deployed there under this name."""
    import pwd
    import subprocess

    from cockpit.lab import vps

    try:
        ids = subprocess.run(["docker", "ps", "--all", "--quiet", "--filter",
                              f"label=cockpit.app={name}"], capture_output=True, text=True,
                             timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        ids = []
    try:
        folder = Path(pwd.getpwnam(vps.USER).pw_dir) / ".cockpit" / "apps" / name
        exists = folder.exists()
    except (KeyError, OSError):
        exists = False
    return bool(ids) or exists


def unique_name(name: str, previous: str | None) -> str:
    """`name`, unless another app already runs on the lab under it: then `<name>-2`, `-3` ...
    (at most 40 characters). A work folder's earlier demo (`previous`, the app name of its
    cockpit.toml) keeps its name, so a re-run updates the same app."""
    if name == previous or not taken_on_lab(name):
        return name
    for n in range(2, 100):
        candidate = f"{name[:40 - len(str(n)) - 1].rstrip('-')}-{n}"
        if candidate == previous or not taken_on_lab(candidate):
            return candidate
    raise UsageError(f"the lab already runs apps named {name} and {name}-2 ... {name}-99",
                     hint="remove old demo apps' containers on the lab")


def _package_name(app: Path) -> str | None:
    import tomllib

    try:
        data = tomllib.loads((app / "pyproject.toml").read_text(encoding="utf-8"))
        name = (data.get("project") or {}).get("name") or \
            ((data.get("tool") or {}).get("poetry") or {}).get("name")
        if name:
            return str(name)
    except (OSError, ValueError):
        pass
    try:
        name = json.loads((app / "package.json").read_text(encoding="utf-8")).get("name")
        if isinstance(name, str) and name:
            return name.rsplit("/", 1)[-1]
    except (OSError, ValueError, AttributeError):
        pass
    try:
        text = (app / "go.mod").read_text(encoding="utf-8")
        if m := re.search(r"^module\s+(\S+)", text, re.M):
            return m.group(1).rstrip("/").rsplit("/", 1)[-1]
    except OSError:
        pass
    return None


def copy_app(app: Path, work: Path) -> dict[str, Any]:
    """Copy `app` into `work` (never writing under `app`): symlinks stay links, IGNORED names
    are left out. `work` must be new, empty, or a folder an earlier demo made (MARKER): that one
    is emptied first except its cockpit.toml, whose ports and domains are kept. Returns the
    earlier cockpit.toml's text (or None) under "previous_toml".

    Raises UsageError when `app` is not a directory, when one folder holds the other, or when
    `work` holds files the demo did not put there."""
    if not app.is_dir():
        raise UsageError(f"{app} is not a directory", hint="pass --app with the app's folder")
    if work == app or app in work.parents or work in app.parents:
        raise UsageError(f"the work folder {work} and the app {app} overlap",
                         hint="pick a --dir outside the app (the app's folder is never written)")
    previous = None
    if work.exists():
        if not work.is_dir():
            raise UsageError(f"{work} is a file", hint="pick a --dir that is a folder")
        entries = list(work.iterdir())
        if entries and not (work / MARKER).is_file():
            raise UsageError(f"{work} is not empty and no earlier demo made it",
                             hint="pick a new or empty --dir")
        toml = work / "cockpit.toml"
        previous = toml.read_text(encoding="utf-8") if toml.is_file() else None
        for item in entries:
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()
    work.mkdir(parents=True, exist_ok=True)
    shutil.copytree(app, work, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(*IGNORED))
    (work / MARKER).write_text(json.dumps({"source": str(app)}) + "\n", encoding="utf-8")
    return {"previous_toml": previous}


# ----------------------------------------------------------------------------- config


def _listening_ports() -> set[int]:
    """TCP ports something listens on here (/proc/net/tcp and tcp6, state 0A)."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A":
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


def _switch_ports(exclude_keys: set[str]) -> tuple[set[int], dict[str, int]]:
    """Ports in the lab VPS's switch configs (`~deploy/.cockpit/switch/envs/<app>-<env>.cfg`,
    the frontend bind and both slots of every app set up there, running or not), and the bind
    port of each key in `exclude_keys` (kept out of the first set)."""
    import pwd

    from cockpit.lab import vps

    used: set[int] = set()
    own: dict[str, int] = {}
    try:
        folder = Path(pwd.getpwnam(vps.USER).pw_dir) / ".cockpit" / "switch" / "envs"
        files = sorted(folder.glob("*.cfg"))
    except (KeyError, OSError):
        return used, own
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", text)]
        if path.stem in exclude_keys:
            if m := re.search(r"bind 127\.0\.0\.1:(\d+)", text):
                own[path.stem] = int(m.group(1))
        else:
            used.update(ports)
    return used, own


def _docker_ports(app: str | None = None) -> set[int]:
    """Host ports published by any container (`docker ps`) but `app`'s own (label
    `cockpit.app`: its releases publish the ports it owns), never its environment."""
    import subprocess

    try:
        out = subprocess.run(["docker", "ps", "--all", "--format",
                              '{{.Label "cockpit.app"}}\t{{.Ports}}'],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    ports: set[int] = set()
    for line in out.splitlines():
        owner, _, published = line.partition("\t")
        if app is None or owner != app:
            ports.update(int(p) for p in re.findall(r":(\d+)->", published))
    return ports


def _registry_ports(app: str) -> tuple[dict[str, int], set[int]]:
    """From the lab host's port registry (`~deploy/.cockpit/ports.json`,
    cockpit.providers.vps.ports): `app`'s own claims in force (env -> host_port) and the
    ports other apps' claims hold. Read without its lock: the file is only ever replaced
    whole. Nothing when there is no registry (yet) or it cannot be read."""
    import pwd

    from cockpit.lab import vps
    from cockpit.providers.vps import ports as registry

    try:
        home = Path(pwd.getpwnam(vps.USER).pw_dir) / ".cockpit"
        data = registry.parse_registry((home / registry.REGISTRY).read_text(encoding="utf-8"))
        apps = {f"{d.parent.name}/{d.name}" for d in (home / "apps").glob("*/*") if d.is_dir()}
    except (KeyError, OSError, ProviderError):
        return {}, set()
    facts = registry.Facts(apps=apps)
    return registry.claimed(data, app, facts), registry.taken_ports(data, facts, app)


def _other_demo_ports(work: Path) -> set[int]:
    """host_port (+1, +2) of the other demo work folders' cockpit.toml (set up or not yet)."""
    import tomllib

    from cockpit.state import state_root

    used: set[int] = set()
    for toml in (state_root() / "demo").glob("*/cockpit.toml"):
        if toml.parent.resolve() == work.resolve():
            continue
        try:
            data = tomllib.loads(toml.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for table in (data.get("environments") or {}).values():
            port = table.get("host_port") if isinstance(table, dict) else None
            if isinstance(port, int):
                used.update((port, port + 1, port + 2))
    return used


def _previous_name(text: str | None) -> str | None:
    import tomllib

    try:
        return str(tomllib.loads(text or "").get("app", {}).get("name") or "") or None
    except ValueError:
        return None


def _previous_settings(text: str | None) -> dict[str, dict[str, Any]]:
    import tomllib

    if not text:
        return {}
    try:
        data = tomllib.loads(text)
    except ValueError:
        return {}
    out = {}
    for env, table in (data.get("environments") or {}).items():
        if isinstance(table, dict):
            out[env] = {k: table[k] for k in ("host_port", "domain") if k in table}
    return out


def choose_host_ports(name: str, work: Path, keep: dict[str, int] | None = None
                      ) -> dict[str, int]:
    """A host_port per environment of ENVS on the lab VPS such that host_port, +1 and +2 are
    free: nothing listens there, no other app's switch config (running or not) or claim in
    the host's port registry names them, no other app's container publishes them, no other
    demo folder's cockpit.toml claims them. An environment this app already has on the lab
    (its claim in the port registry, its switch config, or `keep` from the work folder's
    earlier cockpit.toml) gets its port back: a re-run keeps its ports and its config hash.
    The search starts at a place derived from the app name (crc32) in PORT_RANGE and steps
    by 3. Raises UsageError when the range is full."""
    from cockpit.lab._proc import port_bindable

    keys = {f"{name}-{env}" for env in ENVS}
    used, own = _switch_ports(keys)
    claims, claimed_by_others = _registry_ports(name)
    used |= _docker_ports(name) | _other_demo_ports(work) | claimed_by_others
    listening = _listening_ports()
    chosen: dict[str, int] = {}
    for env in ENVS:
        mine = claims.get(env) or own.get(f"{name}-{env}") or (keep or {}).get(env)
        if mine and not ({mine, mine + 1, mine + 2} & used):
            chosen[env] = mine
            used.update((mine, mine + 1, mine + 2))
    lo, hi = PORT_RANGE
    slots = (hi - lo) // 3
    start = zlib.crc32(name.encode()) % slots
    for env in ENVS:
        if env in chosen:
            continue
        for i in range(slots):
            port = lo + ((start + i) % slots) * 3
            trio = {port, port + 1, port + 2}
            if trio & used or trio & listening:
                continue
            if not all(port_bindable(p) for p in trio):
                continue
            chosen[env] = port
            used |= trio
            break
        else:
            raise UsageError(f"no free host ports left in {lo}-{hi} on the lab",
                             hint="remove old demo apps' containers, or pass a --dir whose "
                                  "cockpit.toml sets host_port")
    return chosen


def domains_for(name: str) -> dict[str, str]:
    """`<env>.<app>.lab.test` per environment: the lab's DNS (pebble-challtestsrv) answers
    127.0.0.1 for every name, so Pebble validates them on the lab's edge
    (cockpit/lab/acme.py)."""
    return {env: f"{env}.{name}.lab.test" for env in ENVS}


def secret_names(result: Any) -> list[str]:
    """The secrets the app reads: `cockpit init`'s choice (cockpit.cli.init
    .secrets_for_scan: credential-like names by the scanner's judgement or by name; platform
    and build-time variables never)."""
    from cockpit.template import secrets_for_scan

    return list(secrets_for_scan(result))


def lab_toml(name: str, work: Path, result: Any, secrets: list[str], lab_vals: dict[str, Any],
             ports: dict[str, int], domains: dict[str, str]) -> str:
    """The lab cockpit.toml text, through init's renderer (`render_for_scan`: release command,
    volumes, plain configuration from the scan) with this app's secrets, domains and
    `[app] build_args` = cockpit.lab.images.build_args_for(WORK/Dockerfile) (the lab images
    standing in for the official ones the Dockerfile names), then this app's host ports.
    Validated before it is returned (ConfigError names line and key)."""
    import tomlkit

    from cockpit.config import loads
    from cockpit.template import lab_build_args, render_for_scan

    vps = {k: lab_vals[k] for k in ("host", "user", "ssh_port")}
    text = render_for_scan(name, result, "vps", vps, lab_vals,
                           build_args=lab_build_args(work / "Dockerfile", lab_vals),
                           secrets=secrets, domains=domains)
    doc = tomlkit.parse(text)
    for env in ENVS:
        table = doc["environments"][env]
        table["host_port"] = ports[env]
        if table.get("domain") != domains[env]:
            table["domain"] = domains[env]
    text = tomlkit.dumps(doc)
    loads(text, work / "cockpit.toml")
    return text


# ----------------------------------------------------------------------------- the flow


def prepare(app: Path, work: Path, out) -> tuple[Path, dict[str, Any]]:
    """Stages copy → secrets: returns (WORK/cockpit.toml, a report dict with app, dir, fixed,
    generated, secrets) for the result object. Raises CockpitError naming the stage."""
    report: dict[str, Any] = {"app": None, "source": str(app), "dir": str(work)}
    with stage("copy", work):
        copied = copy_app(app, work)
        out.text(f"copied {app} to {work} (the app's own folder is only read)")
    with stage("lab", work):
        from cockpit import lab

        out.text("bringing up the lab (the first run builds its images) ...")
        labenv = lab.up()
        os.environ.update(labenv.as_env())
        import keyring.core

        keyring.core.init_backend()
    with stage("scan", work):
        from cockpit.scan import scan

        result = scan(work)
        errors = sum(1 for f in result.findings if f.severity == "error")
        out.text(f"scan: {result.stack}" + (f" / {result.framework}" if result.framework else "")
                 + f", {len(result.findings)} finding(s), {errors} error(s)")
    with stage("fix", work):
        plan = fix_plan(work, result)
        applied = write_changes(work, plan.changes) if not plan.empty else None
        if applied is not None:
            drop_backups(work, applied.backups)
            for item in plan.fixed:
                out.text(f"fixed: {item}")
            result = scan(work)
        report["fixed"] = list(plan.fixed)
        manual = [f"{f.id} {f.where or ''}".strip() for f in plan.manual]
    with stage("config", work):
        name = unique_name(app_name(app), _previous_name(copied["previous_toml"]))
    with stage("generate", work):
        missing = missing_artifacts(work, result, app=name)
        if missing:
            written = write_changes(work, missing)
            drop_backups(work, written.backups)
            for change in missing:
                out.text(f"generated {change.path} (the app had none)")
            result = scan(work)
        report["generated"] = [c.path for c in missing]
    toml = work / "cockpit.toml"
    with stage("config", work):
        from cockpit.config import load, write_atomic
        from cockpit.template import lab_values

        if name != app_name(app):
            out.text(f"the lab already runs an app named {app_name(app)!r}; this one is {name!r}")
        report["app"] = name
        lab_vals = lab_values()
        previous = _previous_settings(copied["previous_toml"])
        keep = {e: v["host_port"] for e, v in previous.items() if "host_port" in v}
        ports = choose_host_ports(name, work, keep)
        secrets = secret_names(result)
        if app.resolve() == DEFAULT_APP.resolve() and "SECRET_KEY" not in secrets:
            secrets.append("SECRET_KEY")  # hello-app reads it through a variable name
        text = lab_toml(name, work, result, secrets, lab_vals, ports, domains_for(name))
        write_atomic(toml, text)
        cfg = load(toml)
        out.text(f"wrote {toml} for the lab: app {name!r}, "
                 + ", ".join(f"{e} on host port {ports[e]} as {cfg.env(e).domain}" for e in ENVS))
        accessories = cfg.env(ENVS[0]).accessories
        if accessories:
            out.text("the app needs " + ", ".join(
                f"{acc.kind} ({acc.url_var})" for _, acc in sorted(accessories.items()))
                + ": each environment gets its own, its password generated into the keyring")
        report["accessories"] = sorted(accessories)
        report["manual"], report["resolved"] = still_open(manual, scan(work))
        for item in report["resolved"]:
            out.text(f"resolved by the demo's own changes: {item}")
        for item in report["manual"]:
            out.text(f"left for a person: {item}")
    with stage("secrets", work):
        from cockpit.secrets import SecretStore

        store = SecretStore(cfg.app.name)
        made: dict[str, list[str]] = {}
        from cockpit.template import is_connection_string

        for env in cfg.environments.values():
            for secret in env.secret_names:
                if store.get(env, secret) is None:
                    if is_connection_string(secret):
                        raise UsageError(
                            f"{env.name}: the app requires {secret}, a connection string to "
                            "another service; a random value cannot stand in for it",
                            hint=f"cockpit secrets set {env.name} {secret} (in {work}), then "
                                 "run the demo again")
                    store.set(env, secret, pysecrets.token_urlsafe(24))
                    made.setdefault(env.name, []).append(secret)
                    out.text(f"{env.name}: generated {secret} and stored it in the OS keyring")
        report["secrets_generated"] = made
    return toml, report


def still_open(manual: list[str], result: Any) -> tuple[list[str], list[str]]:
    """Split the findings the fix stage left for a person (`"<id> <where>"` strings) by the
    scan of the work folder once the demo's own changes are in (generated files, the lab
    cockpit.toml with its release command, accessories, secrets): (still reported, resolved).
    A finding the demo's changes resolve (e.g. migrations-not-wired once
    `[app] release_command` is written) is not left for a person."""
    def key(item: str) -> tuple[str, str]:  # id and file; a fix may move the line
        finding, _, where = item.partition(" ")
        return finding, where.rsplit(":", 1)[0] if where[-1:].isdigit() else where

    now = {key(f"{f.id} {f.where or ''}".strip()) for f in result.findings}
    left = [m for m in manual if key(m) in now]
    return left, [m for m in manual if m not in left]


def run(args: argparse.Namespace) -> int:
    from cockpit.state import state_root

    out = renderer(args)
    try:
        import cockpit.lab  # noqa: F401  (a source checkout's lab; the wheel does not ship it)
    except ImportError as exc:
        raise UsageError("cockpit demo runs on the local lab, which comes with a source checkout "
                         "of cockpit, not with the installed package",
                         hint="clone the repository and run scripts/demo there") from exc
    app = Path(args.app).expanduser().resolve()
    if args.dir:
        work = Path(args.dir).expanduser().resolve()
    else:
        work = state_root().resolve() / "demo" / (app_name(app) if app.is_dir() else "app")
    toml, report = prepare(app, work, out)
    trust = os.environ.get("COCKPIT_LAB_SSH_HOSTKEY_SHA256", "")
    if sys.stdout.isatty() and sys.stdin.isatty() and not args.headless and not args.json:
        with stage("setup", work):
            _setup_all(toml, trust, out)
        from cockpit.screens.app import run as run_tui

        os.chdir(work)
        return run_tui(toml)
    return _headless(toml, trust, out, report)


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
    """Set up every environment of the demo's own lab app; asking for the demo confirms its
    prod, as it does for the promote (the one rule: pipeline.confirm)."""
    from cockpit import pipeline

    for name in _context(toml, trust).config.environments:
        pipeline.setup(_context(toml, trust, confirm=name), name, out.emit)


def _headless(toml: Path, trust: str, out, report: dict[str, Any]) -> int:
    from cockpit import pipeline
    from cockpit.config import env_url

    work = toml.parent
    with stage("setup", work):
        _setup_all(toml, trust, out)
    ctx = _context(toml, trust, confirm="prod")
    with stage("deploy", work):
        staging = pipeline.deploy(ctx, "staging", out.emit)
        out.text(f"staging: release {staging.id} is live ({staging.status})")
    with stage("promote", work):
        prod = pipeline.promote(ctx, "staging", "prod", out.emit)
        out.text(f"prod: release {prod.id} is live, same image {prod.short_digest}")
    environments = {}
    for name, release in (("staging", staging), ("prod", prod)):
        env = ctx.config.env(name)
        url = env_url(env)
        curl = curl_line(env)
        environments[name] = {"url": url, "release": release.id, "image": release.image,
                              "digest": release.digest, "domain": env.domain,
                              "accessories": sorted(env.accessories), "curl": curl}
        out.text(f"  {name}: {url or '(no domain)'} serves release {release.id}")
    report["environments"] = environments
    report["config"] = str(toml)
    reach = [f"  {e['curl']}" for e in environments.values() if e["curl"]]
    out.result(report, human=(
        "the lab's names resolve only on the lab's DNS and its certificates come from its own "
        "ACME CA; from this machine:\n" + "\n".join(reach) + "\n" if reach else "")
        + "done. The ordinary commands work there, with the lab's variables:\n"
        f"  {next_steps(work)}")
    return 0


def curl_line(env: Any) -> str | None:
    """A curl command that reaches `env`'s URL from this machine through its edge, or None
    without a domain. The lab's names (`<env>.<app>.lab.test`) are in no resolver of the
    machine and Pebble's certificates chain to a root no trust store has: `--resolve` sends
    the name to the environment's host (its address; a name is resolved here) on its HTTPS
    port, `--cacert` trusts the environment's `edge_ca_file` (the lab: Pebble's issuing root,
    COCKPIT_LAB_ACME_ISSUER_ROOT). Arguments are shell-quoted."""
    import shlex
    import socket
    from urllib.parse import urlsplit

    from cockpit.config import env_url

    url = env_url(env)
    if not url or not env.domain:
        return None
    parts = urlsplit(url)
    host = str(getattr(env.settings, "host", "") or "127.0.0.1")
    try:
        address = socket.getaddrinfo(host, None)[0][4][0]
    except (OSError, IndexError):
        address = host
    if ":" in address:
        address = f"[{address}]"
    argv = ["curl", "--resolve", f"{parts.hostname}:{parts.port or 443}:{address}"]
    ca = getattr(env.settings, "edge_ca_file", None) or \
        os.environ.get("COCKPIT_LAB_ACME_ISSUER_ROOT")
    if ca:
        argv += ["--cacert", ca]
    return shlex.join([*argv, f"{url}/"])


def next_steps(work: Path) -> str:
    """The shell line that runs `cockpit status` in WORK from a fresh shell: the lab's
    variables (keyring session, Docker host) and this install's `cockpit` by its full path,
    always: the shell that ran the demo may have had the venv active, a fresh one has not
    (`cockpit: command not found`)."""
    exe = Path(sys.executable).parent / "cockpit"
    cockpit = str(exe) if exe.exists() else f"{sys.executable} -m cockpit"
    lab = REPO / "scripts" / "lab"
    setup = f'eval "$({lab} env)" && ' if lab.exists() else ""
    return f"{setup}cd {work} && {cockpit} status"
