"""Deploy, rollback, live state and reconcile for the VPS provider.

The order of a deploy (and a promote):
    lock → ship image → env file (0600: plain configuration and secrets) → volumes → release
    command (once, in a one-off container of the new image; a non-zero exit stops here) →
    the switch below.
The order of a switch (deploy and rollback share it):
    start beside the old one → pre-switch gate on the
    host (Host header) → HAProxy runtime switch → post-switch gate through the edge (HTTPS) →
    drain and stop the old one (kept for rollback) → prune → unlock.
A failed pre-switch gate removes the new container (the old one never stopped serving); a
failed post-switch gate switches back at once. Every step is idempotent, so a re-run (or
`reconcile` after a crash) converges.
"""

from __future__ import annotations

import time
from typing import Any

from cockpit.providers.vps import commands as cmd
from cockpit.providers.vps import haproxy, lock, ports
from cockpit.providers.vps.host import Container, Host

from cockpit.errors import GateFailed, ProviderError, UsageError
from cockpit.events import Emit, Message, StepSkipped
from cockpit.events import StepScope as _Step  # one step-events scope for every provider
from cockpit.models import Finding, LiveState, Plan, Release, Step
from cockpit.probes import describe_failure, http_health, wait_healthy


def make_host(ctx, env, cache: dict[str, Host]) -> Host:
    from cockpit.providers.vps.ssh import SshTransport

    from cockpit.state import state_root

    s = env.settings
    for other in cache.values():  # share one connection per host address
        if (other.s.host, other.s.ssh_port, other.s.user) == (s.host, s.ssh_port, s.user):
            return Host(other.t, s, env.app.name, env.name)
    transport = SshTransport(
        host=s.host, port=s.ssh_port, user=s.user, identity_file=s.identity_file,
        known_hosts=state_root() / "known_hosts", trusted=list(ctx.options.trust_host),
        ask=ctx.options.ask, timeout=s.ssh_timeout,
    )
    return Host(transport, s, env.app.name, env.name)


KEEP_FAILED = 10  # records of failed releases kept on the host (they have no container)


def host_key_known(host: str, port: int) -> bool:
    """Whether cockpit's or the user's known_hosts has a line for this host (cheap check)."""
    import os

    from cockpit.providers.vps.ssh import known_hosts_name

    from cockpit.state import state_root

    name = known_hosts_name(host, port)
    for path in (state_root() / "known_hosts", os.path.expanduser("~/.ssh/known_hosts")):
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    if line.split(" ", 1)[0].split(",").count(name):
                        return True
        except OSError:
            continue
    return False


def host_header(env) -> str:
    return env.domain or "localhost"


# --------------------------------------------------------------------------- preflight, build


def preflight(provider, env) -> list[Finding]:
    host = provider.host(env)
    findings = []
    result = host.run(cmd.docker_version(), step="preflight", check=False, idempotent=True)
    if not result.ok:
        findings.append(Finding("vps.docker", "error",
                                f"docker is not usable by {env.settings.user}: "
                                f"{result.stderr.strip()[:200]}", where=host.t.where,
                                fix="add the user to the docker group and start dockerd"))
    if not host.switch_alive():
        findings.append(Finding("vps.switch", "error", "the switch (HAProxy) is not running",
                                where=host.t.where, fix=f"cockpit setup {env.name}"))
    return findings


def build(provider, env, emit: Emit) -> tuple[str, str]:
    """Build locally; push to the environment's registry when one is configured."""
    from cockpit.build import build_image, push_image, release_tag

    config = provider.ctx.config
    image_id, digest = build_image(config, emit, tag=f"{config.app.name}:latest")
    registry = env.settings.registry
    if not registry:
        return image_id, digest
    repository = f"{registry.rstrip('/')}/{config.app.name}"
    return push_image(image_id, repository, release_tag(env.name, image_id), emit)


# --------------------------------------------------------------------------- live state


def live(provider, env, *, tls: bool = True) -> LiveState:
    host = provider.host(env)

    def states():
        try:
            return host.slot_states()
        except ProviderError as exc:
            return exc

    def tls_info():
        if not (tls and env.domain):
            return None
        from cockpit.probes import check_tls

        return check_tls(env.settings.host, env.settings.https_port, env.domain,
                         ca_file=env.settings.edge_ca_file, timeout=3.0)

    containers, records, slot_states, held, tls_state = host.parallel(
        host.containers, host.release_records, states, lambda: lock.status(host), tls_info)
    active = None
    extra: dict[str, Any] = {}
    if isinstance(slot_states, ProviderError):
        extra["switch_error"] = slot_states.what
    else:
        active = haproxy.active_slot(slot_states)
        extra["slots"] = {k: {"weight": v.weight, "up": v.up} for k, v in slot_states.items()}
    extra["active_slot"] = active
    if env.accessories:  # a line per accessory on the dashboard and in status --json
        from cockpit.providers.vps import accessories

        try:
            extra["accessories"] = [{k: a[k] for k in ("name", "kind", "state", "health")}
                                    for a in accessories.status(provider, env)]
        except ProviderError as exc:
            extra["accessories_error"] = exc.what
    state = LiveState(env=env.name, provider="vps", extra=extra)
    seen = set()
    chosen = serving_container(containers, active)
    for c in containers:
        serving = c is chosen
        state.instances.append(c.instance(serving, env.settings.host))
        if serving and state.instances[-1].health == "unhealthy":
            extra["unhealthy"] = c.problem or f"{c.name} is {c.state}"
        if c.release_id in seen:
            continue
        seen.add(c.release_id)
        record = records.get(c.release_id, {})
        release = c.release(env.app.name, env.name, record.get("status", ""))
        release.secret_names = list(record.get("secret_names", []))
        for key in ("schema", "schema_db"):  # cockpit.schema: rollback knows the schema
            if (record.get("meta") or {}).get(key):
                release.meta[key] = record["meta"][key]
        state.releases.append(release)
        if serving and state.current is None:
            state.current = release
    for rid, record in records.items():  # failed releases leave a record, not a container
        if rid not in seen and record.get("status") == "failed":
            state.releases.append(Release.from_dict(record))
    state.releases.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    state.lock = held
    state.tls = tls_state
    if state.current and state.current.config_hash != env.config_hash:
        extra["config_drift"] = True
    return state


