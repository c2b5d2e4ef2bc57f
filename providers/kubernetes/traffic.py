"""Real traffic on Kubernetes for the watch window: the pods behind the Service.

The Service sends traffic only to ready pods (its endpoints), so the release's pods' readiness
and restarts are what the cluster can tell about how the release serves: read once per interval
(`list pods` with the environment's selector, the release's pods by their `release` label).
`restarts` sums `restartCount` of their containers (cumulative; the window uses the delta),
`unready` counts pods whose Ready condition is not True. Kubernetes counts no requests, so the
5xx ratio comes from the window's own probes through the Service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cockpit.providers.kubernetes import manifests as m
from cockpit.providers.kubernetes import rollout as ro

from cockpit.watch import TrafficSample


def sample_from_pods(pods: list[dict[str, Any]], release_id: str) -> TrafficSample:
    """One TrafficSample from the environment's pods (API objects as dicts) for `release_id`."""
    mine = [p for p in pods if ((p.get("metadata") or {}).get("labels") or {}).get("release")
            == release_id and not (p.get("metadata") or {}).get("deletionTimestamp")]
    restarts = sum(int(cs.get("restartCount") or 0) for p in mine
                   for cs in (p.get("status") or {}).get("containerStatuses") or [])
    unready = [p["metadata"]["name"] for p in mine if not ro.pod_ready(p)]
    detail = (f"{len(mine) - len(unready)}/{len(mine)} pods ready"
              + (f" (not ready: {', '.join(sorted(unready)[:3])})" if unready else "")
              + f", {restarts} restarts in total")
    return TrafficSample(restarts=restarts, unready=len(unready) if mine else 1,
                         instances=len(mine), source=f"pods of release {release_id}",
                         detail=detail if mine else f"no pod of release {release_id}")


def sampler(provider: Any, env: Any, release: Any) -> Callable[[], TrafficSample]:
    """A sampler of `release`'s pods for the watch window; raises ProviderError (ApiFailure)
    when the cluster does not answer."""
    kube = provider.kube(env)
    selector = ",".join(f"{k}={v}" for k, v in sorted(m.selector(env).items()))

    def sample() -> TrafficSample:
        return sample_from_pods(kube.pods(selector), release.id)

    return sample
