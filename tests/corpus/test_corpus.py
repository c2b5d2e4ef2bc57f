"""The corpus, end to end: every app under tests/corpus/apps/ goes from its folder to prod on the
lab, and each step a user relies on is checked on the way.

One parametrized test per app (its `corpus.toml` says what a reviewer expects). Stages, each a
helper below, run in order; a failing stage is reported with its name and the last log lines,
the stages that need it are reported as not reached, and the others still run, so one run
shows everything that is wrong with an app:

  scan        `cockpit.scan.scan` finds exactly the expected finding ids (no false alarms), and
              the detected facts in `[scan]`, `release_contains`, `data_dirs`, and the
              accessories the app needs (`accessories`, from cockpit.accessories.for_scan).
  fix         `cockpit scan --fix --yes --json` in a copy; every changed .py parses (ast), every
              changed .js passes `node --check`, changed Go passes `go vet` (lab golang image),
              changed JSON/TOML loads; files listed in `unchanged` are not touched.
  own-tests   the app's own tests pass on the fixed copy (Python: a venv cached under
              $COCKPIT_CORPUS_CACHE keyed on what it installs; Node: npm/pnpm on this host;
              Go: the lab's golang image).
  generate    the missing Dockerfile/.dockerignore from `cockpit.generate.artifacts` (an app's
              own Dockerfile is kept).
  build       `docker build` with `cockpit.lab.images.build_args_for(Dockerfile)`, tagged
              cockpit-corpus/<app>:latest (the same tag every run: the layer cache is reused).
  container   the release command (twice: it must be safe to repeat) in a one-off container
              with the data volumes, then the app with -e PORT=<free port> --network host: not
              root, listening on all interfaces at $PORT, health path 2xx and the real page 2xx
              containing `page_contains` through a non-loopback address of this machine;
              with `[persist]`, data written through the app survives a redeploy (release
              command again, new container, same volumes). An app that needs accessories gets
              a scratch one of each (the lab's Postgres/Redis image, a generated password,
              port published on 127.0.0.1 only, health-checked; its URL in DATABASE_URL /
              REDIS_URL for the release command and the app), removed at the end.
  deploy      `cockpit demo --app <pristine copy> --dir <work> --headless --json`: staging and
              prod answer the health path and the page through the lab's edge (HTTPS, Pebble CA),
              prod runs the same image digest as staging, the pristine copy is unchanged.
              With `accessories`: the demo's cockpit.toml has them, each environment runs its
              own healthy container of each, and `[persist]` holds on the lab (written on
              staging, kept after `cockpit deploy staging`, absent from prod). Whatever the
              deploy made on the lab is removed: the app's and accessories' containers,
              volumes, networks, and its keyring items.

An app whose corpus.toml has `lab = "no: <reason>"` runs scan and fix only; the reason is part
of the expectation, not a skip. A missing tool or lab part is a failure, never a skip.

Seconds per stage are appended to $COCKPIT_CORPUS_CACHE/times.jsonl (one JSON object per app
run) and printed with the test's output.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import http.client
import json
import os
import secrets as pysecrets
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

HERE = Path(__file__).resolve().parent
APPS_DIR = HERE / "apps"
REPO = HERE.parent.parent
APPS = sorted(p.name for p in APPS_DIR.iterdir() if (p / "corpus.toml").is_file())
CACHE = Path(os.environ.get("COCKPIT_CORPUS_CACHE", "/var/tmp/cockpit-corpus"))
TAIL = 40  # log lines shown with a failure

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


# --------------------------------------------------------------------------- plumbing


class StageError(AssertionError):
    """A stage's failure: what was expected, and the last log lines that show why not."""


def tail(text: str, n: int = TAIL) -> str:
    lines = (text or "").rstrip().splitlines()
    return "\n".join(("  | " + line) for line in lines[-n:])


def run(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 600, what: str = "", check: bool = True) -> subprocess.CompletedProcess:
    """Run `cmd`; with `check`, a non-zero exit raises StageError with the output's tail."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except FileNotFoundError as exc:
        raise StageError(f"{what or cmd[0]}: {cmd[0]} is not installed on this machine ({exc})"
                         ) from None
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or b""
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        raise StageError(f"{what or ' '.join(cmd[:3])}: no answer in {timeout:.0f} s\n{tail(out)}"
                         ) from None
    if check and proc.returncode != 0:
        raise StageError(f"{what or ' '.join(cmd[:3])} exited {proc.returncode}\n"
                         f"{tail(proc.stdout + proc.stderr)}")
    return proc


def logs(name: str) -> str:
    """A container's output, stdout and stderr (where most servers log)."""
    proc = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=60)
    return proc.stdout + proc.stderr


def docker(*args: str, timeout: float = 600, check: bool = True, what: str = "") -> str:
    return run(["docker", *args], timeout=timeout, check=check,
               what=what or f"docker {' '.join(args[:2])}").stdout.strip()