def serving_container(containers: list[Container], active: str | None) -> Container | None:
    """The container the switch sends traffic to: the running one on the active slot, else the
    newest one there (exited or dead: still what the switch points at, and unhealthy)."""
    if not active:
        return None
    on_slot = [c for c in containers if c.slot == active]  # newest first
    return next((c for c in on_slot if c.running), on_slot[0] if on_slot else None)


def health(provider, env):
    """One sample for the dashboard: HTTPS through the edge (as users arrive), and the
    serving container's state: a 200 from the edge does not make a restarting or exited
    serving container healthy (another process may answer on its port). None without a
    domain while the serving container runs."""
    import dataclasses

    from cockpit.events import HealthSample

    host = provider.host(env)

    def serving():
        try:
            states = host.slot_states()
            return serving_container(host.containers(), haproxy.active_slot(states))
        except ProviderError:
            return None

    sample_fn = edge_sample(env, timeout=min(env.gate.timeout, 3.0)) if env.domain else None
    sample, c = host.parallel(lambda: sample_fn() if sample_fn else None, serving)
    if c is not None and c.judged_health(True) == "unhealthy":
        why = c.problem or f"{c.name} is {c.state}"
        if sample is None:
            return HealthSample(ok=False, status=None, latency_ms=0.0, url=c.name,
                                error=why, env=env.name)
        return dataclasses.replace(sample, ok=False, error=why)
    return sample


# --------------------------------------------------------------------------- plan


def plan_deploy(provider, env, release: Release) -> Plan:
    from cockpit.providers.vps.isolation import check_network

    check_network(provider.ctx.config, env)  # network = "host" on prod needs allowing
    s = env.settings
    steps = [
        Step("lock", "take the deploy lock on the host"),
        Step("ship", f"make sure {s.host} has image {release.short_digest or release.image}"
             + (f" (pull from {s.registry})" if s.registry else " (docker save | docker load)")),
        Step("env_file", f"write this release's env file (mode 0600): {_env_file_says(env)}"),
    ]
    if env.accessories:
        from cockpit.providers.vps import accessories

        steps.insert(2, Step("accessories", "make sure the accessories run, healthy, on "
                             f"network {accessories.network(env)}: " + ", ".join(
                                 f"{n} ({a.kind} {a.image_ref}, URL in {a.url_var})"
                                 for n, a in sorted(env.accessories.items()))))
    volumes = volume_mounts(env)
    if volumes:
        steps.append(Step("volumes", "make sure the volume(s) exist: " + ", ".join(
            f"{v} at {p}" for v, p in volumes.items())))
    if env.release_command:
        steps.append(Step("release_command", "run the release command once in a one-off "
                          "container of the new image (env file, volumes, network of the "
                          "app; a non-zero exit stops the deploy before traffic moves): "
                          f"{env.release_command}"))
    steps += [
        Step("start", "start the new container on the free slot, beside the current one"),
        Step("gate_pre", f"gate: {env.app.health_path} answers 2xx {env.gate.count}× in a row "
             f"on the host (Host: {host_header(env)})"),
        Step("switch", "switch traffic to the new slot (HAProxy runtime API, no reload)",
             destructive=True),
        Step("gate_post", f"gate through the edge: https://{env.domain}{env.app.health_path}"
             if env.domain else "gate through the edge: skipped (no domain)"),
        Step("drain", f"drain (≤ {s.drain_seconds:g}s) and stop the previous container "
             f"(kept for rollback; last {s.keep_releases})", destructive=True),
        Step("unlock", "release the deploy lock"),
    ]
    plan = Plan(env=env.name, action="deploy", release=release, steps=steps)
    try:
        state = live(provider, env, tls=False)
        plan.previous = state.current
        if state.current:
            plan.changes.update(release.changes_from(state.current))
        else:
            plan.notes.append(f"first release of {env.name} on {s.host}")
        plan.data["active_slot"] = state.extra.get("active_slot")
    except ProviderError as exc:
        plan.notes.append(f"could not read the host's live state: {exc.what}")
    if volumes:
        plan.notes.append(
            f"volume(s) {', '.join(volumes)} live on {s.host}: {env.name} runs one instance "
            f"there (a local volume pins the environment to this host; during the switch the "
            "old and the new container share it for a moment)")
    if not env.domain:
        plan.notes.append(f"{env.name} has no domain: it is served on 127.0.0.1:{s.host_port} "
                          "of the host only, and the post-switch gate is skipped")
    return plan


