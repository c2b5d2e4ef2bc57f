"""Log tail benchmark: 1,000,000 lines into the logs screen, headless.

Reports lines/s reaching the widget, peak RSS of the process, and how long keypresses take to
be handled while the tail runs. Goals (issue 4): >= 50,000 lines/s, <= 150 MB, keys < 100 ms.

    /work/venv/bin/python bench/logtail.py [--lines 1000000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def source(total: int, batch: int = 1000):
    """As fast as a source can produce: batches of (ts, instance, text) from 3 instances."""
    names = ("web-1", "web-2", "worker-1")
    ts = 1_767_225_600.0
    sent = 0
    while sent < total:
        n = min(batch, total - sent)
        yield [(ts + (sent + i) / 1000, names[(sent + i) % 3],
                f"GET /api/items/{sent + i} 200 {(sent + i) % 97} ms user=u{(sent + i) % 13} "
                "agent=bench/1.0 path=/api/items") for i in range(n)]
        sent += n


def log_events(total: int):
    """The provider path: one LogLine event at a time (what `Provider.logs` yields)."""
    from cockpit.events import LogLine

    names = ("web-1", "web-2", "worker-1")
    ts = 1_767_225_600.0
    for n in range(total):
        yield LogLine(names[n % 3], f"GET /api/items/{n} 200 {n % 97} ms user=u{n % 13} "
                      "agent=bench/1.0 path=/api/items", ts=ts + n / 1000)


async def measure(total: int, one_by_one: bool = False) -> dict:
    from cockpit.screens.logs import LogsScreen
    from textual import events
    from textual.app import App

    class Host(App):
        session = None

        def worker_failed(self, worker) -> None:
            raise SystemExit(f"the tail failed: {worker.error!r}")

    handled = asyncio.Event()
    painted: list[float] = []

    class Measured(LogsScreen):
        """Marks when a toggle key's action ran and the next frame after it was composed."""

        def _mark(self) -> None:
            self.call_after_refresh(lambda: (painted.append(time.perf_counter()), handled.set()))

        def action_wrap(self) -> None:
            super().action_wrap()
            self._mark()

        def action_timestamps(self) -> None:
            super().action_timestamps()
            self._mark()

    app = Host()
    key_times: list[float] = []
    async with app.run_test(size=(120, 40)):
        feed = log_events if one_by_one else source
        screen = Measured("bench", source=lambda: feed(total))
        base_rss = _rss_mb()
        start = time.perf_counter()
        await app.push_screen(screen)
        view = screen.view
        keys = ["w", "t", "w", "t"]
        k = 0
        deadline = start + 300
        driver = app._driver
        while view.received < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            if view.received > 0:
                handled.clear()
                before = time.perf_counter()
                key = events.Key(keys[k % len(keys)], keys[k % len(keys)])
                key.set_sender(app)
                driver.send_message(key)
                try:
                    await asyncio.wait_for(handled.wait(), 5)
                    key_times.append((painted[-1] - before) * 1000)
                except TimeoutError:
                    key_times.append(5000.0)
                k += 1
        elapsed = time.perf_counter() - start
        screen.drain()
        received = view.received
    return {
        "source": "LogLine events one by one" if one_by_one else "batches of 1000 tuples",
        "lines": received,
        "seconds": round(elapsed, 3),
        "lines_per_s": round(received / elapsed),
        "peak_rss_mb": round(_rss_mb(), 1),
        "rss_before_mb": round(base_rss, 1),
        "kept_lines": len(view.lines),
        "dropped": view.dropped,
        "keys": len(key_times),
        "key_ms_median": round(statistics.median(key_times), 1) if key_times else None,
        "key_ms_max": round(max(key_times), 1) if key_times else None,
        "key_ms_p95": round(sorted(key_times)[int(len(key_times) * 0.95) - 1], 1)
        if len(key_times) > 1 else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--events", action="store_true",
                        help="feed LogLine events one at a time (the provider path)")
    args = parser.parse_args()
    result = asyncio.run(measure(args.lines, args.events))
    goals = {
        "lines_per_s": result["lines_per_s"] >= 50_000,
        "peak_rss_mb": result["peak_rss_mb"] <= 150,
        "key_ms_max": (result["key_ms_max"] or 0) < 100,
    }
    result["goals_met"] = goals
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