class Stages:
    """Runs the stages of one app; collects failures and seconds per stage."""

    def __init__(self, app: str) -> None:
        self.app = app
        self.failed: set[str] = set()
        self.problems: list[str] = []
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[..., Any], *args: Any,
                 needs: tuple[str, ...] = ()) -> Any:
        blocked = [n for n in needs if n in self.failed]
        if blocked:
            self.failed.add(name)
            self.problems.append(f"[{self.app}] stage {name}: not reached "
                                 f"({', '.join(blocked)} failed)")
            return None
        started = time.monotonic()
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - every stage failure is reported, then the rest run
            self.failed.add(name)
            kind = "" if isinstance(exc, AssertionError) else f"{type(exc).__name__}: "
            self.problems.append(f"[{self.app}] stage {name} failed: {kind}{exc}")
            return None
        finally:
            self.seconds[name] = round(time.monotonic() - started, 1)

    def finish(self) -> None:
        total = round(sum(self.seconds.values()), 1)
        record = {"app": self.app, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "seconds": self.seconds, "total": total, "failed": sorted(self.failed)}
        print(json.dumps(record))
        try:
            CACHE.mkdir(parents=True, exist_ok=True)
            with open(CACHE / "times.jsonl", "a") as fh:
                fh.write(json.dumps(record) + "\n")
        except OSError:
            pass
        if self.problems:
            pytest.fail("\n\n".join(self.problems), pytrace=False)


def load_expect(app: str) -> dict[str, Any]:
    path = APPS_DIR / app / "corpus.toml"
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise AssertionError(f"{path}: {exc}") from None
    for key in ("findings", "health_path", "notes"):
        if key not in data:
            raise AssertionError(f"{path}: missing key {key!r}")
    if "lab" not in data:
        for key in ("page", "page_contains"):
            if key not in data:
                raise AssertionError(f"{path}: missing key {key!r} (or lab = \"no: reason\")")
    return data


def copy_app(app: str, dest: Path) -> Path:
    shutil.copytree(APPS_DIR / app, dest, ignore=shutil.ignore_patterns(
        "corpus.toml", "node_modules", ".next", "__pycache__", ".pytest_cache"))
    return dest


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and "node_modules" not in p.parts:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def lab_image(name: str) -> str:
    try:
        from cockpit.lab.images import image_ref
    except ImportError as exc:
        raise StageError(f"LAB: cockpit.lab.images is absent ({exc})") from None
    return image_ref(name)


# --------------------------------------------------------------------------- stages


def check_scan(root: Path, expect: dict[str, Any]):
    """The scan's finding ids equal the expected ones; `[scan]` facts, `release_contains` and
    `data_dirs` match. Returns the ScanResult."""
    from cockpit.scan import scan

    result = scan(root)
    allow_info = set(expect.get("allow_info", []))
    got = sorted({f.id for f in result.findings
                  if not (f.severity == "info" and f.id in allow_info)})
    want = sorted(set(expect["findings"]))
    problems = []
    if got != want:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        listing = "\n".join(f"  | {f.severity:<7} {f.id:<22} {f.where or '-':<30} {f.message}"
                            for f in result.findings)
        problems.append(f"finding ids differ: missing {missing}, unexpected {extra}\n{listing}")
    for key, value in (expect.get("scan") or {}).items():
        actual = getattr(result, key, "<no such field>")
        if actual != value:
            problems.append(f"scan.{key} = {actual!r}, expected {value!r}")
    if "port" in expect and result.port != expect["port"]:
        problems.append(f"scan.port = {result.port!r}, expected {expect['port']!r}")
    if "release_contains" in expect:
        rc = result.release_command or ""
        if expect["release_contains"] not in rc:
            problems.append(f"release_command {result.release_command!r} does not run "
                            f"{expect['release_contains']!r}")
    from cockpit.accessories import for_scan

    kinds = for_scan(result)
    if kinds != sorted(expect.get("accessories", [])):
        problems.append(f"accessories the app needs = {kinds!r}, expected "
                        f"{sorted(expect.get('accessories', []))!r}")
    if "data_dirs" in expect:
        dirs = getattr(result, "data_dirs", None)
        if sorted(d.strip("/") for d in (dirs or [])) != sorted(expect["data_dirs"]):
            problems.append(f"data_dirs = {dirs!r}, expected {expect['data_dirs']!r}")
    if problems:
        raise StageError("\n".join(problems))
    return result


