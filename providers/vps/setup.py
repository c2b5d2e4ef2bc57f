"""`cockpit setup ENV` and `cockpit domain ENV` on a VPS: the edge (Caddy) and the switch
(HAProxy), supervised: each runs as a container with `--restart unless-stopped` on the host's
Docker engine (Kamal's way of running its proxy), so a crash or a reboot brings it back with no
cockpit command. Their config is persisted under ~/.cockpit/ and mounted at the same path.

Isolation: the switch runs as the SSH user and its runtime API is only a unix socket of mode
0600; the edge runs as its own uid (commands.EDGE_UID), which cannot read the env files, and
its admin API is a unix socket only that uid can use (reached with `docker exec`). Neither has
a TCP admin port, so no other local process (a host-network container included) can reroute
an environment or rewrite the edge.

A host still running the old daemons (`caddy start`, `haproxy -D`) is moved: the daemon is
stopped and the container started from the same files, so every environment's routes and the
slot each one serves are kept. Idempotent: files are rewritten only when they change, and a
running edge or switch is reloaded only then (never during a deploy).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cockpit.providers.vps import caddy, haproxy
from cockpit.providers.vps import commands as cmd
from cockpit.providers.vps.flow import _Step, host_header
from cockpit.providers.vps.host import Host

from cockpit.errors import ProviderError
from cockpit.events import Emit, Message
from cockpit.models import DomainStatus, Finding


def _read(host: Host, path: str) -> str | None:
    result = host.run(["cat", path], step="setup", check=False, idempotent=True)
    return result.stdout if result.ok else None


def _put(host: Host, path: str, text: str, mode: str = "600",
         undo: list | None = None) -> bool:
    """Write only when different; True when it changed. With `undo`, append (path, previous
    text or None, mode) so `_restore` can put the file back."""
    before = _read(host, path)
    if before == text:
        return False
    host.run(cmd.write_file(path, mode), step="setup", stdin=text, idempotent=True)
    if undo is not None:
        undo.append((path, before, mode))
    return True


def _restore(host: Host, undo: list) -> None:
    """Put back what `_put` changed: the edge and the switch load these files again whenever
    their container restarts, so a config the running one refused must not stay on disk (a
    crash or a reboot would then take every environment down)."""
    for path, before, mode in reversed(undo):
        if before is None:
            host.run(cmd.remove_files(path), step="setup", check=False)
        else:
            host.run(cmd.write_file(path, mode), step="setup", stdin=before, check=False)


def setup(provider, env, emit: Emit) -> list[Finding]:
    from cockpit.providers.vps.isolation import check_network

    check_network(getattr(provider.ctx, "config", None), env)  # before anything changes
    host = provider.host(env)
    s = env.settings
    findings: list[Finding] = []
    where = host.t.where

    with _Step(emit, "connect", f"connect to {where}", env.name) as st:
        lay = host.layout
        st.detail = f"home {lay.home}"
        for note in host.t.notes:
            emit(Message(note, env=env.name))

    with _Step(emit, "ports", "claim this environment's host ports and names on the host",
               env.name) as st:  # refused (exit 5) when another app or environment owns one
        from cockpit.providers.vps import ports

        from cockpit.state import whoami

        owned = ports.claim(host, env, whoami())
        st.detail = f"ports {', '.join(map(str, owned['ports']))}; {', '.join(owned['names'])}"

    with _Step(emit, "check_host", "check docker, disk and the edge's and switch's images",
               env.name) as st:
        result = host.run(cmd.docker_version(), step="check docker", check=False)
        if not result.ok:
            raise ProviderError(
                f"docker is not usable by {s.user}: {result.stderr.strip()[:300]}",
                where=where, hint=f"install docker and add {s.user} to the docker group "
                "(`usermod -aG docker USER`), then log in again")
        findings.append(Finding("vps.docker", "info", f"docker {result.stdout.strip()}", where))
        host.run(cmd.chain(
            cmd.mkdirs(lay.edge_dir, lay.sites_dir, lay.edge_ca_dir, lay.edge_data,
                       lay.switch_dir, lay.switch_envs, lay.releases_dir),
            # the edge's user reads its config (no secrets in it) but nothing else of ours
            ["chmod", "711", lay.edge_dir, lay.edge_ca_dir], ["chmod", "755", lay.sites_dir]),
            step="directories", idempotent=True)
        facts = _facts(env, host)
        for image in (facts.edge_image, facts.switch_image):
            pulled = host.run(cmd.ensure_image(image), step="image", check=False, timeout=600)
            if not pulled.ok:
                error = host.t.failure(pulled, "image", f"the host cannot get the image {image}")
                error.hint = ("the edge and the switch run from images: let the host pull "
                              "them, or name images it has with edge_image / switch_image in "
                              f"[environments.{env.name}] (or in {lay.host_images} on the host)")
                raise error
        df = host.run(cmd.disk_free_kb(lay.root), step="check disk", check=False)
        free_mb = _free_mb(df.stdout)
        if free_mb is not None and free_mb < s.min_free_mb:
            findings.append(Finding("vps.disk", "warning",
                                    f"only {free_mb} MB free under {lay.root}", where,
                                    fix="free disk space: images and kept releases need room"))
        st.detail = (f"docker ok, {free_mb if free_mb is not None else '?'} MB free; edge "
                     f"{facts.edge_image}, switch {facts.switch_image}")

    with _Step(emit, "switch", "the switch (HAProxy) with this environment's slots",
               env.name) as st:
        st.detail = _ensure_switch(env, host, facts)
    findings.append(Finding("vps.switch", "info", st.detail, where))

    with _Step(emit, "edge", "the edge (Caddy) with this environment's site", env.name) as st:
        st.detail = _ensure_edge(env, host, env.domain, facts)
    findings.append(Finding("vps.edge", "info", st.detail, where))
    if env.domain and env.common.acme_ca:
        findings += _check_acme_account(env, host, emit)
    if env.domain and s.edge_ca_file:
        findings += _check_edge_cert(env, host, emit)
    if env.accessories:  # up before the first deploy (a restore can fill them first)
        from cockpit.providers.vps import accessories

        accessories.ensure(provider, env, host, emit)
        findings.append(Finding("vps.accessories", "info", "accessories running: " + ", ".join(
            sorted(env.accessories)), where))
    return findings


def _restart_edge(env, host: Host) -> None:
    """Restart the edge's container (its certificate and account caches outlive config
    reloads); its log is read from the new start on, so old errors are not read as new."""
    result = host.run(["docker", "restart", "--time", "10", cmd.EDGE_CONTAINER], step="edge",
                      check=False, timeout=60)
    if not result.ok:
        raise host.t.failure(result, "edge", "the edge (Caddy) did not start again")
    _wait_edge(host)


def _served(env) -> bool:
    from cockpit.probes import check_tls

    s = env.settings
    tls = check_tls(s.host, s.https_port, env.domain, timeout=3.0)
    return tls.ok or (tls.error or "").startswith("certificate does not verify")


def _check_acme_account(env, host: Host, emit: Emit) -> list[Finding]:
    """A private ACME CA that was reset (a test CA restarted) no longer knows the account Caddy
    stored, and Caddy 2.6 keeps retrying with it. Seen in Caddy's log while no certificate is
    served: forget the stored account for that CA and restart Caddy, which registers again."""
    from urllib.parse import urlsplit

    lay = host.layout
    end = time.monotonic() + 8
    while time.monotonic() < end:
        if _served(env):
            return []
        log = host.run(cmd.edge_log_since_start(300), step="edge", check=False).stdout
        if "accountDoesNotExist" in log:
            break
        time.sleep(0.5)
    else:
        return []
    ca = urlsplit(env.common.acme_ca)
    issuer = (ca.netloc.replace(":", "-") + ca.path.replace("/", "-")).strip("-")
    with _Step(emit, "edge_account", f"register again with the ACME CA {env.common.acme_ca}",
               env.name) as st:
        host.run(cmd.edge_exec("rm", "-rf", "--", f"{lay.edge_data}/acme/{issuer}/users"),
                 step="edge")
        _restart_edge(env, host)
        st.detail = f"forgot the account the CA no longer knows ({issuer}); Caddy restarted"
    return [Finding("vps.edge.account", "info",
                    f"the ACME CA {env.common.acme_ca} no longer knew cockpit's edge account "
                    "(was it reset?); registered again", host.t.where)]


def _stale(env, host: Host):
    from cockpit.probes import check_tls

    s = env.settings
    tls = check_tls(s.host, s.https_port, env.domain, ca_file=s.edge_ca_file, timeout=3.0)
    return tls if not tls.ok and (tls.error or "").startswith("certificate does not verify") \
        else None


def _check_edge_cert(env, host: Host, emit: Emit) -> list[Finding]:
    """A certificate the edge stored earlier that no longer chains to `edge_ca_file`: with a
    private ACME CA (`acme_ca` set, e.g. a test CA that got a new root), replace it: remove it
    from Caddy's storage and restart Caddy (its in-memory cache survives reloads), which then
    asks the CA again. With the default CA (Let's Encrypt) only warn: never re-issue blindly."""
    s, lay = env.settings, host.layout
    tls = _stale(env, host)
    if tls is None:
        return []
    where = host.t.where
    fix = (f"if the ACME CA changed, remove {lay.edge_data}/certificates/*/{env.domain} on the "
           f"host and run `cockpit setup {env.name}` again")
    if not env.common.acme_ca:
        return [Finding("vps.edge.cert", "warning",
                        f"the edge serves {env.domain} a certificate from {tls.issuer} that does "
                        f"not verify against edge_ca_file ({tls.error})", where, fix=fix)]
    with _Step(emit, "edge_cert", f"replace the stale certificate of {env.domain}",
               env.name) as st:
        host.run(cmd.edge_exec(*cmd.remove_cert_dirs(lay.edge_data, env.domain)),
                 step="edge_cert")
        _restart_edge(env, host)
        from cockpit.probes import check_tls

        end = time.monotonic() + 60
        while True:
            after = check_tls(s.host, s.https_port, env.domain, ca_file=s.edge_ca_file,
                              timeout=3.0)
            stale = (after.error or "").startswith("certificate does not verify")
            if after.ok or stale or time.monotonic() > end:
                break
            time.sleep(0.5)
        st.detail = "a new certificate was issued" if after.ok else (after.error or "no cert")
    if not after.ok:
        return [Finding("vps.edge.cert", "warning",
                        f"{env.domain}: after replacing the stored certificate, the edge's "
                        f"certificate still does not verify against edge_ca_file ({after.error});"
                        " is edge_ca_file the CA that signs the edge's certificates?", where,
                        fix=fix)]
    return [Finding("vps.edge.cert", "info",
                    f"replaced a certificate of {env.domain} from an earlier CA root", where)]


def _free_mb(df_out: str) -> int | None:
    lines = df_out.strip().splitlines()
    if len(lines) < 2:
        return None
    try:
        return int(lines[-1].split()[3]) // 1024
    except (IndexError, ValueError):
        return None


@dataclass
class _Facts:
    """What setup needs to know about the host, read in one exec."""

    uid: int  # the SSH user's: the switch runs as it
    gid: int
    data_owner: int | None  # owner of the edge's data directory (None: absent)
    edge_image: str
    switch_image: str


def _facts(env, host: Host) -> _Facts:
    """The SSH user's ids, the owner of the edge's data, and the images to run: the
    environment's `edge_image` / `switch_image`, else the host's ~/.cockpit/images.json
    (`{"edge": ..., "switch": ...}`, e.g. a lab host that cannot pull), else the official
    images (commands.DEFAULT_EDGE_IMAGE, DEFAULT_SWITCH_IMAGE). Raises ProviderError when
    that file is not a JSON object of image references, or when the SSH user has the edge's
    uid."""
    import json
    import re

    s, lay = env.settings, host.layout
    out = host.run(cmd.host_facts(lay.edge_data, lay.host_images), step="check host",
                   idempotent=True).stdout.splitlines() + ["", "", "", ""]
    defaults: dict = {}
    if out[3].strip():
        try:
            defaults = json.loads(out[3])
        except ValueError:
            defaults = None  # type: ignore[assignment]
        ok = isinstance(defaults, dict) and all(
            isinstance(v, str) and re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.:/@-]*", v)
            for k, v in defaults.items() if k in ("edge", "switch"))
        if not ok:
            raise ProviderError(f"{lay.host_images} is not a JSON object of image references",
                                where=host.t.where,
                                hint='it holds {"edge": "caddy:2", "switch": "haproxy:2.8"}; '
                                "fix it or remove it (the official images are then used)")
    uid, gid = int(out[0]), int(out[1])
    if uid == cmd.EDGE_UID:
        raise ProviderError(f"the SSH user has uid {uid}, the uid the edge runs as",
                            where=host.t.where, hint="deploy as another user: the edge must "
                            "not be able to read the env files")
    return _Facts(
        uid=uid, gid=gid, data_owner=int(out[2]) if out[2].strip().isdigit() else None,
        edge_image=s.edge_image or defaults.get("edge") or cmd.DEFAULT_EDGE_IMAGE,
        switch_image=s.switch_image or defaults.get("switch") or cmd.DEFAULT_SWITCH_IMAGE)


