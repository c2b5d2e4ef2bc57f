"""Provider discovery through the `cockpit.providers.v1` entry-point group.

The group name carries the contract's version (`cockpit.provider.Provider`, v1). The old,
unversioned `cockpit.providers` group is still read, with a deprecation warning per provider
found only there; a name in both groups is taken from the versioned one.

Importing a provider class must stay cheap: provider packages import their heavy libraries
(paramiko, kubernetes, docker) inside the functions that need them.
"""

from __future__ import annotations

import importlib
import warnings
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from cockpit.errors import ConfigError

GROUP = "cockpit.providers.v1"
LEGACY_GROUPS = ("cockpit.providers",)  # read with a deprecation note
# Used when the package metadata is missing (running from a source tree that was not installed).
BUILTIN = {
    "vps": "cockpit.providers.vps:VpsProvider",
    "kubernetes": "cockpit.providers.kubernetes:KubernetesProvider",
    "fly": "cockpit.providers.fly:FlyProvider",
}


@cache
def _targets() -> dict[str, str]:
    found = dict(BUILTIN)
    every = entry_points()  # one scan of the installed metadata (~50 ms), then select
    versioned = {ep.name: ep.value for ep in every.select(group=GROUP)}
    for group in LEGACY_GROUPS:
        for ep in every.select(group=group):
            if ep.name in versioned or found.get(ep.name) == ep.value:
                continue
            warnings.warn(f"provider {ep.name!r} ({ep.value}) is registered in the deprecated "
                          f"entry-point group {group!r}; register it in {GROUP!r}",
                          DeprecationWarning, stacklevel=2)
            found[ep.name] = ep.value
    found.update({k: v for k, v in versioned.items() if k not in BUILTIN})
    return found


def provider_names() -> list[str]:
    """Every provider name found: built-ins and installed entry points, sorted."""
    return sorted(_targets())


def clear_cache() -> None:
    """Forget what was found (after installing a provider into the running process)."""
    _targets.cache_clear()
    provider_class.cache_clear()


@cache
def provider_class(name: str) -> Any:
    """The provider class registered as `name`, a `cockpit.provider.Provider` subclass.

    A class that does not subclass it (written against the older, duck-typed contract) is
    given the base's default hooks, with a DeprecationWarning. A built-in name resolves without
    reading any package metadata (commands start faster; a plugin cannot replace a built-in).
    Raises ConfigError when the name is unknown or the class cannot be imported."""
    target = BUILTIN.get(name) or _targets().get(name)
    if target is None:
        raise ConfigError(
            f"unknown provider {name!r}; expected one of: {', '.join(provider_names())}"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"provider {name!r} could not be loaded from {target}: {exc}") from exc
    return _contracted(name, cls)


def _contracted(name: str, cls: Any) -> Any:
    from cockpit.provider import Provider

    if isinstance(cls, type) and issubclass(cls, Provider):
        return cls
    warnings.warn(f"provider {name!r} ({cls!r}) does not subclass cockpit.provider.Provider; "
                  "it runs with the base's default hooks", DeprecationWarning, stacklevel=3)
    import inspect

    body: dict[str, Any] = {"__module__": getattr(cls, "__module__", __name__)}
    logs = getattr(cls, "logs", None)
    if logs is not None and "stop" not in inspect.signature(logs).parameters:
        def logs_without_stop(self, env, *, follow, since=None, tail=None, stop=None):
            return logs(self, env, follow=follow, since=since, tail=tail)

        body["logs"] = logs_without_stop
    return type(getattr(cls, "__name__", name), (cls, Provider), body)