def apply_fixes(root: Path, expect: dict[str, Any], env: dict[str, str]) -> list[str]:
    """`cockpit scan --fix --yes --json`; what it changed must still parse. Returns the changed
    files (relative paths)."""
    before = snapshot(root)
    proc = run([sys.executable, "-m", "cockpit", "scan", "--fix", "--yes", "--json", str(root)],
               env=env, timeout=300, check=False, what="cockpit scan --fix")
    objs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    final = objs[-1] if objs else {}
    if proc.returncode not in (0, 1) or final.get("type") != "result":
        raise StageError(f"cockpit scan --fix --yes --json exited {proc.returncode}\n"
                         f"{tail(proc.stdout + proc.stderr)}")
    after = snapshot(root)
    changed = sorted(rel for rel, digest in after.items() if before.get(rel) != digest)
    problems = []
    for rel in expect.get("unchanged", []):
        if rel in changed:
            problems.append(f"--fix changed {rel}, which a reviewer expects untouched")
    go_changed = False
    for rel in changed:
        path = root / rel
        suffix = path.suffix
        text = path.read_text(errors="replace")
        if suffix == ".py":
            try:
                ast.parse(text, filename=rel)
            except SyntaxError as exc:
                problems.append(f"--fix left {rel} unparseable: {exc}")
        elif suffix in (".js", ".cjs", ".mjs"):
            p = run(["node", "--check", str(path)], check=False, what="node --check")
            if p.returncode != 0:
                problems.append(f"--fix left {rel} failing node --check:\n{tail(p.stderr)}")
        elif suffix == ".go":
            go_changed = True
        elif suffix == ".json":
            try:
                json.loads(text)
            except ValueError as exc:
                problems.append(f"--fix left {rel} invalid JSON: {exc}")
        elif suffix == ".toml":
            try:
                tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                problems.append(f"--fix left {rel} invalid TOML: {exc}")
    if go_changed:
        p = go_in_lab(root, "go vet ./...", check=False)
        if p.returncode != 0:
            problems.append(f"--fix left Go code failing go vet:\n{tail(p.stdout + p.stderr)}")
    if problems:
        raise StageError(f"changed {changed}\n" + "\n".join(problems))
    return changed


def go_in_lab(root: Path, command: str, *, check: bool = True) -> subprocess.CompletedProcess:
    """`command` in the lab's golang image with `root` mounted at /src (stdlib-only modules:
    nothing is downloaded)."""
    gocache = CACHE / "gocache"  # compiled packages, reused between runs (go's own cache)
    gocache.mkdir(parents=True, exist_ok=True)
    return run(["docker", "run", "--rm", "-v", f"{root}:/src", "-w", "/src",
                "-v", f"{gocache}:/gocache", "-e", "GOCACHE=/gocache",
                "-e", "GOFLAGS=-buildvcs=false", "-e", "GOTOOLCHAIN=local",
                lab_image("golang"), "sh", "-c", command],
               timeout=600, check=check, what=command)


def _pip_key(spec: str, root: Path) -> str:
    """What a venv installs: the pip arguments plus the text of every -r file they name."""
    h = hashlib.sha256(spec.encode())
    words = shlex.split(spec)
    todo = [root / w for prev, w in zip(["", *words], words, strict=False) if prev == "-r"]
    seen: set[Path] = set()
    while todo:
        f = todo.pop()
        if f in seen or not f.is_file():
            continue
        seen.add(f)
        text = f.read_text()
        h.update(text.encode())
        for line in text.splitlines():
            if line.strip().startswith(("-r ", "--requirement ")):
                todo.append(f.parent / line.split(None, 1)[1].strip())
    return h.hexdigest()[:16]


def python_venv(spec: str, root: Path) -> Path:
    """A venv with `pip install <spec>` (run in `root`), cached by what it installs; a lock
    file keeps two sessions from building the same one at once."""
    import fcntl

    venv = CACHE / "venvs" / _pip_key(spec, root)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.with_name(venv.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            run([sys.executable, "-m", "venv", str(venv)], what="python -m venv")
            run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                 "--disable-pip-version-check", *shlex.split(spec)],
                cwd=root, timeout=900, what=f"pip install {spec}")
            (venv / ".complete").write_text(spec + "\n")
    return venv


def own_tests(fixed: Path, scratch: Path, expect: dict[str, Any]) -> str:
    """The app's own tests on a copy of the fixed tree (installs stay out of the build context)."""
    command = expect.get("own_tests")
    if not command:
        return "no tests of its own"
    root = scratch
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(fixed, root)
    if command.startswith("go "):
        go_in_lab(root, command)
        return command
    env = dict(os.environ)
    if "test_pip" in expect:
        venv = python_venv(expect["test_pip"], root)
        env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
        env["VIRTUAL_ENV"] = str(venv)
        env.pop("PYTHONPATH", None)
    if "test_setup" in expect:
        run(["sh", "-c", expect["test_setup"]], cwd=root, env=env, timeout=900,
            what=expect["test_setup"])
    run(["sh", "-c", command], cwd=root, env=env, timeout=900, what=f"own tests: {command}")
    return command