def _supervised(host: Host) -> dict[str, dict]:
    """{container name: its state} for the edge and the switch containers that exist."""
    import json

    out = host.run(cmd.supervised_state(), step="read edge and switch", idempotent=True).stdout
    found = {}
    for line in out.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            found[data["Name"].lstrip("/")] = data
    return found


def _start(host: Host, name: str, argv: list[str], current: dict | None) -> str:
    """Run the supervised container `name` unless it already runs from the same command line
    (its `cockpit.spec` label). Returns what happened, "" when it was kept."""
    spec = cmd.spec_of(argv)
    if current and current.get("Status") in ("running", "restarting") \
            and current.get("Spec") == spec:
        return ""
    what = "started"
    if current:  # --volumes: the official caddy image declares VOLUME /config /data
        host.run(["docker", "rm", "--force", "--volumes", name], step=f"start {name}",
                 check=False)
        what = "replaced (new image or settings)" if current.get("Spec") != spec else \
            "started again"
    result = host.run(argv, step=f"start {name}", check=False, timeout=120)
    if not result.ok:
        if "Conflict" in result.stderr:  # a concurrent setup started it a moment ago
            return "started by another setup"
        raise host.t.failure(result, f"start {name}")
    return what


def _logs_tail(host: Host, name: str, lines: int = 15) -> str:
    out = host.run(cmd.docker_logs_merged(name, lines), step="logs", check=False).stdout
    return "\n".join(out.strip().splitlines()[-lines:])


