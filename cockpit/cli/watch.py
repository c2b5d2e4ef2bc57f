"""`cockpit watch [ENV...]`: the always-on watcher, in the foreground (for any small always-on
box; `--print-unit` prints a systemd unit that runs it), or `cockpit watch install ENV` to run
the same watcher on the environment's VPS host as a small container (restarted by Docker), or
`cockpit watch uninstall ENV` to remove it.

It probes each environment through its public URL every `--interval` seconds and alerts (see
`cockpit alerts`): down after `--down-after` failed probes in a row, recovered after
`--up-after` good ones, TLS at `--tls-days`, free disk below `--disk-min-pct` on VPS hosts,
instance restarts. One alert per incident, a reminder every `--remind` seconds while it lasts.
History: `cockpit incidents ENV`, `cockpit status --json`, the dashboard.

The installed container gets only what it needs, in a 0600 file on the host: the environment's
public URL and health path, the thresholds and its alert URLs (never cockpit's state or other
secrets). An environment named `install` or `uninstall` cannot be watched in the foreground by
name (the word is read as the action).
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import shlex
import sys
import tarfile
from pathlib import Path

from cockpit.cli._common import common, load_config, load_context, renderer
from cockpit.errors import UsageError

ACTIONS = ("install", "uninstall")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watch", parents=[common(trust=True)], description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       help="watch environments and alert (foreground, systemd unit, or on "
                            "the VPS host)")
    p.add_argument("envs", nargs="*", metavar="ENV",
                   help="environments (default: all); or `install ENV` / `uninstall ENV`")
    p.add_argument("--interval", type=float, default=30.0,
                   help="seconds between probes (default 30)")
    p.add_argument("--down-after", type=int, default=3, help="failed probes in a row (3)")
    p.add_argument("--up-after", type=int, default=2, help="good probes in a row (2)")
    p.add_argument("--tls-days", default="21,14,7", help="days-left thresholds (21,14,7)")
    p.add_argument("--disk-min-pct", type=float, default=10.0, help="percent free (10)")
    p.add_argument("--remind", type=float, default=3600.0,
                   help="seconds between reminders while an incident lasts (3600)")
    p.add_argument("--print-unit", action="store_true", help="print a systemd unit and exit")
    p.add_argument("--build-arg", action="append", default=[], metavar="NAME=IMAGE",
                   help="install: base images of the watcher image (BUILD_IMAGE, BASE_IMAGE)")
    p.add_argument("--rounds", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def thresholds(args: argparse.Namespace):
    from cockpit.watcher import Thresholds

    try:
        days = tuple(int(x) for x in args.tls_days.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--tls-days: expected day counts like 21,14,7, got "
                         f"{args.tls_days!r}", where="cockpit watch") from None
    try:
        return Thresholds(down_after=args.down_after, up_after=args.up_after, tls_days=days,
                          disk_min_pct=args.disk_min_pct, remind_s=args.remind)
    except ValueError as exc:
        raise UsageError(f"watch thresholds: {exc}", where="cockpit watch") from None


def run(args: argparse.Namespace) -> int:
    if args.interval < 1 or args.interval > 3600:
        raise UsageError(f"--interval: expected 1-3600 seconds, got {args.interval:g}")
    thresholds(args)  # bad thresholds fail before anything is read or built
    if args.envs and args.envs[0] in ACTIONS:
        if len(args.envs) != 2:
            raise UsageError(f"usage: cockpit watch {args.envs[0]} ENV")
        return (run_install if args.envs[0] == "install" else run_uninstall)(args, args.envs[1])
    if args.print_unit:
        return run_print_unit(args)
    return run_foreground(args)


# --------------------------------------------------------------------------- targets


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def target_for(cfg, env):  # noqa: ANN001
    """The Target of one environment (None without a domain): its public URL and health path;
    on a VPS whose host is a loopback address (the lab) the edge is dialled there, and the
    edge's CA file is trusted when one is set."""
    from cockpit.config import env_url
    from cockpit.watcher import Target

    url = env_url(env)
    if not url:
        return None
    connect_to, ca_file = None, None
    settings = env.settings
    if env.provider == "vps":
        if _is_loopback(settings.host):
            connect_to = (settings.host, settings.https_port)
        ca_file = settings.edge_ca_file
    return Target(app=cfg.app.name, env=env.name, health_url=url + cfg.app.health_path,
                  public_url=url, connect_to=connect_to, ca_file=ca_file,
                  timeout=min(10.0, max(2.0, env.gate.timeout)))