def generate(root: Path, expect: dict[str, Any]) -> list[str]:
    """Write the missing Dockerfile and .dockerignore (never replace the app's own)."""
    from cockpit.generate import artifacts

    if expect.get("own_dockerfile"):
        if not (root / "Dockerfile").is_file():
            raise StageError("the app's own Dockerfile is gone after --fix")
    written = []
    for kind, name in (("dockerfile", "Dockerfile"), ("dockerignore", ".dockerignore")):
        if (root / name).exists():
            continue
        for art in artifacts(kind, root):
            target = root / art.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(art.content)
            written.append(art.path)
    if not (root / "Dockerfile").is_file():
        raise StageError(f"no Dockerfile after generate (wrote {written})")
    return written


def build(root: Path, app: str) -> str:
    """docker build with the lab's build args; returns the image id."""
    try:
        from cockpit.lab.images import build_args_for
    except ImportError as exc:
        raise StageError(f"LAB: cockpit.lab.images.build_args_for is absent ({exc})") from None
    args = build_args_for(root / "Dockerfile")
    tag = f"cockpit-corpus/{app}:latest"
    cmd = ["build", "-t", tag]
    for k, v in sorted(args.items()):
        cmd += ["--build-arg", f"{k}={v}"]
    try:
        docker(*cmd, str(root), timeout=1500, what=f"docker build (build args {args})")
    except StageError as exc:
        dockerfile = (root / "Dockerfile").read_text()
        raise StageError(f"{exc}\n  Dockerfile:\n{tail(dockerfile, 80)}") from None
    return docker("image", "inspect", "-f", "{{.Id}}", tag)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def local_address() -> str:
    """A non-loopback IPv4 address of this machine (what another host would connect to)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.254.254.254", 9))
            addr = s.getsockname()[0]
        except OSError:
            addr = "127.0.0.1"
    if addr.startswith("127."):
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
        addr = next((a for a in out if "." in a and not a.startswith("127.")), "")
    if not addr:
        raise StageError("this machine has no non-loopback IPv4 address to test 0.0.0.0 with")
    return addr


def listening(port: int) -> set[str]:
    """Local addresses with a LISTEN socket on `port` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            addr, hexport = cols[1].rsplit(":", 1)
            if cols[3] == "0A" and int(hexport, 16) == port:
                if len(addr) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
                else:
                    raw = b"".join(bytes.fromhex(addr[i:i + 8])[::-1] for i in range(0, 32, 8))
                    found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


def http_get(host: str, port: int, path: str, *, tls_name: str | None = None,
             cafile: str | None = None, timeout: float = 10) -> tuple[int, str]:
    """One GET (Host: localhost, or the TLS name); returns (status, body text)."""
    if tls_name:
        ctx = ssl.create_default_context(cafile=cafile)
        raw = socket.create_connection((host, port), timeout=timeout)
        sock = ctx.wrap_socket(raw, server_hostname=tls_name)
        conn = http.client.HTTPSConnection(tls_name, port, timeout=timeout)
        conn.sock = sock
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": tls_name or "localhost",
                                           "User-Agent": "cockpit-corpus-test"})
        resp = conn.getresponse()
        return resp.status, resp.read(2_000_000).decode(errors="replace")
    finally:
        conn.close()


def container_env(result, expect: dict[str, Any]) -> dict[str, str]:
    """What the app gets at run time: generated values for the secrets the scan found, the
    corpus' plain configuration."""
    env = {}
    for var in getattr(result, "env_vars", []) or []:
        # a connection string is configuration of a service, not a value to generate
        connection = var.name.endswith(("_URL", "_URI", "_DSN"))
        if var.secret and not var.build_time and not connection:
            env[var.name] = pysecrets.token_urlsafe(24)
    env.update(expect.get("env") or {})
    return env