def _ensure_switch(env, host: Host, facts: _Facts) -> str:
    s, lay = env.settings, host.layout
    state = _supervised(host).get(cmd.SWITCH_CONTAINER)
    daemon = host.run(cmd.daemon_alive(lay.switch_pid, "haproxy"), step="switch",
                      check=False).ok
    in_container = bool(state and state.get("Status") == "running")
    active = None
    if in_container or daemon:
        try:
            active = haproxy.active_slot(host.slot_states())
        except ProviderError:
            active = _active_from_file(_read(host, lay.switch_env_cfg))
    else:
        active = _active_from_file(_read(host, lay.switch_env_cfg))
    undo: list = []
    changed = _put(host, lay.switch_cfg, haproxy.render_global(sock=lay.switch_sock),
                   undo=undo)
    changed |= _put(host, lay.switch_env_cfg, haproxy.render_env(
        key=host.key, host_port=s.host_port, slot_ports=s.slot_ports,
        health_path=env.app.health_path, host_header=host_header(env), active=active),
        undo=undo)
    check = host.run(cmd.switch_check_in(None if in_container else facts.switch_image,
                                         lay.switch_dir, lay.switch_cfg, lay.switch_envs,
                                         facts.uid, facts.gid),
                     step="switch config", check=False, timeout=120)
    if not check.ok:
        _restore(host, undo)
        raise host.t.failure(check, "switch config", "the HAProxy config does not validate "
                             "(the previous files are back)")
    argv = cmd.switch_run(image=facts.switch_image, switch_dir=lay.switch_dir,
                          cfg=lay.switch_cfg, envs_dir=lay.switch_envs, uid=facts.uid,
                          gid=facts.gid)
    # The container binds the same ports beside an old daemon (HAProxy's listeners use
    # SO_REUSEPORT, same user), so the daemon is stopped only once the container answers.
    what = _start(host, cmd.SWITCH_CONTAINER, argv, state)
    if what:
        _wait(lambda: _has_backend(host), 20,
              "the switch (HAProxy) did not answer after starting", host,
              logs=cmd.SWITCH_CONTAINER)
        what = f"HAProxy {what} in container {cmd.SWITCH_CONTAINER} ({facts.switch_image}, " \
               "restart unless-stopped)"
    elif changed or not _has_backend(host):
        host.run(cmd.switch_reload(), step="reload switch")
        _wait(lambda: _has_backend(host), 10, "the switch did not load the new config", host,
              logs=cmd.SWITCH_CONTAINER)
        what = f"reloaded HAProxy in {cmd.SWITCH_CONTAINER} (config changed)"
    else:
        what = f"HAProxy running in {cmd.SWITCH_CONTAINER}, config unchanged"
    if daemon:
        stopped = host.run(cmd.stop_daemon(lay.switch_pid, "haproxy", "USR1"),
                           step="stop the old switch", check=False)
        if not stopped.ok:
            raise host.t.failure(stopped, "stop the old switch",
                                 "the old HAProxy daemon did not stop")
        what += "; moved from the unsupervised HAProxy daemon (stopped)"
    return f"{what}; runtime API on {lay.switch_sock} (0600); {env.name} on " \
           f"127.0.0.1:{s.host_port}"


