"""`cockpit demo --app` on the lab, end to end: an app with no Dockerfile and no cockpit.toml (a
copy of examples/hello-app without them) goes from its folder to prod. Its folder is never
written; both URLs answer through the edge (HTTPS, Pebble's certificate, SNI = the domain); prod
serves the digest staging was built with; afterwards the ordinary commands work in the work
folder. Only this test's containers (its own unique app name) are removed afterwards."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]


def tree_hash(root: Path) -> str:
    """sha256 over every path (files, folders, links) under `root` and each file's bytes."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0")
        if path.is_symlink():
            h.update(b"L" + os.readlink(path).encode())
        elif path.is_file():
            h.update(b"F" + path.read_bytes())
        else:
            h.update(b"D")
        h.update(b"\0")
    return h.hexdigest()


def fetch(lab, url: str, path: str = "/") -> tuple[int, dict[str, str], str]:
    """GET `url` + `path` through the lab's edge on loopback (Host and SNI = the URL's host),
    verifying the certificate against the lab's Pebble issuing root."""
    parts = urlsplit(url)
    ctx = ssl.create_default_context(cafile=lab.acme_issuer_root)
    with socket.create_connection(("127.0.0.1", parts.port or 443), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=parts.hostname) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.hostname}\r\nConnection: close\r\n\r\n"
                  .encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split(" ")[1]), {k.lower(): v for k, v in headers.items()}, \
        body.decode(errors="replace")


def clean(app: str) -> None:
    """This app's containers, its folder, switch configs and edge sites on the lab VPS (all
    named after the app), nothing else."""
    import pwd

    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=cockpit.app={app}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    home = Path(pwd.getpwnam("deploy").pw_dir) / ".cockpit"
    shutil.rmtree(home / "apps" / app, ignore_errors=True)
    for env_name in ("staging", "prod"):
        (home / "switch" / "envs" / f"{app}-{env_name}.cfg").unlink(missing_ok=True)
        (home / "edge" / "sites" / f"{app}-{env_name}.caddy").unlink(missing_ok=True)
    volumes = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"name=cockpit-{app}-"],
                             capture_output=True, text=True).stdout.split()
    if volumes:
        subprocess.run(["docker", "volume", "rm", *volumes], capture_output=True)


@pytest.fixture
def make_app(tmp_path: Path, lab):
    """A factory: a copy of examples/hello-app under a unique app name, without its
    Dockerfile, .dockerignore and cockpit.toml, reading one more secret (API_TOKEN). Returns
    (name, folder); every app made is removed from the lab afterwards (by its own name)."""
    names = []

    def make() -> tuple[str, Path]:
        name = f"demo-{os.urandom(3).hex()}"
        names.append(name)
        src = tmp_path / "src" / name
        shutil.copytree(REPO / "examples" / "hello-app", src)
        for generated in ("Dockerfile", ".dockerignore", "cockpit.toml"):
            (src / generated).unlink(missing_ok=True)
        code = (src / "app.py").read_text()  # a secret the app reads, for the keyring stage
        (src / "app.py").write_text(code.replace(
            'SECRET_NAME = "SECRET_KEY"',
            'SECRET_NAME = "SECRET_KEY"\nAPI_TOKEN = os.environ.get("API_TOKEN")', 1))
        clean(name)
        return name, src

    yield make
    for name in names:
        clean(name)


