"""`python -m cockpit.lab up|down|status|env` (what `scripts/lab` runs)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

from . import PARTS, LabError, down, env, status, up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/lab", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="bring the lab up (idempotent)")
    p_up.add_argument(
        "parts", nargs="*", metavar="PART", help=f"only these parts ({', '.join(PARTS)})"
    )
    p_down = sub.add_parser("down", help="stop what the lab started")
    p_down.add_argument(
        "--keep-edge",
        action="store_true",
        help="leave the deploy user's Caddy and HAProxy running (shared by every lab dir)",
    )
    p_status = sub.add_parser("status", help="each part: up/down, address, pid")
    p_status.add_argument("--json", action="store_true")
    sub.add_parser("env", help='print `export` lines for a shell: eval "$(scripts/lab env)"')
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            started = time.monotonic()
            lab = up(args.parts or None)
            print(
                f"lab up in {time.monotonic() - started:.1f}s ({lab.lab_dir}); "
                "`scripts/lab env` prints the variables",
                file=sys.stderr,
            )
        elif args.cmd == "down":
            stopped = down(user_services=not args.keep_edge)
            print("stopped: " + (", ".join(stopped) or "nothing"), file=sys.stderr)
        elif args.cmd == "status":
            st = status()
            if args.json:
                print(json.dumps(st, indent=2))
            else:
                for name, part in st.items():
                    pid = part["pid"] if part["pid"] else "-"
                    print(
                        f"{name:<9} {'up' if part['up'] else 'DOWN':<5} pid {pid!s:<8} "
                        f"{part['address']}"
                    )
            return 0 if all(p["up"] for p in st.values()) else 1
        elif args.cmd == "env":
            for key, value in env().items():
                print(f"export {key}={shlex.quote(value)}")
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
