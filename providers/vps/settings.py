"""`[environments.<name>]` keys of a VPS environment (provider = "vps")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cockpit.provider import ProviderSettings


class VpsSettings(ProviderSettings):
    host: str = Field(min_length=1, json_schema_extra={"expect": "a host name or address"})
    user: str = Field("root", min_length=1, json_schema_extra={"expect": "an SSH user name"})
    ssh_port: int = Field(22, ge=1, le=65535, json_schema_extra={"expect": "an integer 1-65535"})
    identity_file: str | None = Field(None, json_schema_extra={"expect": "a private key path"})
    registry: str | None = Field(None, json_schema_extra={"expect": "a registry like host:5000"})
    container_name: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", json_schema_extra={"expect": "a name"}
    )
    host_port: int = Field(
        8100, ge=1024, le=65535,
        json_schema_extra={"expect": "an integer 1024-65535 (the environment's loopback port)"},
    )
    network: Literal["bridge", "host"] = Field(
        "bridge", json_schema_extra={"expect": "\"bridge\" or \"host\""}
    )
    keep_releases: int = Field(5, ge=1, le=50, json_schema_extra={"expect": "an integer 1-50"})
    lock_ttl: float = Field(900.0, gt=0, json_schema_extra={"expect": "seconds"})
    http_port: int = Field(80, ge=1, le=65535, json_schema_extra={"expect": "an integer 1-65535"})
    https_port: int = Field(443, ge=1, le=65535, json_schema_extra={"expect": "an integer 1-65535"})
    dns_resolver: str | None = Field(
        None, json_schema_extra={"expect": "a resolver address like 127.0.0.1:8053"}
    )

    def exclusive(self, app: str, env: str) -> dict[str, tuple[str, Any]]:
        name = self.container_name or f"{app}-{env}"
        return {
            "container_name": ("container name", f"{self.host}/{name}"),
            "host_port": ("host port", f"{self.host}:{self.host_port}"),
        }