def _extras(ctx, env):  # noqa: ANN001
    from cockpit import pipeline
    from cockpit.watcher import Extras

    state: dict[str, object] = {}

    def live():
        state["live"] = pipeline.live(ctx, env.name)
        return state["live"]

    def release():
        cur = live().current
        return (cur.id, cur.digest) if cur else None

    def restarts():
        current = state.get("live") or live()
        return sum(i.restarts for i in current.instances)

    disk = None
    if env.provider == "vps":
        def disk():
            host = pipeline.provider_for(ctx, env).host(env)
            out = host.run(["df", "-Pk", host.layout.root], step="disk", check=False,
                           idempotent=True).stdout.splitlines()
            fields = out[-1].split() if len(out) > 1 else []
            if len(fields) < 4 or not fields[1].isdigit():
                return None
            total, free = int(fields[1]), int(fields[3])
            return (free * 100.0 / total if total else 100.0), f"{env.settings.host}"

    return Extras(disk=disk, restarts=restarts, release=release)


# --------------------------------------------------------------------------- foreground


def run_foreground(args: argparse.Namespace) -> int:
    import signal
    import threading

    from cockpit import alerts
    from cockpit.events import HealthSample, Message
    from cockpit.watcher import Watcher

    out = renderer(args)
    ctx = load_context(args)
    cfg = ctx.config
    names = args.envs or list(cfg.environments)
    targets, extras = [], {}
    store = alerts.AlertStore(ctx.secrets)
    urls: dict[str, dict[str, str]] = {}
    for name in names:
        env = cfg.env(name)
        target = target_for(cfg, env)
        if target is None:
            out.emit(Message(f"{name} has no domain: nothing public to probe; skipped",
                             level="warning", env=name))
            continue
        targets.append(target)
        extras[name] = _extras(ctx, env)
        ctx.secrets.register(env)
        urls[name] = store.urls(env)
        if not urls[name]:
            out.emit(Message(f"{name} has no alert URL: incidents are recorded, nobody is told "
                             f"(cockpit alerts add {name})", level="warning", env=name))
    if not targets:
        raise UsageError("no environment to watch (none has a domain)",
                         hint="set `domain` in [environments.<name>]")

    def send(action) -> dict:  # noqa: ANN001
        if not urls.get(action.env):
            return {"sent": [], "failed": []}
        alert = alerts.compose(cfg.app.name, action.env, action.alert, now=ctx.now(),
                               **action.facts)
        result = alerts.send(urls[action.env], alert)
        ctx.store.audit(f"alert {action.alert}", action.env,
                        "ok" if not result["failed"] else "failed",
                        f"incident {action.incident}; sent {len(result['sent'])}, "
                        f"failed {len(result['failed'])}")
        return result

    def on_event(kind: str, data: dict) -> None:
        if kind == "sample":
            out.emit(HealthSample(ok=data["ok"], status=data["status"],
                                  latency_ms=data["latency_ms"], error=data["error"],
                                  env=data["env"], url=next(
                                      t.health_url for t in targets if t.env == data["env"])))
        elif kind == "alert":
            failed = f", {len(data['failed'])} failed" if data.get("failed") else ""
            out.emit(Message(f"alert {data['alert']} (incident #{data['incident']}): sent to "
                             f"{len(data.get('sent', []))}{failed}", level="warning",
                             env=data["env"]))
        elif kind == "check_failed":
            out.emit(Message(f"{data['check']} check failed: {data['error']}", level="warning",
                             env=data["env"]))

    watcher = Watcher(targets, ctx.store, send, thresholds(args), clock=ctx.now, extras=extras,
                      slow_every=max(60.0, args.interval), on_event=on_event)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    out.emit(Message(f"watching {', '.join(t.env for t in targets)} every "
                     f"{args.interval:g}s (Ctrl-C stops)"))
    try:
        rounds = watcher.run(args.interval, stop=stop, rounds=args.rounds)
    except KeyboardInterrupt:
        rounds = -1
    open_incidents = {t.env: len(ctx.store.incidents(t.env, open_only=True)) for t in targets}
    out.result({"envs": [t.env for t in targets], "rounds": rounds, "open": open_incidents},
               human=f"stopped; open incidents: {open_incidents}")
    return 0


# --------------------------------------------------------------------------- systemd unit


