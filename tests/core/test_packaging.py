"""The wheel ships screens/ and providers/ inside the cockpit namespace, no generic names."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_has_only_the_cockpit_top_level_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"cockpit"}
    assert "cockpit/providers/vps/__init__.py" in names
    assert "cockpit/screens/__init__.py" in names
    assert "cockpit/session.py" in names and "cockpit/cli/__init__.py" in names
    assert not [n for n in names if n.startswith("cockpit/lab/")], "the lab is not shipped"
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry).decode()
    assert "[cockpit.providers.v1]" in text and "vps = cockpit.providers.vps:VpsProvider" in text
    assert "cockpit = cockpit.cli:main" in text


def test_providers_are_discovered_through_entry_points():
    from importlib.metadata import entry_points

    from cockpit.plugins import GROUP, provider_names

    names = {ep.name for ep in entry_points(group=GROUP)}
    names |= {ep.name for ep in entry_points(group="cockpit.providers")}  # an older install
    assert {"vps", "kubernetes", "fly"} <= names
    assert {"vps", "kubernetes", "fly"} <= set(provider_names())
