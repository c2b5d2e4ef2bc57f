"""The SSH transport: one paramiko connection per host, strict host keys, clear errors.

Host keys: cockpit keeps its own known_hosts in its state dir and also reads the user's
~/.ssh/known_hosts. An unknown key is refused unless its SHA256 fingerprint is trusted
(`--trust-host SHA256:...`, or an interactive yes after seeing it), and is then recorded in
cockpit's file. A changed key is always refused. Every failure names the host, the step, the
command and the remote stderr: never a bare exit status.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cockpit.errors import HostKeyError, ProviderError

RETRY_DELAYS = (0.3, 1.0, 2.5)
# paramiko logs refused channels at ERROR; cockpit reports failures itself.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False


def fingerprint(key: Any) -> str:
    """`SHA256:<base64, no padding>` of the key blob, exactly as `ssh-keygen -lf` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def remote_command(argv: list[str]) -> str:
    """The command line sshd runs for `argv`: every argument quoted, under `umask 077`, so what
    cockpit creates on the host (directories, env files, lock and registry files, the edge's
    and the switch's own files) is the SSH user's alone (0700/0600), never 0755/0644."""
    return "umask 077; " + shlex.join(argv)


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _redact(text: str) -> str:
    try:
        from cockpit.redaction import redact
    except ImportError:  # pragma: no cover
        return text
    return redact(text)