def run_print_unit(args: argparse.Namespace) -> int:
    out = renderer(args)
    cfg = load_config(args)
    names = args.envs or list(cfg.environments)
    for name in names:
        cfg.env(name)
    argv = [sys.executable, "-m", "cockpit", "watch", *names, "--config", str(cfg.path),
            "--interval", f"{args.interval:g}", "--down-after", str(args.down_after),
            "--up-after", str(args.up_after), "--tls-days", args.tls_days,
            "--disk-min-pct", f"{args.disk_min_pct:g}", "--remind", f"{args.remind:g}"]
    unit = f"""# cockpit watcher for {cfg.app.name} ({', '.join(names)}): a systemd *user* unit,
# so it reads the alert URLs from your login keyring. Install:
#   mkdir -p ~/.config/systemd/user
#   cockpit watch --print-unit > ~/.config/systemd/user/cockpit-watch-{cfg.app.name}.service
#   systemctl --user daemon-reload
#   systemctl --user enable --now cockpit-watch-{cfg.app.name}
#   loginctl enable-linger "$USER"    # keep it running while you are logged out
[Unit]
Description=cockpit watcher for {cfg.app.name} ({', '.join(names)})
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
WorkingDirectory={cfg.path.parent}
ExecStart={shlex.join(argv)}
Restart=always
RestartSec=10
NoNewPrivileges=yes

[Install]
WantedBy=default.target
"""
    if out.json:
        out.result({"unit": unit, "name": f"cockpit-watch-{cfg.app.name}.service"})
    else:
        sys.stdout.write(unit)
    return 0


# --------------------------------------------------------------------------- on the VPS host


DOCKERFILE = """\
# The cockpit watcher: Python, Apprise and cockpit's standard-library-only watcher modules.
ARG BUILD_IMAGE=python:3.12-slim
ARG BASE_IMAGE=python:3.12-slim
FROM ${{BUILD_IMAGE}} AS build
RUN python3 -m venv /opt/watch && /opt/watch/bin/pip install --no-cache-dir -q "apprise=={apprise}"
FROM ${{BASE_IMAGE}}
COPY --from=build /opt/watch /opt/watch
COPY cockpit/ /opt/watch/app/cockpit/
ENV PYTHONPATH=/opt/watch/app PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["/opt/watch/bin/python", "-m", "cockpit.watcher", "agent", \\
            "--config", "/watch/watch.env", "--state", "/watch/state"]
"""


def build_context(dockerfile: str) -> bytes:
    """A tar of the Dockerfile and cockpit's watcher modules (cockpit.watcher.AGENT_FILES)."""
    import cockpit
    from cockpit.watcher import AGENT_FILES

    package = Path(cockpit.__file__).parent
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        add("Dockerfile", dockerfile.encode())
        for name in AGENT_FILES:
            add(f"cockpit/{name}", (package / name).read_bytes())
    return buf.getvalue()


def _build_args(args: argparse.Namespace, dockerfile: str) -> dict[str, str]:
    """--build-arg values; else, on the local lab (COCKPIT_LAB_DIR set, a checkout), the lab's
    stand-ins for the official images."""
    import os

    given: dict[str, str] = {}
    for item in args.build_arg:
        name, sep, value = item.partition("=")
        if not sep or name not in ("BUILD_IMAGE", "BASE_IMAGE") or not value:
            raise UsageError(f"--build-arg {item!r}: expected BUILD_IMAGE=IMAGE or "
                             "BASE_IMAGE=IMAGE")
        given[name] = value
    if not given and os.environ.get("COCKPIT_LAB_DIR"):
        try:
            from cockpit.lab.images import build_args_for
        except ImportError:
            return given
        return build_args_for(dockerfile)
    return given


def env_file_text(target, th, urls: dict[str, str], interval: float,  # noqa: ANN001
                  release: tuple[str, str] | None, ca_inside: str | None) -> str:
    """The watcher container's only input: KEY=VALUE lines (mode 0600 on the host)."""
    lines = {
        "COCKPIT_WATCH_APP": target.app, "COCKPIT_WATCH_ENV": target.env,
        "COCKPIT_WATCH_URL": target.health_url, "COCKPIT_WATCH_PUBLIC_URL": target.public_url,
        "COCKPIT_WATCH_INTERVAL": f"{interval:g}", "COCKPIT_WATCH_TIMEOUT": f"{target.timeout:g}",
        "COCKPIT_WATCH_DISK": "/watch", **th.to_env(),
    }
    if target.connect_to:
        lines["COCKPIT_WATCH_CONNECT"] = f"{target.connect_to[0]}:{target.connect_to[1]}"
    if ca_inside:
        lines["COCKPIT_WATCH_CA"] = ca_inside
    if release:
        lines["COCKPIT_WATCH_RELEASE"] = release[0]
        lines["COCKPIT_WATCH_RELEASE_DIGEST"] = release[1]
    for n, url in enumerate(urls.values(), start=1):
        lines[f"COCKPIT_WATCH_ALERT_{n}"] = url
    for key, value in lines.items():
        if any(c in value for c in "\r\n\0"):
            raise UsageError(f"{key}: a value holds a line break")
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def _vps(args: argparse.Namespace, name: str):
    from cockpit import pipeline

    ctx = load_context(args)
    env = ctx.config.env(name)
    if env.provider != "vps":
        raise UsageError(f"{name} runs on {env.provider}: `cockpit watch install` puts the "
                         "watcher on a VPS host",
                         hint="run `cockpit watch` on any always-on machine "
                              "(`cockpit watch --print-unit` for a systemd unit)")
    host = pipeline.provider_for(ctx, env).host(env)
    return ctx, env, host


