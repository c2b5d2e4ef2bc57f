"""`[environments.<name>]` keys of a Fly.io environment (provider = "fly")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cockpit.provider import ProviderSettings


def _expect(text: str, *, access: bool = False) -> dict[str, Any]:
    """`access`: how cockpit reaches and operates the app, not what its machines run (left out
    of the config hash)."""
    return {"json_schema_extra": {"expect": text, "access": access}}


class FlySettings(ProviderSettings):
    app: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", **_expect("a Fly app name"))
    org: str = Field("personal", min_length=1, **_expect("an org slug"))
    regions: list[str] = Field(
        default_factory=lambda: ["iad"], min_length=1,
        **_expect("a list of region codes like [\"iad\"]"),
    )
    vm_size: str = Field(
        "shared-cpu-1x", pattern=r"^(shared|performance)-cpu-\d+x$",
        **_expect("a machine size like \"shared-cpu-1x\" or \"performance-cpu-2x\""),
    )
    memory_mb: int = Field(256, ge=128, le=65536, **_expect("MB, 128-65536"))
    strategy: Literal["rolling", "bluegreen"] = Field(
        "rolling", **_expect("\"rolling\" or \"bluegreen\"")
    )
    image: str | None = Field(None, **_expect("an image reference"))
    registry: str | None = Field(
        None, **_expect("a registry to push built images to, like \"registry.fly.io\"")
    )
    internal_port: int | None = Field(
        None, ge=1, le=65535, **_expect("the port the app listens on (default: app.port)")
    )
    check_path: str | None = Field(
        None, pattern=r"^/[^\s]*$", **_expect("an HTTP path (default: app.health_path)")
    )
    check_interval: str = Field("10s", pattern=r"^\d+(ms|s|m)$", **_expect("a duration like 10s"))
    check_timeout: str = Field("2s", pattern=r"^\d+(ms|s|m)$", **_expect("a duration like 2s"))
    check_grace: str = Field("5s", pattern=r"^\d+(ms|s|m)$", **_expect("a duration like 5s"))
    # `env` in an environment's table is plain configuration for every provider
    # ([environments.<env>.env], read by cockpit.config before these settings): this field
    # stays empty. It is kept so the config hash of releases made before that (it covers these
    # settings) does not change, and a deploy is not reported as drift after an upgrade.
    env: dict[str, str] = Field(default_factory=dict, **_expect("a table of strings"))
    wait_timeout: float = Field(
        300.0, gt=0, le=3600, **_expect("seconds to wait for a machine to start", access=True)
    )
    swap_wait: float = Field(
        10.0, ge=0, le=300,
        **_expect("seconds between serving green and cordoning blue (proxy propagation)",
                  access=True),
    )
    lease_ttl: int = Field(
        13, ge=5, le=600, **_expect("lease seconds (refreshed every ttl/3)", access=True)
    )
    cert_timeout: float = Field(
        300.0, gt=0, le=3600,
        **_expect("seconds to wait for a certificate to be issued", access=True),
    )
    tls_probe: bool = Field(
        True, **_expect("true or false: probe TLS once the cert is issued", access=True)
    )
    tls_probe_address: str | None = Field(
        None, pattern=r"^[^\s:]+:\d+$",
        **_expect("host:port to dial for the TLS probe instead of resolving the domain",
                  access=True),
    )
    tls_ca_file: str | None = Field(None, **_expect("a CA bundle for the TLS probe", access=True))
    dns_resolver: str | None = Field(
        None, pattern=r"^[^\s:]+(:\d+)?$", **_expect("host:port of a DNS resolver", access=True)
    )
    api_url: str = Field(
        "https://api.machines.dev/v1", pattern=r"^https?://",
        **_expect("the Machines API base URL", access=True),
    )
    logs_url: str = Field(
        "https://api.fly.io/api/v1", pattern=r"^https?://",
        **_expect("the logs API base URL", access=True),
    )

    def exclusive(self, app: str, env: str) -> dict[str, tuple[str, Any]]:
        return {"app": ("Fly app", self.app)}