def run_container(tag: str, app: str, result, expect: dict[str, Any], work: Path) -> dict:
    """Release command (twice), then the app: non-root, 0.0.0.0:$PORT, health and page."""
    env = container_env(result, expect)
    env_file = work / "container.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    workdir = docker("image", "inspect", "-f", "{{.Config.WorkingDir}}", tag) or "/"
    suffix = uuid.uuid4().hex[:6]
    volumes = []
    mounts: list[str] = []
    for i, d in enumerate(getattr(result, "data_dirs", None) or []):
        vol = f"cockpit-corpus-{app}-{suffix}-{i}"
        docker("volume", "create", vol)
        volumes.append(vol)
        mounts += ["-v", f"{vol}:{d if d.startswith('/') else workdir.rstrip('/') + '/' + d}"]
    name = f"cockpit-corpus-{app}-{suffix}"
    port = free_port()
    info: dict[str, Any] = {"port": port}
    accessories: list[str] = []
    try:
        from cockpit.accessories import for_scan

        for kind in for_scan(result):
            var, value = start_accessory(kind, f"{name}-{kind}", work)
            accessories.append(f"{name}-{kind}")
            env[var] = value
        if accessories:
            env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
            info["accessories"] = accessories
        if result.release_command:
            for attempt in (1, 2):
                run(["docker", "run", "--rm", "--network", "host", "--env-file", str(env_file),
                     *mounts, "--entrypoint", "sh", tag, "-c", result.release_command],
                    timeout=300, what=f"release command (run {attempt}) "
                                      f"{result.release_command!r}")
        docker("run", "-d", "--name", name, "--network", "host", "-e", f"PORT={port}",
               "--env-file", str(env_file), *mounts, tag)
        addrs = _wait_listening(name, port)
        info["listening"] = sorted(addrs)
        if not addrs & {"0.0.0.0", "::"}:
            raise StageError(f"listens on {sorted(addrs)} only, not on all interfaces\n"
                             f"{tail(logs(name))}")
        uid = _container_uid(name, tag)
        info["uid"] = uid
        if uid == 0:
            raise StageError("the app runs as root (uid 0)")
        host = local_address()
        status, body = _first_answer(name, host, port, expect["health_path"])
        if not 200 <= status < 300:
            raise StageError(f"GET {expect['health_path']} answered {status}\n{tail(body, 10)}"
                             f"\n  container log:\n{tail(logs(name))}")
        status, body = http_get(host, port, expect["page"])
        if not 200 <= status < 300 or expect["page_contains"] not in body:
            raise StageError(f"GET {expect['page']} answered {status} without "
                             f"{expect['page_contains']!r}\n{tail(body, 15)}\n  container log:\n"
                             f"{tail(logs(name))}")
        if "persist" in expect:
            info["persist"] = _redeploy_keeps_data(name, tag, host, port, result, expect,
                                                   [*mounts, "--env-file", str(env_file)])
        return info
    finally:
        docker("rm", "-f", name, check=False)
        for acc in accessories:
            docker("rm", "-f", "-v", acc, check=False)
        for vol in volumes:
            docker("volume", "rm", "-f", vol, check=False)


def start_accessory(kind: str, name: str, work: Path, limit: float = 180) -> tuple[str, str]:
    """A scratch accessory of `kind` ("postgres", "redis") for the container stage: the lab's
    image (cockpit.lab.images.image_ref(kind)) with a generated password (in an env file under
    `work`, never on a command line), its port published on 127.0.0.1 only, health-checked the
    way a VPS deploy checks it. Returns (the variable the app reads, the URL), once healthy.
    The caller removes the container (`docker rm -f -v name`)."""
    from cockpit.accessories import AccessoryConfig, container_env, url
    from providers.vps.accessories import HEALTH_CMD

    acc = AccessoryConfig(kind=kind)
    password = pysecrets.token_hex(24)
    env_file = work / f"{kind}.env"
    env_file.write_text("".join(f"{k}={v}\n"
                                for k, v in container_env("corpus", acc, password).items()))
    docker("run", "-d", "--name", name, "--env-file", str(env_file),
           "-p", f"127.0.0.1::{acc.spec.port}", "--health-cmd", HEALTH_CMD[kind],
           "--health-interval", "1s", "--health-timeout", "5s", "--health-retries", "30",
           lab_image(kind), what=f"docker run {kind} (the app's accessory)")
    deadline = time.monotonic() + limit
    state = ""
    while time.monotonic() < deadline:
        state = docker("inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", name,
                       check=False)
        if state == "running healthy":
            break
        if not state.startswith("running"):
            raise StageError(f"the {kind} accessory stopped ({state})\n{tail(logs(name))}")
        time.sleep(1)
    else:
        raise StageError(f"the {kind} accessory is not healthy after {limit:.0f} s ({state})\n"
                         f"{tail(logs(name))}")
    published = docker("port", name, f"{acc.spec.port}/tcp").splitlines()[0]
    port = int(published.rsplit(":", 1)[1])
    return acc.url_var, url("corpus", kind, acc, password, host="127.0.0.1", port=port)


def _redeploy_keeps_data(name: str, tag: str, host: str, port: int, result,
                         expect: dict[str, Any], opts: list[str]) -> str:
    """Write through the app (`[persist] post` + `form`), then redeploy as a deploy would (the
    release command again, a new container on the same volumes) and check the write is there:
    GET `page` contains `contains`, or (`check = "repost"`) the same POST answers `contains`."""
    spec = expect["persist"]
    status, body = http_post(host, port, spec["post"], spec["form"])
    if status >= 400:
        raise StageError(f"POST {spec['post']} answered {status}\n{tail(body, 10)}")
    docker("rm", "-f", name)
    if result.release_command:
        run(["docker", "run", "--rm", "--network", "host", *opts, "--entrypoint", "sh", tag,
             "-c", result.release_command], timeout=300, what="release command (redeploy)")
    docker("run", "-d", "--name", name, "--network", "host", "-e", f"PORT={port}", *opts, tag)
    _wait_listening(name, port)
    if spec.get("check") == "repost":
        status, body = http_post(host, port, spec["post"], spec["form"])
    else:
        status, body = _first_answer(name, host, port, expect["page"])
    if spec["contains"] not in body:
        raise StageError(f"after a redeploy (release command again, new container, same "
                         f"volumes) the data written before is gone: {spec['contains']!r} not in "
                         f"the answer ({status})\n{tail(body, 10)}")
    return "kept"


