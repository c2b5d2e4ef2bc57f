"""TUI fixtures: an app over the in-memory provider with a fixed clock, isolated state and the
real OS keyring (`os_keyring`, tests/conftest.py); snapshots go to snapshots/tui/<module>/."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from memory_provider import T0, TARGETS, seed  # noqa: E402

TOML = """\
# test app for the TUI
[app]
name = "hello"
port = 8000
health_path = "/up"

[environments.staging]
provider = "memory"
domain = "staging.hello.test"

[environments.prod]
provider = "memory"
domain = "hello.test"
replicas = 2

[secrets]
staging = ["SECRET_KEY"]
prod = ["SECRET_KEY", "DATABASE_URL"]
"""


def register_memory_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make provider = "memory" resolvable for this test only (undone afterwards)."""
    from cockpit import plugins

    monkeypatch.setitem(plugins._targets(), "memory", "memory_provider:MemoryProvider")


# The keyring items the TUI tests store or show: the app is "hello" (examples/hello-app too).
ITEMS = [("cockpit:hello:staging", "SECRET_KEY"), ("cockpit:hello:prod", "SECRET_KEY"),
         ("cockpit:hello:prod", "DATABASE_URL")]


@pytest.fixture
def hello_aside(os_keyring) -> Iterator[None]:  # noqa: ANN001
    """None of ITEMS in the real keyring when the test starts. The lab's keyring is shared
    (scripts/demo keeps the hello app's SECRET_KEY there): a value another run left is set aside
    and put back afterwards, so no screen shows a secret as set because of another run and no
    test overwrites someone else's value for good. Depends on `os_keyring`, so this is undone
    first; `os_keyring` then removes whatever else the test stored under `cockpit:`.

    Not a lock: a session running at the same time with the same items (tests/k8s and tests/fly
    drive the wizard on examples/hello-app too) still races with this one."""
    aside = {key: value for key in ITEMS if (value := _take(os_keyring, key)) is not None}
    try:
        yield
    finally:
        for key in ITEMS:
            _take(os_keyring, key)
        for key, value in aside.items():
            os_keyring[key] = value


def _take(view, key: tuple[str, str]) -> str | None:  # noqa: ANN001
    """Remove one item and return its value; None when there is none (or it just went)."""
    from keyring.errors import PasswordDeleteError

    try:
        return view.pop(key)
    except (KeyError, PasswordDeleteError):
        return None


@pytest.fixture
def project(tmp_path: Path, tmp_state: Path, os_keyring, hello_aside: None,
            monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configured project over the memory provider, two environments, seeded history."""
    register_memory_provider(monkeypatch)
    TARGETS.clear()
    seed("memory/hello-staging", "hello", "staging", 3)
    seed("memory/hello-prod", "hello", "prod", 2)
    path = tmp_path / "cockpit.toml"
    path.write_text(TOML)
    os_keyring[("cockpit:hello:staging", "SECRET_KEY")] = "staging-secret-value"
    os_keyring[("cockpit:hello:prod", "SECRET_KEY")] = "prod-secret-value"
    os_keyring[("cockpit:hello:prod", "DATABASE_URL")] = "postgres://prod-db"
    return path


def make_context(path: Path):
    from cockpit import config
    from cockpit.provider import Context, Options
    from cockpit.secrets import SecretStore
    from cockpit.state import Store

    cfg = config.load(path)
    return Context(config=cfg, store=Store.open(cfg.app.name, clock=lambda: T0),
                   secrets=SecretStore(cfg.app.name), options=Options(), clock=lambda: T0)


@pytest.fixture
def app(project: Path):
    from cockpit.screens.app import CockpitApp

    from cockpit.session import Session

    return CockpitApp(Session(project, ctx=make_context(project)), poll_interval=3600)


@pytest.fixture
def schema_app(project: Path):
    """The app over targets whose releases recorded Alembic schema heads (staging: r001..r003,
    prod: r001..r002; `memory_provider.record_schema_heads`): rolling back is onto another
    head."""
    from cockpit.screens.app import CockpitApp
    from memory_provider import record_schema_heads

    from cockpit.session import Session

    record_schema_heads("memory/hello-staging")
    record_schema_heads("memory/hello-prod")
    return CockpitApp(Session(project, ctx=make_context(project)), poll_interval=3600)


# Async tests run on anyio's pytest plugin (anyio comes with httpx; no pytest-asyncio needed):
# each async test module sets `pytestmark = pytest.mark.anyio`.
@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"



@pytest.fixture
def fresh(tmp_path: Path, tmp_state: Path, hello_aside: None,
          monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/hello-app with no cockpit.toml: the wizard's first run."""
    from tests.tui_snapshots import hello_project

    register_memory_provider(monkeypatch)
    TARGETS.clear()
    return hello_project(tmp_path, monkeypatch)


@pytest.fixture
def wizard_app(fresh: Path):
    from tests.tui_snapshots import wizard

    return wizard(fresh)



REPO = Path(__file__).resolve().parents[2]
FLASK_DEBUG = REPO / "tests" / "scan" / "apps" / "flask-debug"


def corpus_app_source() -> Path:
    """A real-world-shaped app with fixable findings and no Dockerfile: the corpus's Flask
    tutorial app when tests/corpus has it, else tests/scan/apps/flask-debug."""
    corpus = REPO / "tests" / "corpus" / "apps" / "flask-tutorial"
    return corpus if (corpus / "pyproject.toml").is_file() else FLASK_DEBUG


def _copy_app(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of `src` under its own folder name (no corpus.toml, cockpit.toml, instance data,
    caches), no lab variables, the memory provider registered."""
    import shutil

    from tests.tui_snapshots import clean_lab_env

    clean_lab_env(monkeypatch)
    register_memory_provider(monkeypatch)
    TARGETS.clear()
    root = tmp_path / src.name
    shutil.copytree(src, root, ignore=shutil.ignore_patterns(
        "corpus.toml", "cockpit.toml", "*.sqlite", "__pycache__", ".pytest_cache"))
    return root


@pytest.fixture
def corpus_app(tmp_path: Path, tmp_state: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of `corpus_app_source()`: the wizard's scan step has fixes and files to write."""
    return _copy_app(corpus_app_source(), tmp_path, monkeypatch)


@pytest.fixture
def flask_debug_wizard(tmp_path: Path, tmp_state: Path, monkeypatch: pytest.MonkeyPatch):
    """The wizard on a copy of tests/scan/apps/flask-debug (stable input for snapshots)."""
    from tests.tui_snapshots import wizard

    return wizard(_copy_app(FLASK_DEBUG, tmp_path, monkeypatch))