# --------------------------------------------------------------------------- apply


def apply(provider, plan: Plan, emit: Emit) -> Release:
    env = provider.ctx.config.env(plan.env)
    host = provider.host(env)
    release = plan.release
    with lock.held(host, env.settings.lock_ttl, plan.action, emit, provider.ctx.now()):
        values = provider.ctx.secrets.require(env)
        # the switch knows this environment (else: "run cockpit setup"); free disk; no other
        # app owns this environment's ports or names (the host's port registry)
        host.parallel(host.slot_states, lambda: check_disk(env, host),
                      lambda: ports.check(host, env))
        host.parallel(lambda: _ship(provider, env, host, release, emit),
                      lambda: host.write_record(release, "pending"))
        if env.accessories:  # first: the env file carries their URLs
            from cockpit.providers.vps import accessories

            values = {**values, **accessories.ensure(provider, env, host, emit)}
        with _Step(emit, "env_file", "write the release's env file (0600)", env.name) as st:
            _write_env_file(values, env, host, release)
            st.detail = host.layout.env_file(release.id)
        volumes = volume_mounts(env)
        if volumes:
            with _Step(emit, "volumes", "make sure the environment's volumes exist",
                       env.name) as st:
                host.run(cmd.chain(*[cmd.docker_volume_create(v, app=env.app.name,
                                                              env=env.name)
                                     for v in volumes]), step="volumes", idempotent=True)
                st.detail = ", ".join(f"{v} at {p}" for v, p in volumes.items())
        if env.release_command:
            _release_command(env, host, release, volumes, emit, plan.previous)

        def start(slot: str):
            return _run_container(env, host, release, slot, host.container_name(release.id),
                                  replace=True, proof=True)

        return _switch_to(provider, env, host, release, emit, start)


def _ship(provider, env, host: Host, release: Release, emit: Emit) -> None:
    with _Step(emit, "ship", f"ship image {release.short_digest or release.image}",
               env.name) as st:
        have = host.run(cmd.docker_image_id(release.image), step="ship", check=False,
                        idempotent=True)
        if have.ok:
            st.detail = "already on the host"
            return
        if "@" in release.image:
            host.run(cmd.chain(cmd.docker_pull(release.image), _note_shipped(host, release)),
                     step="ship", idempotent=True, timeout=900)
            st.detail = f"pulled {release.image}"
            return
        from cockpit.build import docker_client

        client = docker_client()
        try:
            chunks = client.api.get_image(release.image, chunk_size=1 << 20)
        except Exception as exc:
            raise ProviderError(f"image {release.image} is not in the local Docker Engine: {exc}",
                                where="ship", hint="build it again with `cockpit deploy`") from None
        host.t.stream_in(cmd.docker_load(), iter(chunks), step="ship")
        host.run(_note_shipped(host, release), step="ship", check=False)
        st.detail = "docker save | docker load over SSH"


def _note_shipped(host: Host, release: Release) -> list[str]:
    """Append `<release> <image>` to the environment's list of images cockpit brought to
    the host (`<app_dir>/images`): only those are ever pruned, never an image that was
    there before (someone else's)."""
    return ["sh", "-c", 'mkdir -p "$(dirname "$1")" && printf "%s %s\\n" "$2" "$3" >> "$1"',
            "sh", f"{host.layout.app_dir}/images", release.id, release.image]


# Remove the listed images whose release is not kept ($2...) and that no container (of any
# app, running or stopped) was made from: `docker image rm` of the reference cockpit pulled or
# loaded, without force. An image that is gone is dropped from the list; one in use stays.
PRUNE_IMAGES = (
    'f="$1"; shift; [ -f "$f" ] || exit 0; tmp="$f.tmp.$$"; : > "$tmp"; '
    'while read -r rid ref; do [ -n "$ref" ] || continue; '
    '  case " $* " in *" $rid "*) echo "$rid $ref" >> "$tmp"; continue;; esac; '
    '  id=$(docker image inspect --format "{{.Id}}" "$ref" 2>/dev/null) || continue; '
    '  if [ -n "$(docker ps -aq --filter "ancestor=$id")" ]; then '
    '    echo "$rid $ref" >> "$tmp"; continue; fi; '
    '  if docker image rm "$ref" >/dev/null 2>&1; then echo "REMOVED $ref"; '
    '  elif docker image inspect "$ref" >/dev/null 2>&1; then echo "$rid $ref" >> "$tmp"; fi; '
    'done < "$f"; mv -f "$tmp" "$f"'
)


def prune_images(host: Host, keep: set[str]) -> list[str]:
    """Remove the images cockpit shipped to the host for this environment (`_note_shipped`)
    whose release is not in `keep` (the serving release and the kept ones rollback may
    need); never one a container uses. Returns the image references removed."""
    argv = ["sh", "-c", PRUNE_IMAGES, "sh", f"{host.layout.app_dir}/images", *sorted(keep)]
    out = host.run(argv, step="prune", check=False).stdout
    return [line[8:] for line in out.splitlines() if line.startswith("REMOVED ")]


