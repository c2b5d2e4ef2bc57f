"""The lab "VPS": an sshd on loopback with its own host key, logging into a `deploy` user.

`deploy` is in the `docker` group, so over SSH it drives the same Docker Engine the tests
use, the way a real host runs `docker` for its deploy user. The VPS provider runs Caddy (the
edge) and HAProxy (the release switch) as supervised containers on that engine; this host
names the lab's own images for them in `~deploy/.cockpit/images.json` (the official caddy and
haproxy images cannot be pulled here). `down` removes those containers too.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import socket
from pathlib import Path

from ._proc import LabError, State, pids_of_user, run, spawn, stop_pid, wait_for

USER = "deploy"
KEY_COMMENT = "cockpit-lab"  # plus ":<lab dir>", so two lab dirs can share `deploy`


def paths(root: Path) -> dict[str, Path]:
    d = root / "ssh"
    return {
        "dir": d,
        "host_key": d / "ssh_host_ed25519_key",
        "user_key": d / "id_ed25519",
        "config": d / "sshd_config",
        "known_hosts": d / "known_hosts",
        "log": root / "sshd.log",
    }


def _keygen(path: Path, comment: str) -> None:
    if path.exists() and path.with_suffix(".pub").exists():
        return
    path.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    os.chmod(path, 0o600)


def fingerprint(pub: Path) -> str:
    """`SHA256:...` exactly as `ssh-keygen -lf` prints it."""
    out = run(["ssh-keygen", "-lf", str(pub)]).stdout.decode().split()
    return out[1]


def ensure_user(pub_key: str) -> pwd.struct_passwd:
    """Create `deploy` (home, bash, group docker) if absent; install the lab key for it."""
    try:
        grp.getgrnam("docker")
    except KeyError:
        run(["groupadd", "--system", "docker"])
    try:
        user = pwd.getpwnam(USER)
        groups = [g.gr_name for g in grp.getgrall() if USER in g.gr_mem]
        if "docker" not in groups:
            run(["usermod", "-aG", "docker", USER])
    except KeyError:
        run(["useradd", "--create-home", "--shell", "/bin/bash", "--groups", "docker", USER])
        user = pwd.getpwnam(USER)
    # A "!" password means locked, and sshd (without PAM) refuses locked accounts even for
    # keys; "*" means "no password login" without locking.
    shadow = run(["getent", "shadow", USER], check=False).stdout.decode()
    if shadow.split(":")[1:2] and shadow.split(":")[1].startswith("!"):
        run(["usermod", "-p", "*", USER])
    home = Path(user.pw_dir)
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    auth = ssh_dir / "authorized_keys"
    lines = auth.read_text().splitlines() if auth.exists() else []
    comment = pub_key.split()[-1]
    lines = [ln for ln in lines if ln.split()[-1:] != [comment]] + [pub_key.strip()]
    auth.write_text("\n".join(lines) + "\n")
    for p in (home, ssh_dir, auth):
        os.chown(p, user.pw_uid, user.pw_gid)
    os.chmod(ssh_dir, 0o700)
    os.chmod(auth, 0o600)
    _host_images(home, user)
    return user


# The images the VPS provider runs its edge and switch from on this host (cockpit.lab.images).
HOST_IMAGES = {"edge": "cockpit-lab/caddy:bookworm", "switch": "cockpit-lab/haproxy:bookworm"}
EDGE_CONTAINERS = ("cockpit-edge", "cockpit-switch")


def _host_images(home: Path, user: pwd.struct_passwd) -> None:
    """Write `~deploy/.cockpit/images.json` (the host's default edge and switch images; an
    environment's `edge_image` / `switch_image` still wins), owned by `deploy`, 0600."""
    root = home / ".cockpit"
    root.mkdir(mode=0o700, exist_ok=True)
    os.chown(root, user.pw_uid, user.pw_gid)
    target = root / "images.json"
    text = json.dumps(HOST_IMAGES, sort_keys=True) + "\n"
    if target.exists() and target.read_text() == text:
        return
    tmp = root / "images.json.tmp"
    tmp.write_text(text)
    os.chown(tmp, user.pw_uid, user.pw_gid)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)


def _config(p: dict[str, Path], port: int) -> str:
    sftp = next(
        (
            s
            for s in ("/usr/lib/openssh/sftp-server", "/usr/libexec/sftp-server")
            if os.path.exists(s)
        ),
        "internal-sftp",
    )
    return "\n".join(
        [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {p['host_key']}",
            f"PidFile {p['dir'] / 'sshd.pid'}",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            "UsePAM no",
            f"AllowUsers {USER}",
            "AllowTcpForwarding yes",
            "AllowStreamLocalForwarding yes",
            "X11Forwarding no",
            "PrintMotd no",
            "MaxSessions 64",
            "MaxStartups 64:30:128",
            "LogLevel VERBOSE",
            f"Subsystem sftp {sftp}",
            "",
        ]
    )


def banner_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


def ensure(state: State, port: int) -> dict[str, object]:
    if not shutil.which("sshd") and not os.path.exists("/usr/sbin/sshd"):
        raise LabError("sshd not found: install the Debian package openssh-server")
    p = paths(state.root)
    p["dir"].mkdir(parents=True, exist_ok=True)
    os.chmod(p["dir"], 0o700)
    _keygen(p["host_key"], "cockpit-lab-host")
    _keygen(p["user_key"], f"{KEY_COMMENT}:{state.root}")
    ensure_user(p["user_key"].with_suffix(".pub").read_text())
    host_pub = p["host_key"].with_suffix(".pub").read_text().split()
    p["known_hosts"].write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    info = {
        "address": f"127.0.0.1:{port}",
        "user": USER,
        "key": str(p["user_key"]),
        "hostkey_sha256": fingerprint(p["host_key"].with_suffix(".pub")),
        "known_hosts": str(p["known_hosts"]),
    }
    pid = state.alive("sshd")
    if pid and state.procs["sshd"].get("port") == port and banner_ok(port):
        return {"up": True, "pid": pid, **info}
    if pid:
        stop_pid(pid)
    p["config"].write_text(_config(p, port))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    run([sshd, "-t", "-f", str(p["config"])])
    proc = spawn([sshd, "-D", "-e", "-f", str(p["config"])], p["log"])
    state.record("sshd", proc.pid, port=port)
    wait_for(lambda: banner_ok(port), "sshd (lab VPS)", timeout=20, log=p["log"], proc=proc)
    return {"up": True, "pid": proc.pid, **info}


def forget_key(root: Path) -> None:
    """Remove this lab dir's key from `deploy`'s authorized_keys (on `down`)."""
    pub = paths(root)["user_key"].with_suffix(".pub")
    try:
        comment = pub.read_text().split()[-1]
        auth = Path(pwd.getpwnam(USER).pw_dir) / ".ssh" / "authorized_keys"
        lines = auth.read_text().splitlines()
    except (OSError, KeyError, IndexError):
        return
    kept = [ln for ln in lines if ln.split()[-1:] != [comment]]
    if kept != lines:
        auth.write_text("".join(ln + "\n" for ln in kept))


def stop_user_services() -> list[int]:
    """Remove the VPS provider's edge and switch containers, and stop a Caddy or HAProxy an
    older cockpit started as `deploy` (the lab's own user) without a container."""
    run(["docker", "rm", "--force", "--volumes", *EDGE_CONTAINERS], check=False, timeout=60)
    try:
        uid = pwd.getpwnam(USER).pw_uid
    except KeyError:
        return []
    pids = pids_of_user(uid, {"caddy", "haproxy"})
    for pid in pids:
        stop_pid(pid)
    return pids
