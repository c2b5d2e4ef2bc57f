"""`cockpit logs`: every running instance over its own SSH channel, secrets redacted, and a
follow that survives a dropped SSH connection (reopened from the last timestamp)."""

from __future__ import annotations

import queue
import socket
import ssl
import threading
import time

import pytest

from tests.vps.conftest import SECRETS, domain

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(120)]


def _get(lab, path: str) -> None:
    """One request through the edge. Caddy obtains a new domain's certificate in the
    background, so when this file runs first in a session the handshake is retried briefly."""
    ctx = ssl.create_default_context(cafile=lab.acme_issuer_root)
    name = domain("staging")
    end = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", lab.https_port), timeout=5) as raw, \
                    ctx.wrap_socket(raw, server_hostname=name) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n"
                          .encode())
                while s.recv(65536):
                    pass
            return
        except ssl.SSLError:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def _wait(q: queue.Queue, needle: str, timeout: float = 20) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            line = q.get(timeout=0.5)
        except queue.Empty:
            continue
        if needle in line.line:
            return f"{line.source} | {line.line}"
    raise AssertionError(f"no log line with {needle!r}")


def test_follow_redacts_secrets_and_survives_a_dropped_connection(ready, project):
    from cockpit.pipeline import provider_for

    ctx = project.ctx()
    env = ctx.config.env("staging")
    provider = provider_for(ctx, env)
    lines = provider.logs(env, follow=True, tail=0)
    q: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in lines:
            q.put(line)

    threading.Thread(target=pump, daemon=True).start()
    time.sleep(0.5)
    _get(project.lab, f"/first-{SECRETS['staging']}")
    shown = _wait(q, "/first-")
    assert SECRETS["staging"] not in shown and "••••" in shown
    current = provider.live(env).current.id
    assert shown.startswith(f"{current}/")

    provider.host(env).t.close()  # the SSH connection drops under the follower
    time.sleep(0.3)
    _get(project.lab, "/second-after-reconnect")
    assert "/second-after-reconnect" in _wait(q, "/second-after-reconnect", timeout=30)
