"""Start-up hygiene: the CLI does not load Textual, and the TUI's first frame loads none of
kubernetes, docker or paramiko (checked in fresh interpreters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TOML = """\
[app]
name = "hygiene"

[environments.staging]
provider = "vps"
host = "127.0.0.1"
ssh_port = 1
host_port = 8101
"""


def test_cli_import_loads_no_textual():
    code = ("import sys, cockpit.cli; "
            "print([m for m in sys.modules if m.split('.')[0] in "
            "('textual', 'kubernetes', 'docker', 'paramiko')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_first_frame_of_the_dashboard_imports_no_heavy_library(tmp_path: Path):
    (tmp_path / "cockpit.toml").write_text(TOML)
    marker = tmp_path / "frame.json"
    env = dict(os.environ, COCKPIT_TUI_FIRST_FRAME=str(marker),
               COCKPIT_STATE_DIR=str(tmp_path / "state"))
    subprocess.run([sys.executable, "-m", "cockpit", f"--config={tmp_path / 'cockpit.toml'}"],
                   cwd=tmp_path, env=env, check=True, timeout=60, capture_output=True)
    frame = json.loads(marker.read_text())
    assert frame["screen"] == "DashboardScreen"
    assert frame["heavy"] == []


def test_cockpit_init_interactive_opens_the_wizard(tmp_path: Path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\nEXPOSE 8080\n")
    marker = tmp_path / "frame.json"
    env = dict(os.environ, COCKPIT_TUI_FIRST_FRAME=str(marker),
               COCKPIT_STATE_DIR=str(tmp_path / "state"))
    subprocess.run([sys.executable, "-m", "cockpit", "init", "--interactive", str(tmp_path)],
                   cwd=tmp_path, env=env, check=True, timeout=60, capture_output=True)
    frame = json.loads(marker.read_text())
    assert frame["screen"] == "WizardScreen"
    assert not (tmp_path / "cockpit.toml").exists()  # nothing is written before the review
