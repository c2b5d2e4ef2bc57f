"""The emulator behaves like the API server and controllers where the provider relies on it.

Spoken to only through the real `kubernetes` client over HTTP, like the provider does.
"""

from __future__ import annotations

import json
import threading

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from .emulator import REVISION, REVISION_HISTORY

pytestmark = pytest.mark.timeout(60)
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def api(emulator, tmp_path):
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t"}})
    yield core, apps
    api_client.close()


def deployment(image: str, replicas: int = 3, max_unavailable: int = 0) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"rollingUpdate": {"maxUnavailable": max_unavailable,
                                                    "maxSurge": 1}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def apply(apps, body: dict) -> dict:
    resp = apps.patch_namespaced_deployment("web", "t", body, field_manager="test", force=True,
                                            _content_type=APPLY, _preload_content=False)
    return json.loads(resp.data)


def read(apps) -> dict:
    return json.loads(apps.read_namespaced_deployment("web", "t", _preload_content=False).data)


def rolled_out(apps, replicas: int = 3) -> bool:
    d = read(apps)
    st = d.get("status") or {}
    return (st.get("observedGeneration") == d["metadata"]["generation"]
            and st.get("updatedReplicas") == replicas == st.get("availableReplicas")
            and st.get("replicas") == replicas)


def test_a_rolling_update_with_max_unavailable_0_never_drops_below_desired(api, emulator):
    core, apps = api
    apply(apps, deployment("img@sha256:" + "1" * 64))
    emulator.wait_for(lambda: rolled_out(apps))
    seen: list[int] = []
    w = watch.Watch()

    def observe() -> None:
        from urllib3.exceptions import ProtocolError

        try:
            for event in w.stream(apps.list_namespaced_deployment, "t", timeout_seconds=20):
                st = event["raw_object"].get("status") or {}
                seen.append(st.get("availableReplicas") or 0)
        except ProtocolError:  # w.stop() shuts the socket down under the reader
            pass

    t = threading.Thread(target=observe, daemon=True)
    t.start()
    apply(apps, deployment("img@sha256:" + "2" * 64))
    emulator.wait_for(lambda: rolled_out(apps) and read(apps)["metadata"]["annotations"][
        REVISION] == "2")
    w.stop()
    assert len(seen) > 3 and min(seen) >= 3


def test_undo_reuses_the_old_replicaset_under_a_new_revision(api, emulator):
    _, apps = api
    apply(apps, deployment("img@sha256:" + "1" * 64, replicas=1))
    emulator.wait_for(lambda: rolled_out(apps, 1))
    apply(apps, deployment("img@sha256:" + "2" * 64, replicas=1))
    emulator.wait_for(lambda: read(apps)["metadata"]["annotations"][REVISION] == "2")
    emulator.wait_for(lambda: rolled_out(apps, 1))
    old = [rs for rs in emulator.list("apps/v1", "replicasets", "t")
           if rs["metadata"]["annotations"][REVISION] == "1"][0]
    template = old["spec"]["template"]
    template["metadata"]["labels"].pop("pod-template-hash")
    apps.patch_namespaced_deployment("web", "t", [
        {"op": "replace", "path": "/spec/template", "value": template}],
        _content_type="application/json-patch+json")
    emulator.wait_for(lambda: read(apps)["metadata"]["annotations"][REVISION] == "3")
    reused = emulator.get("apps/v1", "replicasets", "t", old["metadata"]["name"])
    assert reused["metadata"]["annotations"][REVISION] == "3"
    assert reused["metadata"]["annotations"][REVISION_HISTORY] == "1"
    assert len(emulator.list("apps/v1", "replicasets", "t")) == 2


def test_watch_resumes_from_a_resource_version(api, emulator):
    core, _ = api
    listed = json.loads(core.list_namespaced_config_map("t", _preload_content=False).data)
    rv = listed["metadata"]["resourceVersion"]
    core.create_namespaced_config_map("t", {"metadata": {"name": "a"}, "data": {"k": "1"}})
    core.patch_namespaced_config_map("a", "t", {"data": {"k": "2"}})
    core.delete_namespaced_config_map("a", "t")
    events = [(e["type"], (e["raw_object"].get("data") or {}).get("k")) for e in watch.Watch()
              .stream(core.list_namespaced_config_map, "t", resource_version=rv,
                      timeout_seconds=1)]
    assert events == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


