"""Fixtures for the agent interface: an app on the Kubernetes emulator (tests/k8s's fixtures,
real keyring, real kubeconfig) served by `cockpit mcp`'s server, reached with the SDK's
in-memory client."""

from __future__ import annotations

import json

import anyio
import pytest

from tests.k8s.conftest import (  # noqa: F401 (fixtures)
    IMAGE_LEAKY,
    IMAGE_V1,
    IMAGE_V2,
    SECRET_PROD,
    SECRET_STAGING,
    emulator,
    project,
)


class Agent:
    """A synchronous face on `mcp.Client(server)`: one in-memory connection per call, with a
    client name, so tests read like the agent's conversation."""

    def __init__(self, server, name: str = "test-agent") -> None:  # noqa: ANN001
        self.server = server
        self.name = name
        self.outputs: list[str] = []  # every text and structured result seen, for leak checks

    async def _with(self, fn):  # noqa: ANN001
        from mcp import Client
        from mcp.types import Implementation

        async with Client(self.server,
                          client_info=Implementation(name=self.name, version="1.0")) as c:
            return await fn(c)

    def run(self, fn):  # noqa: ANN001
        return anyio.run(self._with, fn)

    def list_tools(self):
        return self.run(lambda c: c.list_tools()).tools

    def call(self, tool: str, **args):
        """The result object; `.structured_content` or `.is_error` + text."""

        async def go(c):  # noqa: ANN001
            return await c.call_tool(tool, args)

        result = self.run(go)
        self.outputs.append(json.dumps(result.structured_content))
        self.outputs += [getattr(part, "text", "") for part in result.content]
        return result

    def ok(self, tool: str, **args) -> dict:
        result = self.call(tool, **args)
        assert not result.is_error, result.content
        return result.structured_content

    def error(self, tool: str, **args) -> str:
        result = self.call(tool, **args)
        assert result.is_error, result.structured_content
        return " ".join(getattr(p, "text", "") for p in result.content)

    def resource(self, uri: str) -> str:
        async def go(c):  # noqa: ANN001
            return await c.read_resource(uri)

        text = self.run(go).contents[0].text
        self.outputs.append(text)
        return text


@pytest.fixture
def agent_for():
    """`agent_for(ctx, read_only=False)`: an Agent on a server for ctx's cockpit.toml."""
    from cockpit.agent.server import build
    from cockpit.agent.tools import Session

    sessions = []

    def factory(ctx, read_only: bool = False, name: str = "test-agent") -> Agent:  # noqa: ANN001
        session = Session(ctx.config.path, read_only=read_only)
        sessions.append(session)
        return Agent(build(session), name=name)

    yield factory
    for s in sessions:
        s.close()
