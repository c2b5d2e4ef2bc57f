"""`cockpit setup ENV` and `cockpit domain ENV` on a VPS: the edge (Caddy) and the switch
(HAProxy), each started by the SSH user with a persisted config under ~/.cockpit/, admin
interfaces on the host's loopback only. Idempotent: files are rewritten only when they change,
and a running edge or switch is reloaded only then (never during a deploy).
"""

from __future__ import annotations

import time
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


def _put(host: Host, path: str, text: str, mode: str = "600") -> bool:
    """Write only when different; True when it changed."""
    if _read(host, path) == text:
        return False
    host.run(cmd.write_file(path, mode), step="setup", stdin=text, idempotent=True)
    return True


def setup(provider, env, emit: Emit) -> list[Finding]:
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

    with _Step(emit, "check_host", "check docker, disk, caddy and haproxy", env.name) as st:
        result = host.run(cmd.docker_version(), step="check docker", check=False)
        if not result.ok:
            raise ProviderError(
                f"docker is not usable by {s.user}: {result.stderr.strip()[:300]}",
                where=where, hint=f"install docker and add {s.user} to the docker group "
                "(`usermod -aG docker USER`), then log in again")
        findings.append(Finding("vps.docker", "info", f"docker {result.stdout.strip()}", where))
        bins = {}
        for binary in ("caddy", "haproxy"):
            found = host.run(cmd.which(binary), step=f"check {binary}", check=False)
            bins[binary] = found.stdout.strip().splitlines()[0] if found.ok else ""
            if not found.ok:
                raise ProviderError(f"{binary} is not installed on the host", where=where,
                                    hint="apt-get install caddy haproxy (both are Debian packages)"
                                    "; cockpit runs them as the SSH user")
        host.run(cmd.mkdirs(lay.edge_dir, lay.sites_dir, lay.edge_ca_dir, lay.edge_data,
                            lay.switch_dir, lay.switch_envs, lay.releases_dir),
                 step="directories", idempotent=True)
        df = host.run(cmd.disk_free_kb(lay.root), step="check disk", check=False)
        free_mb = _free_mb(df.stdout)
        if free_mb is not None and free_mb < s.min_free_mb:
            findings.append(Finding("vps.disk", "warning",
                                    f"only {free_mb} MB free under {lay.root}", where,
                                    fix="free disk space: images and kept releases need room"))
        st.detail = f"docker ok, {free_mb if free_mb is not None else '?'} MB free"

    with _Step(emit, "switch", "the switch (HAProxy) with this environment's slots",
               env.name) as st:
        st.detail = _ensure_switch(env, host, bins["haproxy"])
    findings.append(Finding("vps.switch", "info", st.detail, where))

    with _Step(emit, "edge", "the edge (Caddy) with this environment's site", env.name) as st:
        st.detail = _ensure_edge(env, host, env.domain)
    findings.append(Finding("vps.edge", "info", st.detail, where))
    if env.domain and env.common.acme_ca:
        findings += _check_acme_account(env, host, emit)
    if env.domain and s.edge_ca_file:
        findings += _check_edge_cert(env, host, emit)
    return findings


def _restart_edge(env, host: Host) -> None:
    """Stop and start Caddy (its certificate and account caches outlive config reloads); the
    log starts afresh so old errors are not read as new ones."""
    s, lay = env.settings, host.layout
    host.run(cmd.caddy_stop(f"127.0.0.1:{s.edge_admin_port}"), step="edge", check=False)
    _wait(lambda: not _edge_alive(host, s.edge_admin_port), 10, "Caddy did not stop", host)
    host.run(["mv", "-f", lay.edge_log, lay.edge_log + ".1"], step="edge", check=False)
    result = host.run(cmd.caddy_start(lay.caddyfile, lay.edge_pid, lay.edge_log),
                      step="edge", check=False, timeout=60)
    if not result.ok:
        raise host.t.failure(result, "edge", "Caddy did not start again")


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
        log = host.run(["tail", "-n", "300", lay.edge_log], step="edge", check=False).stdout
        if "accountDoesNotExist" in log:
            break
        time.sleep(0.5)
    else:
        return []
    ca = urlsplit(env.common.acme_ca)
    issuer = (ca.netloc.replace(":", "-") + ca.path.replace("/", "-")).strip("-")
    with _Step(emit, "edge_account", f"register again with the ACME CA {env.common.acme_ca}",
               env.name) as st:
        host.run(["rm", "-rf", "--", f"{lay.edge_data}/acme/{issuer}/users"], step="edge")
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
        host.run(cmd.remove_cert_dirs(lay.edge_data, env.domain), step="edge_cert")
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


