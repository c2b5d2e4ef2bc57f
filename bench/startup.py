"""Start-up benchmark: cold start of `cockpit` (the TUI) to its first rendered frame, against a
bare Textual app with one Static, alternated in the same run, several rounds.

Each round spawns a fresh interpreter (cold imports, warm OS file cache) that writes the wall
time of its first frame (`call_after_refresh` after mount, headless) and exits; start-up time =
that minus the spawn time. Goal (issue 4): median ratio <= 1.3x, and no kubernetes, docker,
paramiko, mcp (the agent server's SDK), apprise, boto3 or minio imported before the first frame.
The command line is measured too: `cockpit --help` (parser built, every command module loaded)
against `python -c pass`, and the heavy modules it loaded (none allowed).

    /work/venv/bin/python bench/startup.py [--rounds 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE = r"""
import json, os, sys, time
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("hello")

    def on_mount(self):
        self.call_after_refresh(self.done)

    def done(self):
        with open(os.environ["COCKPIT_TUI_FIRST_FRAME"], "w") as fh:
            json.dump({"t": time.time(), "heavy": []}, fh)
        self.exit(0)

Bare().run(headless=True)
"""

TOML = """\
[app]
name = "bench"

[environments.staging]
provider = "vps"
host = "127.0.0.1"
ssh_port = 1
host_port = 8101

[environments.prod]
provider = "vps"
host = "127.0.0.1"
ssh_port = 1
host_port = 8201
"""


def _once(argv: list[str], cwd: Path, state: Path) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        marker = Path(out.name)
    env = dict(os.environ, COCKPIT_TUI_FIRST_FRAME=str(marker), COCKPIT_STATE_DIR=str(state))
    started = time.time()
    subprocess.run(argv, cwd=cwd, env=env, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    data = json.loads(marker.read_text())
    marker.unlink()
    data["ms"] = (data["t"] - started) * 1000
    return data


def measure(rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "cockpit.toml").write_text(TOML)
        (root / "bare.py").write_text(BARE)
        state = root / "state"
        state.mkdir()
        bare_argv = [sys.executable, str(root / "bare.py")]
        cockpit_argv = [sys.executable, "-m", "cockpit", f"--config={root / 'cockpit.toml'}"]
        _once(bare_argv, root, state)  # warm the OS file cache for both
        first = _once(cockpit_argv, root, state)
        bare, cockpit = [], []
        for _ in range(rounds):
            bare.append(_once(bare_argv, root, state)["ms"])
            cockpit.append(_once(cockpit_argv, root, state)["ms"])
    b, c = statistics.median(bare), statistics.median(cockpit)
    return {
        "rounds": rounds,
        "bare_ms_median": round(b, 1), "bare_ms_min": round(min(bare), 1),
        "cockpit_ms_median": round(c, 1), "cockpit_ms_min": round(min(cockpit), 1),
        "ratio_median": round(c / b, 3), "ratio_min": round(min(cockpit) / min(bare), 3),
        "first_screen": first.get("screen"),
        "heavy_modules_at_first_frame": first.get("heavy", []),
    }


CLI_PROBE = r"""
import sys
sys.argv = ["cockpit", "--help"]
try:
    from cockpit.cli import main
    main()
except SystemExit:
    pass
heavy = ("kubernetes", "docker", "paramiko", "mcp", "apprise", "boto3", "minio", "textual")
print("HEAVY:" + ",".join(sorted({m.split(".")[0] for m in sys.modules
                                  if m.split(".")[0] in heavy})))
"""


def measure_cli(rounds: int) -> dict:
    """`cockpit --help` vs `python -c pass`, fresh interpreters alternated: medians in ms, and
    the heavy top-level modules the CLI loaded."""
    def run(code: str) -> tuple[float, str]:
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        return (time.perf_counter() - started) * 1000, out.strip().splitlines()[-1:]

    run(CLI_PROBE)
    bare, cli, heavy = [], [], []
    for _ in range(rounds):
        bare.append(run("pass")[0])
        ms, last = run(CLI_PROBE)
        cli.append(ms)
        heavy = [m for m in last[0].removeprefix("HEAVY:").split(",") if m] if last else []
    return {"cli_help_ms_median": round(statistics.median(cli), 1),
            "python_pass_ms_median": round(statistics.median(bare), 1),
            "heavy_modules_in_cli": heavy}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.rounds)
    result.update(measure_cli(args.rounds))
    ok = (result["ratio_median"] <= 1.3 and not result["heavy_modules_at_first_frame"]
          and not result["heavy_modules_in_cli"])
    result["goal_met"] = ok
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>30}: {value}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
