"""`cockpit remove ENV` on the lab VPS: an app with a Postgres accessory, an app volume, a
secret and a domain, on staging and prod, beside another app on the same host.

The plan is read from the host and lists each volume with its size; nothing happens without
the environment's name typed (even on staging), while another run holds the deploy lock, or in
a read-only session. A plain remove takes the app's containers, edge route, switch entry, port
claims and host directory, and keeps the accessory, its data and the keyring items; a second
run removes nothing and says so; `--accessories --volumes --secrets` takes the rest. Prod and
the other app keep serving throughout. Own app names and ports; everything is removed at the
end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.stateful_lab import docker, events, remove_app, result
from tests.vps.conftest import LAB_HOME, REPO
from tests.vps.notes_site import Site, build_notes, notes_toml

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(900)]

APP = "rmnotes"
OTHER = "rmother"
PORTS = {"staging": 7410, "prod": 7420}
OTHER_PORT = 7430
ZONE = f"{APP}-{os.urandom(3).hex()}.test"
SECRET = "rm-Secret-Value-4417"


def get(port: int, path: str = "/up") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


@pytest.fixture(scope="module")
def sites(lab, tmp_path_factory):
    """rmnotes on staging (with a domain) and prod, and rmother on its staging, all deployed;
    the module holds the lab's keyring lock and removes everything at the end."""
    from tests.conftest import lab_keyring

    root = tmp_path_factory.mktemp(APP)
    app_dir, other_dir = root / "app", root / "other"
    app_dir.mkdir()
    other_dir.mkdir()
    (app_dir / "cockpit.toml").write_text(notes_toml(
        lab, APP, PORTS, {"staging": f"staging.{ZONE}", "prod": f"prod.{ZONE}"}))
    (other_dir / "cockpit.toml").write_text(f"""[app]
name = "{OTHER}"
port = 8000
health_path = "/up"
{lab.vps_table("staging", OTHER_PORT, network="bridge", edge_ca=False, keep_releases=1,
               gate={"count": 2, "interval": 0.2, "timeout": 3.0, "deadline": 30.0})}""")
    for d in ("state", "other-state"):
        (root / d).mkdir()
    main = Site(lab, app_dir, root / "state")
    other = Site(lab, other_dir, root / "other-state")
    for app in (APP, OTHER):
        remove_app(app, PORTS)
    build_notes(app_dir, f"{APP}:test")
    subprocess.run(["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={lab.base_image}",
                    "-t", f"{OTHER}:test", str(REPO / "examples" / "hello-app")],
                   capture_output=True, check=True, timeout=600)
    trust = ("--trust-host", lab.ssh_hostkey_sha256)
    with lab_keyring(lab) as backend:
        try:
            main.ok("secrets", "set", "staging", "SECRET_KEY", stdin=SECRET)
            for env in PORTS:
                main.ok("setup", env, "--confirm", env, *trust)
                main.ok("deploy", env, "--image", f"{APP}:test", "--confirm", env, "--no-watch")
            other.ok("setup", "staging", *trust)
            other.ok("deploy", "staging", "--image", f"{OTHER}:test", "--no-watch")
            yield {"main": main, "other": other, "backend": backend, "lab": lab}
        finally:  # cockpit remove takes the edge sites and switch entries too
            for env in PORTS:
                main("remove", env, "--accessories", "--volumes", "--confirm", env)
            other("remove", "staging", "--confirm", "staging")
            main.clean_up(APP, PORTS, backend)
            other.clean_up(OTHER, PORTS, backend)


def keyring_item(sites, env: str, name: str) -> str | None:
    return sites["backend"].get_password(f"cockpit:{APP}:{env}", name)


def containers(label: str) -> list[str]:
    return docker("ps", "-a", "--format", "{{.Names}}", "--filter", label).split()


def registry_claims() -> dict:
    """The lab host's port registry (the tests run as a user who can read it)."""
    return json.loads((LAB_HOME / ".cockpit" / "ports.json").read_text()).get("claims", {})


def host_path(*parts: str) -> Path:
    return LAB_HOME.joinpath(".cockpit", *parts)


def exists_on_host(path: Path) -> bool:
    return path.exists()


def serving(sites) -> None:
    """Prod of rmnotes (on its port and through the edge, which reloaded without staging's
    site) and staging of rmother answer their health checks."""
    from tests.stateful_lab import edge_request

    assert get(PORTS["prod"]) == 200
    assert edge_request(sites["lab"], f"prod.{ZONE}", "GET", "/up")[0] == 200
    assert get(OTHER_PORT) == 200


def edge_serves(sites, domain: str) -> bool:
    from tests.stateful_lab import edge_request

    try:
        return edge_request(sites["lab"], domain, "GET", "/up", timeout=5)[0] == 200
    except OSError:  # no site: Caddy ends the TLS handshake
        return False