def demo(src: Path, work: Path, env: dict[str, str]) -> tuple[dict, subprocess.CompletedProcess]:
    """`cockpit demo --app src --dir work --headless --json`: (result data, the process)."""
    proc = subprocess.run([sys.executable, "-m", "cockpit", "demo", "--app", str(src),
                           "--dir", str(work), "--headless", "--json"],
                          cwd=work.parent, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["type"] == "result" and result["ok"], result
    return result["data"], proc


def test_demo_takes_an_app_without_dockerfile_to_prod(make_app, tmp_path, lab, os_keyring):
    name, src = make_app()
    work = tmp_path / "work"
    state = tmp_path / "state"
    env = dict(os.environ) | lab.as_env() | {"COCKPIT_STATE_DIR": str(state)}
    before = tree_hash(src)

    data, proc = demo(src, work, env)

    assert tree_hash(src) == before  # the user's tree was only read
    assert data["app"] == name
    assert sorted(data["generated"]) == [".dockerignore", "Dockerfile"]
    assert (work / "Dockerfile").is_file()
    assert not list(work.rglob("*.orig"))

    envs = data["environments"]
    for env_name in ("staging", "prod"):
        url = envs[env_name]["url"]
        assert url.startswith(f"https://{env_name}.{name}."), url
        status, headers, body = fetch(lab, url)
        assert status == 200, body
        assert headers.get("x-release") == envs[env_name]["release"]
        assert "hello from hello-app" in body
        # the curl line the demo prints works as given, in a shell with none of the lab's
        # variables (no name of the lab resolves there, no store trusts Pebble's root)
        curl = envs[env_name]["curl"]
        assert curl in proc.stdout or "--json" in proc.args
        got = subprocess.run(shlex.split(curl) + ["--silent", "--show-error", "--include"],
                             env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                             timeout=30)
        assert got.returncode == 0 and " 200" in got.stdout.splitlines()[0], got.stderr
        assert "hello from hello-app" in got.stdout
    assert "@sha256:" in envs["prod"]["image"] or envs["prod"]["image"].startswith("sha256:")
    assert envs["prod"]["digest"] == envs["staging"]["digest"]

    # The ordinary commands work in the work folder.
    status = subprocess.run([sys.executable, "-m", "cockpit", "status", "--json"], cwd=work,
                            env=env, capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stdout[-2000:] + status.stderr[-2000:]
    live = json.loads(status.stdout.strip().splitlines()[-1])["data"]["environments"]
    for env_name in ("staging", "prod"):
        assert live[env_name]["url"] == envs[env_name]["url"]
        assert live[env_name]["current"]["digest"] == envs["staging"]["digest"]

    # Values were generated into the keyring, never into files or output.
    made = data["secrets_generated"]
    assert all("API_TOKEN" in made[e] for e in ("staging", "prod")), made
    values = _stored_values(name, made)
    assert len(values) == sum(len(names) for names in made.values())
    for value in values:
        assert value not in proc.stdout and value not in proc.stderr
        for path in work.rglob("*"):
            if path.is_file():
                assert value.encode() not in path.read_bytes(), path


def _stored_values(app: str, made: dict[str, list[str]]) -> list[str]:
    """The values the demo generated (env -> names), read back from the keyring."""
    import keyring

    values = []
    for env_name, names in made.items():
        for secret in names:
            value = keyring.get_password(f"cockpit:{app}:{env_name}", secret)
            if value:
                values.append(value)
    return values


def test_a_second_app_demoed_after_the_first_does_not_disturb_it(make_app, tmp_path, lab,
                                                                  os_keyring):
    """Two apps demoed one after the other (one state dir, as one user would): their own
    host ports and domains; both keep answering through the edge."""
    env = dict(os.environ) | lab.as_env() | {"COCKPIT_STATE_DIR": str(tmp_path / "state")}
    apps = [make_app(), make_app()]
    results = [demo(src, tmp_path / f"work-{name}", env)[0] for name, src in apps]
    ports = []
    for (name, _), data in zip(apps, results, strict=True):
        text = (tmp_path / f"work-{name}" / "cockpit.toml").read_text()
        ports += [int(line.split("=")[1].split("#")[0]) for line in text.splitlines()
                  if line.startswith("host_port")]
        for entry in data["environments"].values():
            status, headers, _ = fetch(lab, entry["url"])
            assert status == 200 and headers.get("x-release") == entry["release"], entry
    assert len({p + i for p in ports for i in range(3)}) == 3 * len(ports) == 12
    urls = [e["url"] for data in results for e in data["environments"].values()]
    assert len(set(urls)) == 4


def test_two_apps_get_their_own_ports_and_domains(tmp_path, lab, monkeypatch):
    """Two apps demoed one after the other never claim the same host port or domain; an app
    demoed again keeps its own."""
    from cockpit.cli import demo

    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "state"))
    first = demo.choose_host_ports("demo-aaa", tmp_path / "state" / "demo" / "a")
    folder = tmp_path / "state" / "demo" / "a"
    folder.mkdir(parents=True)
    (folder / "cockpit.toml").write_text(
        "".join(f"[environments.{e}]\nhost_port = {p}\n" for e, p in first.items()))
    second = demo.choose_host_ports("demo-bbb", tmp_path / "state" / "demo" / "b")
    taken = {p + i for p in first.values() for i in range(3)}
    assert not taken & {p + i for p in second.values() for i in range(3)}
    assert len({p + i for p in second.values() for i in range(3)}) == 6
    again = demo.choose_host_ports("demo-aaa", folder, keep=first)
    assert again == first
    assert demo.domains_for("demo-aaa") != demo.domains_for("demo-bbb")


