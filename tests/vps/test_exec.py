"""`cockpit exec ENV -- CMD` and `cockpit accessories exec|psql|redis-cli` on the lab VPS.

The notes app (tests/accessories/notes_app) with a Postgres and a Redis accessory on staging:
a one-off container of the serving release's image gets its env file (the accessories' URLs)
and network, its exit status is cockpit's, its output is masked, stdin goes in with -i and a
terminal is given when stdin is one; psql runs as the app's role and redis-cli with the
password, neither ever on a command line or in output; prod needs --confirm; every run is
audited with its command line. Own app name and ports; everything is removed at the end.
"""

from __future__ import annotations

import json
import os
import pty
import select
import sys
import time

import pytest

from tests.stateful_lab import docker, events, remove_app, result
from tests.vps.notes_site import Site, build_notes, notes_toml

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(900)]

APP = "exnotes"
PORTS = {"staging": 7450, "prod": 7460}


@pytest.fixture(scope="module")
def site(lab, tmp_path_factory):
    """exnotes deployed on staging (prod configured, never set up); the module holds the
    lab's keyring lock and removes everything at the end."""
    from tests.conftest import lab_keyring

    root = tmp_path_factory.mktemp(APP)
    app_dir = root / "app"
    app_dir.mkdir()
    (root / "state").mkdir()
    (app_dir / "cockpit.toml").write_text(notes_toml(lab, APP, PORTS, secrets=False,
                                                     redis=True))
    s = Site(lab, app_dir, root / "state")
    remove_app(APP, PORTS)
    build_notes(app_dir, f"{APP}:test")
    with lab_keyring(lab) as backend:
        try:
            s.ok("setup", "staging", "--trust-host", lab.ssh_hostkey_sha256)
            s.ok("deploy", "staging", "--image", f"{APP}:test", "--no-watch")
            s.backend = backend
            yield s
        finally:  # cockpit remove takes the edge site and switch entry too
            s("remove", "staging", "--accessories", "--volumes", "--confirm", "staging")
            s.clean_up(APP, PORTS, backend)


def secret_values(site) -> list[str]:
    return [v for v in (site.backend.get_password(f"cockpit:{APP}:staging", n)
                        for n in ("ACCESSORY_POSTGRES_PASSWORD", "ACCESSORY_CACHE_PASSWORD")) if v]


def no_secret_anywhere(site) -> None:
    values = secret_values(site)
    assert len(values) == 2
    assert all(v not in text for v in values for text in site.outputs)


