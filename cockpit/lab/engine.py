"""Docker Engine and the offline base image.

No image can be pulled on these machines, so the lab builds `cockpit-lab/base:bookworm` itself:
debootstrap a minimal bookworm (with Python's standard library, so an app or a test can serve
HTTP with `python3 -m http.server`) from the machine's own Debian mirror and `docker import`
it. The rootfs tarball is cached in the lab dir so a restarted engine re-imports it in seconds.

Builds (checked on this machine, engine 20.10 from docker.io, client 28 without buildx): the
docker SDK's `images.build(..., buildargs={"BASE": ...})` works with the default network and
with `network_mode="none"`; the CLI's `docker build` falls back to the legacy builder with a
deprecation notice (`DOCKER_BUILDKIT=0` silences it). `FROM cockpit-lab/base:bookworm` with
RUN/COPY/ENV/CMD works. A RUN step's container sits on the default bridge and reaches the
Debian mirror over http and PyPI/npm over https (with the machine's CA: images.py builds the
per-stack images on this). Containers that serve something run with `--network host` and
listen on loopback (the network rule).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

from ._proc import LabError, State, run, spawn, wait_for

SOCKET = Path("/var/run/docker.sock")
BASE_IMAGE = "cockpit-lab/base:bookworm"
SUITE = "bookworm"
PACKAGES = ["python3-minimal", "libpython3.11-stdlib"]


def ping(sock: Path = SOCKET, timeout: float = 2.0) -> bool:
    """True if the engine answers `GET /_ping` on its unix socket."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            data = s.recv(256)
    except OSError:
        return False
    return data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0]


def ensure_engine(state: State) -> dict[str, object]:
    """Use the running engine, or start `dockerd` and wait until it answers."""
    if ping():
        pid = state.alive("dockerd")
        return {"up": True, "address": f"unix://{SOCKET}", "pid": pid, "started_by_lab": bool(pid)}
    if not shutil.which("dockerd"):
        raise LabError(
            "dockerd not found: install the Debian package docker.io (scripts/test does)"
        )
    log = state.root / "dockerd.log"
    proc = spawn(["dockerd"], log)
    state.record("dockerd", proc.pid)
    wait_for(ping, "dockerd", timeout=90, log=log, proc=proc)
    return {"up": True, "address": f"unix://{SOCKET}", "pid": proc.pid, "started_by_lab": True}


def debian_mirror(
    deb822: Path = Path("/etc/apt/sources.list.d/debian.sources"),
    legacy: Path = Path("/etc/apt/sources.list"),
) -> str:
    """The main Debian archive this machine installs from (apt sources), for debootstrap."""
    candidates: list[str] = []
    if deb822.exists():
        for stanza in deb822.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
            suites = fields.get("suites", "").split()
            if SUITE in suites and fields.get("uris"):
                candidates += fields["uris"].split()
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb":
                rest = [p for p in parts[1:] if not p.startswith("[")]
                if len(rest) >= 2 and rest[1] == SUITE:
                    candidates.append(rest[0])
    for uri in candidates:
        if "security" not in uri:
            return uri
    raise LabError(
        f"no Debian {SUITE} mirror found in {deb822} or {legacy}: add one to apt's sources"
    )


def image_exists(name: str = BASE_IMAGE) -> bool:
    return run(["docker", "image", "inspect", name], check=False, timeout=30).returncode == 0


def ensure_base_image(state: State) -> dict[str, object]:
    """Import the cached rootfs tarball, building it with debootstrap the first time."""
    if image_exists():
        return {"up": True, "address": BASE_IMAGE}
    tarball = state.root / "base-bookworm.tar"
    if not tarball.exists():
        _debootstrap(state.root, tarball)
    run(
        [
            "docker",
            "import",
            "-c",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "-c",
            "ENV LANG=C.UTF-8",
            "-c",
            'CMD ["/bin/bash"]',
            str(tarball),
            BASE_IMAGE,
        ],
        timeout=300,
    )
    return {"up": True, "address": BASE_IMAGE}


def _debootstrap(root: Path, tarball: Path) -> None:
    if not shutil.which("debootstrap"):
        raise LabError("debootstrap not found: install the Debian package debootstrap")
    rootfs = root / "rootfs.build"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    log = root / "debootstrap.log"
    started = time.monotonic()
    with open(log, "ab") as out:
        import subprocess

        res = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(PACKAGES),
                SUITE,
                str(rootfs),
                debian_mirror(),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=900,
        )
    if res.returncode != 0:
        raise LabError(f"debootstrap failed ({res.returncode}); see {log}")
    # Trim what a container never needs: apt lists, docs, man pages, locales.
    for sub in [
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/locale",
        "usr/share/info",
    ]:
        target = rootfs / sub
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
    tmp = tarball.with_suffix(".tmp")
    run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tmp), "."], timeout=300)
    os.replace(tmp, tarball)
    shutil.rmtree(rootfs, ignore_errors=True)
    with open(log, "a") as out:
        out.write(f"\nbase rootfs built in {time.monotonic() - started:.1f}s\n")