def _ensure_switch(env, host: Host, binary: str = "haproxy") -> str:
    s, lay = env.settings, host.layout
    running = host.run(cmd.pid_alive(lay.switch_pid), step="switch", check=False).ok
    active = None
    if running:
        try:
            active = haproxy.active_slot(host.slot_states())
        except ProviderError:
            active = _active_from_file(_read(host, lay.switch_env_cfg))
    else:
        active = _active_from_file(_read(host, lay.switch_env_cfg))
    changed = _put(host, lay.switch_cfg, haproxy.render_global(sock=lay.switch_sock,
                                                              admin_port=s.switch_admin_port))
    changed |= _put(host, lay.switch_env_cfg, haproxy.render_env(
        key=host.key, host_port=s.host_port, slot_ports=s.slot_ports,
        health_path=env.app.health_path, host_header=host_header(env), active=active))
    check = host.run(cmd.haproxy_check(lay.switch_cfg, lay.switch_envs, binary),
                     step="switch config",
                     check=False)
    if not check.ok:
        raise host.t.failure(check, "switch config", "the HAProxy config does not validate")
    if not running:
        if host.switch_alive():
            raise ProviderError(
                f"something else answers on 127.0.0.1:{s.switch_admin_port} (switch_admin_port)",
                where=host.t.where, hint="choose another switch_admin_port in cockpit.toml")
        host.run(cmd.haproxy_start(lay.switch_cfg, lay.switch_envs, lay.switch_pid, binary),
                 step="start switch")
        _wait(host.switch_alive, 10, "the switch (HAProxy) did not answer after starting", host)
        return f"started HAProxy; runtime API on 127.0.0.1:{s.switch_admin_port}, " \
               f"{env.name} on 127.0.0.1:{s.host_port}"
    if changed or not _has_backend(host):
        host.run(cmd.haproxy_reload(lay.switch_cfg, lay.switch_envs, lay.switch_pid,
                                    lay.switch_sock, binary), step="reload switch")
        _wait(lambda: _has_backend(host), 10, "the switch did not load the new config", host)
        return f"reloaded HAProxy (config changed); {env.name} on 127.0.0.1:{s.host_port}"
    return f"HAProxy running, config unchanged; {env.name} on 127.0.0.1:{s.host_port}"


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


def _wait(fn, seconds: float, what: str, host: Host) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if fn():
            return
        time.sleep(0.2)
    raise ProviderError(what, where=host.t.where)


def _edge_alive(host: Host, port: int) -> bool:
    try:
        out = host._exchange(port, b"GET /config/admin HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             b"Connection: close\r\n\r\n" % port, 3.0)
        return out.startswith(b"HTTP/1.1 200")
    except (OSError, ProviderError):
        return False


def _edge_serves(host: Host, port: int, domain: str) -> bool:
    """Whether the running Caddy's config has the site (a failed earlier run may have written
    the file without loading it)."""
    try:
        out = host._exchange(port, b"GET /config/apps/http HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             b"Connection: close\r\n\r\n" % port, 5.0)
    except (OSError, ProviderError):
        return False
    return f'"{domain}"'.encode() in out


def _ensure_edge(env, host: Host, domain: str | None) -> str:
    s, lay = env.settings, host.layout
    changed = _put(host, lay.caddyfile, caddy.render_global(
        admin_port=s.edge_admin_port, http_port=s.http_port, https_port=s.https_port,
        storage=lay.edge_data, sites_dir=lay.sites_dir))
    ca_root = None
    if env.common.acme_ca_root:
        path = Path(env.common.acme_ca_root).expanduser()
        if not path.is_file():
            raise ProviderError(f"acme_ca_root {path} does not exist",
                                where=f"environments.{env.name}.acme_ca_root")
        changed |= _put(host, lay.edge_ca_file, path.read_text())
        ca_root = lay.edge_ca_file
    if domain:
        changed |= _put(host, lay.site_file, caddy.render_site(
            key=host.key, domain=domain, upstream_port=s.host_port, acme_ca=env.common.acme_ca,
            acme_ca_root=ca_root, acme_email=env.common.acme_email))
    else:
        if _read(host, lay.site_file) is not None:
            host.run(cmd.remove_files(lay.site_file), step="edge")
            changed = True
    running = host.run(cmd.pid_alive(lay.edge_pid), step="edge", check=False).ok
    if running and not _edge_alive(host, s.edge_admin_port):
        running = False
    if not running:
        if _edge_alive(host, s.edge_admin_port):
            raise ProviderError(
                f"another Caddy answers on 127.0.0.1:{s.edge_admin_port} (not cockpit's)",
                where=host.t.where, hint="stop it (systemctl disable --now caddy) or set "
                "edge_admin_port; cockpit runs its own Caddy as the SSH user")
        result = host.run(cmd.caddy_start(lay.caddyfile, lay.edge_pid, lay.edge_log),
                          step="start edge", check=False, timeout=60)
        if not result.ok:
            log = _read(host, lay.edge_log) or ""
            raise ProviderError("Caddy did not start: " + "\n".join(log.splitlines()[-10:]),
                                where=f"{host.t.where} {lay.edge_log}")
        what = "started Caddy"
    elif changed or (domain and not _edge_serves(host, s.edge_admin_port, domain)):
        result = host.run(cmd.caddy_reload(lay.caddyfile, f"127.0.0.1:{s.edge_admin_port}"),
                          step="reload edge", check=False, timeout=60)
        if not result.ok:
            raise host.t.failure(result, "reload edge", "Caddy refused the new config")
        what = "reloaded Caddy (config changed)"
    else:
        what = "Caddy running, config unchanged"
    site = f"https://{domain}:{s.https_port} → 127.0.0.1:{s.host_port}" if domain else \
        "no site (the environment has no domain)"
    return f"{what}; admin 127.0.0.1:{s.edge_admin_port}; {site}"


def configure_domain(provider, env, domain: str, emit: Emit) -> DomainStatus:
    """Point `domain` at the environment (Caddy site, switch checks), then report DNS, the
    certificate from the live handshake, and whether HTTP redirects to HTTPS."""
    from cockpit.probes import check_dns, check_redirect, check_tls

    host = provider.host(env)
    s = env.settings
    with _Step(emit, "edge", f"site {domain} on the edge", env.name) as st:
        st.detail = _ensure_edge(env, host, domain)
    if domain == env.domain:  # the switch's health checks send this Host header
        with _Step(emit, "switch", "the switch's checks use the domain", env.name) as st:
            found = host.run(cmd.which("haproxy"), step="switch", check=False)
            binary = found.stdout.strip().splitlines()[0] if found.ok else "haproxy"
            st.detail = _ensure_switch(env, host, binary)
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
