"""The lab cockpit.toml writes a key only where it means something: `allow_host_network`
lets a protected environment use `network = "host"`, so it is written beside the host
network and never beside `network = "bridge"` (an app with accessories)."""

from __future__ import annotations

import tomllib

import pytest

from cockpit.config import loads
from cockpit.template import render

LAB = {"host": "127.0.0.1", "user": "deploy", "ssh_port": 2222, "ssh_key": "/k/id",
       "http_port": 8080, "https_port": 8443, "dns": "127.0.0.1:8053", "registry": "",
       "acme_ca": "https://127.0.0.1:14000/dir", "acme_ca_root": "/a/ca.pem",
       "acme_issuer_root": "/a/root.pem", "caddy_admin": "", "base_image": "b", "hostkey": ""}


@pytest.mark.parametrize("accessories", [[], ["postgres"]], ids=["host", "bridge"])
def test_allow_host_network_only_beside_the_host_network(tmp_path, accessories):
    text = render("notes-api", "vps", 8000, "/healthz", [], vps=LAB, lab=LAB,
                  accessories=accessories)
    data = tomllib.loads(text)
    for name, table in data["environments"].items():
        assert ("allow_host_network" in table) == (table["network"] == "host"), (name, table)
    assert (data["environments"]["prod"]["network"] == "bridge") == bool(accessories)
    loads(text, tmp_path / "cockpit.toml")  # still a valid config either way