@dataclass
class Result:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class SshTransport:
    """Runs argv lists on one host. Thread-safe: paramiko multiplexes channels."""

    def __init__(
        self, *, host: str, port: int = 22, user: str, identity_file: str | None = None,
        known_hosts: Path, trusted: list[str] | None = None,
        ask: Callable[[str], bool] | None = None, timeout: float = 10.0,
        user_known_hosts: Path | None = None,
    ) -> None:
        self.host, self.port, self.user = host, port, user
        self.identity_file = os.path.expanduser(identity_file) if identity_file else None
        self.known_hosts = Path(known_hosts)
        self.user_known_hosts = (
            user_known_hosts if user_known_hosts is not None
            else Path(os.path.expanduser("~/.ssh/known_hosts"))
        )
        self.trusted = {t.strip() for t in (trusted or [])}
        self.ask = ask
        self.timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()
        self.notes: list[str] = []  # e.g. "trusted new host key SHA256:..."

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    # ------------------------------------------------------------------ connection

    def connect(self) -> Any:
        with self._lock:
            if self._client is not None:
                transport = self._client.get_transport()
                if transport is not None and transport.is_active():
                    return self._client
                self._client.close()
                self._client = None
            last: Exception | None = None
            for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
                if delay:
                    time.sleep(delay)
                try:
                    self._client = self._connect_once()
                    return self._client
                except (HostKeyError, ProviderError):
                    raise
                except (OSError, EOFError) as exc:
                    last = exc
                except Exception as exc:  # paramiko.SSHException and friends
                    if type(exc).__name__ in ("AuthenticationException", "BadAuthenticationType"):
                        raise self._auth_error(exc) from None
                    last = exc
                if attempt == len(RETRY_DELAYS):
                    break
            raise ProviderError(
                f"cannot connect over SSH: {last}", where=self.where,
                hint="check the host, ssh_port and that sshd runs; `ssh -p PORT USER@HOST` "
                "should work from this machine",
            )

    def _connect_once(self) -> Any:
        paramiko = _import_paramiko()

        client = paramiko.SSHClient()
        if self.user_known_hosts.is_file():
            try:
                client.load_system_host_keys(str(self.user_known_hosts))
            except Exception:  # an unreadable user file must not block cockpit's own
                pass
        if self.known_hosts.is_file():
            client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(_TrustPolicy(self))
        sock = _QuickAckSocket.wrap(
            socket.create_connection((self.host, self.port), timeout=self.timeout))
        # Many small packets (runtime API lines, probes): without this, Nagle and delayed ACKs
        # add ~40 ms to a channel opened right after another one.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            client.connect(
                self.host, port=self.port, username=self.user, sock=sock,
                key_filename=self.identity_file, allow_agent=self.identity_file is None,
                look_for_keys=self.identity_file is None, timeout=self.timeout,
                banner_timeout=self.timeout, auth_timeout=self.timeout,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            name = known_hosts_name(self.host, self.port)
            raise HostKeyError(
                f"WARNING: the host key of {name} has CHANGED: expected "
                f"{fingerprint(exc.expected_key)}, got {fingerprint(exc.key)}. Someone may be "
                "intercepting the connection, or the host was rebuilt. Refusing to connect.",
                where=self.where,
                hint=f"if you know the host was rebuilt, remove its line from {self.known_hosts} "
                f"(and ~/.ssh/known_hosts), then run again with "
                f"--trust-host {fingerprint(exc.key)}",
            ) from None
        except BaseException:
            client.close()
            sock.close()
            raise
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        return client

    def _auth_error(self, exc: Exception) -> ProviderError:
        how = f"key {self.identity_file}" if self.identity_file else "the SSH agent or ~/.ssh keys"
        return ProviderError(
            f"SSH authentication failed for {self.user} with {how}: {exc}", where=self.where,
            hint="check `user` and `identity_file` in cockpit.toml and the host's authorized_keys",
        )

    def _active(self) -> bool:
        client = self._client
        transport = client.get_transport() if client is not None else None
        return bool(transport is not None and transport.is_active())

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def record_host_key(self, hostname: str, key: Any) -> None:
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with open(self.known_hosts, "a", encoding="utf-8") as fh:
            fh.write(line)
        os.chmod(self.known_hosts, 0o600)

    # ------------------------------------------------------------------ running

    def run(
        self, argv: list[str], *, step: str, stdin: bytes | str | None = None, check: bool = True,
        timeout: float | None = 120.0, idempotent: bool = False,
    ) -> Result:
        """Run one command. Retried with backoff when its channel could not be opened (it never
        ran), or when the link failed and the step is `idempotent`."""
        last: Exception | None = None
        result: Result | None = None
        for delay in (0.0, *RETRY_DELAYS):
            if delay:
                time.sleep(delay)
            try:
                result = self._run_once(argv, stdin, timeout)
                break
            except _NotStarted as exc:  # the channel never opened: nothing ran, safe to retry
                last = exc
            except (OSError, EOFError, _LinkError) as exc:
                last = exc
                if not self._active():  # only a dead link is closed (other threads share it)
                    self.close()
                if not idempotent:
                    break
        if result is None:
            raise ProviderError(
                f"lost the SSH connection while running `{self._show(argv)}`: {last}",
                where=f"{self.where} step {step}",
                hint="check the network and that sshd runs; the step is safe to run again",
            )
        if check and not result.ok:
            raise self.failure(result, step)
        return result

    def failure(self, result: Result, step: str, what: str | None = None) -> ProviderError:
        stderr = _redact(result.stderr.strip() or result.stdout.strip())
        tail = "\n".join(stderr.splitlines()[-15:]) or "(no output)"
        return ProviderError(
            f"{what or 'remote command failed'} (exit {result.rc}): `{self._show(result.argv)}`\n"
            f"{tail}", where=f"{self.where} step {step}",
        )

    @staticmethod
    def _show(argv: list[str]) -> str:
        text = _redact(shlex.join(argv))
        return text if len(text) < 300 else text[:297] + "..."

    def _run_once(self, argv: list[str], stdin: bytes | str | None, timeout: float | None
                  ) -> Result:
        client = self.connect()
        transport = client.get_transport()
        try:
            chan = transport.open_session(timeout=self.timeout)
        except Exception as exc:
            raise (_NotStarted if transport.is_active() else _LinkError)(str(exc)) from exc
        try:
            chan.settimeout(timeout)
            chan.exec_command(remote_command(argv))
            if stdin is not None:
                data = stdin.encode() if isinstance(stdin, str) else stdin
                chan.sendall(data)
                # EOF only when the command reads stdin (it then waits for it). Sent after a fast
                # command already closed the channel, sshd drops the whole connection
                # ("ieof packet referred to nonexistent channel").
                chan.shutdown_write()
            out, err = _drain(chan, timeout)
            rc = chan.recv_exit_status()
            if rc == -1:  # closed without an exit status: the session died, not the command
                raise _LinkError("the SSH channel closed without an exit status")
        except TimeoutError as exc:
            chan.close()
            raise ProviderError(
                f"`{self._show(argv)}` did not finish within {timeout:.0f}s", where=self.where
            ) from exc
        finally:
            chan.close()
        return Result(argv, rc, out.decode(errors="replace"), err.decode(errors="replace"))

    def stream_in(self, argv: list[str], chunks: Iterator[bytes], *, step: str,
                  timeout: float | None = 600.0) -> Result:
        """Run `argv` feeding it a stream (e.g. `docker save` into `docker load`)."""
        client = self.connect()
        chan = client.get_transport().open_session(timeout=self.timeout)
        try:
            chan.settimeout(timeout)
            chan.exec_command(remote_command(argv))
            for chunk in chunks:
                chan.sendall(chunk)
            chan.shutdown_write()
            out, err = _drain(chan, timeout)
            rc = chan.recv_exit_status()
        finally:
            chan.close()
        result = Result(argv, rc, out.decode(errors="replace"), err.decode(errors="replace"))
        if not result.ok:
            raise self.failure(result, step)
        return result

    def open_lines(self, argv: list[str]) -> Any:
        """A channel running `argv` with stderr merged, for line-by-line reading (logs)."""
        client = self.connect()
        chan = client.get_transport().open_session(timeout=self.timeout)
        chan.set_combine_stderr(True)
        chan.exec_command(remote_command(argv))
        return chan

    def open_tcp(self, port: int, host: str = "127.0.0.1") -> Any:
        """A socket-like channel to `host:port` as seen from the remote host (its loopback)."""
        client = self.connect()
        try:
            return client.get_transport().open_channel(
                "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=self.timeout
            )
        except Exception as exc:
            if isinstance(exc, OSError | EOFError):
                raise
            raise ProviderError(
                f"cannot reach {host}:{port} on the host through SSH: {exc}", where=self.where,
                hint="sshd must allow TCP forwarding (AllowTcpForwarding yes) for the deploy user",
            ) from None


    def open_unix(self, path: str) -> Any:
        """A socket-like channel to the unix socket `path` on the host (OpenSSH's
        `direct-streamlocal@openssh.com`, what `ssh -L PORT:/path` uses), so an admin socket
        of mode 0600 is reached as the SSH user without socat or any tool on the host.

        Raises OSError/EOFError when the link fails, ProviderError when sshd refuses the
        channel (the socket is absent or not the SSH user's, or AllowStreamLocalForwarding is
        off). Source: OpenSSH PROTOCOL, section 2.4."""
        client = self.connect()
        try:
            return _open_streamlocal(client.get_transport(), path, self.timeout)
        except Exception as exc:
            if isinstance(exc, OSError | EOFError):
                raise
            raise ProviderError(
                f"cannot reach the unix socket {path} on the host through SSH: {exc}",
                where=self.where,
                hint="is the service running? sshd must allow it (AllowStreamLocalForwarding yes, "
                "the default) for the deploy user",
            ) from None