def _env_file_says(env) -> str:
    parts = []
    if env.plain_env:
        parts.append(f"{len(env.plain_env)} plain variable(s) from cockpit.toml")
    if env.secret_names:
        parts.append(f"{len(env.secret_names)} secret(s) from the keyring")
    urls = sorted(acc.url_var for acc in env.accessories.values())
    if urls:
        parts.append("the accessories' URLs (" + ", ".join(urls) + ")")
    return ", ".join(parts) or "no variables"


def volume_mounts(env) -> dict[str, str]:
    """The environment's docker volumes: `cockpit-<app>-<env>-<name>` -> path in the container,
    from `[app.volumes]` (the same volume for every container and the release command)."""
    return {cmd.volume_name(env.app.name, env.name, name): path
            for name, path in sorted(env.volumes.items())}


def _release_command(env, host: Host, release: Release, volumes: dict[str, str], emit: Emit,
                     previous: Release | None) -> None:
    """Run `[app] release_command` once, before the new release starts: a one-off container
    of the new image with the release's env file, the environment's volumes and network, as
    the image's user. Each output line is a LogLine (source "release"); a non-zero exit raises
    the core's ReleaseCommandFailed (`cockpit.release_phase.failure`, exit 1) with the exit
    status and the output tail, and records the release as failed: the serving release is
    untouched."""
    from collections import deque

    from cockpit.events import LogLine
    from cockpit.redaction import redact
    from cockpit.release_phase import RELEASE_TAIL, STEP, failure

    name = f"{host.base_name}-release-{cmd.safe_name(release.id)}"
    argv = cmd.docker_run_release_command(
        name=name, image=release.image, env_file=host.layout.env_file(release.id),
        network=env.settings.network, container_port=env.app.port, release=release.id,
        volumes=volumes, command=env.release_command, app=env.app.name, env=env.name)
    argv = _join_accessories(env, argv)
    with _Step(emit, STEP, f"release command: {env.release_command}", env.name) as st:
        host.run(cmd.quiet(cmd.docker_rm(name)), step=STEP, check=False)
        tail: deque[str] = deque(maxlen=RELEASE_TAIL)
        chan = host.t.open_lines(argv)
        try:
            buf = b""
            while True:
                chunk = chan.recv(65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for raw in lines:
                    line = redact(raw.decode(errors="replace").rstrip("\r"))
                    tail.append(line)
                    emit(LogLine(source="release", line=line, env=env.name))
            if buf:
                line = redact(buf.decode(errors="replace").rstrip("\r"))
                tail.append(line)
                emit(LogLine(source="release", line=line, env=env.name))
            rc = chan.recv_exit_status()
        finally:
            chan.close()
        if rc != 0:
            _record_failed(host, release)
            raise failure(release.id, rc, list(tail), previous.id if previous else None,
                          where=f"{host.t.where} step {STEP}")
        st.detail = f"exit 0, {len(tail)} line(s) of output" if tail else "exit 0"


def _write_env_file(values: dict[str, str], env, host: Host, release: Release) -> None:
    lines = [f"{name}={value}" for name, value in env.plain_env.items() if name not in values]
    for name in sorted(values):
        value = values[name]
        if "\n" in value or "\r" in value:
            raise UsageError(f"secret {name} of {env.name!r} contains a newline; docker env files "
                             "hold one line per variable", hint=f"cockpit secrets set {env.name} "
                             f"{name} with a one-line value")
        lines.append(f"{name}={value}")
    host.run(cmd.chain(cmd.mkdirs(host.layout.releases_dir),
                       cmd.write_file(host.layout.env_file(release.id), "600")),
             step="env_file", stdin="\n".join(lines) + ("\n" if lines else ""), idempotent=True)


def _join_accessories(env, argv: list[str]) -> list[str]:
    """An app container or release command joins the environment's accessories' network."""
    if not env.accessories:
        return argv
    from cockpit.providers.vps import accessories

    return accessories.join(env, argv)


def _run_container(env, host: Host, release: Release, slot: str, name: str,
                   replace: bool = False, volumes: dict[str, str] | None = None,
                   proof: bool = False):
    """`volumes`: the mounts (docker volume -> path); default: the environment's today.
    With `proof`, the container's run state is read in the same exec and returned (a
    `host.Proof`: what the gate later compares against); else None."""
    volumes = volume_mounts(env) if volumes is None else volumes
    labels = cmd.labels_for(
        app=env.app.name, env=env.name, release=release.id, image=release.image,
        digest=release.digest, config_hash=release.config_hash,
        secrets_digest=release.secrets_digest, slot=slot, created_at=release.created_at,
        created_by=release.created_by, source_rev=release.source_rev,
        promoted_from=release.promoted_from, volumes=volumes,
    )
    argv = cmd.docker_run(name=name, image=release.image, env_file=host.layout.env_file(release.id),
                          labels=labels, network=env.settings.network,
                          slot_port=env.settings.slot_ports[slot], container_port=env.app.port,
                          release=release.id, volumes=volumes)
    argv = _join_accessories(env, argv)
    if replace:  # a container of that name left by an interrupted run
        argv = cmd.chain(cmd.quiet(cmd.docker_rm(name)), argv)
    if proof:
        from cockpit.providers.vps.host import parse_proof, proof_argv

        return parse_proof(name, host.run(cmd.chain(argv, proof_argv(name)), step="start").stdout)
    host.run(argv, step="start")
    return None


def _gate_pre(env, host: Host, slot: str, emit: Emit,
              target: tuple[str, int] | None = None, name: str | None = None,
              started=None) -> tuple[bool, list]:
    """Gate the new release on the host (cockpit.gate): its slot port on 127.0.0.1, or `target`
    (the container's own address and port on its bridge network, so only it can answer).
    With `name` (and the `started` Proof), a failing sample also reads the container's state
    (at most once a second): an exited or restarted container fails the gate at once, its
    reason as the last sample, instead of being probed until the deadline."""
    import dataclasses

    from cockpit import gate

    address, port = target or ("127.0.0.1", env.settings.slot_ports[slot])
    taken: list = []
    looked = {"at": 0.0}

    def sample(timeout: float) -> gate.Sample:
        health = host.probe(port, env.app.health_path, host_header(env), timeout, address)
        taken.append(health)
        emit(health)
        if not health.ok and name and time.monotonic() - looked["at"] >= 1.0:
            looked["at"] = time.monotonic()
            why = host.proof(name, step="gate_pre").differs(started)
            if why:
                taken.append(dataclasses.replace(health, error=why))
                return gate.Sample(ok=False, state=gate.RESTARTED if "restart" in why
                                   else gate.EXITED, detail=why, error=why)
        return gate.Sample.of(health)

    try:
        gate.run(sample, gate.Policy.of(env.gate))
    except gate.GateError:
        return False, taken
    return True, taken


def _unfinished_after_switch(env, host: Host, release: Release, old, old_slot: str | None,
                             new_slot: str, error: ProviderError):
    """The host failed (SSH, docker) while the switched release was gated: no verdict. Switch
    back and say so (ProviderError, exit 1); when switching back fails too, raise
    GateUnfinished: the run stays open and the next command's reconcile finishes it."""
    from cockpit.gate import GateUnfinished

    cause = f"the switch and its gate could not finish: {error.what}"
    try:
        if old_slot and old is not None:
            _switch(host, old_slot, new_slot)
            _persist_slot(env, host, old_slot)
        else:
            host.switch_api(f"set weight {host.key}/{new_slot} 0")
            _persist_slot(env, host, None)
    except ProviderError as exc:
        raise GateUnfinished(
            f"release {release.id}: {cause}; switching back failed too: {exc.what}",
            where=host.t.where, hint="the next cockpit command on this environment checks what "
            "serves and switches back if it is unhealthy (reconcile)") from None
    raise ProviderError(f"release {release.id}: {cause}; switched back"
                        + (f" to release {old.release_id}" if old else ""), where=host.t.where,
                        hint="check the host, then deploy again")


def _slot_free(env, host: Host, slot: str, containers: list[Container],
               release_id: str) -> None:
    """Refuse to start on a slot port something else already answers on: with the host
    network the new container could not bind it, and the gate would be answered by the
    other process (another app, a leftover). Names the owner when the port registry knows."""
    from cockpit.errors import Refused

    port = env.settings.slot_ports[slot]
    if any(c.running and c.slot == slot and c.release_id == release_id for c in containers):
        return  # a rollback's own container, maybe still stopping: start() restarts it
    if host.listening(port) is not True:
        return
    owner = ""
    try:
        registry, facts = ports.read(host)
        said = ports.conflicts(registry, facts, env.app.name, env.name, [port], [])
        owner = f" ({said[0]})" if said else ""
    except ProviderError:
        pass
    raise Refused(
        f"port {port} (slot {slot} of {env.name}) already answers on {env.settings.host}"
        f"{owner}: the new release could not bind it, and its health gate would be answered "
        "by whatever listens there; nothing was started",
        where=f"{host.t.where} 127.0.0.1:{port}",
        hint="give this environment a free host_port in cockpit.toml (its +1 and +2 are the "
             "slots) and run `cockpit setup " + env.name + "`, or stop what listens there")


def check_disk(env, host: Host) -> int | None:
    """Refuse (Refused, exit 5) when the host has less than `min_free_mb` MB free under its
    cockpit directory or Docker's data directory (df -Pk, the smaller of the two); returns the
    free megabytes (None when df gave no answer)."""
    from cockpit.errors import Refused

    df = ["sh", "-c", 'for p; do [ -e "$p" ] && set -- "$@" "$p"; shift; done; '
          '[ $# -gt 0 ] && exec df -Pk "$@"', "sh", host.layout.root, "/var/lib/docker"]
    out = host.run(df, step="check disk", check=False, idempotent=True).stdout
    free = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 6 and parts[3].isdigit():
            free.append((int(parts[3]) // 1024, parts[5]))
    if not free:
        return None
    mb, mount = min(free)
    if mb < env.settings.min_free_mb:
        raise Refused(
            f"{env.settings.host} has only {mb} MB free on {mount}; a deploy needs at least "
            f"{env.settings.min_free_mb} MB (images, containers, logs); nothing was changed",
            where=f"{host.t.where} df {mount}",
            hint="free disk space on the host (old images: `docker image ls`), or lower "
                 f"min_free_mb in [environments.{env.name}]")
    return mb


def edge_sample(env, timeout: float | None = None):
    """A function taking one health sample through the edge (HTTPS, the domain's Host and SNI,
    dialling this host), the CA context loaded once for all its calls."""
    s = env.settings
    timeout = env.gate.timeout if timeout is None else timeout
    url = f"https://{env.domain}:{s.https_port}{env.app.health_path}"
    verify = _verify(s.edge_ca_file)

    def sample():
        import dataclasses

        return dataclasses.replace(
            http_health(url, host_header=env.domain, timeout=timeout, verify=verify,
                        connect_to=(s.host, s.https_port)), env=env.name)

    return sample


def _verify(ca_file: str | None):
    import ssl

    return ssl.create_default_context(cafile=ca_file) if ca_file else True


def _switch(host: Host, new: str, old: str | None) -> None:
    host.switch_api(haproxy.switch_commands(host.key, new, old))


def _persist_slot(env, host: Host, active: str | None) -> None:
    text = haproxy.render_env(key=host.key, host_port=env.settings.host_port,
                              slot_ports=env.settings.slot_ports,
                              health_path=env.app.health_path, host_header=host_header(env),
                              active=active)
    host.run(cmd.write_file(host.layout.switch_env_cfg, "600"), step="switch", stdin=text,
             idempotent=True)


def _drain(env, host: Host, slot: str) -> int:
    """Wait (bounded) until the old slot has no open requests; returns those left."""
    end = time.monotonic() + env.settings.drain_seconds
    left = 0
    while True:
        left = host.sessions().get(slot, 0)
        if left == 0 or time.monotonic() >= end:
            return left
        time.sleep(0.1)


def _switch_to(provider, env, host: Host, release: Release, emit: Emit, start) -> Release:
    """Start `release` on the free slot (via `start(slot)`), gate, switch, gate, drain, stop."""
    containers, states, records = host.parallel(host.containers, host.slot_states,
                                                host.release_records)
    old_slot = haproxy.active_slot(states)
    new_slot = cmd.other_slot(old_slot) if old_slot else "blue"
    old = next((c for c in containers if c.running and c.slot == old_slot), None) \
        if old_slot else None
    name = host.container_name(release.id)

    with _Step(emit, "start", f"start release {release.id} as {name} on slot {new_slot}",
               env.name) as st:
        for c in containers:  # leftovers of an interrupted run on the free slot
            if c.running and c.slot == new_slot and c.release_id != release.id:
                host.run(cmd.docker_stop(c.name, env.settings.stop_timeout), step="start")
        _slot_free(env, host, new_slot, containers, release.id)
        started = start(new_slot) or host.proof(name, step="start")
        target = None
        if env.settings.network != "host" and started.address:
            target = (started.address, env.app.port)  # bridge: gate the container itself
        st.detail = f"{name} on 127.0.0.1:{env.settings.slot_ports[new_slot]}" + (
            f" (container {target[0]}:{target[1]})" if target else "")

    with _Step(emit, "gate_pre", f"health gate on the host, slot {new_slot}", env.name) as st:
        ok, samples = _gate_pre(env, host, new_slot, emit, target, name, started)
        why = host.proof(name).differs(started) if ok else ""
        if why:  # the answers came from something else: the new container is not up
            from dataclasses import replace

            ok = False
            samples = [*samples, replace(samples[-1], ok=False, error=why)]
        if not ok:
            logs = host.logs_tail(name, 50)
            host.run(cmd.docker_rm(name), step="gate_pre", check=False)
            _record_failed(host, release)
            raise GateFailed(
                f"release {release.id} failed its health gate on the host: "
                f"{describe_failure(samples)}; it was removed and "
                + (f"release {old.release_id} keeps serving" if old else "nothing serves yet"),
                where=f"{host.t.where} {env.app.health_path} on slot {new_slot}",
                hint="the container's last log lines say why; fix and deploy again",
                logs=logs,
            )
        st.detail = f"{len(samples)} samples, last {samples[-1].latency_ms} ms"

    with _Step(emit, "switch", f"switch {env.name} to slot {new_slot}", env.name) as st:
        try:
            _switch(host, new_slot, old_slot)
            _persist_slot(env, host, new_slot)
        except ProviderError as exc:  # traffic may have moved, ungated: undo or reconcile
            _unfinished_after_switch(env, host, release, old, old_slot, new_slot, exc)
        st.detail = f"{old_slot or 'nothing'} → {new_slot}"

    if env.domain:
        with _Step(emit, "gate_post", f"health gate through the edge (https://{env.domain})",
                   env.name) as st:
            g = env.gate
            ok, samples = wait_healthy(edge_sample(env), g.count, g.interval, g.deadline, emit)
            try:
                why = host.proof(name, step="gate_post").differs(started) if ok else ""
            except ProviderError as exc:  # after the switch: undo, or leave it for reconcile
                _unfinished_after_switch(env, host, release, old, old_slot, new_slot, exc)
            if why:  # the edge answered, but not from the new release: it crashed meanwhile
                from dataclasses import replace

                ok = False
                samples = [*samples, replace(samples[-1], ok=False, error=why)]
            if not ok:
                try:
                    if old_slot and old is not None:
                        _switch(host, old_slot, new_slot)
                        _persist_slot(env, host, old_slot)
                    else:
                        host.switch_api(f"set weight {host.key}/{new_slot} 0")
                        _persist_slot(env, host, None)
                except ProviderError as exc:  # not switched back: never "switched back", exit 3
                    from cockpit.gate import GateUnfinished

                    raise GateUnfinished(
                        f"release {release.id} failed its health gate through the edge: "
                        f"{describe_failure(samples)}; switching back failed: {exc.what}",
                        where=host.t.where, hint="the next cockpit command on this environment "
                        "switches back (reconcile)") from None
                logs = host.logs_tail(name, 50)
                host.run(cmd.docker_rm(name), step="gate_post", check=False)
                _record_failed(host, release)
                raise GateFailed(
                    f"release {release.id} failed its health gate through the edge: "
                    f"{describe_failure(samples)}; switched back"
                    + (f" to release {old.release_id}" if old else ""),
                    where=f"https://{env.domain}:{env.settings.https_port}{env.app.health_path}",
                    hint="check the edge (`cockpit domain " + env.name + "`) and the app's logs",
                    logs=logs,
                )
            st.detail = f"{len(samples)} samples, last {samples[-1].latency_ms} ms"
    else:
        emit(StepSkipped("gate_post", f"{env.name} has no domain: no public edge to gate through",
                         env=env.name))
        try:
            why = host.proof(name, step="switch").differs(started)
        except ProviderError as exc:  # after the switch: undo, or leave it for reconcile
            _unfinished_after_switch(env, host, release, old, old_slot, new_slot, exc)
        if why:  # the new release crashed after its gate: the old one serves again
            _switch(host, old_slot, new_slot) if old_slot and old is not None else \
                host.switch_api(f"set weight {host.key}/{new_slot} 0")
            _persist_slot(env, host, old_slot if old_slot and old is not None else None)
            logs = host.logs_tail(name, 50)
            host.run(cmd.docker_rm(name), step="switch", check=False)
            _record_failed(host, release)
            raise GateFailed(
                f"release {release.id} stopped running right after the switch: {why}; switched "
                "back" + (f" to release {old.release_id}" if old else ""),
                where=f"{host.t.where} container {name}",
                hint="the container's last log lines say why; fix and deploy again", logs=logs)

    def drain_and_stop() -> str:
        if old is None or old.release_id == release.id:
            return "nothing was serving before"
        left = _drain(env, host, old_slot)
        host.run(cmd.docker_stop_detached(old.name, env.settings.stop_timeout), step="drain",
                 idempotent=True)
        return f"stopping {old.name}" + (f" ({left} requests cut)" if left else "")

    def bookkeeping() -> None:
        _prune(env, host, containers, release.id, old.release_id if old else "")
        kept = {c.release_id for c in containers} | {release.id}
        failed = sorted((r for r in records.values()
                         if r.get("status") == "failed" and r.get("id") not in kept),
                        key=lambda r: r.get("created_at", 0), reverse=True)
        if len(failed) > KEEP_FAILED:  # failed releases leave only a record: keep a few
            host.run(cmd.remove_files(*[host.layout.release_file(r["id"])
                                        for r in failed[KEEP_FAILED:]]), step="prune",
                     check=False)
        for rid, data in list(records.items()):
            if rid != release.id and data.get("status") in ("healthy", "pending"):
                host.set_status(records, rid, "superseded")
        host.write_record(release, "healthy")

    with _Step(emit, "drain", "drain and stop the previous container", env.name) as st:
        st.detail, _ = host.parallel(drain_and_stop, bookkeeping)
    release.status = "healthy"
    release.meta = {**release.meta, "slot": new_slot, "container": name}
    return release


def _record_failed(host: Host, release: Release) -> None:
    try:
        host.write_record(release, "failed")
    except ProviderError:
        pass


def _prune(env, host: Host, containers: list[Container], new_id: str, old_id: str) -> None:
    """Keep the serving container and the last `keep_releases` stopped ones (counting the one
    stopped now); remove older ones, with their env files and records, then the images
    cockpit shipped for releases no longer kept (`prune_images`)."""
    # every container but the new one is stopped or being stopped (the old one now, leftovers
    # on the new slot before the start, earlier ones in the background)
    kept = [c for c in containers if c.release_id != new_id]
    kept.sort(key=lambda c: (c.release_id == old_id, c.created_at), reverse=True)
    extra = kept[env.settings.keep_releases:]
    if extra:
        host.run(cmd.docker_rm(*[c.name for c in extra]), step="prune", check=False)
        paths = []
        for c in extra:
            paths += [host.layout.env_file(c.release_id), host.layout.release_file(c.release_id)]
        host.run(cmd.remove_files(*paths), step="prune", check=False)
    # then the images of releases no kept container runs (only those cockpit shipped here)
    prune_images(host, {new_id} | {c.release_id for c in kept[:env.settings.keep_releases]})


# --------------------------------------------------------------------------- rollback


def rollback(provider, env, to: Release, emit: Emit) -> Release:
    host = provider.host(env)
    with lock.held(host, env.settings.lock_ttl, "rollback", emit, provider.ctx.now()):
        containers = host.containers()
        target = next((c for c in containers if c.release_id == to.id), None)
        if target is None:  # say what is kept, not only the limit
            kept = list(dict.fromkeys(c.release_id for c in containers))
            never = " (it never served: its deploy failed)" if to.status == "failed" else ""
            raise UsageError(
                f"release {to.id} has no container on {env.settings.host}{never}; kept there: "
                + (", ".join(kept) if kept else "none")
                + f" (cockpit keeps the serving release and the last "
                f"{env.settings.keep_releases} stopped ones)", hint=f"cockpit releases {env.name}")
        check = host.run(["test", "-f", host.layout.env_file(to.id)], step="rollback",
                         check=False)
        if not check.ok:
            raise UsageError(f"the env file of release {to.id} is gone from the host",
                             where=host.layout.env_file(to.id),
                             hint="deploy instead: the secrets of that release cannot be restored")
        release = target.release(env.app.name, env.name)
        release.secret_names = to.secret_names
        for key in ("schema", "schema_db"):  # its host record keeps them (cockpit.schema)
            if to.meta.get(key):
                release.meta[key] = to.meta[key]

        def start(slot: str) -> None:
            if target.slot == slot:  # (a stop may still be in progress: wait for it)
                host.run(cmd.chain(cmd.docker_stop(target.name, env.settings.stop_timeout),
                                   cmd.docker_start(target.name)), step="start")
            else:  # its slot is taken: the same image, env file, labels, volumes on the free slot
                host.run(cmd.docker_rm(target.name), step="start")
                _run_container(env, host, release, slot, target.name,
                               volumes=_volumes_of(target))

        previous = next((c.release_id for c in containers if c.running), None)
        result = _switch_to(provider, env, host, release, emit, start)
        if previous and previous != result.id:
            records = host.release_records()
            host.set_status(records, previous, "rolled_back")
        return result


def _volumes_of(c: Container) -> dict[str, str]:
    """The volumes a release's container was started with (its `cockpit.volumes` label)."""
    import json

    raw = c.label("volumes")
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- reconcile


def reconcile(provider, env, journal: list[dict[str, Any]], emit: Emit) -> str:
    """An interrupted run left the host somewhere between two releases: look at what HAProxy
    really serves, then finish (the new release is serving and healthy) or undo."""
    host = provider.host(env)
    said: list[str] = []
    holder = lock.status(host)
    if holder is not None and lock._dead_local_holder(holder):
        lock.release(host)
        said.append(f"released the lock left by {lock.describe(holder)}")
    # Under the lock: someone else's deploy in progress must not be "cleaned up" (LockHeld
    # then says who is deploying); an expired lock is taken over with a message.
    with lock.held(host, env.settings.lock_ttl, "reconcile", emit, provider.ctx.now()):
        _reconcile_locked(provider, env, host, said)
    emit(Message("reconciled: " + "; ".join(said), level="warning", env=env.name))
    return "; ".join(said)


def _reconcile_locked(provider, env, host: Host, said: list[str]) -> None:
    containers = host.containers()
    records = host.release_records()
    states = host.slot_states()
    active = haproxy.active_slot(states)
    both = [s for s, v in states.items() if v.active]
    serving = next((c for c in containers if c.running and c.slot == active), None)
    g = env.gate

    def healthy(c: Container) -> bool:
        ok, _ = wait_healthy(
            lambda: host.probe(env.settings.slot_ports[c.slot], env.app.health_path,
                               host_header(env), g.timeout), g.count, g.interval,
            min(g.deadline, 15.0))
        return ok

    if len(both) == 2:  # killed mid-switch: both slots carry traffic
        running = {c.slot: c for c in containers if c.running}
        newer = max((running[s] for s in both if s in running), key=lambda c: c.created_at,
                    default=None)
        if newer is not None and healthy(newer):
            _switch(host, newer.slot, cmd.other_slot(newer.slot))
            _persist_slot(env, host, newer.slot)
            active, serving = newer.slot, newer
            said.append(f"finished the switch to release {newer.release_id}")
        else:
            keep = cmd.other_slot(newer.slot) if newer else both[0]
            _switch(host, keep, cmd.other_slot(keep))
            _persist_slot(env, host, keep)
            active = keep
            serving = running.get(keep)
            said.append(f"switched back to slot {keep}")
    elif serving is not None and not healthy(serving):
        other = next((c for c in containers if c.running and c.slot != active), None)
        if other is not None and healthy(other):
            _switch(host, other.slot, active)
            _persist_slot(env, host, other.slot)
            said.append(f"release {serving.release_id} was serving unhealthy; rolled back to "
                        f"release {other.release_id}")
            serving, active = other, other.slot
    for c in containers:
        if c.running and c is not serving and (serving is None or c.slot != serving.slot):
            if records.get(c.release_id, {}).get("status") == "pending" or \
                    c.created_at > (serving.created_at if serving else 0):
                host.run(cmd.docker_rm(c.name), step="reconcile", check=False)
                host.set_status(records, c.release_id, "failed")
                said.append(f"removed {c.name} (release {c.release_id} never got traffic)")
            else:
                host.run(cmd.docker_stop(c.name, env.settings.stop_timeout), step="reconcile",
                         check=False)
                said.append(f"stopped the previous container {c.name}")
    if serving is not None:
        status = records.get(serving.release_id, {}).get("status")
        if status == "pending":
            host.set_status(records, serving.release_id, "healthy")
            said.append(f"release {serving.release_id} serves and answers its health check: "
                        "kept (deploy finished)")
    for rid, data in records.items():
        if data.get("status") == "pending" and (serving is None or rid != serving.release_id):
            host.set_status(records, rid, "failed")
    if active is not None:
        _persist_slot(env, host, active)  # the file may lag the runtime after a kill
    if serving is not None:
        said.append(f"release {serving.release_id} serves {env.name}")
    else:
        said.append(f"nothing serves {env.name}")
