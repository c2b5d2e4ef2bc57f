"""Real traffic on Fly for the watch window: the serving machines' checks and restarts.

Fly's proxy routes only to started machines whose checks pass, so the release's machines'
checks and their restarts are what the Machines API can tell about how it serves: read once per
interval (`GET /apps/<app>/machines`). `restarts` counts the machines' `exit` and `restart`
events that were not there at the first read (Fly keeps a machine's recent events, newest
first, each with an `id`; ids, not timestamps, so a skewed clock does not matter); `unready`
counts the release's machines that are not started or have a check that is not passing. Fly
counts no requests for us, so the 5xx ratio comes from the window's own probes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cockpit.providers.fly.machines import GONE, release_from_machine

from cockpit.watch import TrafficSample

RESTART_EVENTS = ("exit", "restart")


def sample_from_machines(machines: list[dict[str, Any]], app: str, env: str, release_id: str,
                         seen: set[str] | None) -> tuple[TrafficSample, set[str]]:
    """One TrafficSample from the app's machines (API objects) for `release_id`, and the ids of
    their restart events; events whose id is not in `seen` (None: the first read, nothing
    counts) are restarts."""
    mine = []
    for machine in machines:
        if machine.get("state") in GONE:
            continue
        release = release_from_machine(machine, app, env)
        if release is not None and release.id == release_id:
            mine.append(machine)
    restarts, unready, ids = 0, [], set()
    for machine in mine:
        for event in machine.get("events") or []:
            if event.get("type") in RESTART_EVENTS:
                key = f"{machine['id']}/{event.get('id') or event.get('timestamp')}"
                ids.add(key)
                restarts += seen is not None and key not in seen
        checks = machine.get("checks") or []
        if machine.get("state") != "started" or any(c.get("status") != "passing"
                                                    for c in checks):
            unready.append(machine["id"])
    detail = (f"{len(mine) - len(unready)}/{len(mine)} machines started with passing checks"
              + (f" (not: {', '.join(unready[:3])})" if unready else ""))
    return TrafficSample(restarts=restarts, unready=len(unready) if mine else 1,
                         instances=len(mine), source=f"machines of release {release_id}",
                         detail=detail if mine else f"no machine of release {release_id}"), ids


def sampler(provider: Any, env: Any, release: Any) -> Callable[[], TrafficSample]:
    """A sampler of `release`'s machines for the watch window; raises ProviderError when the
    Machines API does not answer."""
    api = provider._api(env)
    app = provider.ctx.config.app.name
    state: dict[str, Any] = {"seen": None, "restarts": 0}

    def sample() -> TrafficSample:
        import dataclasses

        one, ids = sample_from_machines(api.list_machines(), app, env.name, release.id,
                                        state["seen"])
        state["restarts"] += one.restarts  # cumulative, as the window expects
        state["seen"] = ids | (state["seen"] or set())
        return dataclasses.replace(one, restarts=state["restarts"])

    return sample