def http_post(host: str, port: int, path: str, form: str) -> tuple[int, str]:
    """One form POST (Host: localhost); redirects are not followed."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("POST", path, body=form.encode(), headers={
            "Host": "localhost", "Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        return resp.status, resp.read(2_000_000).decode(errors="replace")
    finally:
        conn.close()


def _wait_listening(name: str, port: int, limit: float = 120) -> set[str]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        addrs = listening(port)
        if addrs:
            return addrs
        state = docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name,
                       check=False)
        if not state.startswith("running"):
            raise StageError(f"the container stopped ({state}) before listening on {port}\n"
                             f"{tail(logs(name))}")
        time.sleep(0.5)
    raise StageError(f"nothing listens on port {port} after {limit:.0f} s (is $PORT read?)\n"
                     f"{tail(logs(name))}")


def _first_answer(name: str, host: str, port: int, path: str, limit: float = 60
                  ) -> tuple[int, str]:
    """The first HTTP answer on `path` (an app may listen a moment before it serves)."""
    deadline = time.monotonic() + limit
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return http_get(host, port, path)
        except (OSError, http.client.HTTPException) as exc:
            last = exc
            time.sleep(0.5)
    raise StageError(f"no HTTP answer on {host}:{port}{path} ({last})\n"
                     f"{tail(logs(name))}")


def _container_uid(name: str, tag: str) -> int:
    """The uid the app's main process runs as (from /proc, else `id -u`, else Config.User)."""
    pid = docker("inspect", "-f", "{{.State.Pid}}", name, check=False)
    status = Path(f"/proc/{pid}/status")
    if pid.isdigit() and status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    out = run(["docker", "exec", name, "id", "-u"], check=False)
    if out.returncode == 0 and out.stdout.strip().isdigit():
        return int(out.stdout.strip())
    user = docker("image", "inspect", "-f", "{{.Config.User}}", tag).split(":")[0]
    if user.isdigit():
        return int(user)
    raise StageError(f"cannot tell the container's uid (Config.User {user!r})")


def deploy(pristine: Path, app: str, expect: dict[str, Any], work: Path, lab) -> dict:
    """`cockpit demo --app` to staging and prod; both answer through the edge; same digest."""
    from keyring.backends import SecretService

    from tests.conftest import _cockpit_items, keyring_lock

    before = snapshot(pristine)
    env = dict(os.environ)
    env.update(lab.as_env())
    env["COCKPIT_STATE_DIR"] = str(work / "state")
    demo_dir = work / "demo"
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = lab.dbus_session_bus_address
    backend = SecretService.Keyring()
    # the lab's keyring is one per machine: hold its lab-wide lock, re-entrantly (a session
    # fixture of this process may hold it already; a second flock of the file would wait on it)
    lock = contextlib.ExitStack()
    lock.enter_context(keyring_lock(lab))
    items_before = _cockpit_items(backend)
    try:
        proc = run([sys.executable, "-m", "cockpit", "demo", "--app", str(pristine),
                    "--dir", str(demo_dir), "--headless", "--json"],
                   env=env, timeout=1500, check=False, what="cockpit demo")
        objs = []
        for line in proc.stdout.splitlines():
            try:
                objs.append(json.loads(line))
            except ValueError:
                continue
        final = objs[-1] if objs else {}
        if proc.returncode != 0 or final.get("type") != "result":
            raise StageError(f"cockpit demo --app exited {proc.returncode}: "
                             f"{final.get('message') or final.get('error') or ''}\n"
                             f"{tail(proc.stdout + proc.stderr)}")
        envs = (final.get("data") or {}).get("environments") or {}
        problems = []
        if set(envs) < {"staging", "prod"}:
            raise StageError(f"result.data.environments has {sorted(envs)}, not staging and "
                             f"prod\n{tail(json.dumps(final, indent=1))}")
        for env_name in ("staging", "prod"):
            url = envs[env_name].get("url") or ""
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                problems.append(f"{env_name}: url {url!r} is not https")
                continue
            port = parts.port or 443
            for path, text in ((expect["health_path"], None),
                               (expect["page"], expect["page_contains"])):
                try:
                    status, body = http_get("127.0.0.1", port, path, tls_name=parts.hostname,
                                            cafile=lab.acme_issuer_root)
                except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
                    problems.append(f"{env_name}: GET {url.rstrip('/')}{path}: {exc}")
                    continue
                if not 200 <= status < 300 or (text and text not in body):
                    problems.append(f"{env_name}: GET {url.rstrip('/')}{path} answered {status}"
                                    + (f" without {text!r}" if text else "")
                                    + f"\n{tail(body, 10)}")
        for env_name in ("staging", "prod"):
            kinds = envs[env_name].get("accessories")
            if sorted(kinds or []) != sorted(expect.get("accessories", [])):
                problems.append(f"{env_name}: the demo ran accessories {kinds!r}, expected "
                                f"{sorted(expect.get('accessories', []))!r}")
        digests = {e: (envs[e].get("image") or "").partition("@")[2] for e in ("staging", "prod")}
        if not digests["staging"] or digests["staging"] != digests["prod"]:
            problems.append(f"prod image {envs['prod'].get('image')!r} is not staging's "
                            f"{envs['staging'].get('image')!r} (digest-pinned, same digest)")
        if snapshot(pristine) != before:
            problems.append(f"cockpit demo wrote into the app's own folder {pristine}")
        if problems:
            raise StageError("\n".join(problems))
        info: dict[str, Any] = {e: envs[e].get("url") for e in envs}
        if expect.get("accessories"):
            info["accessories"] = _demo_accessories(demo_dir, expect)
            if "persist" in expect:
                info["persist"] = _redeploy_keeps_rows(demo_dir, envs, expect, env, lab)
        return info
    finally:
        deployed = _deployed_name(demo_dir)
        if deployed:  # nothing reached the lab without the demo's cockpit.toml
            clean_lab_app(deployed)
            clean_lab_accessories(deployed)
        for service, name in _cockpit_items(backend) - items_before:
            try:
                backend.delete_password(service, name)
            except Exception:  # noqa: BLE001 - already gone
                pass
        lock.close()


