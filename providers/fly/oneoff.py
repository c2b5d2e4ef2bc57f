"""`cockpit exec ENV -- CMD` on Fly: the command in a one-off machine of the serving release.

The machine is made the way the release_command machine is (`release.machine_body`: no
services, no checks, `restart: {policy: "no"}`, `auto_destroy: true`,
`skip_service_registration`, the app's secrets at the serving machines'
`min_secrets_version`), but its config is a serving machine's own (image by digest, env, guest
size, files), minus its `mounts` (a Fly volume is attached to one machine only), with the
command as `init.cmd` (the image's entrypoint kept, as `docker run IMAGE CMD...` on a VPS) and
the metadata `cockpit_exec = <release id>` (never `cockpit_release`: live state does not take
it for a release's machine). Its name is `exec-<6 hex>-<release id>`.

cockpit reads the machine every POLL seconds (Get Machine is limited to 5/s per machine) and,
between reads, the logs endpoint for that machine (paged by `next_token`), passing each line
on as it comes; once the machine has exited, the exit code is taken from its `exit` event
(`request.exit_event.exit_code`, `machines.exit_code`) and the log is read on until no new line
came for LOG_QUIET seconds (at most LOG_LAG_MAX seconds): Fly's log pipeline (the machine's
output through NATS to the logs API) delivers lines seconds after they were printed, often
after the exit event is visible, so one last read would lose a short command's last lines. Fly
destroys it (auto_destroy); when cockpit is interrupted first, it destroys it (force). There
is no terminal in such a machine: `-i` is refused, naming `fly ssh console`.
"""

from __future__ import annotations

import copy
import secrets as _random
import shlex
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cockpit.providers.fly import release as release_phase
from cockpit.providers.fly.api import FlyApi, FlyApiError
from cockpit.providers.fly.machines import (
    META_RELEASE,
    META_SECRETS_VERSION,
    exit_code,
    release_from_machine,
)

from cockpit.errors import ProviderError, UsageError

if TYPE_CHECKING:
    from cockpit.config import Environment
    from cockpit.models import Release

META_KEY = "cockpit_exec"  # the release id a one-off exec machine ran the image of
POLL = release_phase.POLL
LOG_PAGES = 50  # log pages read per pass (a page is at most a few hundred lines)
# After the exit: the log is complete once no new line came for LOG_QUIET seconds, or after
# LOG_LAG_MAX seconds in all (Fly's log pipeline lags the machine by seconds; see above).
LOG_QUIET = 2.0
LOG_LAG_MAX = 10.0


def serving(provider, env: Environment) -> tuple[Release, dict[str, Any]]:
    """(the release most started, uncordoned machines carry, one such machine), from the
    machines' `cockpit_release` metadata. Raises UsageError when none serves (or the app does
    not exist), FlyApiError."""
    api = provider._api(env)
    if api.get_app() is None:
        raise UsageError(f"no release serves {env.name}: the Fly app {api.app} does not exist "
                         "yet", hint=f"cockpit deploy {env.name}")
    machines = [m for m in api.list_machines()
                if m.get("state") == "started" and not m.get("cordoned")
                and ((m.get("config") or {}).get("metadata") or {}).get(META_RELEASE)]
    counts = Counter(m["config"]["metadata"][META_RELEASE] for m in machines)
    if not counts:
        raise UsageError(f"no release serves {env.name}: there is no image to run",
                         hint=f"cockpit deploy {env.name}")
    rid = counts.most_common(1)[0][0]
    machine = next(m for m in machines if m["config"]["metadata"][META_RELEASE] == rid)
    release = release_from_machine(machine, env.app.name, env.name)
    assert release is not None  # the machine carries META_RELEASE
    return release, machine


