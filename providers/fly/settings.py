"""`[environments.<name>]` keys of a Fly.io environment (provider = "fly")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cockpit.provider import ProviderSettings


class FlySettings(ProviderSettings):
    app: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", json_schema_extra={"expect": "a Fly app name"}
    )
    org: str = Field("personal", min_length=1, json_schema_extra={"expect": "an org slug"})
    regions: list[str] = Field(
        default_factory=lambda: ["iad"], min_length=1,
        json_schema_extra={"expect": "a list of region codes like [\"iad\"]"},
    )
    vm_size: str = Field("shared-cpu-1x", json_schema_extra={"expect": "a machine size"})
    memory_mb: int = Field(256, ge=128, le=65536, json_schema_extra={"expect": "MB, 128-65536"})
    count: int = Field(1, ge=1, le=100, json_schema_extra={"expect": "an integer 1-100"})
    strategy: Literal["rolling", "bluegreen"] = Field(
        "rolling", json_schema_extra={"expect": "\"rolling\" or \"bluegreen\""}
    )
    image: str | None = Field(None, json_schema_extra={"expect": "an image reference"})
    api_url: str = Field(
        "https://api.machines.dev/v1", pattern=r"^https?://",
        json_schema_extra={"expect": "the Machines API base URL"},
    )
    logs_url: str = Field(
        "https://api.fly.io/api/v1", pattern=r"^https?://",
        json_schema_extra={"expect": "the logs API base URL"},
    )

    def exclusive(self, app: str, env: str) -> dict[str, tuple[str, Any]]:
        return {"app": ("Fly app", self.app)}