def _demo_accessories(demo_dir: Path, expect: dict[str, Any]) -> dict[str, str]:
    """The demo's cockpit.toml has `[accessories.<kind>]` for each expected kind, and the lab
    runs one healthy container of each per environment (never one shared by both).
    Returns {"<env>/<kind>": container name}."""
    data = tomllib.loads((demo_dir / "cockpit.toml").read_text())
    name = data["app"]["name"]
    tables = data.get("accessories") or {}
    problems = []
    found: dict[str, str] = {}
    for kind in expect["accessories"]:
        if (tables.get(kind) or {}).get("kind", kind) != kind or kind not in tables:
            problems.append(f"the demo's cockpit.toml has no [accessories.{kind}] "
                            f"(tables: {sorted(tables)})")
            continue
        for env_name in ("staging", "prod"):
            rows = docker("ps", "--filter", f"label=cockpit.accessory-app={name}",
                          "--filter", f"label=cockpit.accessory-env={env_name}",
                          "--filter", f"label=cockpit.accessory={kind}",
                          "--format", "{{.Names}} {{.Status}}").splitlines()
            if len(rows) != 1 or "(healthy)" not in rows[0]:
                problems.append(f"{env_name}: expected one healthy {kind} accessory container, "
                                f"found {rows!r}")
                continue
            found[f"{env_name}/{kind}"] = rows[0].split()[0]
    if problems:
        raise StageError("\n".join(problems))
    return found


def _redeploy_keeps_rows(demo_dir: Path, envs: dict[str, Any], expect: dict[str, Any],
                         env: dict[str, str], lab) -> str:  # noqa: ANN001
    """`[persist]` on the deployed app: POST `post` + `form` (a unique marker in place of
    `contains`) through staging's edge, `cockpit deploy staging` again (a new release, the same
    accessory), then staging's `page` still shows the marker and prod's does not (its own
    database)."""
    spec = expect["persist"]
    marker = f"{spec['contains']}-{uuid.uuid4().hex[:8]}"
    form = spec["form"].replace(spec["contains"], marker)
    urls = {e: urlsplit(envs[e]["url"]) for e in ("staging", "prod")}

    def request(env_name: str, method: str, path: str, body: str | None = None
                ) -> tuple[int, str]:
        parts = urls[env_name]
        return https_request("127.0.0.1", parts.port or 443, parts.hostname, method, path,
                             body, cafile=lab.acme_issuer_root)

    status, body = request("staging", "POST", spec["post"], form)
    if status >= 400:
        raise StageError(f"staging: POST {spec['post']} answered {status}\n{tail(body, 10)}")
    cmd = [sys.executable, "-m", "cockpit", "deploy", "staging", "--json", "--yes",
           "--no-watch"]
    if env.get("COCKPIT_LAB_SSH_HOSTKEY_SHA256"):
        cmd += ["--trust-host", env["COCKPIT_LAB_SSH_HOSTKEY_SHA256"]]
    proc = run(cmd, cwd=demo_dir, env=env, timeout=900, check=False,
               what="cockpit deploy staging (redeploy)")
    if proc.returncode != 0:
        raise StageError(f"cockpit deploy staging (redeploy) exited {proc.returncode}\n"
                         f"{tail(proc.stdout + proc.stderr)}")
    final = next((json.loads(line) for line in reversed(proc.stdout.splitlines())
                  if line.startswith("{")), {})
    again = ((final.get("data") or {}).get("release") or {}).get("id")
    if not again or again == envs["staging"].get("release"):
        raise StageError(f"the redeploy made no new release (result {again!r}, first "
                         f"{envs['staging'].get('release')!r})")
    status, body = request("staging", "GET", expect["page"])
    if status >= 300 or marker not in body:
        raise StageError(f"staging: after a redeploy the row written before is gone: {marker!r} "
                         f"not on {expect['page']} ({status})\n{tail(body, 10)}")
    status, body = request("prod", "GET", expect["page"])
    if status >= 300 or marker in body:
        raise StageError(f"prod: {expect['page']} answered {status}"
                         + (f" with staging's row {marker!r}: one database for both"
                            if marker in body else "") + f"\n{tail(body, 10)}")
    return "kept on staging, not on prod"


