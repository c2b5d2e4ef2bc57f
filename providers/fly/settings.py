"""`[environments.<name>]` keys of a Fly.io environment (provider = "fly")."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from cockpit.provider import ProviderSettings


def _expect(text: str, *, access: bool = False) -> dict[str, Any]:
    """`access`: how cockpit reaches and operates the app, not what its machines run (left out
    of the config hash)."""
    return {"json_schema_extra": {"expect": text, "access": access}}


FLY_HOSTS = {"api_url": "api.machines.dev", "logs_url": "api.fly.io"}
"""Where Fly's documentation says the Machines API and the logs API answer (fly.io/docs/machines/
api/ and the flyctl logs client); the token goes there without an opt-in."""


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (a local emulator or proxy)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token_url(url: str, *, key: str, default_host: str, trusted: bool) -> str:
    """`url` if the Fly token may be sent to it, else ValueError saying why.

    Rules: https, except plain http to a loopback host (the emulator the tests run on
    127.0.0.1); no user:password@ part; the host is `default_host`, a loopback host, or any
    host when `trusted` (the `trust_api_host = true` opt-in).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{key} is not a URL: {url!r}") from None
    loopback = is_loopback(host)
    if not host or parts.username is not None or parts.password is not None:
        raise ValueError(f"expected an https URL with a host and no user:password@ part "
                         f"(the Fly token is sent there), got {url!r}")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError(f"expected an https URL (the Fly token is sent there; plain http only "
                         f"to a loopback host such as 127.0.0.1), got {url!r}")
    if host.lower() != default_host and not loopback and not trusted:
        raise ValueError(f"the Fly token is sent to {key}, whose host {host!r} is not Fly's "
                         f"{default_host!r}: set `trust_api_host = true` in this environment "
                         f"if {host} is yours (a proxy you run), or remove {key}")
    return url


class FlySettings(ProviderSettings):
    DOCS = {
        "app": ("The Fly app this environment deploys to (one app per environment).",
                "Fly app name"),
        "org": ("The Fly organization the app is created in.", "Fly organization"),
        "regions": ("Regions to run machines in; one machine per region and replica.",
                    "Regions (e.g. iad, fra)"),
        "vm_size": ("The machine size preset.", "Machine size"),
        "memory_mb": ("Memory per machine, in MB.", "Memory per machine (MB)"),
        "strategy": ("How a release replaces the machines: one by one, or all green then "
                     "switch.", "Deploy strategy (rolling or bluegreen)"),
        "image": ("A prebuilt image to deploy instead of building the app.", "Image (optional)"),
        "registry": ("The registry images are pushed to (default: Fly's registry).",
                     "Registry"),
        "internal_port": ("The port the app listens on inside the machine (default: app.port).",
                          "Internal port"),
        "check_path": ("The HTTP path Fly's machine check requests (default: app.health_path).",
                       "Health check path"),
        "check_interval": ("How often Fly runs the machine check.", "Check interval"),
        "check_timeout": ("How long one machine check may take.", "Check timeout"),
        "check_grace": ("How long after start a failing check is not counted.",
                        "Check grace period"),
        "env": ("Plain environment variables for the machines (never secrets).",
                "Machine environment"),
        "wait_timeout": ("Seconds to wait for a machine to reach a state.",
                         "Machine wait timeout (seconds)"),
        "swap_wait": ("Seconds blue keeps serving after green passes (blue-green).",
                      "Blue-green swap wait (seconds)"),
        "lease_ttl": ("Seconds a machine lease (and the deploy lock) lives without refresh.",
                      "Lease TTL (seconds)"),
        "cert_timeout": ("Seconds to wait for the domain's certificate.",
                         "Certificate timeout (seconds)"),
        "tls_probe": ("Whether the domain's certificate is probed once issued.",
                      "Probe TLS after issuing?"),
        "tls_probe_address": ("The address the TLS probe connects to instead of DNS.",
                              "TLS probe address"),
        "tls_ca_file": ("A CA bundle trusted by the TLS probe.", "TLS probe CA file"),
        "dns_resolver": ("A DNS resolver (host:port) for the domain check.", "DNS resolver"),
        "trust_api_host": ("Allow api_url or logs_url on a host other than Fly's own (the token "
                           "is sent there).", "Trust a non-Fly API host?"),
        "api_url": ("The Machines API endpoint.", "Machines API URL"),
        "release_timeout": ("Seconds the release command's machine may run before the deploy "
                            "stops.", "Release command timeout (seconds)"),
        "logs_url": ("The logs API endpoint.", "Logs API URL"),
    }

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
    release_timeout: float = Field(
        300.0, gt=0, le=3600,
        **_expect("seconds the release command's machine may run (flyctl's "
                  "release_command_timeout, default 5 m)", access=True),
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
    # read by the api_url / logs_url check below, so declared before them
    trust_api_host: bool = Field(
        False,
        **_expect("true or false: true sends the Fly token to an api_url / logs_url host other "
                  "than Fly's own (a proxy you run; https only)", access=True),
    )
    api_url: str = Field(
        "https://api.machines.dev/v1", pattern=r"^https?://",
        **_expect("the Machines API base URL", access=True),
    )
    logs_url: str = Field(
        "https://api.fly.io/api/v1", pattern=r"^https?://",
        **_expect("the logs API base URL", access=True),
    )

    @field_validator("api_url", "logs_url")
    @classmethod
    def _token_goes_only_to_fly(cls, value: str, info: ValidationInfo) -> str:
        key = info.field_name or "api_url"
        return check_token_url(value, key=key, default_host=FLY_HOSTS[key],
                               trusted=bool(info.data.get("trust_api_host", False)))

    def exclusive(self, app: str, env: str) -> dict[str, tuple[str, Any]]:
        return {"app": ("Fly app", self.app)}
