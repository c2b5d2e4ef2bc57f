"""On the lab: a release that passes its gate, takes traffic and goes bad 5 s after it started
(hello-app built with HELLO_FAIL_AFTER_S=5) is rolled back by the watch window.

A load loop through the edge (HTTPS, Caddy → HAProxy) runs the whole time; `cockpit deploy
--json` runs as a real process and each NDJSON line is timestamped when it arrives, so the 5xx
the loop saw can be placed against the window: they all fall between the window's start and
the command's end, and none after it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from tests.vps.conftest import APP, _build

pytestmark = pytest.mark.slow

WATCH = """
[environments.staging.watch]
seconds = 40
max_5xx_ratio = 0.05
min_requests = 5
"""


def _run_timestamped(project, *args: str) -> tuple[int, list[tuple[float, dict]], str]:
    """`cockpit *args --json` as a process; (exit code, [(arrival time, event)], stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "cockpit", *args, "--json"],
                            cwd=project.app_dir, env=project.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, dict]] = []
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    reader.start()
    for line in proc.stdout:
        if line.strip():
            lines.append((time.time(), json.loads(line)))
    code = proc.wait(timeout=300)
    reader.join(timeout=10)
    project.outputs += [json.dumps(e) for _, e in lines] + err
    return code, lines, "".join(err)


def test_a_release_that_goes_bad_after_the_switch_is_rolled_back(ready, load_loop):
    from cockpit import pipeline

    project = ready
    project.images["fail5"] = _build(f"{APP}:fail5", project.lab, project.app_dir,
                                     HELLO_FAIL_AFTER_S="5")
    # a known healthy release serves staging first (no window for it: the suite's default)
    pipeline.deploy(project.ctx(), "staging", project.collect(), image=project.images["v2"])
    previous = pipeline.live(project.ctx(), "staging").current
    assert previous is not None and previous.status == "healthy"

    original = project.config_path.read_text()
    project.config_path.write_text(original + WATCH)
    try:
        with load_loop("staging", max_seconds=120) as loop:
            time.sleep(1.0)
            assert not loop.failures, loop.failures[:3]
            code, events, stderr = _run_timestamped(project, "deploy", "staging", "--image",
                                                    project.images["fail5"])
            ended = time.time()
            time.sleep(3.0)  # the previous release serves on: no 5xx after the command
        failures_after = [f for f in loop.failures if float(f.split()[0]) > ended]
    finally:
        project.config_path.write_text(original)

    kinds = [e.get("type") for _, e in events]
    assert code == 3, (kinds, stderr[-2000:], events[-3:])
    started = next(t for t, e in events if e.get("type") == "step_started"
                   and e.get("step") == "watch")
    # the release passed both gates and took traffic before the window opened
    finished = {e.get("step") for _, e in events if e.get("type") == "step_finished"}
    assert {"gate_pre", "switch", "gate_post"} <= finished
    samples = [e for _, e in events if e.get("type") == "watch"]
    assert samples and samples[-1]["final"] and not samples[-1]["ok"]
    assert samples[-1]["reason"].startswith("5xx ratio ")
    error = events[-1][1]
    assert error.get("exit_code") == 3 and error.get("kind") == "gate"
    assert "went bad" in error["error"] and f"release {previous.id}" in error["error"]
    assert error["watch"]["errors_5xx"] > 0 and error["rolled_back_to"] == previous.id

    # 5xx only inside the window: after it opened, before the command ended; none after
    bad = [f for f in loop.failures if "HTTP 5" in f]
    assert bad, "the load loop saw no 5xx at all: the release never went bad under it"
    assert [f for f in loop.failures if not (started <= float(f.split()[0]) <= ended)] == []
    assert failures_after == []
    assert set(loop.failures) == set(bad), loop.failures[:5]
    print(f"\nload loop: {loop.total} requests, {len(bad)} answered 5xx, all inside the "
          f"watch window ({ended - started:.1f} s from its start to the command's end); "
          f"window numbers: {error['watch']}")

    # the previous release serves again; the history and the audit log say why
    ctx = project.ctx()
    state = pipeline.live(ctx, "staging")
    assert state.current is not None and state.current.id == previous.id
    bad_release = next(r for r in ctx.store.releases("staging", limit=10)
                       if r.image == project.images["fail5"])
    assert bad_release.status == "rolled_back"
    assert bad_release.meta["watch"]["errors_5xx"] > 0
    audit = ctx.store.audit_log("staging", limit=10)
    assert any(a["result"] == "rolled back by the watch window"
               and previous.id in a["detail"] for a in audit), audit[:3]