def test_the_plan_lists_what_it_would_remove_with_volume_sizes_and_changes_nothing(sites):
    main = sites["main"]
    proc = main.ok("remove", "staging", "--accessories", "--volumes", "--secrets", "--dry-run",
                   "--json")
    data = result(proc)["data"]
    plan = data["plan"]
    assert data["removed"] == [] and data["dry_run"]
    assert plan["containers"] and all(c.startswith(f"{APP}-staging-") for c in plan["containers"])
    assert plan["edge_site"].endswith(f"/edge/sites/{APP}-staging.caddy")
    assert plan["switch_entry"].endswith(f"/switch/envs/{APP}-staging.cfg")
    assert plan["port_claim"] == [7410, 7411, 7412]
    assert plan["host_dir"].endswith(f"/apps/{APP}/staging")
    assert plan["accessories"] == [f"cockpit-{APP}-staging-postgres"]
    assert plan["network"] == f"cockpit-{APP}-staging"
    vols = {v["volume"]: v for v in plan["volumes"]}
    assert set(vols) == {f"cockpit-{APP}-staging-data", f"cockpit-{APP}-staging-postgres-data"}
    assert all(v["size"] and v["remove"] for v in vols.values())  # each with its size
    assert vols[f"cockpit-{APP}-staging-postgres-data"]["accessory"] == "postgres"
    assert set(plan["secrets"]) == {"SECRET_KEY", "ACCESSORY_POSTGRES_PASSWORD"}
    shown = [e for e in events(proc) if e.get("type") == "plan"][0]
    assert shown["action"] == "remove" and {s["id"] for s in shown["steps"]} >= {
        "edge", "switch", "containers", "volumes", "accessories", "accessory_volumes",
        "host_dir", "ports", "secrets"}
    assert get(PORTS["staging"]) == 200  # nothing changed
    assert edge_serves(sites, f"staging.{ZONE}")
    serving(sites)
    assert containers(f"label=cockpit.accessory-app={APP}")
    # the data volumes only with --volumes (never implied); a plain plan keeps and says so
    plain = result(main.ok("remove", "staging", "--dry-run", "--json"))["data"]["plan"]
    assert not any(v["remove"] for v in plain["volumes"])
    assert plain["accessories"] == [] and plain["secrets"] == []
    assert any("--volumes" in k for k in plain["kept"])
    assert any("--accessories" in k for k in plain["kept"])
    # --volumes without --accessories would take the database from under a running accessory
    refused = main("remove", "staging", "--volumes", "--confirm", "staging", "--json")
    assert refused.returncode == 2 and "--accessories" in result(refused)["error"]


def test_nothing_is_removed_without_the_name_typed_even_on_staging(sites):
    main = sites["main"]
    for extra in ([], ["--confirm", "prod"]):
        proc = main("remove", "staging", *extra, "--json")
        assert proc.returncode == 5, proc.stdout + proc.stderr
        assert "--confirm staging" in (result(proc).get("hint") or "")
    assert get(PORTS["staging"]) == 200


def test_refused_while_another_run_holds_the_deploy_lock(sites, monkeypatch):
    from cockpit import config, pipeline
    from cockpit.events import Message  # noqa: F401 - the emitter's events
    from cockpit.provider import Context, Options
    from cockpit.secrets import SecretStore
    from cockpit.state import Store

    main = sites["main"]
    monkeypatch.setenv("COCKPIT_STATE_DIR", main.env["COCKPIT_STATE_DIR"])
    cfg = config.load(main.dir / "cockpit.toml")
    store = Store.open(APP)
    ctx = Context(config=cfg, store=store, secrets=SecretStore(APP),
                  options=Options(trust_host=[sites["lab"].ssh_hostkey_sha256]))
    env = cfg.env("staging")
    try:
        with pipeline.deploy_lock(ctx, env, "deploy", lambda e: None):
            proc = main("remove", "staging", "--confirm", "staging", "--json")
        assert proc.returncode == 4, proc.stdout + proc.stderr
        assert "being changed by" in result(proc)["error"]
    finally:
        pipeline.provider_for(ctx, env).close()
        store.close()
    assert get(PORTS["staging"]) == 200  # nothing removed


def test_an_agents_read_only_session_is_refused(sites, monkeypatch):
    from cockpit.cli import _common, remove
    from cockpit.errors import Refused

    main = sites["main"]
    monkeypatch.chdir(main.dir)
    for key, value in main.env.items():
        if key.startswith("COCKPIT_") or key in ("DBUS_SESSION_BUS_ADDRESS",):
            monkeypatch.setenv(key, value)

    def read_only(args):
        ctx = _common.load_context(args)
        ctx.options.read_only = True
        return ctx

    monkeypatch.setattr(remove, "load_context", read_only)
    args = argparse.Namespace(env="staging", accessories=False, volumes=False, secrets=False,
                              confirm="staging", dry_run=False, json=True, config=None,
                              debug=False, trust_host=[])
    with pytest.raises(Refused, match="read-only"):
        remove.run(args)
    assert get(PORTS["staging"]) == 200


