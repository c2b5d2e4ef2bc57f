"""The command palette (`:` or ctrl+p): deploy, promote, rollback, logs, switch environment,
and for an app with accessories their status, a verified backup and a restore."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


def open_approvals(app) -> None:  # noqa: ANN001
    from cockpit.screens.approvals import ApprovalsScreen

    app.push_screen(ApprovalsScreen())


class CockpitCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = self.app
        session = app.session  # type: ignore[attr-defined]
        if not getattr(app, "configured", False):
            return []
        try:
            names = session.env_names()
        except Exception:
            return []
        out: list[tuple[str, Callable[[], object], str]] = []
        for env in names:
            out.append((f"Deploy {env}", partial(app.start_deploy, env),
                        f"build and deploy to {env} through the health gate"))
        for src, dst in zip(names, names[1:], strict=False):
            out.append((f"Promote {src} → {dst}", partial(app.start_promote, src, dst),
                        f"ship {src}'s healthy release to {dst}, no rebuild"))
        for env in names:
            out.append((f"Rollback {env}", partial(app.open_releases, env),
                        f"pick a release of {env} to serve again"))
            out.append((f"Logs {env}", partial(app.open_logs, env), f"live tail of {env}"))
            out.append((f"Releases {env}", partial(app.open_releases, env),
                        f"release history of {env}"))
            out.append((f"Switch environment: {env}", partial(app.switch_env, env),
                        f"make {env} the current environment"))
        for env in names:  # cockpit accessories status / backup / restore
            try:
                accessories = sorted(session.env(env).accessories)
            except Exception:
                accessories = []
            if accessories:
                out.append((f"Accessories {env}", partial(app.show_accessories, env),
                            f"state and health of {env}'s {', '.join(accessories)}"))
            for name in accessories:
                out.append((f"Backup {env} {name}", partial(app.start_backup, env, name),
                            f"back up {name} of {env} and verify it by a restore"))
                out.append((f"Restore {env} {name}", partial(app.start_restore, env, name),
                            f"restore {name} of {env} from its newest verified backup"))
        out.append(("Dashboard", app.open_dashboard, "health of every environment"))
        out.append(("Approvals", partial(open_approvals, app),
                    "plans for protected environments waiting for a person's approval"))
        return out

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
