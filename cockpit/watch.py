"""The watch window: after every switch (deploy, promote, rollback) cockpit keeps judging the new
release on real traffic for `[environments.<env>.watch] seconds`, and switches back to the
previous release at once when it goes bad.

Two sources, read once per interval (1 s):

- the window's own probes of the health path the way users arrive (`provider.health(env)`:
  through the edge on a VPS, the Service on Kubernetes, the serving machines' checks on Fly;
  `https://<domain><health_path>` for a provider without that hook);
- the provider's traffic sampler, where the target can tell (`provider.watch_traffic(env,
  release)`, see `cockpit.provider.watch_traffic`): cumulative counters of real requests and
  5xx answers (VPS: HAProxy's per-backend and per-slot counters), restarts and readiness of the
  release's instances (Kubernetes: pods behind the Service; Fly: machine checks and events).

The judgement (`Window`) is pure and works on deltas since the window opened:

- 5xx ratio: real traffic's 5xx / requests when the target counts requests, else the share of
  the window's probes that failed (5xx or no answer); judged once `min_requests` requests were
  seen, breached above `max_5xx_ratio`;
- p95 latency of the window's probes (at least 5 of them), breached above `max_p95_ms`, which
  defaults to 3x the previous release's p95 as recorded by its own window, at least 500 ms
  (1500 ms while no release of the environment has a recorded p95); HAProxy keeps only averages,
  so the target's latency figure is shown, not judged;
- any restart of the release's instances, or instances not ready for 3 samples in a row.

The loop emits one `WatchSample` per interval (the run screen counts down with it). On a breach
`after_switch` rolls back through the provider's own rollback (its gate and switch), records the
breach on the release (status `rolled_back`, `meta["watch"]`) and in the audit log, and raises
`WatchBreached` (exit 3). `--no-watch` (Options.no_watch) skips the window and says so.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cockpit.errors import GateFailed, ProviderError
from cockpit.events import (
    Emit,
    HealthSample,
    Message,
    StepFailed,
    StepFinished,
    StepStarted,
    WatchSample,
)

if TYPE_CHECKING:
    from cockpit.config import Environment
    from cockpit.models import Release
    from cockpit.provider import Context

INTERVAL = 1.0  # seconds between two samples
MIN_P95_SAMPLES = 5  # probes before the p95 is judged
UNREADY_STREAK = 3  # samples in a row with an instance not ready before it is a breach
SAMPLER_MISSES = 3  # failed traffic reads in a row before the window says so and goes on
P95_FLOOR_MS = 500.0
P95_FACTOR = 3.0
SECONDS_ENV = "COCKPIT_WATCH_SECONDS"  # the default of `seconds` when cockpit.toml sets none


@dataclass(frozen=True)
class TrafficSample:
    """What a target says about the watched release, read once per interval.

    Counters are cumulative since any fixed origin (the window uses deltas from its first
    sample): `requests` and `errors_5xx` (None when the target does not count requests),
    `restarts` of the release's instances. `unready` and `instances` are the state now (not
    ready / failing checks, out of how many). `latency_ms` is the target's own latency figure
    (e.g. HAProxy's average response time over its last 1024 requests), shown, not judged.
    `source` names where the numbers come from; `detail` is one line for humans."""

    requests: int | None = None
    errors_5xx: int | None = None
    restarts: int = 0
    unready: int = 0
    instances: int | None = None
    latency_ms: float | None = None
    source: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Limits:
    """The resolved thresholds of one window; `p95_source` says where max_p95_ms came from."""

    seconds: float
    max_5xx_ratio: float
    max_p95_ms: float
    min_requests: int
    p95_source: str = "cockpit.toml"


def p95(values: list[float]) -> float | None:
    """The 95th percentile (nearest rank) of `values` in their unit; None for an empty list."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def resolve_limits(env: Environment, previous_p95_ms: float | None,
                   previous_id: str | None = None) -> Limits:
    """`[environments.<env>.watch]` with its defaults filled in.

    `seconds`: cockpit.toml's value, else $COCKPIT_WATCH_SECONDS (a number; CI and test runs
    shorten the window with it), else 60. `max_p95_ms`: cockpit.toml's value, else 3x
    `previous_p95_ms` (the previous release's p95 from its own window, in ms), at least 500;
    1500 when there is none. Raises nothing: a bad $COCKPIT_WATCH_SECONDS is ignored."""
    w = env.watch
    seconds = w.seconds
    if "seconds" not in w.model_fields_set:
        raw = os.environ.get(SECONDS_ENV, "").strip()
        try:
            seconds = max(0.0, float(raw)) if raw else seconds
        except ValueError:
            pass
    if w.max_p95_ms is not None:
        limit, source = float(w.max_p95_ms), "cockpit.toml"
    elif previous_p95_ms:
        limit = max(P95_FLOOR_MS, P95_FACTOR * previous_p95_ms)
        source = (f"3x release {previous_id}'s p95 ({previous_p95_ms:.0f} ms)"
                  if previous_id else f"3x the previous p95 ({previous_p95_ms:.0f} ms)")
        if limit == P95_FLOOR_MS:
            source += f", at least {P95_FLOOR_MS:.0f} ms"
    else:
        limit = P95_FACTOR * P95_FLOOR_MS
        source = "no earlier p95 recorded: 3x 500 ms"
    return Limits(seconds=seconds, max_5xx_ratio=w.max_5xx_ratio, max_p95_ms=limit,
                  min_requests=w.min_requests, p95_source=source)