def test_remove_takes_the_app_and_keeps_accessories_data_and_secrets(sites, monkeypatch):
    from cockpit.state import Store

    main = sites["main"]
    monkeypatch.setenv("COCKPIT_STATE_DIR", main.env["COCKPIT_STATE_DIR"])
    store = Store.open(APP)  # an interrupted deploy: nothing is left for a reconcile after
    store.begin_run("staging", "deploy")
    store.close()
    proc = main.ok("remove", "staging", "--confirm", "staging", "--json")
    store = Store.open(APP)
    assert store.unfinished_runs("staging") == []
    assert [(r.command, r.status) for r in store.runs("staging", limit=1)] == [("remove", "ok")]
    assert {r.status for r in store.releases("staging")} == {"removed"}
    store.close()
    done = result(proc)["data"]["removed"]
    assert any(d.startswith("edge route") for d in done)
    assert any(d.startswith("switch entry") for d in done)
    assert any(d.startswith(f"container {APP}-staging-") for d in done)
    assert "port claim 7410, 7411, 7412" in done
    finished = [e["step"] for e in events(proc) if e.get("type") == "step_finished"]
    assert finished[:1] == ["lock"] and finished[-1] == "unlock"
    # the app is gone from staging: containers, edge site, switch entry, claims, directory
    assert not [c for c in containers(f"label=cockpit.app={APP}")
                if c.startswith(f"{APP}-staging")]
    assert not exists_on_host(host_path("edge", "sites", f"{APP}-staging.caddy"))
    assert not exists_on_host(host_path("switch", "envs", f"{APP}-staging.cfg"))
    assert get(PORTS["staging"]) == 0  # the switch no longer listens on its port
    assert not edge_serves(sites, f"staging.{ZONE}")  # nor the edge for its domain
    assert f"{APP}/staging" not in registry_claims()
    assert f"{APP}/prod" in registry_claims() and f"{OTHER}/staging" in registry_claims()
    assert not exists_on_host(host_path("apps", APP, "staging", "releases"))
    # kept: the accessory (running, healthy), its data, the keyring items
    info = json.loads(docker("inspect", f"cockpit-{APP}-staging-postgres"))[0]
    assert info["State"]["Health"]["Status"] == "healthy"
    assert docker("volume", "ls", "-q", "--filter", f"name=cockpit-{APP}-staging-postgres-data")
    assert keyring_item(sites, "staging", "SECRET_KEY") == SECRET
    # prod and the other app keep serving
    serving(sites)
    # journalled and audited
    entries = result(main.ok("audit", "--env", "staging", "--json"))["data"]["entries"]
    assert any(e["command"] == "remove" and e["result"] == "ok" for e in entries)


def test_a_second_run_removes_nothing_and_says_so(sites):
    main = sites["main"]
    proc = main.ok("remove", "staging", "--confirm", "staging", "--json")
    data = result(proc)["data"]
    assert data["nothing"] and data["removed"] == []
    human = main.ok("remove", "staging", "--confirm", "staging")
    assert "nothing to remove" in human.stdout
    serving(sites)


def test_accessories_volumes_and_secrets_go_only_when_asked(sites):
    main = sites["main"]
    proc = main.ok("remove", "staging", "--accessories", "--volumes", "--secrets",
                   "--confirm", "staging", "--json")
    done = result(proc)["data"]["removed"]
    assert f"accessory container cockpit-{APP}-staging-postgres" in done
    assert f"volume cockpit-{APP}-staging-postgres-data" in done
    assert f"volume cockpit-{APP}-staging-data" in done
    assert "keyring item SECRET_KEY" in done and "keyring item ACCESSORY_POSTGRES_PASSWORD" in done
    assert not [c for c in containers(f"label=cockpit.accessory-app={APP}")
                if c.startswith(f"cockpit-{APP}-staging")]
    assert not docker("volume", "ls", "-q", "--filter", f"name=cockpit-{APP}-staging-")
    assert docker("network", "ls", "-q", "--filter", f"name=cockpit-{APP}-staging",
                  check=False) == ""
    assert keyring_item(sites, "staging", "SECRET_KEY") is None
    assert keyring_item(sites, "staging", "ACCESSORY_POSTGRES_PASSWORD") is None
    assert not exists_on_host(host_path("apps", APP, "staging"))
    # prod's accessory, data and password are untouched; prod and the other app serve
    assert keyring_item(sites, "prod", "ACCESSORY_POSTGRES_PASSWORD")
    prod = json.loads(docker("inspect", f"cockpit-{APP}-prod-postgres"))[0]
    assert prod["State"]["Health"]["Status"] == "healthy"
    serving(sites)
    again = result(main.ok("remove", "staging", "--accessories", "--volumes", "--secrets",
                           "--confirm", "staging", "--json"))["data"]
    assert again["nothing"]
    assert all(SECRET not in text for text in main.outputs)
