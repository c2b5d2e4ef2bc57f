"""The emulator keeps the API's contract (reference: shared/reference/fly.md §2)."""

from __future__ import annotations

import time

import httpx
import pytest

from .conftest import IMAGE_V1, TOKEN

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def client(emu):
    emu.create_app("app1", "acme")
    with httpx.Client(base_url=emu.api_url, headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=10) as c:
        yield c


def _machine(client, **body):
    r = client.post("/apps/app1/machines", json={"config": {"image": IMAGE_V1,
                                                            "checks": {"h": {}}}, **body})
    assert r.status_code == 200
    return r.json()


def test_auth_accepts_bearer_and_flyv1_and_rejects_others(emu, client):
    assert client.get("/apps/app1").status_code == 200
    assert httpx.get(emu.api_url + "/apps/app1",
                     headers={"Authorization": f"FlyV1 {TOKEN}"}).status_code == 200
    r = httpx.get(emu.api_url + "/apps/app1", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and "error" in r.json()
    assert "fly-request-id" in r.headers


def test_machine_lifecycle_events_and_wait(client):
    m = _machine(client)
    assert m["state"] == "created" and m["instance_id"]
    r = client.get(f"/apps/app1/machines/{m['id']}/wait",
                   params={"state": "started", "timeout": 5, "version": m["instance_id"]})
    assert r.status_code == 200 and r.json()["state"] == "started"
    got = client.get(f"/apps/app1/machines/{m['id']}").json()
    assert [e["status"] for e in got["events"]][:2] == ["started", "created"]  # newest first
    r = client.get(f"/apps/app1/machines/{m['id']}/wait", params={
        "state": "stopped", "timeout": 1, "version": m["instance_id"]})
    assert r.status_code == 408
    assert client.get(f"/apps/app1/machines/{m['id']}/wait",
                      params={"state": "started", "timeout": 61}).status_code == 400


def test_lease_envelope_nonce_conflict_and_expiry(client, emu):
    m = _machine(client, skip_launch=True)
    path = f"/apps/app1/machines/{m['id']}"
    r = client.post(path + "/lease", json={"ttl": 1, "description": "mine"})
    assert r.status_code == 201 and r.json()["status"] == "success"
    nonce = r.json()["data"]["nonce"]
    conflict = client.post(path + "/lease", json={"ttl": 5})
    assert conflict.status_code == 409
    assert "lease currently held by ops@example.com" in conflict.json()["message"]
    update = client.post(path, json={"config": {"image": IMAGE_V1}})
    assert update.status_code == 409  # no nonce header
    ok = client.post(path, json={"config": {"image": IMAGE_V1}, "skip_launch": True},
                     headers={"fly-machine-lease-nonce": nonce})
    assert ok.status_code == 200
    time.sleep(1.1)
    assert client.get(path + "/lease").status_code == 404  # expired
    assert client.post(path + "/lease", json={"ttl": 5}).status_code == 201


def test_metadata_endpoints_write_config_metadata(client):
    m = _machine(client, skip_launch=True)
    path = f"/apps/app1/machines/{m['id']}/metadata"
    assert client.post(path + "/team", json={"value": "web"}).status_code == 204
    assert client.get(path).json() == {"team": "web"}
    assert client.get(f"/apps/app1/machines/{m['id']}").json()["config"]["metadata"] == {
        "team": "web"}
    assert client.get("/apps/app1/machines", params={"metadata.team": "web"}).json()
    assert client.delete(path + "/team").status_code == 204
    assert client.get(path).json() == {}


def test_secrets_versions_digests_and_write_only_values(client):
    r = client.post("/apps/app1/secrets", json={"values": {"A": "alpha", "B": "beta"}})
    assert r.json()["version"] == 1 and "value" not in r.json()["secrets"][0]
    assert client.post("/apps/app1/secrets", json={"values": {"A": None}}).json()["version"] == 2
    listed = client.get("/apps/app1/secrets").json()["secrets"]
    assert [s["name"] for s in listed] == ["B"] and listed[0]["digest"]
    assert client.get("/apps/app1/secrets", params={"min_version": 9}).status_code == 422
    bad = client.post("/apps/app1/machines", json={"config": {"image": IMAGE_V1},
                                                   "min_secrets_version": 3})
    assert bad.status_code == 422


def test_destroy_needs_stop_or_force_and_hides_destroyed(client):
    m = _machine(client)
    path = f"/apps/app1/machines/{m['id']}"
    client.get(path + "/wait", params={"state": "started", "timeout": 5})
    assert client.delete(path).status_code == 412
    assert client.delete(path, params={"force": "true"}).status_code == 200
    client.get(path + "/wait", params={"state": "destroyed", "timeout": 5})
    assert client.get("/apps/app1/machines").json() == []
    assert len(client.get("/apps/app1/machines", params={"include_deleted": "true"}).json()) == 1


def test_create_app_errors(emu, client):
    assert client.post("/apps", json={"app_name": "app1", "org_slug": "acme"}).json()[
        "status"] == "name_taken"
    assert client.post("/apps", json={"name": "x2", "org_slug": "other"}).status_code == 403
    assert client.post("/apps", json={"name": "x2", "org_slug": "acme"}).status_code == 201
