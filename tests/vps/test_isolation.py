"""network = "host" on a protected environment is refused unless allowed, with file, line, key
and why; refused by `cockpit setup` and by a deploy's plan before anything on the host changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.errors import ConfigError

TOML = """[app]
name = "iso"
port = 8000

[environments.staging]
provider = "vps"
host = "127.0.0.1"
ssh_port = 1
host_port = 9100
network = "host"

[environments.prod]
provider = "vps"
host = "127.0.0.1"
ssh_port = 1
host_port = 9200
network = "host"
{allow}
"""


def _config(allow: str = ""):
    from cockpit.config import loads

    return loads(TOML.format(allow=allow), "cockpit.toml")


def test_host_network_is_refused_for_a_protected_environment_naming_the_line():
    from cockpit.providers.vps.isolation import check_network

    cfg = _config()
    check_network(cfg, cfg.env("staging"))  # not protected: as configured
    with pytest.raises(ConfigError) as info:
        check_network(cfg, cfg.env("prod"))
    err = info.value
    assert err.where == "cockpit.toml:17:11"
    assert err.what.startswith('environments.prod.network: "host" is refused for the '
                               "protected environment prod")
    assert "slot and host ports" in err.what and "allow_host_network = true" in err.hint
    assert err.exit_code == 2


def test_allow_host_network_lets_a_protected_environment_share_the_host_network():
    from cockpit.providers.vps.isolation import check_network

    cfg = _config("allow_host_network = true")
    check_network(cfg, cfg.env("prod"))
    from cockpit.config import loads

    bridge = loads(TOML.format(allow="").replace('network = "host"', 'network = "bridge"'))
    check_network(bridge, bridge.env("prod"))


def test_setup_and_plan_refuse_before_connecting(tmp_path: Path):
    (tmp_path / "cockpit.toml").write_text(TOML.format(allow=""))
    for args in (["setup", "prod", "--confirm", "prod"], ["plan", "prod", "--image", "x:1"]):
        proc = subprocess.run([sys.executable, "-m", "cockpit", *args, "--json"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                   "COCKPIT_STATE_DIR": str(tmp_path / "state"),
                                   "COCKPIT_SECRETS_DIGEST_KEY": "k" * 32})
        assert proc.returncode == 2, (args, proc.stdout[-2000:], proc.stderr[-2000:])
        assert "cockpit.toml:17:11" in proc.stdout and "allow_host_network" in proc.stdout
        assert "cannot connect" not in proc.stdout  # refused before any SSH
