"""A provider installed through the versioned entry-point group shows up in `cockpit init
--provider` and in the wizard's provider list; the old group is still read, with a note."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from cockpit import plugins

ROOT = Path(__file__).resolve().parents[2]


def _install(site: Path, group: str = "cockpit.providers.v1") -> None:
    dist = site / "contract_provider-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: contract-provider\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{group}]\ninmemory = tests.contract.memory:MemoryProvider\n")


@pytest.fixture
def installed(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _install(site)
    monkeypatch.syspath_prepend(str(site))
    plugins.clear_cache()
    yield site
    plugins.clear_cache()


def test_an_installed_provider_is_found_and_offered_by_init_and_the_wizard(installed):
    assert "inmemory" in plugins.provider_names()
    assert plugins.provider_class("inmemory").__name__ == "MemoryProvider"
    from cockpit.cli.init import provider_names as init_choices
    from screens.wizard.screen import _provider_names

    assert init_choices()[:3] == ["vps", "kubernetes", "fly"] and "inmemory" in init_choices()
    assert "inmemory" in _provider_names()


def test_cockpit_init_renders_an_installed_provider_from_its_metadata(installed, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), str(ROOT)])}
    out = subprocess.run([sys.executable, "-m", "cockpit", "init", "--provider", "inmemory",
                          "--json"], cwd=app, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr + out.stdout
    text = (app / "cockpit.toml").read_text()
    assert 'provider = "inmemory"' in text and "The in-memory target's name." in text


def test_the_old_group_is_read_with_a_deprecation_note(tmp_path, monkeypatch):
    site = tmp_path / "old"
    _install(site, group="cockpit.providers")
    monkeypatch.syspath_prepend(str(site))
    plugins.clear_cache()
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            names = plugins.provider_names()
        assert "inmemory" in names
        assert any("deprecated" in str(w.message) for w in seen)
    finally:
        plugins.clear_cache()
