"""Time `cockpit deploy` and `cockpit rollback` on the lab against the raw floor.

The floor is the same work done by a plain script: one `ssh` running `docker run` of the new
release on the free slot, curl until healthy (the same gate: N consecutive 2xx at the same
interval, with the environment's Host header) and the HAProxy runtime switch (through its 0600
unix socket with a 3-line `python3 -S`: a shell cannot open a unix socket; ~10 ms). Images are
built before timing. Rounds alternate two images; medians and the ratio are printed (and --json).

    python bench/deploy_vps.py [--rounds 7]

Goal: deploy ≤ 1.4× the floor; rollback under 2 s. Not a test: numbers vary by machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = "bench"
PORTS = {"staging": 8600, "floor": 8700}
ZONE = f"{APP}-{os.urandom(3).hex()}.test"  # fresh names: Pebble's root changes per lab start
GATE = {"count": 3, "interval": 0.1, "timeout": 3.0, "deadline": 30.0}


def toml(lab) -> str:
    envs = "".join("\n" + lab.vps_table(name, port, domain=f"{name}.{ZONE}", keep_releases=3,
                                         gate=GATE) for name, port in PORTS.items())
    return f"""[app]
name = "{APP}"
build_args = {{ BASE_IMAGE = "{lab.base_image}" }}
{envs}"""


FLOOR = r"""
set -eu
name=$1; image=$2; port=$3; new=$4; old=$5; host=$6; count=$7; interval=$8; sock=$9
docker run -d --name "$name" --init --network host -e PORT="$port" "$image" >/dev/null
ok=0
while [ "$ok" -lt "$count" ]; do
  if curl -fsS -o /dev/null -m 3 -H "Host: $host" "http://127.0.0.1:$port/up"; then
    ok=$((ok + 1)); else ok=0; fi
  [ "$ok" -lt "$count" ] && sleep "$interval"
done
b=bench-floor
# the runtime API is a 0600 unix socket only (no TCP listener): the shell cannot open one
printf 'set server %s/%s health up; set weight %s/%s 100; set weight %s/%s 0\n' \
  "$b" "$new" "$b" "$new" "$b" "$old" | python3 -S -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
while s.recv(65536): pass' "$sock"
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from cockpit import lab as cockpit_lab

    lab = cockpit_lab.up()
    work = Path(tempfile.mkdtemp(prefix="cockpit-bench-"))
    app = work / "app"
    app.mkdir()
    for f in ("Dockerfile", "app.py"):
        shutil.copy(REPO / "examples" / "hello-app" / f, app / f)
    (app / "cockpit.toml").write_text(toml(lab))
    env = {**os.environ, **lab.as_env(), "COCKPIT_STATE_DIR": str(work / "state")}

    def cockpit(*a: str) -> float:
        # the watch window after a switch (60 s by default) judges real traffic; the floor
        # has none, so it is skipped here (`--no-watch`), as the gate itself is not
        extra = ["--no-watch"] if a[0] in ("deploy", "rollback") else []
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "cockpit", *a, *extra, "--json"], cwd=app,
                              env=env,
                              capture_output=True, text=True)
        took = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"cockpit {' '.join(a)} failed:\n{proc.stdout[-2000:]}\n"
                             f"{proc.stderr[-2000:]}")
        return took

    def clean() -> None:
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=cockpit.app={APP}"],
                             capture_output=True, text=True).stdout.split()
        ids += subprocess.run(["docker", "ps", "-aq", "--filter", f"name={APP}-floor-"],
                              capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)

    clean()
    images = []
    for version in ("1", "2"):
        out = subprocess.run(["docker", "build", "-q", "--build-arg",
                              f"BASE_IMAGE={lab.base_image}", "--build-arg",
                              f"HELLO_VERSION={version}", "-t", f"{APP}:v{version}", str(app)],
                             capture_output=True, text=True, check=True)
        images.append(out.stdout.strip().splitlines()[-1])
    for name in PORTS:
        cockpit("setup", name, "--confirm", name, "--trust-host", lab.ssh_hostkey_sha256)
    cockpit("domain", "staging")
    cockpit("deploy", "staging", "--image", images[0])  # warm: first release and certificate

    ssh = ["ssh", "-i", lab.ssh_key, "-p", str(lab.ssh_port), "-o", "BatchMode=yes",
           "-o", f"UserKnownHostsFile={lab.ssh_known_hosts}", "-o", "StrictHostKeyChecking=yes",
           f"{lab.ssh_user}@{lab.ssh_host}"]
    import pwd

    sock = f"{pwd.getpwnam(lab.ssh_user).pw_dir}/.cockpit/switch/admin.sock"
    slots = {"blue": PORTS["floor"] + 1, "green": PORTS["floor"] + 2}

    def floor(round_no: int, image: str) -> float:
        new = "blue" if round_no % 2 == 0 else "green"
        old = "green" if new == "blue" else "blue"
        name = f"{APP}-floor-{round_no}"
        script = ["bash", "-c", FLOOR, "floor", name, image, str(slots[new]), new, old,
                  f"floor.{ZONE}", str(GATE["count"]), str(GATE["interval"]),
                  sock]
        import shlex

        t0 = time.perf_counter()
        subprocess.run([*ssh, shlex.join(script)], check=True, capture_output=True)
        took = time.perf_counter() - t0
        # untimed: free the old slot for the next round
        subprocess.run([*ssh, f"docker rm -f {APP}-floor-{round_no - 1} >/dev/null 2>&1 || true"],
                       check=False)
        return took

    deploys, rollbacks, floors = [], [], []
    for r in range(args.rounds):
        image = images[(r + 1) % 2]
        floors.append(floor(r, image))
        deploys.append(cockpit("deploy", "staging", "--image", image))
        rollbacks.append(cockpit("rollback", "staging"))
        deploys.append(cockpit("deploy", "staging", "--image", images[r % 2]))
    clean()
    shutil.rmtree(work, ignore_errors=True)

    result = {
        "rounds": args.rounds, "gate": GATE,
        "deploy_median_s": round(statistics.median(deploys), 3),
        "floor_median_s": round(statistics.median(floors), 3),
        "rollback_median_s": round(statistics.median(rollbacks), 3),
        "ratio": round(statistics.median(deploys) / statistics.median(floors), 2),
        "deploys": [round(x, 3) for x in deploys], "floors": [round(x, 3) for x in floors],
        "rollbacks": [round(x, 3) for x in rollbacks],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"deploy   median {result['deploy_median_s']:.3f}s  ({len(deploys)} runs)")
        print(f"floor    median {result['floor_median_s']:.3f}s  ({len(floors)} runs)")
        print(f"ratio    {result['ratio']:.2f}x  (goal ≤ 1.4x)")
        print(f"rollback median {result['rollback_median_s']:.3f}s  (goal < 2 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
