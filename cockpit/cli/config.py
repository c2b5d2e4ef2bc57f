"""`cockpit config check`: validate cockpit.toml and print the resolved configuration."""

from __future__ import annotations

import argparse

from cockpit.cli._common import common, load_config, renderer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="check and show cockpit.toml")
    inner = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = inner.add_parser("check", parents=[common()],
                             help="validate cockpit.toml and print the resolved config")
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = renderer(args)
    cfg = load_config(args)
    data = cfg.to_dict()
    lines = [f"{cfg.path}: ok", f"app {cfg.app.name}: port {cfg.app.port}, "
             f"health {cfg.app.health_path}, build {cfg.app.context}/{cfg.app.dockerfile}"]
    if cfg.app.release_command:
        lines.append(f"  release command (once per release, before traffic moves): "
                     f"{cfg.app.release_command}")
    for name, path in cfg.app.volumes.items():
        lines.append(f"  volume {name}: mounted at {path} (one per environment)")
    for env in cfg.environments.values():
        guard = " (protected)" if env.protected else ""
        lines.append(f"  {env.name}{guard}: provider {env.provider}, "
                     f"domain {env.domain or '-'}, replicas {env.common.replicas}, "
                     f"secrets {', '.join(env.secret_names) or '-'}")
        for key, value in env.plain_env.items():  # plain configuration, never secret values
            source = "environment" if key in env.common.env else "app"
            lines.append(f"      env {key} = {value!r} (from [{_table(env, source)}.env])")
        for key, value in env.settings.model_dump().items():
            if key not in env.common.COMMON_KEYS:  # (a provider field shadowed by a common key)
                lines.append(f"      {key} = {value!r}")
    out.result(data, human="\n".join(lines))
    return 0


def _table(env, source: str) -> str:
    return f"environments.{env.name}" if source == "environment" else "app"
