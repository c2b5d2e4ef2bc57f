"""A Docker registry on loopback (Debian `docker-registry`, distribution 2.8).

The engine treats 127.0.0.0/8 registries as insecure (plain HTTP) by default, so
`docker push 127.0.0.1:PORT/app:tag` and `docker pull 127.0.0.1:PORT/app@sha256:...` work
without any daemon config.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from ._proc import LabError, State, spawn, stop_pid, wait_for


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def _config(root: Path, port: int) -> str:
    return f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root / "registry" / "data"}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def ensure(state: State, port: int) -> dict[str, object]:
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(binary).exists():
        raise LabError("docker-registry not found: install the Debian package docker-registry")
    addr = f"127.0.0.1:{port}"
    pid = state.alive("registry")
    if pid and state.procs["registry"].get("port") == port and answers(port):
        return {"up": True, "address": addr, "pid": pid}
    if pid:
        stop_pid(pid)
    d = state.root / "registry"
    (d / "data").mkdir(parents=True, exist_ok=True)
    cfg = d / "config.yml"
    cfg.write_text(_config(state.root, port))
    log = state.root / "registry.log"
    proc = spawn([binary, "serve", str(cfg)], log)
    state.record("registry", proc.pid, port=port)
    wait_for(lambda: answers(port), "docker-registry", timeout=20, log=log, proc=proc)
    return {"up": True, "address": addr, "pid": proc.pid}