def _open_streamlocal(transport: Any, path: str, timeout: float) -> Any:
    """paramiko's `Transport.open_channel` for the one channel type it does not build:
    `direct-streamlocal@openssh.com` (string socket path, string reserved, uint32 reserved)."""
    import threading as _threading

    from paramiko.channel import Channel
    from paramiko.common import cMSG_CHANNEL_OPEN
    from paramiko.message import Message
    from paramiko.ssh_exception import SSHException

    if not transport.active:
        raise SSHException("SSH session not active")
    with transport.lock:
        window = transport._sanitize_window_size(None)
        packet = transport._sanitize_packet_size(None)
        chanid = transport._next_channel()
        m = Message()
        m.add_byte(cMSG_CHANNEL_OPEN)
        m.add_string("direct-streamlocal@openssh.com")
        m.add_int(chanid)
        m.add_int(window)
        m.add_int(packet)
        m.add_string(path)
        m.add_string("")
        m.add_int(0)
        chan = Channel(chanid)
        transport._channels.put(chanid, chan)
        transport.channel_events[chanid] = event = _threading.Event()
        transport.channels_seen[chanid] = True
        chan._set_transport(transport)
        chan._set_window(window, packet)
    transport._send_user_message(m)
    end = time.monotonic() + timeout
    while not event.wait(0.05):
        if not transport.active:
            raise transport.get_exception() or SSHException("Unable to open channel.")
        if time.monotonic() > end:
            raise SSHException("Timeout opening channel.")
    chan = transport._channels.get(chanid)
    if chan is not None:
        return chan
    raise transport.get_exception() or SSHException("Unable to open channel.")


