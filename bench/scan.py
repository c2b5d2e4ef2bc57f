"""How fast `cockpit scan` reads a 10k-file repository, against a raw baseline.

Generates a tree in a temp dir (Python and JS sources, a node_modules that must be skipped,
config files, a few findings), then in the same process runs several rounds of:
  - baseline: os.walk + read of every file (skipping the same dependency dirs), and
    `git ls-files` when git is installed;
  - cockpit.scan.scan(root).
Prints the medians and the ratio. The budget: under 2 s for 10k files.

    python bench/scan.py [--files 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = """import os

from flask import Blueprint, jsonify

bp = Blueprint("m{i}", __name__)
TIMEOUT = int(os.environ.get("TIMEOUT_{i}", "30"))


@bp.get("/items/{i}")
def item_{i}():
    data = [n * {i} for n in range(10)]
    return jsonify(data=data, timeout=TIMEOUT)
"""
JS = """const express = require('express');
const router = express.Router();
const limit = process.env.LIMIT_{i} || 10;

router.get('/things/{i}', (req, res) => {{
  res.json({{ id: {i}, limit }});
}});

module.exports = router;
"""
MD = "# Note {i}\n\nSome words about module {i}. " * 3 + "\n"


def generate(root: Path, files: int) -> None:
    rng = random.Random(7)
    (root / "requirements.txt").write_text("flask==3.0.3\ngunicorn==22.0.0\n")
    (root / "app.py").write_text(
        "import os\nfrom flask import Flask\napp = Flask(__name__)\n"
        "app.config['SECRET_KEY'] = 'a8f5f167f44f4964e6c998dee827110c'\n"
        "@app.get('/health')\ndef health():\n    return 'ok'\n"
    )
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    nm = root / "node_modules" / "lib"
    nm.mkdir(parents=True)
    for i in range(200):  # skipped: must not count against the scanner
        (nm / f"f{i}.js").write_text(JS.format(i=i))
    made = 3
    i = 0
    while made < files:
        pkg = root / "src" / f"pkg{i // 100}" / f"sub{(i // 10) % 10}"
        pkg.mkdir(parents=True, exist_ok=True)
        kind = rng.random()
        if kind < 0.45:
            (pkg / f"m{i}.py").write_text(PY.format(i=i))
        elif kind < 0.85:
            (pkg / f"t{i}.js").write_text(JS.format(i=i))
        else:
            (pkg / f"n{i}.md").write_text(MD.format(i=i))
        made += 1
        i += 1


SKIP = {".git", "node_modules", ".venv", "__pycache__"}


def baseline(root: Path) -> int:
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP]
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as fh:
                fh.read()
            n += 1
    return n


def git_ls_files(root: Path) -> None:
    subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=root, check=True, capture_output=True
    )


def timed(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from cockpit.scan import scan

    tmp = Path(tempfile.mkdtemp(prefix="cockpit-bench-scan-"))
    try:
        generate(tmp, args.files)
        has_git = shutil.which("git") is not None
        if has_git:
            subprocess.run(["git", "init", "-q"], cwd=tmp, check=True)
        baseline(tmp)  # warm the page cache once for both
        raw = timed(lambda: baseline(tmp), args.rounds)
        git = timed(lambda: git_ls_files(tmp), args.rounds) if has_git else []
        result = scan(tmp)
        runs = timed(lambda: scan(tmp), args.rounds)
        med_raw, med_scan = statistics.median(raw), statistics.median(runs)
        print(
            f"files generated: {args.files} (+200 in node_modules, skipped); "
            f"scanned {result.files_scanned}; findings {len(result.findings)}"
        )
        print(f"baseline os.walk+read  median {med_raw * 1000:8.1f} ms  ({args.rounds} rounds)")
        if git:
            print(f"git ls-files -co       median {statistics.median(git) * 1000:8.1f} ms")
        print(
            f"cockpit scan           median {med_scan * 1000:8.1f} ms  "
            f"min {min(runs) * 1000:.1f} max {max(runs) * 1000:.1f}"
        )
        print(
            f"ratio scan/baseline    {med_scan / med_raw:8.2f}x   budget 2000 ms: "
            f"{'OK' if med_scan < 2.0 else 'OVER'}"
        )
        return 0 if med_scan < 2.0 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
