"""`cockpit mcp --http`: streamable HTTP behind a bearer token kept in the OS keyring.

The token (32 random bytes, URL-safe) lives under service `cockpit:mcp`, user
`http-token:<app>`, created on first use; every HTTP request must carry
`Authorization: Bearer <token>` (compared in constant time) or gets 401. The MCP SDK's own
transport security (Host and Origin checks against DNS rebinding) stays on.
"""

from __future__ import annotations

import hmac
import secrets as _random
from typing import Any

from cockpit.errors import SecretStoreError
from cockpit.redaction import REDACTOR

TOKEN_SERVICE = "cockpit:mcp"


def token_for(app: str, *, register: bool = True) -> str:
    """The app's MCP HTTP bearer token from the keyring, created there when missing; registered
    with the redactor unless `register` is False (only `cockpit mcp --show-token`, which exists
    to print it). Raises SecretStoreError when there is no usable keyring (never a file)."""
    from cockpit.secrets import SecretStore

    store = SecretStore(app)
    backend = store._keyring()
    user = f"http-token:{app}"
    token = store._call("read", backend.get_password, TOKEN_SERVICE, user)
    if not token:
        store._call("write", backend.set_password, TOKEN_SERVICE, user,
                    _random.token_urlsafe(32))
        token = store._call("read", backend.get_password, TOKEN_SERVICE, user)
    if not token:
        raise SecretStoreError("the keyring did not keep the MCP token")
    if register:
        REDACTOR.add(token)
    return token


class BearerAuth:
    """ASGI middleware: HTTP requests without the right bearer token get 401; lifespan passes."""

    def __init__(self, app: Any, token: str) -> None:
        if len(token) < 16:
            raise SecretStoreError("refusing to serve HTTP with an empty or short token")
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"error":"missing or wrong bearer token"}'
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def run_http(server: Any, host: str, port: int, token: str) -> None:
    """Serve `server` (an MCPServer) at http://host:port/mcp until stopped."""
    import uvicorn

    app = BearerAuth(server.streamable_http_app(host=host), token)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                  access_log=False)).run()
