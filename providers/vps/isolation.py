"""What keeps one environment on a VPS host from touching another's.

Each release's container gets its own network namespace by default (`network = "bridge"`): it
sees only its own loopback, and its slot port is published on the host's loopback. With
`network = "host"` a container shares the host's loopback with every other environment's slot
and host ports and every loopback service. The edge's and the switch's admin interfaces are
unix sockets of their own users (no TCP port; see setup.py) and the env files are 0600 for the
SSH user, so a host-network app cannot rewrite the edge, switch slots or read an env file
through them; it can still answer on, or bind, another environment's loopback ports. So a
protected environment (prod) refuses the host network unless `allow_host_network = true` says
that every app on the host is trusted as much as it is.
"""

from __future__ import annotations

from cockpit.errors import ConfigError


def check_network(config, env) -> None:
    """Refuse `network = "host"` on a protected environment without `allow_host_network = true`.

    `config`: the loaded Config (for the file name and the key's line; may be None), `env`: one
    of its VPS environments. Raises ConfigError (exit 2) naming file, line, column and key, and
    saying why and what to do. Returns None when the environment may run as configured.
    """
    s = env.settings
    if getattr(s, "network", "bridge") != "host" or not env.protected or s.allow_host_network:
        return
    key = f"environments.{env.name}.network"
    where = None
    if config is not None and getattr(config, "text", None):
        from cockpit.config import locate

        line, col = locate(config.text, ["environments", env.name, "network"])
        where = f"{config.path.name}:{line}:{col}"
    raise ConfigError(
        f'{key}: "host" is refused for the protected environment {env.name}: its containers '
        "would share the host's loopback with every other environment on the host, so an app of "
        "another environment (staging) on the host network could answer on or take over this "
        "environment's slot and host ports and reach every loopback service",
        where=where,
        hint=f'use network = "bridge" (the default: each container has its own network and '
        f"only its slot port is published on the host's loopback), or add "
        f"allow_host_network = true to [environments.{env.name}] if every app on this host is "
        "trusted as much as this one",
    )
