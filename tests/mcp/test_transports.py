"""`cockpit mcp` as its own process: stdio (the default), and streamable HTTP on loopback behind
the bearer token from the keyring; a non-loopback bind is refused unless explicit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import anyio
import pytest

from cockpit.cli.mcp import parse_bind
from cockpit.errors import Refused, UsageError

pytestmark = pytest.mark.timeout(900)


def test_binds_other_than_loopback_are_refused_unless_explicit():
    assert parse_bind("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_bind("[::1]:8765") == ("::1", 8765)
    assert parse_bind("localhost:1") == ("localhost", 1)
    with pytest.raises(Refused, match="not a loopback"):
        parse_bind("0.0.0.0:8765")
    with pytest.raises(Refused):
        parse_bind("192.0.2.7:8765")
    assert parse_bind("0.0.0.0:8765", allow_remote=True) == ("0.0.0.0", 8765)
    for bad in ("8765", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(UsageError):
            parse_bind(bad)
    out = subprocess.run([sys.executable, "-m", "cockpit", "mcp", "--http", "0.0.0.0:8765"],
                         capture_output=True, text=True, timeout=60,
                         cwd=os.path.dirname(__file__))
    assert out.returncode in (2, 5)  # no cockpit.toml there (2) or refused (5); never served


def test_stdio_server_process_lists_tools_and_answers_status(project):
    ctx = project()
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "cockpit", "mcp", "--config",
                                         str(ctx.config.path)],
                                   env=dict(os.environ))

    async def go():
        async with Client(params) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            result = await c.call_tool("status", {"env": "staging"})
            return names, result

    names, result = anyio.run(go)
    assert "apply" in names and "plan_deploy" in names
    assert result.structured_content["environments"][0]["env"] == "staging"
    assert ctx.store.audit_log(limit=1)[0]["command"] == "mcp:status"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_needs_the_bearer_token_from_the_keyring(project, os_keyring):
    ctx = project()
    port = _free_port()
    shown = subprocess.run([sys.executable, "-m", "cockpit", "mcp", "--show-token", "--json",
                            "--config", str(ctx.config.path)], capture_output=True, text=True,
                           timeout=60)
    import json

    token = json.loads(shown.stdout.splitlines()[-1])["data"]["token"]
    assert os_keyring[("cockpit:mcp", "http-token:shop")] == token and len(token) >= 40
    proc = subprocess.Popen([sys.executable, "-m", "cockpit", "mcp", "--http",
                             f"127.0.0.1:{port}", "--config", str(ctx.config.path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        url = f"http://127.0.0.1:{port}/mcp"
        for _ in range(600):  # wait for the listener (up to a minute)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError(proc.communicate()) from None
                anyio.run(anyio.sleep, 0.1)
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        assert httpx2.post(url, json=body).status_code == 401
        assert httpx2.post(url, json=body,
                           headers={"Authorization": "Bearer wrong"}).status_code == 401

        async def go():
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
                async with Client(streamable_http_client(url, http_client=http)) as c:
                    return {t.name for t in (await c.list_tools()).tools}

        assert "apply" in anyio.run(go)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