def https_request(host: str, port: int, tls_name: str, method: str, path: str,
                  form: str | None = None, *, cafile: str | None = None,
                  timeout: float = 15) -> tuple[int, str]:
    """One HTTPS request to `host:port` for `tls_name` (a form body when given); returns
    (status, body text). Redirects are not followed."""
    ctx = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection((host, port), timeout=timeout)
    conn = http.client.HTTPSConnection(tls_name, port, timeout=timeout)
    conn.sock = ctx.wrap_socket(raw, server_hostname=tls_name)
    headers = {"Host": tls_name, "User-Agent": "cockpit-corpus-test"}
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=form.encode() if form is not None else None,
                     headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(2_000_000).decode(errors="replace")
    finally:
        conn.close()


def clean_lab_accessories(app: str) -> None:
    """Remove the accessories a deploy of `app` made on the lab VPS: their containers (label
    cockpit.accessory-app), volumes (label cockpit.app) and each environment's network."""
    def ids(*args: str) -> list[str]:
        return subprocess.run(["docker", *args], capture_output=True, text=True).stdout.split()

    found = ids("ps", "-aq", "--filter", f"label=cockpit.accessory-app={app}")
    if found:
        subprocess.run(["docker", "rm", "-f", *found], capture_output=True)
    vols = ids("volume", "ls", "-q", "--filter", f"label=cockpit.app={app}")
    if vols:
        subprocess.run(["docker", "volume", "rm", "-f", *vols], capture_output=True)
    for env_name in ("staging", "prod"):
        subprocess.run(["docker", "network", "rm", f"cockpit-{app}-{env_name}"],
                       capture_output=True)


def _deployed_name(demo_dir: Path) -> str | None:
    """The app name the demo deployed under ([app] name of the cockpit.toml it wrote)."""
    try:
        return tomllib.loads((demo_dir / "cockpit.toml").read_text())["app"]["name"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None


def clean_lab_app(app: str) -> None:
    """Remove what a deploy of `app` left on the lab VPS (its containers and app directory)."""
    import pwd

    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=cockpit.app={app}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    try:
        home = Path(pwd.getpwnam("deploy").pw_dir)
    except KeyError:
        home = Path("/home/deploy")
    shutil.rmtree(home / ".cockpit" / "apps" / app, ignore_errors=True)


# --------------------------------------------------------------------------- the test


@pytest.fixture
def workdir() -> Path:
    """A private work folder under $COCKPIT_CORPUS_CACHE/work, removed afterwards. Not pytest's
    tmp_path: another pytest session on the machine prunes old basetemps while this one runs."""
    import tempfile

    base = CACHE / "work"
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="corpus-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("app", APPS)
def test_corpus_app(app: str, lab, workdir: Path) -> None:  # noqa: ANN001
    tmp_path = workdir
    expect = load_expect(app)
    stage = Stages(app)
    pristine = copy_app(app, tmp_path / "pristine" / app)
    fixed = copy_app(app, tmp_path / "fixed" / app)
    env = dict(os.environ)
    env.update(lab.as_env())
    env["COCKPIT_STATE_DIR"] = str(tmp_path / "state")

    result = stage("scan", check_scan, pristine, expect)
    stage("fix", apply_fixes, fixed, expect, env)
    lab_note = expect.get("lab")
    if lab_note is not None:
        if not str(lab_note).startswith("no: ") or len(str(lab_note)) < 20:
            stage.problems.append(f"[{app}] corpus.toml: lab = {lab_note!r} must be "
                                  "\"no: <why the lab cannot run this app>\"")
        stage.finish()
        return
    stage("own-tests", own_tests, fixed, tmp_path / "tests" / app, expect)
    stage("generate", generate, fixed, expect)
    stage("build", build, fixed, app, needs=("generate",))
    from cockpit.scan import scan

    after = stage("rescan", scan, fixed)
    ran = stage("container", run_container, f"cockpit-corpus/{app}:latest", app,
                after or result, expect, tmp_path, needs=("build", "rescan"))
    if ran:
        print(f"[{app}] container: {json.dumps(ran)}")
    deployed = stage("deploy", deploy, pristine, app, expect, tmp_path / "deploy", lab,
                     needs=("build",))
    if deployed:
        print(f"[{app}] deploy: {json.dumps(deployed)}")
    stage.finish()
