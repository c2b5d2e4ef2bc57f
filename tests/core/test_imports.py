"""Start-up hygiene: the CLI and the core load no heavy library until a command needs it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("textual", "paramiko", "kubernetes", "docker", "httpx", "cryptography")


def loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    return {name.split(".")[0] for name in out}


def test_cli_parser_and_config_load_import_no_heavy_library(tmp_path):
    (tmp_path / "cockpit.toml").write_text(
        '[app]\nname = "a"\n[environments.staging]\nprovider = "vps"\nhost = "h"\n'
        '[environments.k]\nprovider = "kubernetes"\nnamespace = "k"\n'
        '[environments.f]\nprovider = "fly"\napp = "a-f"\n')
    code = (
        "import cockpit.cli, cockpit.config, cockpit.pipeline, cockpit.state, cockpit.secrets\n"
        "cockpit.cli.build_parser()\n"
        f"cockpit.config.load({str(tmp_path / 'cockpit.toml')!r})\n"
    )
    loaded = loaded_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_core_never_imports_the_lab_or_textual():
    loaded = loaded_after("import cockpit.pipeline, cockpit.output, cockpit.provider")
    assert "textual" not in loaded
    out = subprocess.run([sys.executable, "-c", "import cockpit.pipeline, sys; "
                          "print('cockpit.lab' in sys.modules)"], capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_the_mcp_sdk_is_loaded_only_by_cockpit_mcp():
    """The SDK costs ~0.7 s: neither the CLI's start-up nor the TUI's app module loads it."""
    assert "mcp" not in loaded_after("import cockpit.cli; cockpit.cli.build_parser()")
    assert "mcp" not in loaded_after("import cockpit.screens.app, cockpit.plans, cockpit.agent."
                                     "tools")
    assert "mcp" in loaded_after("import cockpit.agent.server")
