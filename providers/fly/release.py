"""The release phase on Fly: `[app] release_command` in a release_command machine.

What flyctl does before it touches any machine (shared/reference/fly.md, "Every strategy runs
`release_command` first, in a temporary machine; if it fails, the deploy aborts"): after the
app's secrets are staged, cockpit creates one machine of the new image with the app's env and
secrets (`min_secrets_version`), no services or checks, `restart: {policy: "no"}`,
`auto_destroy: true`, `skip_service_registration` and `init.cmd = ["sh", "-c", <command>]`;
reads it until it has exited (its `exit` event carries `request.exit_event.exit_code`, as the
Machines API returns it), and passes its log lines on (source "release"). A non-zero exit stops
the deploy with its last log lines and exit code; no app machine was updated.

A re-run for the same release finds the earlier machine by its metadata
(`cockpit_release_command = <release id>`, listing destroyed machines too) and, when it exited
0, does not run the command again.

The schema probe (`schema_head`, `cockpit.schema.probe_for`) runs the same way, in a machine of
the same shape marked `cockpit_schema_probe = <release id>` (`run_machine` is the one way both
run); its output is parsed and kept on the release's machines (`machines.META_SCHEMA`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cockpit.providers.fly.api import FlyApi, FlyApiError
from cockpit.providers.fly.machines import base_config, exit_code

from cockpit.errors import ProviderError
from cockpit.events import Emit, LogLine, StepScope, StepSkipped
from cockpit.redaction import redact
from cockpit.release_phase import RELEASE_TAIL, STEP, failure

if TYPE_CHECKING:
    from cockpit.config import Environment
    from cockpit.models import Release

META_KEY = "cockpit_release_command"  # the release id a release_command machine ran for
PROBE_KEY = "cockpit_schema_probe"  # the release id a schema probe machine read the head of
PROCESS_GROUP = "fly_app_release_command"  # flyctl's process group for this machine
POLL = 0.25  # seconds between reads (Get Machine is limited to 5/s per machine)
EXITED = ("stopped", "destroying", "destroyed", "failed")


def machine_body(env: Environment, release: Release, min_secrets: int | None, *,
                 command: str | None = None, mark: str = META_KEY,
                 name: str = "release-command") -> dict[str, Any]:
    """The create-machine body of the release_command machine for `release` (no services, no
    checks: it serves nothing; restart policy "no" and auto_destroy: it runs once). `command`
    (default: env's release command) runs under `sh -c`; metadata `mark` = the release id,
    machine name `<name>-<release id>` (at most 63 characters)."""
    config = base_config(env, release.image)
    for key in ("services", "checks"):
        config.pop(key, None)
    config["init"] = {"cmd": ["sh", "-c", command or env.release_command or ""]}
    config["restart"] = {"policy": "no"}
    config["auto_destroy"] = True
    config["env"]["COCKPIT_RELEASE"] = release.id
    config["metadata"] = {"fly_platform_version": "v2", "fly_process_group": PROCESS_GROUP,
                          mark: release.id}
    body: dict[str, Any] = {"config": config, "region": env.settings.regions[0],
                            "skip_service_registration": True,
                            "name": f"{name}-{release.id}"[:63]}
    if min_secrets:
        body["min_secrets_version"] = min_secrets
    return body


def earlier_runs(api: FlyApi, release_id: str) -> list[dict[str, Any]]:
    """The release_command machines of `release_id`, destroyed ones included."""
    return api.request("GET", api.m(), op="list release command machines",
                       params={"include_deleted": "true",
                               f"metadata.{META_KEY}": release_id}) or []


def run(api: FlyApi, env: Environment, release: Release, emit: Emit, *,
        min_secrets: int | None, previous_id: str | None,
        logs: Callable[[str], list[str]], sleep: Callable[[float], None] = time.sleep) -> None:
    """Run the release command of `release` once in a release_command machine and wait for it
    to exit (at most `release_timeout` seconds). `logs(machine id)` gives its output lines.
    Returns on exit code 0; raises ReleaseCommandFailed (exit 1; `logs`, `status`) otherwise;
    FlyApiError when the API refuses."""
    done = [m for m in earlier_runs(api, release.id) if exit_code(m) == 0]
    if done:
        emit(StepSkipped(step=STEP, reason=f"machine {done[0]['id']} already ran it for release "
                                           f"{release.id} (exit 0): not run again",
                         env=env.name))
        return
    where = f"fly app {api.app} step {STEP}"
    with StepScope(emit, STEP, f"release command: {env.release_command} (release_command "
                               "machine)", env.name) as scope:
        machine, code, lines = run_machine(api, env, machine_body(env, release, min_secrets),
                                           logs=logs, sleep=sleep, what="release command")
        mid = machine["id"]
        lines = lines[-RELEASE_TAIL:]
        _emit(emit, env, lines)
        if machine.get("timed_out"):
            raise failure(release.id, None, lines, previous_id, where=where,
                          why=f"did not exit within {env.settings.release_timeout:.0f} s "
                              "(release_timeout); its machine was destroyed")
        if code != 0:
            state = machine.get("state")
            raise failure(release.id, code, lines, previous_id, where=f"{where} machine {mid}",
                          why=f"failed (machine {state} without an exit code)")
        scope.detail = (f"machine {mid} exited 0"
                        + (f", {len(lines)} line(s) of output" if lines else ""))


def run_machine(api: FlyApi, env: Environment, body: dict[str, Any], *,
                logs: Callable[[str], list[str]], sleep: Callable[[float], None] = time.sleep,
                what: str = "release command") -> tuple[dict[str, Any], int | None, list[str]]:
    """Create the one-off machine `body` (`machine_body`) and read it until it has exited (at
    most env's `release_timeout` seconds; then it is destroyed and the machine dict returned
    carries `timed_out: True`). Returns (its last machine state, its exit code or None, every
    output line, redacted). Raises FlyApiError when the API refuses."""
    machine = api.request("POST", api.m(), op=f"create {what} machine", json=body,
                          idempotent=False)
    mid = machine["id"]
    give_up = time.monotonic() + float(env.settings.release_timeout)
    while True:
        machine = api.get_machine(mid)
        code = exit_code(machine)
        if machine.get("state") in EXITED and (code is not None or machine.get(
                "state") in ("destroyed", "failed")):
            return machine, code, _tail(logs, mid)
        if time.monotonic() > give_up:
            try:
                api.request("DELETE", api.m(mid), op=f"destroy {what} machine", machine=mid,
                            params={"force": "true"}, idempotent=True)
            except FlyApiError:
                pass
            return {**machine, "timed_out": True}, None, _tail(logs, mid)
        sleep(POLL)


def schema_head(api: FlyApi, env: Environment, release: Release, *, min_secrets: int | None,
                logs: Callable[[str], list[str]],
                sleep: Callable[[float], None] = time.sleep) -> dict[str, Any] | None:
    """The schema head after `release`'s release command: the probe of `cockpit.schema` for
    env's release command, run like the release command (`run_machine`, marked PROBE_KEY), its
    output parsed (`cockpit.schema.parse`). None when the release command runs no known
    migration tool. Raises ProviderError (the probe timed out or exited non-zero: its redacted
    output tail; Prisma's status exits 1 with pending migrations and is still read),
    SchemaProbeError (unreadable output), FlyApiError."""
    from cockpit import schema

    probe = schema.probe_for(env.release_command)
    if probe is None:
        return None
    body = machine_body(env, release, min_secrets, command=probe.command, mark=PROBE_KEY,
                        name="schema-probe")
    machine, code, lines = run_machine(api, env, body, logs=logs, sleep=sleep,
                                       what="schema probe")
    where = f"fly app {api.app} step schema machine {machine.get('id')}"
    if machine.get("timed_out"):
        raise ProviderError(f"the schema probe `{probe.command}` did not exit within "
                            f"{env.settings.release_timeout:.0f} s (release_timeout)",
                            where=where)
    if code != 0 and not (probe.tool == "prisma" and code == 1):
        raise ProviderError(f"the schema probe `{probe.command}` exited with status {code}: "
                            f"{' | '.join(lines[-5:]) or '(no output)'}", where=where)
    return schema.parse(probe.tool, "\n".join(lines))


def _tail(logs: Callable[[str], list[str]], mid: str) -> list[str]:
    try:
        return [redact(line) for line in logs(mid)]
    except FlyApiError as exc:
        return [f"(no output: {exc.what})"]


def _emit(emit: Emit, env: Environment, lines: list[str]) -> None:
    for line in lines:
        emit(LogLine(source="release", line=line, env=env.name))
