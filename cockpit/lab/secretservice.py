"""The OS keyring: a private D-Bus session bus with an unlocked gnome-keyring on it.

A test process needs only `DBUS_SESSION_BUS_ADDRESS` to reach it; the `keyring` package then
picks its SecretService backend (secretstorage over jeepney), as it would on a desktop. The
keyring's files and its unlock password live in the lab dir, so the user's own keyring is
never touched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from ._proc import LabError, State, spawn, stop_pid, wait_for

PROBE_SERVICE = "cockpit-lab:probe"


def paths(root: Path) -> dict[str, Path]:
    d = root / "keyring"
    return {
        "dir": d,
        "bus": d / "bus",
        "data": d / "data",
        "run": d / "run",
        "home": d / "home",
        "password": d / "password",
        "bus_config": d / "session.conf",
        "dbus_log": root / "dbus.log",
        "gk_log": root / "gnome-keyring.log",
    }


# The lab's session bus starts no service on demand: with the standard session config, a
# request for org.freedesktop.secrets after gnome-keyring died would auto-start a *locked*
# keyring (no password on stdin) that then owns the name; `up` restarts the real one instead.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>{address}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def address(root: Path) -> str:
    return f"unix:path={paths(root)['bus']}"


def _bus_answers(bus: Path) -> bool:
    if not bus.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(bus))
            return True
    except OSError:
        return False


@contextlib.contextmanager
def session_env(addr: str) -> Iterator[None]:
    old = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = addr
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = old


def _secrets_owned(addr: str) -> bool:
    """True once org.freedesktop.secrets has an owner on our bus."""
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
    except ImportError as exc:  # pragma: no cover - the venv has it
        raise LabError("the Python package jeepney is missing: pip install -e '.[test]'") from exc
    try:
        with open_dbus_connection(bus=addr) as conn:
            msg = new_method_call(
                DBusAddress(
                    "/org/freedesktop/DBus",
                    bus_name="org.freedesktop.DBus",
                    interface="org.freedesktop.DBus",
                ),
                "NameHasOwner",
                "s",
                ("org.freedesktop.secrets",),
            )
            return bool(conn.send_and_get_reply(msg, timeout=2).body[0])
    except Exception:
        return False


def _default_collection_ready(addr: str) -> None:
    """Make sure the default alias points at an unlocked collection (create "login" if needed)."""
    import secretstorage
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus=addr) as conn:
        try:
            coll = secretstorage.get_default_collection(conn)
        except secretstorage.exceptions.SecretServiceNotAvailableException as exc:
            raise LabError(f"SecretService not available on {addr}: {exc}") from exc
        if coll.is_locked():
            raise LabError(
                "the lab keyring's default collection is locked; run `scripts/lab down` "
                "and remove the lab dir's keyring/ folder to start afresh"
            )


def probe(addr: str) -> str:
    """set/get/delete through the `keyring` package's SecretService backend; returns its class."""
    with session_env(addr):
        from keyring.backends import SecretService

        backend = SecretService.Keyring()
        value = secrets.token_hex(8)
        backend.set_password(PROBE_SERVICE, "probe", value)
        got = backend.get_password(PROBE_SERVICE, "probe")
        backend.delete_password(PROBE_SERVICE, "probe")
        if got != value:
            raise LabError("keyring probe: the value read back differs from the one written")
        return f"{type(backend).__module__}.{type(backend).__qualname__}"


def ensure(state: State) -> dict[str, object]:
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        if not shutil.which(tool):
            raise LabError(f"{tool} not found: install the Debian packages dbus and gnome-keyring")
    p = paths(state.root)
    for key in ("dir", "data", "run", "home"):
        p[key].mkdir(parents=True, exist_ok=True)
        os.chmod(p[key], 0o700)
    addr = address(state.root)

    dbus_pid = state.alive("dbus")
    if not (dbus_pid and _bus_answers(p["bus"])):
        if dbus_pid:
            stop_pid(dbus_pid)
        p["bus"].unlink(missing_ok=True)
        p["bus_config"].write_text(BUS_CONFIG.format(address=addr))
        proc = spawn(
            [
                "dbus-daemon",
                f"--config-file={p['bus_config']}",
                "--nofork",
                "--nopidfile",
                f"--address={addr}",
                "--print-address=1",
            ],
            p["dbus_log"],
        )
        state.record("dbus", proc.pid)
        dbus_pid = proc.pid
        wait_for(
            lambda: _bus_answers(p["bus"]),
            "dbus-daemon (session bus)",
            timeout=15,
            log=p["dbus_log"],
            proc=proc,
        )
        stop_pid(state.alive("gnome-keyring") or -1)

    gk_pid = state.alive("gnome-keyring")
    if not (gk_pid and _secrets_owned(addr)):
        if gk_pid:
            stop_pid(gk_pid)
        if not p["password"].exists():
            # A keyring file without its password could never be unlocked: start afresh.
            shutil.rmtree(p["data"], ignore_errors=True)
            p["data"].mkdir(mode=0o700, parents=True, exist_ok=True)
            p["password"].write_text(secrets.token_urlsafe(24))
            os.chmod(p["password"], 0o600)
        env = {
            "DBUS_SESSION_BUS_ADDRESS": addr,
            "XDG_DATA_HOME": str(p["data"]),
            "XDG_RUNTIME_DIR": str(p["run"]),
            "HOME": str(p["home"]),
            "XDG_CONFIG_HOME": str(p["home"] / ".config"),
        }
        proc = spawn(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            p["gk_log"],
            env=env,
            stdin_data=p["password"].read_bytes(),
        )
        state.record("gnome-keyring", proc.pid)
        gk_pid = proc.pid
        wait_for(
            lambda: _secrets_owned(addr),
            "gnome-keyring-daemon",
            timeout=20,
            log=p["gk_log"],
            proc=proc,
        )
    _default_collection_ready(addr)
    backend = probe(addr)
    return {"up": True, "address": addr, "pid": gk_pid, "dbus_pid": dbus_pid, "backend": backend}