@dataclass
class Window:
    """The judgement of one window: feed it probes and traffic samples, ask `breach()`.

    Pure (no clock, no I/O): the loop in `watch` and the unit tests drive it."""

    limits: Limits
    probes: list[HealthSample] = field(default_factory=list)
    first: TrafficSample | None = None
    last: TrafficSample | None = None
    unready_streak: int = 0

    def add_probe(self, sample: HealthSample) -> None:
        self.probes.append(sample)

    def add_traffic(self, sample: TrafficSample) -> None:
        if self.first is None:
            self.first = sample
        self.last = sample
        self.unready_streak = self.unready_streak + 1 if sample.unready > 0 else 0

    # ------------------------------------------------------------------ numbers

    @property
    def counts_traffic(self) -> bool:
        """Whether the target counts real requests (else the ratio is the probes')."""
        return (self.first is not None and self.last is not None
                and self.first.requests is not None and self.last.requests is not None
                and self.first.errors_5xx is not None and self.last.errors_5xx is not None)

    @property
    def requests(self) -> int:
        if self.counts_traffic:
            return max(0, self.last.requests - self.first.requests)  # type: ignore[union-attr,operator]
        return len(self.probes)

    @property
    def errors(self) -> int:
        if self.counts_traffic:
            return max(0, self.last.errors_5xx - self.first.errors_5xx)  # type: ignore[union-attr,operator]
        return sum(1 for p in self.probes
                   if not p.ok and (p.status is None or p.status >= 500))

    @property
    def ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def p95_ms(self) -> float | None:
        return p95([p.latency_ms for p in self.probes if p.latency_ms is not None])

    @property
    def restarts(self) -> int:
        if self.first is None or self.last is None:
            return 0
        return max(0, self.last.restarts - self.first.restarts)

    @property
    def ratio_source(self) -> str:
        if self.counts_traffic:
            return self.last.source or "the target's counters"  # type: ignore[union-attr]
        return "the window's probes"

    # ------------------------------------------------------------------ verdict

    def breach(self) -> str | None:
        """The first limit crossed, said with its numbers; None while the release is fine."""
        lim = self.limits
        if self.requests >= lim.min_requests and self.ratio > lim.max_5xx_ratio:
            return (f"5xx ratio {self.errors}/{self.requests} = {self.ratio:.1%} is above "
                    f"{lim.max_5xx_ratio:.1%} ({self.ratio_source})")
        latencies = [p.latency_ms for p in self.probes if p.latency_ms is not None]
        value = self.p95_ms
        if len(latencies) >= MIN_P95_SAMPLES and value is not None and value > lim.max_p95_ms:
            return (f"p95 latency {value:.0f} ms over {len(latencies)} probes is above "
                    f"{lim.max_p95_ms:.0f} ms ({lim.p95_source})")
        if self.restarts > 0:
            where = f" ({self.last.source})" if self.last and self.last.source else ""
            return (f"{self.restarts} restart(s) of the release's instances during the "
                    f"window{where}")
        if self.unready_streak >= UNREADY_STREAK and self.last is not None:
            of = f" of {self.last.instances}" if self.last.instances is not None else ""
            return (f"{self.last.unready}{of} instance(s) not ready for {self.unready_streak} "
                    f"samples in a row ({self.last.detail or self.last.source})")
        return None

    def summary(self) -> dict[str, Any]:
        """The numbers recorded on the release (`meta["watch"]`) and in the result."""
        value = self.p95_ms
        return {
            "requests": self.requests, "errors_5xx": self.errors,
            "ratio": round(self.ratio, 4), "ratio_source": self.ratio_source,
            "p95_ms": round(value, 1) if value is not None else None,
            "probes": len(self.probes), "restarts": self.restarts,
            "max_5xx_ratio": self.limits.max_5xx_ratio,
            "max_p95_ms": round(self.limits.max_p95_ms, 1),
            "p95_source": self.limits.p95_source, "min_requests": self.limits.min_requests,
            "seconds": self.limits.seconds,
            "target_latency_ms": self.last.latency_ms if self.last else None,
        }