def container_name(app: str, env: str) -> str:
    from cockpit.providers.vps.commands import safe_name

    return safe_name(f"cockpit-watch-{app}-{env}")


def run_install(args: argparse.Namespace, name: str) -> int:
    import apprise

    from cockpit import alerts
    from cockpit.events import Message

    out = renderer(args)
    ctx, env, host = _vps(args, name)
    cfg = ctx.config
    target = target_for(cfg, env)
    if target is None:
        raise UsageError(f"{name} has no domain: the watcher probes the public URL",
                         where=f"{cfg.path.name} [environments.{name}] domain")
    th = thresholds(args)
    urls = alerts.AlertStore(ctx.secrets).urls(env)
    if not urls:
        out.emit(Message(f"{name} has no alert URL: the watcher records incidents but tells "
                         f"nobody (cockpit alerts add {name}, then install again)",
                         level="warning", env=name))
    live = None
    try:
        from cockpit import pipeline

        live = pipeline.live(ctx, name).current
    except Exception:  # the release is a nicety in the alert text
        live = None
    release = (live.id, live.digest) if live else None
    key = f"{cfg.app.name}-{env.name}"
    root = f"{host.layout.root}/watch/{key}"
    image = f"cockpit-watch:{apprise.__version__}"
    dockerfile = DOCKERFILE.format(apprise=apprise.__version__)
    build_args = _build_args(args, dockerfile)
    out.emit(Message(f"building the watcher image on {env.settings.host}", env=name))
    argv = ["docker", "build", "-q", "-t", image]
    for k, v in build_args.items():
        argv += ["--build-arg", f"{k}={v}"]
    host.t.stream_in([*argv, "-"], iter([build_context(dockerfile)]), step="watch image",
                     timeout=900)
    ca_inside = None
    host.run(["mkdir", "-p", "-m", "700", root, f"{root}/state"], step="watch dir")
    if target.ca_file:
        host.run(["sh", "-c", 'umask 077; cat > "$1"', "sh", f"{root}/ca.pem"], step="watch ca",
                 stdin=Path(target.ca_file).read_bytes())
        ca_inside = "/watch/ca.pem"
    text = env_file_text(target, th, urls, args.interval, release, ca_inside)
    from cockpit.providers.vps.commands import write_file

    host.run(write_file(f"{root}/watch.env", "600"), step="watch config", stdin=text)
    uid = host.run(["id", "-u"], step="watch user").stdout.strip()
    gid = host.run(["id", "-g"], step="watch user").stdout.strip()
    name_c = container_name(cfg.app.name, env.name)
    host.run(["docker", "rm", "-f", name_c], step="watch replace", check=False)
    host.run(["docker", "run", "-d", "--name", name_c, "--restart", "unless-stopped",
              "--network", "host", "--user", f"{uid}:{gid}", "--read-only",
              "--tmpfs", "/tmp", "--memory", "128m", "--cpus", "0.25",
              "--label", f"cockpit.watch={key}", "--log-opt", "max-size=1m",
              "--log-opt", "max-file=2", "-v", f"{root}:/watch", image], step="watch start")
    ctx.store.audit("watch install", name, "ok",
                    f"container {name_c}, image {image}, {len(urls)} alert URL(s)")
    data = {"env": name, "container": name_c, "image": image, "host": env.settings.host,
            "interval": args.interval, "alerts": len(urls), "dir": root,
            "url": target.public_url}
    out.result(data, human=f"{name}: watcher {name_c} runs on {env.settings.host} every "
                           f"{args.interval:g}s ({len(urls)} alert URL(s)); restarted by Docker. "
                           f"Logs: ssh {env.settings.user}@{env.settings.host} docker logs "
                           f"{name_c}")
    return 0


def run_uninstall(args: argparse.Namespace, name: str) -> int:
    out = renderer(args)
    ctx, env, host = _vps(args, name)
    name_c = container_name(ctx.config.app.name, env.name)
    removed = host.run(["docker", "rm", "-f", name_c], step="watch remove", check=False).ok
    root = f"{host.layout.root}/watch/{ctx.config.app.name}-{env.name}"
    host.run(["rm", "-f", f"{root}/watch.env"], step="watch config", check=False)
    ctx.store.audit("watch uninstall", name, "ok", f"container {name_c}")
    out.result({"env": name, "container": name_c, "removed": removed},
               human=f"{name}: watcher {name_c} " + ("removed" if removed else "was not there"))
    return 0