def test_a_one_off_container_of_the_release_reaches_the_database_and_passes_its_exit(site):
    code = ("import os, psycopg; c = psycopg.connect(os.environ['DATABASE_URL']); "
            "print('notes table:', c.execute(\"select to_regclass('notes')\").fetchone()[0]); "
            "print('release', os.environ['COCKPIT_RELEASE'])")
    proc = site.ok("exec", "staging", "--", "python3", "-c", code)
    assert "notes table: notes" in proc.stdout  # the release command's schema, on its network
    release = proc.stdout.split("release ", 1)[1].split()[0]
    status = json.loads(site.ok("status", "staging", "--json").stdout.splitlines()[-1])
    assert release in json.dumps(status)  # the serving release's image and env file
    failing = site("exec", "staging", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert failing.returncode == 7
    assert failing.stdout.strip() == "out" and failing.stderr.strip() == "err"
    # the one-off container is gone, and never counted as a release
    assert not docker("ps", "-aq", "--filter", f"label=cockpit.exec={APP}-staging")


def test_output_is_masked_and_json_carries_lines_and_the_exit_status(site):
    proc = site("exec", "staging", "--json", "--", "sh", "-c",
                'echo "$DATABASE_URL"; echo "$REDIS_URL" >&2; exit 3')
    assert proc.returncode == 3
    found = events(proc)
    lines = [e for e in found if e.get("type") == "log"]
    out = [e["line"] for e in lines if e["source"] == "exec"]
    assert len(out) == 1 and "://exnotes:••••@postgres" in out[0]
    assert any(e["source"] == "exec:stderr" and "••••@cache:6379" in e["line"] for e in lines)
    assert result(proc)["data"]["exit_code"] == 3
    no_secret_anywhere(site)


def test_stdin_goes_in_with_interactive(site):
    proc = site.ok("exec", "staging", "-i", "--", "sh", "-c", "tr a-z A-Z", stdin="hello\n")
    assert proc.stdout.strip() == "HELLO"
    without = site.ok("exec", "staging", "--", "sh", "-c", "cat; echo done", stdin="ignored\n")
    assert without.stdout.strip() == "done"


def test_a_terminal_when_stdin_is_one(site):
    """-i on a terminal runs through `ssh -t`: the command gets a tty, and its status."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: cockpit on the pty
        os.chdir(site.dir)
        os.execve(sys.executable, [sys.executable, "-m", "cockpit", "exec", "staging", "-i",
                                   "--", "sh", "-c", "tty; exit 4"], site.env)
    out = b""
    end = time.monotonic() + 120
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert b"/dev/pts/" in out, out
    assert os.waitstatus_to_exitcode(status) == 4


def test_prod_needs_its_name_typed(site):
    proc = site("exec", "prod", "--json", "--", "true")
    assert proc.returncode == 5 and "--confirm prod" in result(proc)["hint"]
    none = site("exec", "staging", "--json")
    assert none.returncode == 2 and "no command" in result(none)["error"]


def test_psql_runs_as_the_apps_role_and_reads_a_script(site):
    proc = site.ok("accessories", "psql", "staging", "--", "-tA", "-c",
                   "select current_user || ' on ' || current_database()")
    assert proc.stdout.strip() == "exnotes on exnotes"
    script = site.ok("accessories", "psql", "staging", "-i", "--", "-tA",
                     stdin="select 40 + 2;\n")
    assert script.stdout.strip() == "42"
    # piped input without -i would be ignored silently: refused, saying how
    piped = site("accessories", "psql", "staging", stdin="select 40 + 2;\n")
    assert piped.returncode == 2 and "-i" in piped.stderr and "nothing would run" in piped.stderr
    # the password is on no command line: not in the container's process list, not in output
    ps = docker("exec", f"cockpit-{APP}-staging-postgres", "sh", "-c",
                "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '", check=False)
    assert all(v not in ps for v in secret_values(site))
    no_secret_anywhere(site)


def test_redis_cli_and_accessory_exec(site):
    assert site.ok("accessories", "redis-cli", "staging", "--", "ping").stdout.strip() == "PONG"
    proc = site.ok("accessories", "exec", "staging", "postgres", "--json", "--", "sh", "-c",
                   "pg_isready -h 127.0.0.1 -q && echo ready")
    assert [e["line"] for e in events(proc) if e.get("type") == "log"] == ["ready"]
    wrong = site("accessories", "psql", "staging", "cache", "--json")
    assert wrong.returncode == 2 and "not a postgres" in result(wrong)["error"]
    failing = site("accessories", "exec", "staging", "cache", "--", "sh", "-c", "exit 9")
    assert failing.returncode == 9
    no_secret_anywhere(site)


def test_every_run_is_audited_with_its_command_line(site):
    entries = result(site.ok("audit", "--env", "staging", "--json"))["data"]["entries"]
    commands = {(e["command"], e["result"]) for e in entries}
    assert ("exec", "exit 7") in commands and ("accessories psql", "exit 0") in commands
    assert ("accessories redis-cli", "exit 0") in commands
    assert any(e["command"] == "exec" and "tr a-z A-Z" in e["detail"] for e in entries)
    text = json.dumps(entries)
    assert all(v not in text for v in secret_values(site))
    assert "HELLO" not in text  # the command line, never its output


def test_a_run_interrupted_by_ctrl_c_is_audited_as_failed(site):
    """Ctrl-C (SIGINT to cockpit) while the command runs: the container is removed and the
    run is audited as failed, not left out."""
    import signal
    import subprocess

    proc = subprocess.Popen([sys.executable, "-m", "cockpit", "exec", "staging", "--", "sh",
                             "-c", "echo started; sleep 120"], cwd=site.dir, env=site.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    entries = result(site.ok("audit", "--env", "staging", "--json"))["data"]["entries"]
    assert any(e["command"] == "exec" and e["result"] == "failed: interrupted"
               and "sleep 120" in e["detail"] for e in entries)
    assert not docker("ps", "-aq", "--filter", f"label=cockpit.exec={APP}-staging")
