"""Shared fixtures: the local lab, an isolated state dir, the keyring, and where snapshots live.

Fixtures
- `lab` (session): brings the lab up (`cockpit.lab.up()`, idempotent: ~0.2 s when
  `scripts/test` or `scripts/lab up` already did it), exports its variables into os.environ
  (DOCKER_HOST, DBUS_SESSION_BUS_ADDRESS, COCKPIT_LAB_*) and returns a `cockpit.lab.LabEnv`.
  The lab is shared by every test session on the machine, so the fixture never tears it down.
- `tmp_state` (function): COCKPIT_STATE_DIR set to a fresh temp dir; returns that Path.
- `keyring_backend` (function): SecretService on the lab's D-Bus session, made the `keyring`
  package's active backend for the test (so secrets really go through the OS keyring).

Markers (`lab`, `slow`, `k8s_real`) are registered in pyproject.toml. Tests that use the
`lab` fixture are marked `lab` automatically.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SNAPSHOTS = REPO / "snapshots"


# Snapshots: pytest-textual-snapshot 1.1.0 pins syrupy 4.8, which has no --snapshot-dirname, so
# its SVG extension's `dirname` is pointed at the repo's snapshots/ folder here. A test in
# tests/tui/test_dashboard.py keeps its SVGs in snapshots/tui/test_dashboard/<name>.svg.
# (The TUI tests rely on this; keep the layout stable or move the SVGs with it.)
def _install_snapshot_dirname() -> None:
    try:
        from pytest_textual_snapshot import SVGImageExtension
    except ImportError:  # the plugin is a test dependency; without it there are no snapshots
        return

    tests_root = Path(__file__).resolve().parent

    def dirname(cls, *, test_location) -> str:  # noqa: ANN001
        test_file = Path(test_location.filepath).resolve()
        try:
            rel = test_file.parent.relative_to(tests_root)
        except ValueError:
            rel = Path()
        return str(SNAPSHOTS / rel / test_location.basename)

    SVGImageExtension.dirname = classmethod(dirname)  # type: ignore[method-assign]


_install_snapshot_dirname()

# CI replays the same examples every run (derandomized): a property failure there is a real,
# reproducible one; developers' runs keep exploring new examples.
try:
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI") == "true":
        _hypothesis_settings.load_profile("ci")
except ImportError:
    pass

# The watch window after every switch lasts 60 s by default; tests that do not set
# `[environments.<env>.watch] seconds` in their cockpit.toml get none (cockpit.watch reads this
# as the default; tests of the window set their own seconds). Subprocesses inherit it.
os.environ.setdefault("COCKPIT_WATCH_SECONDS", "0")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab():  # -> cockpit.lab.LabEnv
    from cockpit import lab as cockpit_lab

    env = cockpit_lab.up()
    os.environ.update(env.as_env())
    return env


@pytest.fixture
def tmp_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(state))
    return state


@pytest.fixture
def keyring_backend(lab) -> Iterator[object]:  # noqa: ANN001
    """SecretService on the lab's session bus, made the `keyring` package's active backend.

    Set explicitly rather than re-detected: fake backends that other tests define (subclasses
    of KeyringBackend register themselves) would otherwise make keyring pick its chainer.
    A subprocess (e.g. the `cockpit` CLI) started with the lab's environment detects
    SecretService on its own. The previous backend is restored afterwards.

    The lab's keyring is one per machine: two test sessions at once (two developers' runs, a
    run beside `scripts/test`) would read and clean up each other's items (the same app and
    environment names), so a test holds the lab-wide lock `keyring-tests.lock` while it uses
    the keyring. A single run (CI) never waits on it.
    """
    import keyring
    from keyring.backends import SecretService

    os.environ["DBUS_SESSION_BUS_ADDRESS"] = lab.dbus_session_bus_address
    assert SecretService.Keyring.viable, "SecretService is not usable on the lab's D-Bus session"
    previous = keyring.get_keyring()
    backend = SecretService.Keyring()
    with keyring_lock(lab):
        keyring.set_keyring(backend)
        try:
            yield backend
        finally:
            keyring.set_keyring(previous)


@contextlib.contextmanager
def closing_contexts() -> Iterator[list]:
    """A list for the Contexts a fixture makes; when the block ends each one's providers are
    closed (`Provider.close`: API clients, watches) and then its state store."""
    made: list = []
    try:
        yield made
    finally:
        for ctx in made:
            for provider in getattr(ctx, "_providers", {}).values():
                provider.close()
            ctx.store.close()


_keyring_lock_depth = 0  # this process's holds of the lab-wide keyring lock


@contextlib.contextmanager
def keyring_lock(lab) -> Iterator[None]:  # noqa: ANN001
    """Hold the lab-wide `keyring-tests.lock` (flock), re-entrantly within this process: a
    session fixture that keeps keyring items for many tests (tests/vps) holds it for the whole
    session, and the per-test `keyring_backend` inside it does not wait on itself (two flocks
    of one file in one process would)."""
    import fcntl

    global _keyring_lock_depth
    if _keyring_lock_depth:
        _keyring_lock_depth += 1
        try:
            yield
        finally:
            _keyring_lock_depth -= 1
        return
    with open(Path(lab.lab_dir) / "keyring-tests.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        _keyring_lock_depth = 1
        try:
            yield
        finally:
            _keyring_lock_depth = 0


@contextlib.contextmanager
def lab_keyring(lab) -> Iterator[object]:  # noqa: ANN001
    """For a module fixture whose app keeps keyring items across its tests (accessory
    passwords): the lab's D-Bus session exported (cockpit subprocesses inherit it), the
    lab-wide keyring lock held (`keyring_lock`) for the block, and the SecretService backend
    to read and delete the app's items with (not made the `keyring` package's active backend:
    `keyring_backend` does that per test)."""
    from keyring.backends import SecretService

    os.environ["DBUS_SESSION_BUS_ADDRESS"] = lab.dbus_session_bus_address
    backend = SecretService.Keyring()
    with keyring_lock(lab):
        yield backend


class KeyringView:
    """The real OS keyring (SecretService over the lab's D-Bus), seen as a mapping of
    (service, name) -> value. Every `cockpit:` item that a test adds, through this view or
    through cockpit itself, is deleted again when the test ends."""

    def __init__(self, backend: object) -> None:
        self.backend = backend

    def __getitem__(self, key: tuple[str, str]) -> str:
        value = self.backend.get_password(*key)  # type: ignore[attr-defined]
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: tuple[str, str], value: str) -> None:
        self.backend.set_password(*key, value)  # type: ignore[attr-defined]

    def __contains__(self, key: object) -> bool:
        return self.backend.get_password(*key) is not None  # type: ignore[attr-defined,misc]

    def get(self, key: tuple[str, str], default: str | None = None) -> str | None:
        value = self.backend.get_password(*key)  # type: ignore[attr-defined]
        return default if value is None else value

    def pop(self, key: tuple[str, str]) -> str:
        value = self[key]
        self.backend.delete_password(*key)  # type: ignore[attr-defined]
        return value


def _cockpit_items(backend: object) -> set[tuple[str, str]]:
    collection = backend.get_preferred_collection()  # type: ignore[attr-defined]
    found = set()
    for item in collection.get_all_items():
        attrs = item.get_attributes()
        if attrs.get("service", "").startswith("cockpit:"):
            found.add((attrs["service"], attrs.get("username", "")))
    return found


@pytest.fixture
def os_keyring(keyring_backend) -> Iterator[KeyringView]:  # noqa: ANN001
    """The real keyring for a test; what the test adds under `cockpit:` is removed after."""
    before = _cockpit_items(keyring_backend)
    yield KeyringView(keyring_backend)
    for service, name in _cockpit_items(keyring_backend) - before:
        try:
            keyring_backend.delete_password(service, name)
        except Exception:  # already gone
            pass


@pytest.fixture
def no_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Snapshot frames without a blinking cursor, and a fixed operator identity (who deployed
    shows user@hostname otherwise, which differs between machines)."""
    from textual.widgets import Input

    from tests.tui_snapshots import OPERATOR

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(Input, "cursor_blink", False)
    monkeypatch.setenv("COCKPIT_OPERATOR", OPERATOR)
    monkeypatch.setenv("COCKPIT_SECRETS_DIGEST_KEY", "snapshot-digest-key")  # stable digests


@pytest.fixture
def steady_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's probes stay real (status, verdict); only their milliseconds are pinned."""
    import dataclasses

    from cockpit.session import Session
    from tests.tui_snapshots import LATENCY_MS

    real = Session.health

    def health(self, env_name, live=None):  # noqa: ANN001
        sample = real(self, env_name, live)
        if sample is None or sample.latency_ms is None:
            return sample
        return dataclasses.replace(sample, latency_ms=LATENCY_MS)

    monkeypatch.setattr(Session, "health", health)
