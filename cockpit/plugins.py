"""Provider discovery through the `cockpit.providers` entry-point group.

Importing a provider class must stay cheap: provider packages import their heavy libraries
(paramiko, kubernetes, docker) inside the functions that need them.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from cockpit.errors import ConfigError

GROUP = "cockpit.providers"
# Used when the package metadata is missing (running from a source tree that was not installed).
BUILTIN = {
    "vps": "cockpit.providers.vps:VpsProvider",
    "kubernetes": "cockpit.providers.kubernetes:KubernetesProvider",
    "fly": "cockpit.providers.fly:FlyProvider",
}


@cache
def _targets() -> dict[str, str]:
    found = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        found[ep.name] = ep.value
    return found


def provider_names() -> list[str]:
    return sorted(_targets())


@cache
def provider_class(name: str) -> Any:
    target = _targets().get(name)
    if target is None:
        raise ConfigError(
            f"unknown provider {name!r}; expected one of: {', '.join(provider_names())}"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"provider {name!r} could not be loaded from {target}: {exc}") from exc