def _has_backend(host: Host) -> bool:
    try:
        return bool(host.slot_states())
    except ProviderError:
        return False


def _active_from_file(text: str | None) -> str | None:
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) > 4 and parts[0] == "server" and parts[3] == "weight" and parts[4] != "0":
            return parts[1]
    return None


def _wait(fn, seconds: float, what: str, host: Host, logs: str | None = None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if fn():
            return
        time.sleep(0.2)
    tail = _logs_tail(host, logs) if logs else ""
    raise ProviderError(what + (f"; its last log lines:\n{tail}" if tail else ""),
                        where=host.t.where)


def _edge_ready(host: Host) -> bool:
    """The edge container runs and its Caddy loaded its config since it last started."""
    out = host.run(cmd.edge_log_since_start(400), step="edge", check=False)
    return out.ok and "serving initial configuration" in out.stdout


def _wait_edge(host: Host) -> None:
    _wait(lambda: _edge_ready(host), 30, "the edge (Caddy) did not load its config", host,
          logs=cmd.EDGE_CONTAINER)


def _ensure_edge(env, host: Host, domain: str | None, facts: _Facts) -> str:
    s, lay = env.settings, host.layout
    # 0644: the edge's own user reads these (they hold no secret)
    undo: list = []
    changed = _put(host, lay.caddyfile, caddy.render_global(
        admin_sock=lay.edge_admin_sock, http_port=s.http_port, https_port=s.https_port,
        storage=lay.edge_data, sites_dir=lay.sites_dir), mode="644", undo=undo)
    ca_root = None
    if env.common.acme_ca_root:
        path = Path(env.common.acme_ca_root).expanduser()
        if not path.is_file():
            raise ProviderError(f"acme_ca_root {path} does not exist",
                                where=f"environments.{env.name}.acme_ca_root")
        changed |= _put(host, lay.edge_ca_file, path.read_text(), mode="644", undo=undo)
        ca_root = lay.edge_ca_file
    if domain:
        changed |= _put(host, lay.site_file, caddy.render_site(
            key=host.key, domain=domain, upstream_port=s.host_port, acme_ca=env.common.acme_ca,
            acme_ca_root=ca_root, acme_email=env.common.acme_email), mode="644", undo=undo)
    else:
        if _read(host, lay.site_file) is not None:
            host.run(cmd.remove_files(lay.site_file), step="edge")
    state = _supervised(host).get(cmd.EDGE_CONTAINER)
    notes = []
    if host.run(cmd.daemon_alive(lay.edge_pid, "caddy"), step="edge", check=False).ok:
        stopped = host.run(cmd.stop_daemon(lay.edge_pid, "caddy", "TERM"),
                           step="stop the old edge", check=False)
        if not stopped.ok:
            raise host.t.failure(stopped, "stop the old edge", "the old Caddy did not stop")
        host.run(cmd.remove_files(lay.edge_log, lay.edge_log + ".1"), step="edge", check=False)
        notes.append("moved from the unsupervised Caddy daemon (stopped; its log is now the "
                     f"container's: docker logs {cmd.EDGE_CONTAINER})")
    if facts.data_owner != cmd.EDGE_UID:  # certificates stay; the edge's user owns them now
        host.run(cmd.chown_tree(facts.edge_image, lay.edge_data, cmd.EDGE_UID),
                 step="edge data", timeout=120)
    now, loaded = (host.run(cmd.edge_config_state(lay.caddyfile, lay.sites_dir,
                                                  lay.edge_ca_dir, lay.edge_loaded),
                            step="edge", idempotent=True).stdout.splitlines() + ["", ""])[:2]
    argv = cmd.edge_run(image=facts.edge_image, edge_dir=lay.edge_dir, data_dir=lay.edge_data,
                        caddyfile=lay.caddyfile, sock=lay.edge_admin_sock)
    what = _start(host, cmd.EDGE_CONTAINER, argv, state)
    if what:
        try:
            _wait_edge(host)
        except ProviderError:
            _restore(host, undo)  # so its restart policy brings it back with the old config
            raise
        what = f"Caddy {what} in container {cmd.EDGE_CONTAINER} ({facts.edge_image}, uid " \
               f"{cmd.EDGE_UID}, restart unless-stopped)"
    elif changed or now.strip() != loaded.strip():
        result = host.run(cmd.edge_reload(lay.caddyfile, lay.edge_admin_sock),
                          step="reload edge", check=False, timeout=60)
        if not result.ok:
            _restore(host, undo)
            raise host.t.failure(result, "reload edge", "Caddy refused the new config (the "
                                 "previous files are back; the running edge kept its config)")
        what = f"reloaded Caddy in {cmd.EDGE_CONTAINER} (config changed)"
    else:
        what = f"Caddy running in {cmd.EDGE_CONTAINER}, config unchanged"
    if now.strip() != loaded.strip():
        _put(host, lay.edge_loaded, now.strip())
    site = f"https://{domain}:{s.https_port} → 127.0.0.1:{s.host_port}" if domain else \
        "no site (the environment has no domain)"
    return "; ".join([what, *notes, f"admin API on {lay.edge_admin_sock} (the edge's user "
                      "only)", site])


def configure_domain(provider, env, domain: str, emit: Emit) -> DomainStatus:
    """Point `domain` at the environment (Caddy site, switch checks), then report DNS, the
    certificate from the live handshake, and whether HTTP redirects to HTTPS."""
    from cockpit.probes import check_dns, check_redirect, check_tls

    host = provider.host(env)
    s = env.settings
    with _Step(emit, "edge", f"site {domain} on the edge", env.name) as st:
        st.detail = _ensure_edge(env, host, domain, _facts(env, host))
    if domain == env.domain:  # the switch's health checks send this Host header
        with _Step(emit, "switch", "the switch's checks use the domain", env.name) as st:
            st.detail = _ensure_switch(env, host, _facts(env, host))
        repairs = _check_acme_account(env, host, emit) if env.common.acme_ca else []
        if s.edge_ca_file:
            repairs += _check_edge_cert(env, host, emit)
        for finding in repairs:
            emit(Message(finding.message, level="warning" if finding.severity == "warning"
                         else "info", env=env.name))
    status = DomainStatus(domain=domain)
    with _Step(emit, "dns", f"DNS of {domain}", env.name) as st:
        expected = s.public_address or _address_of(s.host)
        status.dns = check_dns(domain, expected, s.dns_resolver)
        st.detail = "ok" if status.dns.ok else (status.dns.error or "not ok")
        if not status.dns.ok:
            status.records_to_create = [{"type": "A", "name": domain, "value": expected}]
    with _Step(emit, "tls", f"certificate of {domain}", env.name) as st:
        end = time.monotonic() + 90
        while True:
            status.tls = check_tls(s.host, s.https_port, domain, ca_file=s.edge_ca_file)
            served = (status.tls.error or "").startswith("certificate does not verify")
            if status.tls.ok or served or time.monotonic() > end:  # issued, or a cert we
                break  # do not trust (waiting will not change it)
            time.sleep(1.0)
        st.detail = (f"issuer {status.tls.issuer}, {status.tls.days_left} days left"
                     if status.tls.ok else status.tls.error or "no certificate")
    with _Step(emit, "redirect", "HTTP redirects to HTTPS", env.name) as st:
        status.redirects_to_https = check_redirect(f"http://{s.host}:{s.http_port}/", domain)
        st.detail = "yes" if status.redirects_to_https else "no"
    status.status = "issued" if status.tls and status.tls.ok else (
        "pending" if status.dns and status.dns.ok else "failed")
    return status


def _address_of(host: str) -> str:
    import socket

    try:
        return socket.gethostbyname(host)
    except OSError:
        return host
