"""The lab's bookkeeping: ports it picks, what it stops, apt sources, who imports it."""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit import lab
from cockpit.lab import _proc, engine

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def lab_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "lab"
    monkeypatch.setenv("COCKPIT_LAB_DIR", str(root))
    return root


def test_a_default_port_held_by_someone_else_is_replaced_by_a_free_one(
    lab_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        monkeypatch.setattr(lab, "DEFAULT_PORTS", {"registry": (taken, False)})
        with _proc.locked(lab_root):
            ports = lab._choose_ports(_proc.State(lab_root))
    assert ports["registry"] != taken
    assert _proc.port_bindable(ports["registry"])


def test_chosen_ports_stay_the_same_on_the_next_up(
    lab_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = _proc.free_port(set())
    monkeypatch.setattr(lab, "DEFAULT_PORTS", {"registry": (free, False), "dns": (free, True)})
    first = lab._choose_ports(_proc.State(lab_root))
    second = lab._choose_ports(_proc.State(lab_root))
    assert first == second
    assert first["registry"] == free and first["dns"] != free


def test_down_stops_what_the_lab_recorded_and_nothing_else(lab_root: Path) -> None:
    lab_root.mkdir()
    ours = _proc.spawn(["sleep", "60"], lab_root / "ours.log")
    theirs = subprocess.Popen(["sleep", "60"])
    try:
        _proc.State(lab_root).record("registry", ours.pid)
        stopped = lab.down(user_services=False)
        assert stopped == [f"registry:{ours.pid}"]
        assert ours.wait(timeout=10) is not None
        assert theirs.poll() is None
        assert _proc.State(lab_root).procs == {}
    finally:
        theirs.kill()
        theirs.wait()


def test_a_recycled_pid_is_not_taken_for_the_recorded_process(lab_root: Path) -> None:
    lab_root.mkdir()
    proc = subprocess.Popen(["sleep", "60"])
    try:
        state = _proc.State(lab_root)
        state.record("sshd", proc.pid)
        assert state.alive("sshd") == proc.pid
        state.procs["sshd"]["start"] -= 1  # same pid, another process's start time
        assert state.alive("sshd") is None
    finally:
        proc.kill()
        proc.wait()


def test_lab_env_round_trips_through_exported_variables(lab_root: Path) -> None:
    env = lab._lab_env(_proc.State(lab_root))
    again = lab.LabEnv.from_env(env.as_env())
    assert again == env
    assert isinstance(again.ssh_port, int)
    assert lab.LabEnv.from_env({}) is None


def test_debootstrap_mirror_comes_from_apt_sources(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\n# a comment: here\nURIs: http://mirror.invalid/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert engine.debian_mirror(sources, tmp_path / "none") == "http://mirror.invalid/debian"
    legacy = tmp_path / "sources.list"
    legacy.write_text("deb [arch=amd64] http://legacy.invalid/debian bookworm main\n")
    assert engine.debian_mirror(tmp_path / "none", legacy) == "http://legacy.invalid/debian"
    with pytest.raises(lab.LabError, match="no Debian bookworm mirror"):
        engine.debian_mirror(tmp_path / "none", tmp_path / "none")


def test_the_cockpit_runtime_never_imports_the_lab() -> None:
    """Only `cockpit demo` and the lab itself may import cockpit.lab (tests and scripts do);
    the cockpit.toml template (`cockpit init --lab`) and `cockpit watch install` on the lab may
    import `cockpit.lab.images` (for build_args_for) inside a function, behind ImportError (the
    wheel does not ship the lab), so the CLI never loads it otherwise."""
    allowed = {REPO / "cockpit" / "cli" / "demo.py"}
    lazy_images = {REPO / "cockpit" / "template.py", REPO / "cockpit" / "cli" / "watch.py"}
    offenders = []
    for folder in ("cockpit", "providers", "screens"):
        for path in (REPO / folder).rglob("*.py"):
            if path in allowed or (REPO / "cockpit" / "lab") in path.parents:
                continue
            tree = ast.parse(path.read_text(), str(path))
            in_function = {id(n) for f in ast.walk(tree)
                           if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                           for n in ast.walk(f)}
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                if not any(n == "cockpit.lab" or n.startswith("cockpit.lab.") for n in names):
                    continue
                if (path in lazy_images and id(node) in in_function
                        and all(n.startswith("cockpit.lab.images") for n in names)):
                    continue
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def test_importing_the_cli_does_not_load_the_lab() -> None:
    code = "import sys, cockpit.cli; print('cockpit.lab' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