@dataclass
class Verdict:
    ok: bool
    reason: str
    window: Window
    elapsed: float


def watch(env_name: str, limits: Limits, probe: Callable[[], HealthSample | None] | None,
          traffic: Callable[[], TrafficSample] | None, emit: Emit, *,
          interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Verdict:
    """Sample every `interval` seconds for `limits.seconds`; stop at the first breach.

    `probe` and `traffic` are called once per interval; a probe that raises counts as no
    answer, a traffic read that raises ProviderError/OSError is skipped (said once after
    SAMPLER_MISSES in a row; the window goes on with its probes). Emits one WatchSample per
    interval. Returns the Verdict (`reason` holds the breach with its numbers)."""
    window = Window(limits)
    start = clock()
    misses, said_misses, n = 0, False, 0
    while True:
        tick = clock()
        if probe is not None:
            try:
                sample = probe()
            except Exception as exc:  # noqa: BLE001 - a probe that cannot run is no answer
                sample = HealthSample(ok=False, status=None, latency_ms=None,
                                      error=f"probe failed: {exc}", env=env_name)
            if sample is not None:
                window.add_probe(sample)
        if traffic is not None:
            try:
                window.add_traffic(traffic())
                misses = 0
            except (ProviderError, OSError) as exc:
                misses += 1
                if misses >= SAMPLER_MISSES and not said_misses:
                    said_misses = True
                    what = getattr(exc, "what", None) or str(exc)
                    emit(Message(f"watch window: the target's traffic numbers cannot be read "
                                 f"({what}); judging the window's probes", level="warning",
                                 env=env_name))
        n += 1
        elapsed = clock() - start
        reason = window.breach()
        left = max(0.0, limits.seconds - elapsed)
        last_probe = window.probes[-1] if window.probes else None
        emit(WatchSample(
            env=env_name, n=n, seconds=limits.seconds, seconds_left=round(left, 1),
            requests=window.requests, errors_5xx=window.errors, ratio=round(window.ratio, 4),
            p95_ms=round(window.p95_ms, 1) if window.p95_ms is not None else None,
            max_5xx_ratio=limits.max_5xx_ratio, max_p95_ms=round(limits.max_p95_ms, 1),
            restarts=window.restarts, ok=reason is None,
            probe_ok=last_probe.ok if last_probe else None,
            final=reason is not None or left <= 0, reason=reason or "",
            source=window.ratio_source))
        if reason is not None:
            return Verdict(False, reason, window, elapsed)
        if left <= 0:
            return Verdict(True, "", window, elapsed)
        sleep(max(0.0, min(left, interval - (clock() - tick))))


# --------------------------------------------------------------------------- the pipeline hook


class WatchBreached(GateFailed):
    """The release went bad in its watch window and was switched back (exit 3)."""

    release_status = "rolled_back"
    audit_outcome = "rolled back by the watch window"

    def __init__(self, what: str, *, summary: dict[str, Any], rolled_back_to: str | None,
                 where: str | None = None, hint: str | None = None) -> None:
        super().__init__(what, where=where, hint=hint)
        self.summary = summary
        self.rolled_back_to = rolled_back_to
        if rolled_back_to is None:  # nothing to switch back to: it serves, and failed its window
            self.release_status = "failed"
            self.audit_outcome = "watch window breached"
        self.release_meta = {"watch": {**summary, "breach": what}}

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "watch": self.summary,
                "rolled_back_to": self.rolled_back_to}


def previous_p95(ctx: Context, env_name: str, previous: Release | None
                 ) -> tuple[float | None, str | None]:
    """The p95 (ms) the previous release's own window recorded, from the state store (else
    the newest recorded one of the environment), with that release's id; (None, None)."""
    candidates: list[Release] = []
    if previous is not None:
        known = ctx.store.get_release(env_name, previous.id)
        candidates += [r for r in (known, previous) if r is not None]
    candidates += [r for r in ctx.store.releases(env_name, limit=20)
                   if r.status in ("healthy", "superseded")]
    for release in candidates:
        value = (release.meta or {}).get("watch", {}).get("p95_ms")
        if isinstance(value, int | float) and value > 0 and \
                not (release.meta or {}).get("watch", {}).get("breach"):
            return float(value), release.id
    return None, None


def default_probe(env: Environment) -> Callable[[], HealthSample] | None:
    """GET https://<domain><health_path> (for a provider without a `health` hook)."""
    if not env.domain:
        return None
    from cockpit.probes import http_health

    url = f"https://{env.domain}{env.app.health_path}"
    return lambda: http_health(url, timeout=min(env.gate.timeout, 5.0))


