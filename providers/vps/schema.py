"""The schema head of a release on the VPS: the probe of `cockpit.schema`, run like the release
command (a one-off `docker run --rm` of the release's image with its env file, the
environment's volumes, network and accessories' network, as the image's user), then kept in the
release's record on the host too, so another machine's rollback knows it."""

from __future__ import annotations

import json
from typing import Any

from cockpit.providers.vps import commands as cmd

from cockpit.errors import ProviderError
from cockpit.models import Release

PROBE_TIMEOUT = 300.0  # seconds a probe may take (it starts the app's runtime once)


def schema_head(provider, env, release: Release) -> dict[str, Any] | None:
    """Run the probe for env's release command in a one-off container of `release`'s image
    and parse it (`cockpit.schema.parse`). None when the release command runs no known
    migration tool. Raises ProviderError (non-zero exit: its redacted output tail) or
    SchemaProbeError (unreadable output). Writes the record into the release's file on the
    host (`meta.schema`) when that file exists."""
    from cockpit.providers.vps.flow import _join_accessories, volume_mounts

    from cockpit import schema
    from cockpit.redaction import redact

    probe = schema.probe_for(env.release_command)
    if probe is None:
        return None
    host = provider.host(env)
    name = f"{host.base_name}-schema-{cmd.safe_name(release.id)}"
    argv = cmd.docker_run_release_command(
        name=name, image=release.image, env_file=host.layout.env_file(release.id),
        network=env.settings.network, container_port=env.app.port, release=release.id,
        volumes=volume_mounts(env), command=probe.command, app=env.app.name, env=env.name)
    argv = _join_accessories(env, argv)
    host.run(cmd.quiet(cmd.docker_rm(name)), step="schema", check=False)
    result = host.run(argv, step="schema", check=False, timeout=PROBE_TIMEOUT)
    output = result.stdout
    if not result.ok and probe.tool != "prisma":  # prisma's status exits 1 with pending ones
        tail = [redact(line) for line in (result.stdout + result.stderr).splitlines()][-5:]
        raise ProviderError(f"the schema probe `{probe.command}` exited with status "
                            f"{result.rc}: {' | '.join(tail) or '(no output)'}",
                            where=f"{host.t.where} step schema")
    record = schema.parse(probe.tool, output)
    records = host.release_records()
    data = records.get(release.id)
    if data is not None:
        data = {**data, "meta": {**(data.get("meta") or {}), "schema": record}}
        host.run(cmd.write_file(host.layout.release_file(release.id), "600"), step="schema",
                 stdin=json.dumps(data, sort_keys=True), idempotent=True)
    return record