def machine_body(env: Environment, release: Release, serving_machine: dict[str, Any],
                 argv: list[str]) -> dict[str, Any]:
    """The create-machine body of the one-off machine running `argv`: the release_command
    machine's shape (`release.machine_body`, marked META_KEY) with `serving_machine`'s config
    (no services, checks or mounts), `init.cmd` = argv, in the serving machine's region."""
    meta = (serving_machine.get("config") or {}).get("metadata") or {}
    version = str(meta.get(META_SECRETS_VERSION) or "")
    body = release_phase.machine_body(env, release, int(version) if version.isdigit() else None,
                                      command="", mark=META_KEY,
                                      name=f"exec-{_random.token_hex(3)}")
    config = copy.deepcopy(serving_machine.get("config") or {})
    for key in ("services", "checks", "mounts", "standbys"):
        config.pop(key, None)
    init = {k: v for k, v in (config.get("init") or {}).items() if k != "exec"}
    config["init"] = {**init, "cmd": list(argv)}
    for key in ("restart", "auto_destroy", "metadata"):
        config[key] = body["config"][key]
    config["metadata"]["fly_process_group"] = "cockpit_exec"
    config.setdefault("env", {})["COCKPIT_RELEASE"] = release.id
    body["config"] = config
    body["region"] = serving_machine.get("region") or body["region"]
    return body


def refuse_interactive(env: Environment, argv: list[str]) -> None:
    """UsageError (exit 2): a one-off machine gives no terminal; names `fly ssh console`."""
    raise UsageError("cockpit exec -i is not on fly: a one-off machine has no terminal and "
                     "no stdin",
                     hint=f"fly ssh console -a {env.settings.app} -C "
                          f"{shlex.quote(shlex.join(argv))}")


def run(provider, env: Environment, argv: list[str], write: Callable[[str, bool], None], *,
        interactive: bool = False) -> tuple[str, int]:
    """Run `argv` in a one-off machine of the serving release (`machine_body`), pass its log
    lines to `write(line, False)` as they come, and wait for it to exit. Returns (release id,
    exit code from its exit event). Raises UsageError (`-i`, nothing serves), ProviderError
    (the machine ended without an exit code), FlyApiError when the API refuses."""
    if interactive:
        refuse_interactive(env, argv)
    release, machine = serving(provider, env)
    api = provider._api(env)
    body = machine_body(env, release, machine, argv)
    created = api.request("POST", api.m(), op="create exec machine", json=body,
                          idempotent=False)
    mid = created["id"]
    token = ""
    ended = False
    try:
        while True:
            machine = api.get_machine(mid)
            code = exit_code(machine)
            state = machine.get("state")
            ended = state in release_phase.EXITED and (
                code is not None or state in ("destroyed", "failed"))
            token, _ = _drain(api, mid, token, write)
            if ended:
                break
            provider.sleep(POLL)
    finally:
        if not ended:
            try:
                api.request("DELETE", api.m(mid), op="destroy exec machine", machine=mid,
                            params={"force": "true"}, idempotent=True)
            except FlyApiError:
                pass
    _drain_late(provider, api, mid, token, write)
    if code is None:
        raise ProviderError(f"the one-off machine {mid} ended ({state}) without an exit code",
                            where=f"fly app {api.app} machine {mid} step exec")
    return release.id, int(code)


def _drain(api: FlyApi, mid: str, token: str, write: Callable[[str, bool], None]
           ) -> tuple[str, int]:
    """Read machine `mid`'s log lines after `token` until a page is empty (at most LOG_PAGES
    pages), each to `write`; returns (the token to continue from, lines written)."""
    written = 0
    for _ in range(LOG_PAGES):
        page = api.request("GET", f"/apps/{api.app}/logs", op="read logs",
                           params={"next_token": token, "instance": mid}, logs=True) or {}
        data = page.get("data") or []
        token = ((page.get("meta") or {}).get("next_token")) or token
        for entry in data:
            write(str((entry.get("attributes") or {}).get("message", "")), False)
        written += len(data)
        if not data:
            break
    return token, written


def _drain_late(provider, api: FlyApi, mid: str, token: str,
                write: Callable[[str, bool], None]) -> None:
    """After machine `mid` exited: read its log on every POLL seconds until no new line came
    for LOG_QUIET seconds, LOG_LAG_MAX seconds at most (the lines Fly's log pipeline delivers
    late). Raises FlyApiError."""
    start = quiet_since = time.monotonic()
    while True:
        now = time.monotonic()
        if now - quiet_since >= LOG_QUIET or now - start >= LOG_LAG_MAX:
            return
        provider.sleep(POLL)
        token, written = _drain(api, mid, token, write)
        if written:
            quiet_since = time.monotonic()
