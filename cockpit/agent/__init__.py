"""The agent interface: `cockpit mcp` (an MCP server on the official Python SDK).

`tools` holds what each tool does, as plain functions over a `Context` (no MCP import, so it is
testable and reusable); `server` wraps them in an `mcp.server.mcpserver.MCPServer` with typed
outputs and annotations; `http` serves it over streamable HTTP behind a bearer token. The rules
an agent cannot get around live in the core (`cockpit.plans`, `cockpit.pipeline`), not here.
"""