def _import_paramiko() -> Any:
    """paramiko imports `invoke` (~55 ms) only for `Match exec` in ~/.ssh/config, which cockpit
    does not read; keep it out of the CLI's start-up unless something else loaded it."""
    import sys

    if "paramiko" not in sys.modules and "invoke" not in sys.modules:
        sys.modules["invoke"] = None  # type: ignore[assignment]  # import raises ImportError
        try:
            import paramiko
        finally:
            del sys.modules["invoke"]
        return paramiko
    import paramiko

    return paramiko


class _QuickAckSocket(socket.socket):
    """The SSH socket, acknowledging every segment at once (Linux TCP_QUICKACK, which the
    kernel clears again, so it is set before each read).

    Why: sshd sends a forwarded channel's data, then its EOF and CLOSE; with Nagle on sshd's
    side the close waits for our ACK of the data, which Linux delays ~40 ms. Measured on the
    lab: a probe or runtime-API exchange over `direct-tcpip`/`direct-streamlocal` took 44-50 ms
    until EOF without this and 1-4 ms with it (the answer itself arrived after ~2 ms)."""

    _quickack = getattr(socket, "TCP_QUICKACK", None)

    @classmethod
    def wrap(cls, sock: socket.socket) -> socket.socket:
        if cls._quickack is None:  # not Linux: keep the plain socket
            return sock
        timeout = sock.gettimeout()
        wrapped = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        wrapped.settimeout(timeout)
        return wrapped

    def recv(self, bufsize: int, *flags: int) -> bytes:  # type: ignore[override]
        try:
            self.setsockopt(socket.IPPROTO_TCP, self._quickack, 1)
        except OSError:
            pass
        return super().recv(bufsize, *flags)


class _LinkError(Exception):
    pass


class _NotStarted(_LinkError):
    """The session channel could not be opened (e.g. sshd busy): the command never ran."""


def _drain(chan: Any, timeout: float | None) -> tuple[bytes, bytes]:
    out, err = bytearray(), bytearray()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        got = False
        if chan.recv_ready():
            out += chan.recv(65536)
            got = True
        if chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)
            got = True
        if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
            # the exit status can arrive before the last data: read until EOF
            while True:
                chunk = chan.recv(65536)
                if not chunk:
                    break
                out += chunk
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            return bytes(out), bytes(err)
        if not got:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("timed out")
            chan.status_event.wait(0.005)


class _TrustPolicy:
    """Unknown key: trust only a fingerprint the user gave or confirmed; record it."""

    def __init__(self, transport: SshTransport) -> None:
        self.t = transport

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        fp = fingerprint(key)
        t = self.t
        trusted = fp in t.trusted
        if not trusted and t.ask is not None:
            trusted = t.ask(
                f"The SSH host key of {hostname} is not known.\n"
                f"  {key.get_name()} key fingerprint is {fp}\n"
                f"Trust it and remember it in {t.known_hosts}?"
            )
        if not trusted:
            raise HostKeyError(
                f"unknown SSH host key for {hostname}: {key.get_name()} {fp}; refusing to connect",
                where=t.where,
                hint=f"check the fingerprint on the host (`ssh-keygen -lf /etc/ssh/ssh_host_*"
                f"_key.pub`), then run again with --trust-host {fp}",
            )
        client.get_host_keys().add(hostname, key.get_name(), key)
        t.record_host_key(hostname, key)
        t.notes.append(f"trusted the host key of {hostname} ({fp}) and recorded it")
