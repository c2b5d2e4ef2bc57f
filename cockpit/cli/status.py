"""`cockpit status [ENV]`, `cockpit releases ENV`, `cockpit logs ENV`: read-only views."""

from __future__ import annotations

import argparse
import time

from cockpit.cli._common import common, load_context, renderer
from cockpit.config import env_url
from cockpit.timespec import cli_since


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("status", parents=[common(trust=True)],
                       help="what runs now: release, instances, health, TLS, drift, lock")
    s.add_argument("env", nargs="?", help="one environment (default: all)")
    s.set_defaults(func=run_status)
    r = sub.add_parser("releases", parents=[common(trust=True)],
                       help="release history, read from the target")
    r.add_argument("env")
    r.set_defaults(func=run_releases)
    lg = sub.add_parser("logs", parents=[common(trust=True)],
                        help="application logs of every instance (secrets redacted)")
    lg.add_argument("env")
    lg.add_argument("-f", "--follow", action="store_true", help="keep following")
    lg.add_argument("--since", type=cli_since,
                    help="from this long ago (30s, 10m, 2h, 1d) or this time (RFC 3339)")
    lg.add_argument("--tail", type=int, default=None, help="lines per instance to start from")
    lg.set_defaults(func=run_logs)


def _age(ts: float | None) -> str:
    if not ts:
        return "-"
    secs = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _history_lines(history: dict) -> list[str]:
    """Uptime, latency and open incidents, from `cockpit.watcher.health_summary`."""
    h = history["health"]
    if h["last_sample"] is None:
        return ["  uptime   no samples yet (cockpit watch records them)"]

    def pct(v):  # noqa: ANN001
        return "-" if v is None else f"{v:g}%"

    ms = (f" · p50 {h['p50_ms']:.0f} ms p95 {h['p95_ms']:.0f} ms"
          if h["p50_ms"] is not None else "")
    out = [f"  uptime   24h {pct(h['uptime_24h'])} · 7d {pct(h['uptime_7d'])}{ms}"]
    out += [f"  incident #{i['id']} {i['kind']} open since {_age(i['opened_at'])}: "
            f"{i['summary']}" for i in history["incidents"]]
    return out


def run_status(args: argparse.Namespace) -> int:
    from cockpit import pipeline
    from cockpit.watcher import health_summary

    out = renderer(args)
    ctx = load_context(args)
    names = [args.env] if args.env else list(ctx.config.environments)
    states, lines, failing = {}, [], False
    for name in names:
        ctx.secrets.register(ctx.config.env(name))  # mask values before anything is shown
        state = pipeline.live(ctx, name)
        url = env_url(ctx.config.env(name))
        history = health_summary(ctx.store, name, ctx.now())  # samples, uptime, incidents
        states[name] = state.to_dict() | {"url": url} | history
        cur = state.current
        lines.append(f"{name} ({state.provider}):")
        lines.append(f"  url      {url or 'none (no domain set)'}")
        lines += _history_lines(history)
        if cur:
            lines.append(f"  release  {cur.id}  {cur.short_digest}  {cur.status}  "
                         f"age {_age(cur.created_at)}")
        else:
            lines.append("  release  none")
        for inst in state.instances:
            serving = " serving" if inst.serving else ""
            lines.append(f"  instance {inst.name}: {inst.state}, health {inst.health}, "
                         f"restarts {inst.restarts}{serving}")
            failing |= inst.serving and inst.health == "unhealthy"
            if inst.serving and inst.health == "unhealthy" and state.extra.get("unhealthy"):
                lines.append(f"  UNHEALTHY {state.extra['unhealthy']}")
        if state.tls:
            tls = state.tls
            lines.append(f"  tls      {'ok' if tls.ok else 'FAIL'} issuer {tls.issuer or '-'} "
                         f"days left {tls.days_left if tls.days_left is not None else '-'}"
                         + (f" ({tls.error})" if tls.error else ""))
        if state.lock:
            lines.append(f"  lock     held by {state.lock.holder} ({state.lock.command})")
        for d in state.drift:
            lines.append(f"  drift    {d}")
    out.result({"environments": states}, human="\n".join(lines))
    return 1 if failing else 0


def run_releases(args: argparse.Namespace) -> int:
    from cockpit import pipeline

    out = renderer(args)
    ctx = load_context(args)
    ctx.secrets.register(ctx.config.env(args.env))
    from cockpit import schema

    env = ctx.config.env(args.env)
    state = pipeline.live(ctx, args.env)
    current = state.current.id if state.current else None
    for r in state.releases:
        pipeline.recorded_schema(ctx, env, r)
    heads = any(r.meta.get("schema") for r in state.releases)
    lines = [f"{'':2}{'RELEASE':<26} {'AGE':>5}  {'IMAGE':<12}  {'BY':<20} {'STATUS':<11}"
             + (" SCHEMA" if heads else "")]
    for r in state.releases:
        mark = "▶ " if r.id == current else "  "
        lines.append((f"{mark}{r.id:<26} {_age(r.created_at):>5}  {r.short_digest:<12}  "
                      f"{(r.created_by or '-')[:20]:<20} {r.status:<11}"
                      + (f" {schema.short(r.meta.get('schema'))}" if heads else "")).rstrip())
    out.result({"env": args.env, "current": current,
                "releases": [r.to_dict() for r in state.releases]}, human="\n".join(lines))
    return 0


def print_logs(out, lines) -> int:  # noqa: ANN001
    """Write LogLine events: NDJSON as they are, or one row per line on stdout with its
    escapes made visible and a line break inside it shown as ␊ (never a forged second row).
    Returns how many lines were written."""
    from cockpit.output import inert
    from cockpit.redaction import redact

    count = 0
    for line in lines:
        if out.json:
            out.emit(line)
        else:
            out.text(f"{line.source} | {inert(redact(line.line))}")
        count += 1
    return count


def run_logs(args: argparse.Namespace) -> int:
    from cockpit.pipeline import provider_for

    out = renderer(args)
    ctx = load_context(args)
    env = ctx.config.env(args.env)
    # A fresh process knows no secret value: read this environment's values first so the
    # redactor masks them in every line (an app that logs its secret is shown as ••••).
    ctx.secrets.register(env)
    provider = provider_for(ctx, env)
    count = print_logs(out, provider.logs(env, follow=args.follow, since=args.since,
                                          tail=args.tail))
    if out.json:
        out.result({"env": env.name, "lines": count})
    return 0