def test_errors_are_status_objects_the_client_understands(api):
    core, _ = api
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_secret("nope", "t")
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["reason"] == "NotFound"
    body = {"metadata": {"name": "s"}, "immutable": True, "data": {"k": "MQ=="}}
    core.create_namespaced_secret("t", body)
    with pytest.raises(ApiException) as dup:
        core.create_namespaced_secret("t", body)
    assert dup.value.status == 409
    with pytest.raises(ApiException) as immutable:
        core.patch_namespaced_secret("s", "t", {"data": {"k": "Mg=="}})
    assert immutable.value.status == 422


def test_server_side_apply_drops_fields_the_manager_stopped_applying(api, emulator):
    core, _ = api

    def apply_cm(data: dict) -> dict:
        resp = core.patch_namespaced_config_map(
            "cm", "t", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                        "data": data}, field_manager="cockpit", _content_type=APPLY,
            _preload_content=False)
        return json.loads(resp.data)

    apply_cm({"a": "1", "b": "2"})
    core.patch_namespaced_config_map("cm", "t", {"data": {"other": "x"}})  # another manager
    assert apply_cm({"a": "1"})["data"] == {"a": "1", "other": "x"}


def test_requests_without_the_token_are_unauthorized(emulator):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{emulator.url}/api/v1/namespaces", timeout=5)
    assert denied.value.code == 401


def _apply_as(apps, body: dict, manager: str, force: bool = False) -> dict:
    resp = apps.patch_namespaced_deployment("web", "t", body, field_manager=manager, force=force,
                                            _content_type=APPLY, _preload_content=False)
    return json.loads(resp.data)


def test_server_side_apply_merges_list_maps_by_key_and_records_managed_fields(api, emulator):
    _, apps = api
    body = deployment("img:1")
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    _apply_as(apps, body, "cockpit")
    sidecar = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": [
                   {"name": "proxy", "image": "envoy:1"},
                   {"name": "app", "env": [{"name": "B", "value": "2"}]}]}}}}
    merged = _apply_as(apps, sidecar, "mesh")
    containers = {c["name"]: c for c in merged["spec"]["template"]["spec"]["containers"]}
    assert set(containers) == {"app", "proxy"}  # merged by name, not replaced
    assert containers["app"]["image"] == "img:1"
    assert [e["name"] for e in containers["app"]["env"]] == ["A", "B"]
    managers = {e["manager"]: e for e in merged["metadata"]["managedFields"]}
    assert set(managers) == {"cockpit", "mesh"}
    app_key = 'k:{"name":"app"}'
    assert app_key in managers["cockpit"]["fieldsV1"]["f:spec"]["f:template"]["f:spec"][
        "f:containers"]
    assert managers["mesh"]["operation"] == "Apply"


def test_server_side_apply_conflicts_on_another_managers_field_unless_forced(api, emulator):
    _, apps = api
    _apply_as(apps, deployment("img:1", replicas=3), "cockpit")
    with pytest.raises(ApiException) as err:
        _apply_as(apps, {"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "web"}, "spec": {"replicas": 5}}, "hpa")
    assert err.value.status == 409
    assert 'conflict with "cockpit": .spec.replicas' in json.loads(err.value.body)["message"]
    assert read(apps)["spec"]["replicas"] == 3  # nothing changed
    forced = _apply_as(apps, {"apiVersion": "apps/v1", "kind": "Deployment",
                              "metadata": {"name": "web"}, "spec": {"replicas": 5}}, "hpa",
                       force=True)
    assert forced["spec"]["replicas"] == 5
    # the same value is no conflict
    _apply_as(apps, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                     "spec": {"replicas": 5}}, "other")


def test_a_crash_in_the_controllers_fails_the_test_instead_of_being_swallowed():
    from .emulator import Emulator

    emu = Emulator()
    with pytest.raises(AssertionError, match="controller crashed"):
        with emu:
            def broken() -> None:
                raise RuntimeError("reconcile bug")

            emu.reconcile_once = broken
            deadline = threading.Event()
            while emu.controller_error is None and not deadline.wait(0.01):
                pass