def probe_for(provider: Any, env: Environment) -> Callable[[], HealthSample | None]:
    """The window's own probe: the provider's `health(env)` (the way users arrive), or, where
    it has none or returns None, GET https://<domain><health_path>; None without either."""
    hook = getattr(provider, "health", None)
    fallback = default_probe(env)

    def probe() -> HealthSample | None:
        sample = hook(env) if callable(hook) else None
        if sample is None and fallback is not None:
            sample = fallback()
        return sample

    return probe


def watch_traffic(provider: Any, env: Environment, release: Release
                  ) -> Callable[[], TrafficSample] | None:
    """The provider's traffic sampler (its `watch_traffic(env, release)` hook), or None when it
    has none (the default): the window then judges its own probes only."""
    hook = getattr(provider, "watch_traffic", None)
    return hook(env, release) if callable(hook) else None


def after_switch(ctx: Context, env: Environment, provider: Any, result: Release,
                 previous: Release | None, emit: Emit, *, command: str) -> Release:
    """Watch `result` (just switched to) and roll back to `previous` on a breach.

    Returns `result` with `meta["watch"]` (the window's numbers) when the window passes or is
    skipped. Raises WatchBreached (exit 3) after switching back; ProviderError when switching
    back failed too (the message says both)."""
    if getattr(ctx.options, "no_watch", False):
        emit(Message(f"watch window skipped (--no-watch): release {result.id} is not watched "
                     "after the switch", level="warning", env=env.name))
        result.meta = {**result.meta, "watch": {"skipped": "--no-watch"}}
        return result
    p95_ms, p95_id = previous_p95(ctx, env.name, previous)
    limits = resolve_limits(env, p95_ms, p95_id)
    if limits.seconds <= 0:  # `seconds = 0` (or COCKPIT_WATCH_SECONDS=0) turns it off
        return result
    probe = probe_for(provider, env)
    try:
        traffic = watch_traffic(provider, env, result)
    except (ProviderError, OSError) as exc:
        traffic = None
        emit(Message(f"watch window: no traffic numbers from the target "
                     f"({getattr(exc, 'what', exc)}); judging the window's probes",
                     level="warning", env=env.name))
    title = (f"watch window: {limits.seconds:g}s, 5xx ≤ {limits.max_5xx_ratio:.1%}, "
             f"p95 ≤ {limits.max_p95_ms:.0f} ms")
    emit(StepStarted("watch", title, env=env.name))
    verdict = watch(env.name, limits, probe, traffic, emit)
    summary = verdict.window.summary()
    if verdict.ok:
        p95_text = f", p95 {summary['p95_ms']:.0f} ms" if summary["p95_ms"] is not None else ""
        emit(StepFinished("watch", f"{summary['errors_5xx']}/{summary['requests']} 5xx"
                          f"{p95_text}, {summary['restarts']} restarts over "
                          f"{limits.seconds:g}s", env=env.name, seconds=round(verdict.elapsed, 3)))
        result.meta = {**result.meta, "watch": summary}
        return result
    what = f"release {result.id} went bad {verdict.elapsed:.0f}s after the switch: " \
           f"{verdict.reason}"
    emit(StepFailed("watch", verdict.reason, env=env.name))
    if previous is None or previous.id == result.id:
        ctx.store.audit(command, env.name, "watch window breached",
                        f"{what}; nothing earlier to switch back to")
        raise WatchBreached(f"{what}; there is no earlier release to switch back to, so it "
                            "keeps serving", summary=summary, rolled_back_to=None,
                            hint=f"cockpit logs {env.name} --since 5m, then fix and deploy")
    emit(Message(f"{what}; switching back to release {previous.id}", level="error",
                 env=env.name))
    try:
        back = provider.rollback(env, previous, emit)
    except Exception as exc:
        text = getattr(exc, "what", None) or str(exc) or type(exc).__name__
        ctx.store.audit(command, env.name, "watch window breached",
                        f"{what}; switching back to release {previous.id} failed: {text}")
        raise ProviderError(f"{what}; switching back to release {previous.id} FAILED: {text}",
                            hint=f"cockpit rollback {env.name} --to {previous.id}") from None
    back.status = "healthy"
    ctx.store.save_release(back)
    ctx.store.audit(command, env.name, "rolled back by the watch window",
                    f"{what}; release {back.id} serves again")
    raise WatchBreached(f"{what}; switched back to release {back.id}, which serves again",
                        summary=summary, rolled_back_to=back.id,
                        where=f"{env.name} watch window",
                        hint=f"cockpit logs {env.name} --since 5m shows why; fix and deploy again")
