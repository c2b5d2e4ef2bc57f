"""SSH host-key policy and error reporting against real sshd processes on loopback.

Each test starts its own sshd (the lab's `deploy` user and key, a fresh host key) on a free
port, so "the same address with another host key" is a real second sshd.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cockpit.providers.vps.ssh import SshTransport

from cockpit.errors import HostKeyError, ProviderError

pytestmark = [pytest.mark.lab, pytest.mark.timeout(60)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fingerprint(pub: Path) -> str:
    return subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True,
                          check=True).stdout.split()[1]


class Sshd:
    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.proc: subprocess.Popen | None = None

    def start(self, key_name: str) -> str:
        """(Re)start on the same port with host key `key_name`; returns its fingerprint."""
        self.stop()
        key = self.root / key_name
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)
        cfg = self.root / "sshd_config"
        cfg.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {key}",
            f"PidFile {self.root / 'sshd.pid'}", "AuthorizedKeysFile .ssh/authorized_keys",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
            "AllowUsers deploy", "AllowTcpForwarding yes", "LogLevel ERROR", ""]))
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(cfg)],
                                     stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(8).startswith(b"SSH-"):
                        break
            except OSError:
                time.sleep(0.05)
        return _fingerprint(key.with_suffix(".pub"))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def sshd(lab, tmp_path):
    server = Sshd(tmp_path, _free_port())
    yield server
    server.stop()


def _transport(lab, sshd, tmp_path, **kw) -> SshTransport:
    kw.setdefault("user_known_hosts", tmp_path / "user_known_hosts")
    return SshTransport(host="127.0.0.1", port=sshd.port, user=lab.ssh_user,
                        identity_file=lab.ssh_key, known_hosts=tmp_path / "state" / "known_hosts",
                        timeout=5, **kw)


def test_unknown_host_key_is_refused_with_its_fingerprint(lab, sshd, tmp_path):
    fp = sshd.start("key_a")
    with pytest.raises(HostKeyError) as refused:
        _transport(lab, sshd, tmp_path).run(["true"], step="connect")
    assert fp in refused.value.what and f"--trust-host {fp}" in refused.value.hint
    assert not (tmp_path / "state" / "known_hosts").exists()


def test_a_trusted_fingerprint_is_recorded_and_reused(lab, sshd, tmp_path):
    fp = sshd.start("key_a")
    t = _transport(lab, sshd, tmp_path, trusted=[fp])
    assert t.run(["echo", "hi"], step="x").stdout == "hi\n"
    t.close()
    recorded = (tmp_path / "state" / "known_hosts").read_text()
    assert recorded.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    assert _transport(lab, sshd, tmp_path).run(["true"], step="x").ok  # no trust needed now


def test_trusting_a_different_fingerprint_does_not_help(lab, sshd, tmp_path):
    sshd.start("key_a")
    with pytest.raises(HostKeyError):
        _transport(lab, sshd, tmp_path, trusted=["SHA256:" + "A" * 43]).run(["true"], step="x")


def test_interactive_yes_trusts_and_no_refuses(lab, sshd, tmp_path):
    fp = sshd.start("key_a")
    questions: list[str] = []
    with pytest.raises(HostKeyError):
        _transport(lab, sshd, tmp_path, ask=lambda q: questions.append(q) or False).run(
            ["true"], step="x")
    assert fp in questions[0]
    assert _transport(lab, sshd, tmp_path, ask=lambda q: True).run(["true"], step="x").ok


def test_the_users_known_hosts_is_honoured(lab, sshd, tmp_path):
    sshd.start("key_a")
    pub = (tmp_path / "key_a.pub").read_text().split()
    (tmp_path / "user_known_hosts").write_text(f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}\n")
    assert _transport(lab, sshd, tmp_path).run(["true"], step="x").ok


def test_a_changed_host_key_is_always_refused(lab, sshd, tmp_path):
    first = sshd.start("key_a")
    assert _transport(lab, sshd, tmp_path, trusted=[first]).run(["true"], step="x").ok
    second = sshd.start("key_b")  # another sshd, same address, another host key
    with pytest.raises(HostKeyError) as refused:
        _transport(lab, sshd, tmp_path, trusted=[second], ask=lambda q: True).run(
            ["true"], step="x")
    assert "CHANGED" in refused.value.what
    assert first in refused.value.what and second in refused.value.what


def test_remote_failures_name_host_step_command_and_stderr(lab, sshd, tmp_path):
    fp = sshd.start("key_a")
    t = _transport(lab, sshd, tmp_path, trusted=[fp])
    with pytest.raises(ProviderError) as failed:
        t.run(["ls", "/no/such dir"], step="check disk")
    err = failed.value
    assert err.where == f"deploy@127.0.0.1:{sshd.port} step check disk"
    assert "`ls '/no/such dir'`" in err.what and "No such file or directory" in err.what
    assert "exit 2" in err.what


def test_unreachable_host_says_how_to_check(lab, tmp_path):
    t = SshTransport(host="127.0.0.1", port=_free_port(), user="deploy",
                     identity_file=lab.ssh_key, known_hosts=tmp_path / "kh", timeout=2)
    with pytest.raises(ProviderError) as failed:
        t.run(["true"], step="connect")
    assert "cannot connect over SSH" in failed.value.what and failed.value.hint


def test_the_cli_refuses_an_unknown_host_with_exit_code_5_and_the_fingerprint(project, tmp_path):
    import json
    import sys

    env = project.env()
    env["COCKPIT_STATE_DIR"] = str(tmp_path / "fresh-state")  # no known_hosts yet
    env["HOME"] = str(tmp_path)  # and no ~/.ssh/known_hosts
    proc = subprocess.run([sys.executable, "-m", "cockpit", "status", "staging", "--json"],
                          cwd=project.app_dir, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 5
    error = json.loads(proc.stdout.strip().splitlines()[-1])
    assert error["kind"] == "hostkey"
    assert project.lab.ssh_hostkey_sha256 in error["error"]
    assert f"--trust-host {project.lab.ssh_hostkey_sha256}" in error["hint"]