def test_an_error_names_the_stage_and_what_to_do(tmp_path):
    env = dict(os.environ) | {"COCKPIT_STATE_DIR": str(tmp_path / "state")}
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("not a demo's\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.py").write_text("print('hi')\n")
    proc = subprocess.run([sys.executable, "-m", "cockpit", "demo", "--app", str(app), "--dir",
                           str(work), "--json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    error = json.loads(proc.stdout.strip().splitlines()[-1])
    assert error["error"].startswith("demo copy: ")
    assert "--dir" in error["hint"]
    assert (work / "keep.txt").read_text() == "not a demo's\n"


def test_env_url_is_https_on_the_domain_with_the_edge_port_when_not_443(tmp_path):
    from cockpit.config import env_url, loads

    cfg = loads("""[app]
name = "u"
[environments.staging]
provider = "vps"
host = "h"
domain = "staging.u.test"
https_port = 8443
[environments.prod]
provider = "vps"
host = "h"
domain = "u.test"
host_port = 8200
[environments.dev]
provider = "vps"
host = "h"
host_port = 8300
""", tmp_path / "cockpit.toml")
    assert env_url(cfg.env("staging")) == "https://staging.u.test:8443"
    assert env_url(cfg.env("prod")) == "https://u.test"
    assert env_url(cfg.env("dev")) is None


def test_next_steps_name_a_cockpit_a_fresh_shell_can_run(tmp_path: Path) -> None:
    """The line the demo ends with works in a shell where no venv is active: the lab's
    variables come from scripts/lab env, cockpit by its full path when it is not on PATH."""
    code = ("from pathlib import Path; from cockpit.cli.demo import next_steps; "
            f"print(next_steps(Path({str(tmp_path)!r})))")
    line = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin"}).stdout.strip()
    lab_part, cd_part, run_part = line.split(" && ")
    assert lab_part.startswith('eval "$(') and lab_part.endswith('/scripts/lab env)"')
    assert cd_part == f"cd {tmp_path}"
    exe = run_part.removesuffix(" status")
    assert Path(exe).is_absolute() and os.access(exe, os.X_OK), line


def test_next_steps_use_the_full_path_even_when_cockpit_is_on_path(tmp_path: Path) -> None:
    """The shell that ran the demo had the venv active (its cockpit on PATH); the line is run
    in a fresh shell, where it is not: the path is full either way."""
    bin_dir = str(Path(sys.executable).parent)
    code = ("from pathlib import Path; from cockpit.cli.demo import next_steps; "
            f"print(next_steps(Path({str(tmp_path)!r})))")
    line = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"}).stdout.strip()
    exe = line.split(" && ")[-1].removesuffix(" status")
    assert Path(exe).is_absolute() and os.access(exe, os.X_OK), line


def test_curl_line_resolves_the_domain_to_the_host_and_trusts_the_edge_ca(tmp_path):
    """A lab URL is reached with --resolve (no resolver knows *.lab.test) and --cacert (the
    edge's private ACME root); an environment without a domain has no line."""
    from cockpit.cli.demo import curl_line
    from cockpit.config import loads

    cfg = loads("""[app]
name = "u"
[environments.staging]
provider = "vps"
host = "127.0.0.1"
domain = "staging.u.lab.test"
https_port = 8443
edge_ca_file = "/var/tmp/ca dir/root.pem"
[environments.prod]
provider = "vps"
host = "127.0.0.1"
host_port = 8300
""", tmp_path / "cockpit.toml")
    line = curl_line(cfg.env("staging"))
    assert shlex.split(line) == ["curl", "--resolve", "staging.u.lab.test:8443:127.0.0.1",
                                 "--cacert", "/var/tmp/ca dir/root.pem",
                                 "https://staging.u.lab.test:8443/"]
    assert curl_line(cfg.env("prod")) is None


def test_a_finding_the_demos_own_changes_resolve_is_not_left_for_a_person(tmp_path):
    """The demo writes [app] release_command itself: migrations-not-wired, reported by the
    first scan, is resolved once the lab cockpit.toml is in; a finding still there stays."""
    from cockpit.cli.demo import still_open
    from cockpit.scan import scan

    app = tmp_path / "app"
    (app / "alembic" / "versions").mkdir(parents=True)
    (app / "requirements.txt").write_text("fastapi==0.115.6\nuvicorn==0.32.1\n"
                                          "alembic==1.14.0\nSQLAlchemy==2.0.36\n")
    (app / "alembic.ini").write_text("[alembic]\nscript_location = alembic\n")
    (app / "alembic" / "env.py").write_text("from alembic import context\n")
    (app / "main.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n")
    before = {f"{f.id} {f.where or ''}".strip() for f in scan(app).findings}
    wired = next(f for f in before if f.startswith("migrations-not-wired"))
    (app / "cockpit.toml").write_text('[app]\nname = "a"\nrelease_command = '
                                      '"alembic upgrade head"\n')
    after = scan(app)
    still = [f"{f.id} {f.where or ''}".strip() for f in after.findings]
    left, resolved = still_open([wired, *still], after)
    assert resolved == [wired]
    assert left == still
    moved = [f"{f.id} {f.where.rsplit(':', 1)[0]}:99" for f in after.findings
             if f.where and f.where[-1].isdigit()]
    assert still_open(moved, after)[0] == moved  # a fix that moved its line: still left


def test_a_rerun_keeps_the_ports_its_app_claimed(tmp_path, lab, monkeypatch):
    """The demo run again into the same folder keeps the host ports its app and environments
    claimed in the host's port registry, although the app's own containers publish them (a
    re-run once moved 9319 -> 9325 and changed the config hash); another app's claim and
    containers stay out of reach."""
    from cockpit.providers.vps import ports
    from cockpit.providers.vps.ssh import SshTransport

    from cockpit.cli import demo

    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "state"))
    name, other = f"demo-{os.urandom(3).hex()}", f"demo-{os.urandom(3).hex()}"
    t = SshTransport(host=lab.ssh_host, port=lab.ssh_port, user=lab.ssh_user,
                     identity_file=lab.ssh_key, known_hosts=tmp_path / "known_hosts",
                     trusted=[lab.ssh_hostkey_sha256], ask=None, timeout=10)
    home = t.run(["sh", "-c", "echo $HOME"], step="connect").stdout.strip()
    root = f"{home}/.cockpit"
    containers: list[str] = []
    try:
        first = demo.choose_host_ports(name, tmp_path / "work")
        mine = ports.reserve_free(t, root, name, first, "test@lab")
        assert mine == first
        theirs = ports.reserve_free(t, root, other, {"staging": first["staging"] + 30,
                                                     "prod": first["prod"] + 30}, "test@lab")
        for app, port in ((name, first["staging"] + 1), (name, first["prod"] + 2),
                          (other, theirs["prod"] + 1)):
            containers.append(subprocess.run(
                ["docker", "run", "-d", "--rm", "--label", f"cockpit.app={app}", "-p",
                 f"127.0.0.1:{port}:8000", lab.base_image, "sleep", "600"],
                capture_output=True, text=True, check=True).stdout.strip())
        again = demo.choose_host_ports(name, tmp_path / "work")
        assert again == first
        assert demo.choose_host_ports(name, tmp_path / "work", keep=first) == first
        taken = {p + i for p in theirs.values() for i in range(3)}
        newcomer = demo.choose_host_ports(f"demo-{os.urandom(3).hex()}", tmp_path / "new")
        assert not taken & {p + i for p in newcomer.values() for i in range(3)}
        assert not {p + i for p in first.values() for i in range(3)} & \
            {p + i for p in newcomer.values() for i in range(3)}
    finally:
        if containers:
            subprocess.run(["docker", "rm", "-f", *containers], capture_output=True)
        ports.forget(t, root, name)
        ports.forget(t, root, other)
        t.close()
