"""`[environments.<name>]` keys of a VPS environment (provider = "vps")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cockpit.provider import ProviderSettings


def _port(text: str = "an integer 1-65535", *, access: bool = False) -> dict[str, Any]:
    return {"json_schema_extra": {"expect": text, "access": access}}


ACCESS = {"access": True}  # how cockpit reaches the host, not what runs there


class VpsSettings(ProviderSettings):
    DOCS = {
        "host": ("The server's host name or address, reached over SSH.", "Server host"),
        "user": ("The SSH user cockpit logs in as (needs Docker).", "SSH user"),
        "ssh_port": ("The server's SSH port.", "SSH port"),
        "identity_file": ("The private key to log in with (default: the SSH agent and "
                          "~/.ssh keys).", "SSH key file"),
        "ssh_timeout": ("Seconds to wait for the SSH connection.", "SSH timeout (seconds)"),
        "registry": ("A registry the server pulls images from (default: images are copied "
                     "over SSH).", "Registry (optional)"),
        "container_name": ("The base name of the environment's containers (default "
                           "<app>-<env>).", "Container name"),
        "host_port": ("The environment's loopback port on the host; +1 and +2 are its two "
                      "slots.", "Host port"),
        "network": ("The Docker network mode of the app's containers.",
                    "Container network (bridge or host)"),
        "keep_releases": ("How many stopped releases are kept for rollback.", "Releases kept"),
        "lock_ttl": ("Seconds the deploy lock lives without refresh.",
                     "Deploy lock TTL (seconds)"),
        "drain_seconds": ("Seconds the old release may finish open requests after the switch.",
                          "Drain time (seconds)"),
        "stop_timeout": ("Seconds `docker stop` waits before killing a container.",
                         "Stop timeout (seconds)"),
        "http_port": ("The edge's HTTP port on the host.", "Edge HTTP port"),
        "https_port": ("The edge's HTTPS port on the host.", "Edge HTTPS port"),
        "edge_admin_port": ("The edge's (Caddy's) admin port on the host's loopback.",
                            "Edge admin port"),
        "switch_admin_port": ("The switch's (HAProxy's) admin port on the host's loopback.",
                              "Switch admin port"),
        "edge_image": ("The image the supervised edge (Caddy) runs from.", "Edge image"),
        "switch_image": ("The image the supervised switch (HAProxy) runs from.",
                         "Switch image"),
        "allow_host_network": ("Allow network = \"host\" on a protected environment.",
                               "Allow host networking in prod?"),
        "edge_ca_file": ("A PEM file trusted for the edge's certificate (a private ACME CA).",
                         "Edge CA file"),
        "public_address": ("The address the domain's DNS must point at (default: host).",
                           "Public address"),
        "dns_resolver": ("A DNS resolver (host:port) for the domain check.", "DNS resolver"),
        "min_free_mb": ("Free disk space, in MB, a deploy needs on the host.",
                        "Minimum free disk (MB)"),
    }

    host: str = Field(min_length=1, json_schema_extra={"expect": "a host name or address"})
    user: str = Field(
        "root", min_length=1, json_schema_extra={"expect": "an SSH user name", **ACCESS}
    )
    ssh_port: int = Field(22, ge=1, le=65535, **_port(access=True))
    identity_file: str | None = Field(
        None, json_schema_extra={"expect": "a private key path", **ACCESS}
    )
    ssh_timeout: float = Field(10.0, gt=0, le=300,
                                json_schema_extra={"expect": "seconds", **ACCESS})
    registry: str | None = Field(None, json_schema_extra={"expect": "a registry like host:5000"})
    container_name: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", json_schema_extra={"expect": "a name"}
    )
    host_port: int = Field(
        8100, ge=1024, le=65533,
        **_port("an integer 1024-65533 (the environment's loopback port; +1 and +2 are its slots)"),
    )
    network: Literal["bridge", "host"] = Field(
        "bridge", json_schema_extra={"expect": "\"bridge\" or \"host\""}
    )
    keep_releases: int = Field(5, ge=1, le=50, json_schema_extra={"expect": "an integer 1-50"})
    lock_ttl: float = Field(900.0, gt=0, json_schema_extra={"expect": "seconds", **ACCESS})
    drain_seconds: float = Field(
        10.0, ge=0, le=600, json_schema_extra={"expect": "seconds to wait for open requests"}
    )
    stop_timeout: int = Field(10, ge=0, le=600, json_schema_extra={"expect": "seconds"})
    http_port: int = Field(80, ge=1, le=65535, **_port())
    https_port: int = Field(443, ge=1, le=65535, **_port())
    edge_admin_port: int = Field(2019, ge=1, le=65535, **_port(access=True))
    switch_admin_port: int = Field(9901, ge=1, le=65535, **_port(access=True))
    # The supervised edge and switch (containers with a restart policy); unset: the host's
    # ~/.cockpit/images.json, else the official images (commands.DEFAULT_*_IMAGE).
    edge_image: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.:/@-]*$",
        json_schema_extra={"expect": "an image reference like caddy:2", **ACCESS},
    )
    switch_image: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.:/@-]*$",
        json_schema_extra={"expect": "an image reference like haproxy:2.8", **ACCESS},
    )
    allow_host_network: bool = Field(
        False,
        json_schema_extra={"expect": "true or false (network = \"host\" on a protected "
                           "environment)", **ACCESS},
    )
    edge_ca_file: str | None = Field(
        None,
        json_schema_extra={"expect": "a PEM file trusted for the edge's certificate", **ACCESS},
    )
    public_address: str | None = Field(
        None, json_schema_extra={"expect": "the address the domain's DNS must point at"}
    )
    dns_resolver: str | None = Field(
        None, json_schema_extra={"expect": "a resolver address like 127.0.0.1:8053", **ACCESS}
    )
    min_free_mb: int = Field(1024, ge=0, json_schema_extra={"expect": "megabytes", **ACCESS})

    @property
    def slot_ports(self) -> dict[str, int]:
        return {"blue": self.host_port + 1, "green": self.host_port + 2}

    def exclusive(self, app: str, env: str) -> dict[str, tuple[str, Any]]:
        name = self.container_name or f"{app}-{env}"
        return {
            "container_name": ("container name", f"{self.host}/{name}"),
            "host_port": ("host port", f"{self.host}:{self.host_port}"),
            "host_port+1": ("host port", f"{self.host}:{self.host_port + 1}"),
            "host_port+2": ("host port", f"{self.host}:{self.host_port + 2}"),
        }
