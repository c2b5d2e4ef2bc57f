"""Seconds from a clean copy of each corpus app to prod serving it on the lab, and the pass rate.

For every app under tests/corpus/apps/ (or the ones named), in a fresh work folder:

    cockpit demo --app tests/corpus/apps/NAME --dir WORK --headless --json

which scans, applies the safe fixes, generates what is missing, builds on the lab, deploys staging
behind its health gate and promotes the same image to prod. The app counts as passing when the
command exits 0, its `result` names an https URL for both environments, both URLs answer 2xx on
the app's health path through the lab's edge, and prod runs staging's image. An app whose
corpus.toml says `lab = "no: <reason>"` is listed with its reason and left out of the rate. The
first run of an
app pays for its dependency downloads; `--rounds 2` shows the warm figure too (the engine's layer
cache, as a developer's second deploy would).

    python bench/corpus.py [APP ...] [--rounds 1] [--json]

Needs the lab (`scripts/lab up`; the variables from `scripts/lab env`). Containers the runs start
are removed afterwards (by their app label), so the lab host is left as found.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APPS = REPO / "tests" / "corpus" / "apps"


def _result(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if obj.get("type") in ("result", "error"):
            return obj
    return None


def _answers(url: str, path: str) -> bool:
    """GET url+path through the lab's edge: the domain resolves to this machine (the lab's DNS
    answers 127.0.0.1 for every name), TLS is verified against Pebble's issuer root."""
    import http.client
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    ctx = ssl.create_default_context()
    root = os.environ.get("COCKPIT_LAB_ACME_ISSUER_ROOT")
    if root and Path(root).is_file():
        ctx.load_verify_locations(root)
    try:
        raw = socket.create_connection(("127.0.0.1", parts.port or 443), timeout=10)
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=10,
                                           context=ctx)
        conn.sock = ctx.wrap_socket(raw, server_hostname=parts.hostname)
        conn.request("GET", path, headers={"Host": parts.netloc})
        status = conn.getresponse().status
        conn.close()
        return 200 <= status < 300
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return False


def _cleanup(work: Path) -> None:
    try:
        name = tomllib.loads((work / "cockpit.toml").read_text())["app"]["name"]
    except (OSError, KeyError, ValueError):
        return
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=cockpit.app={name}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)


def run_app(app: Path, work: Path) -> dict:
    """One demo run: {app, seconds, ok, stage, detail}. Never raises for an app's failure."""
    started = time.perf_counter()
    # the watch window after each switch is left out: it is a fixed wait, not the path's speed
    env = {**os.environ, "COCKPIT_WATCH_SECONDS": "0"}
    proc = subprocess.run([sys.executable, "-m", "cockpit", "demo", "--app", str(app), "--dir",
                           str(work), "--headless", "--json"],
                          capture_output=True, text=True, timeout=1800, env=env)
    seconds = time.perf_counter() - started
    res = _result(proc.stdout) or {}
    row = {"app": app.name, "seconds": round(seconds, 1), "ok": False, "detail": ""}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:]
        row["detail"] = str(res.get("error") or res.get("message") or (tail[0] if tail else "?"))
        row["detail"] = f"exit {proc.returncode}: {row['detail'][:200]}"
        return row
    envs = (res.get("data") or {}).get("environments") or {}
    health = "/"
    try:
        health = tomllib.loads((work / "cockpit.toml").read_text())["app"].get("health_path", "/")
    except (OSError, KeyError, ValueError):
        pass
    urls = {name: e.get("url", "") for name, e in envs.items()}
    images = {name: e.get("image", "") for name, e in envs.items()}
    if set(urls) < {"staging", "prod"} or not all(u.startswith("https://") for u in urls.values()):
        row["detail"] = f"no https URL for both environments: {urls}"
    elif not all(_answers(u, health) for u in urls.values()):
        row["detail"] = f"an environment does not answer {health} through the edge"
    elif images.get("staging") != images.get("prod"):
        row["detail"] = "prod does not run staging's image"
    else:
        row["ok"] = True
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("apps", nargs="*", help="corpus app names (default: all)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per app (default 1)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    names = args.apps or sorted(p.name for p in APPS.iterdir() if (p / "corpus.toml").is_file())
    rows = []
    for name in names:
        app = APPS / name
        if not app.is_dir():
            parser.error(f"no corpus app {name!r} in {APPS}")
        lab = tomllib.loads((app / "corpus.toml").read_text()).get("lab", "")
        if str(lab).startswith("no"):  # e.g. a Rust app: crates cannot be fetched here
            why = str(lab).removeprefix("no: ")
            rows.append({"app": name, "ok": None, "seconds": None, "first_s": None,
                         "warm_s": None, "detail": f"not run on the lab: {why}"})
            if not args.json:
                print(f"{name:28s} n/a   {rows[-1]['detail']}", flush=True)
            continue
        times, last = [], None
        for _ in range(args.rounds):
            work = Path(tempfile.mkdtemp(prefix=f"corpus-{name}-"))
            try:
                last = run_app(app, work / "app")
                times.append(last["seconds"])
            finally:
                _cleanup(work / "app")
                shutil.rmtree(work, ignore_errors=True)
            if not last["ok"]:
                break
        assert last is not None
        last["first_s"] = times[0]
        last["warm_s"] = statistics.median(times[1:]) if len(times) > 1 else None
        rows.append(last)
        if not args.json:
            warm = f"{last['warm_s']:7.1f}" if last["warm_s"] is not None else "      -"
            print(f"{name:28s} {'pass' if last['ok'] else 'FAIL'}  first {last['first_s']:7.1f} s"
                  f"  warm {warm} s  {last['detail']}", flush=True)
    ran = [r for r in rows if r["ok"] is not None]
    passed = sum(bool(r["ok"]) for r in ran)
    if args.json:
        print(json.dumps({"rows": rows, "passed": passed, "total": len(ran)}, indent=2))
    else:
        print(f"pass rate: {passed}/{len(ran)} ({len(rows) - len(ran)} the lab cannot run)")
    return 0 if passed == len(ran) else 1


if __name__ == "__main__":
    sys.exit(main())
