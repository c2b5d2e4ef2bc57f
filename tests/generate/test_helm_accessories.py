"""The generated Helm chart carries the accessories as optional StatefulSets (values
`accessories.<name>.enabled`): a Secret with a password made once, a headless Service and a
StatefulSet with a volumeClaimTemplate per accessory; the app and its release hook get the URL;
`external = true` leaves it out. Checked by the real `helm lint --strict` / `helm template`,
kubernetes-validate (strict) and kubectl's offline decoder, and the chart's values schema."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from cockpit.generate import artifacts
from tests.generate.test_release_step import CORPUS_ONLY, FLASKR, TOML, _bin, _kubectl_decodes

pytestmark = pytest.mark.timeout(300)

ACCESSORIES = """
[accessories.postgres]
version = "16"
storage = "5Gi"

[accessories.redis]
"""


@pytest.fixture
def chart(tmp_path: Path):
    """`chart(accessories=...)`: the generated chart written to a folder: (folder, files)."""

    def make(accessories: str = ACCESSORIES, kubernetes: bool = False
             ) -> tuple[Path, dict[str, str]]:
        dest = tmp_path / "blog"
        if not dest.exists():
            shutil.copytree(FLASKR, dest, ignore=CORPUS_ONLY)
        text = TOML
        if kubernetes:  # `external = true` is a Kubernetes key (where volumes are not)
            text = text.replace('[app.volumes]\ninstance = "/app/instance"\n', "")
            text = re.sub(r'provider = "vps"\nhost = "127.0.0.1"\nhost_port = (\d+)',
                          lambda m: f'provider = "kubernetes"\nnamespace = "blog-{m[1]}"', text)
        (dest / "cockpit.toml").write_text(text + accessories)
        files = {a.path.split("/", 3)[-1]: a.content for a in artifacts("helm", dest)}
        out = tmp_path / "chart"
        shutil.rmtree(out, ignore_errors=True)
        for path, content in files.items():
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (out / path).write_text(content)
        return out, files

    return make


def _helm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_bin("helm"), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def _render(folder: Path, *extra: str) -> list[dict]:
    out = _helm("template", "rel", str(folder), *extra, cwd=folder)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_the_chart_has_a_statefulset_per_accessory(chart) -> None:
    import kubernetes_validate

    folder, files = chart()
    values = yaml.safe_load(files["values.yaml"])
    scheme = values["accessories"]["postgres"].pop("scheme")
    assert scheme in ("postgres", "postgresql")  # cockpit.accessories.url's
    assert values["accessories"]["postgres"] == {
        "enabled": True, "kind": "postgres", "image": "postgres:16", "port": 5432,
        "storage": "5Gi", "storageClassName": "", "envVar": "DATABASE_URL",
        "dataDir": "/var/lib/postgresql/data", "user": "blog", "database": "blog"}
    values["accessories"]["postgres"]["scheme"] = scheme
    assert values["accessories"]["redis"]["image"] == "redis:7"
    jsonschema.validate(values, json.loads(files["values.schema.json"]))
    for extra in ([], ["-f", str(folder / "values-staging.yaml")],
                  ["-f", str(folder / "values-prod.yaml")]):
        lint = _helm("lint", "--strict", str(folder), *extra, cwd=folder)
        assert lint.returncode == 0 and "[WARNING]" not in lint.stdout, lint.stdout + lint.stderr

    docs = _render(folder, "-f", str(folder / "values-staging.yaml"))
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30.0", strict=True)
    sts = {d["metadata"]["name"]: d for d in docs if d["kind"] == "StatefulSet"}
    assert set(sts) == {"rel-blog-postgres", "rel-blog-redis"}
    pg = sts["rel-blog-postgres"]
    assert pg["spec"]["replicas"] == 1 and pg["spec"]["serviceName"] == "rel-blog-postgres"
    [claim] = pg["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert "storageClassName" not in claim["spec"]  # the cluster's default
    c = pg["spec"]["template"]["spec"]["containers"][0]
    assert c["readinessProbe"]["exec"]["command"][-1].startswith("pg_isready")
    assert c["volumeMounts"] == [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]
    redis = sts["rel-blog-redis"]["spec"]["template"]["spec"]["containers"][0]
    assert "--requirepass" in redis["command"][-1]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert services["rel-blog-postgres"]["spec"]["clusterIP"] == "None"
    # the app's Service never selects an accessory's pod
    app_selector = set(services["rel-blog"]["spec"]["selector"].items())
    assert not app_selector <= set(pg["spec"]["template"]["metadata"]["labels"].items())
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", secrets["rel-blog-postgres-auth"]["data"]["PASSWORD"])
    assert secrets["rel-blog-postgres-auth"]["metadata"]["annotations"] == {
        "helm.sh/resource-policy": "keep"}

    # the app and the release hook get the URL, composed from the Secret by $(VAR) expansion
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "ACCESSORY_POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "rel-blog-postgres-auth", "key": "PASSWORD"}}} in env
    assert {"name": "DATABASE_URL", "value": f"{scheme}://blog:$(ACCESSORY_POSTGRES_PASSWORD)@"
                                             "rel-blog-postgres:5432/blog"} in env
    assert {"name": "REDIS_URL", "value": "redis://default:$(ACCESSORY_REDIS_PASSWORD)@"
                                          "rel-blog-redis:6379/0"} in env
    names = [e["name"] for e in env]
    assert names.index("ACCESSORY_REDIS_PASSWORD") < names.index("REDIS_URL")
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    waits = job["spec"]["template"]["spec"]["initContainers"]
    assert [w["name"] for w in waits] == ["wait-postgres", "wait-redis"]
    assert "pg_isready -q -h rel-blog-postgres -p 5432" in waits[0]["command"][-1]
    assert {"name": "DATABASE_URL", "value": f"{scheme}://blog:$(ACCESSORY_POSTGRES_PASSWORD)@"
            "rel-blog-postgres:5432/blog"} in job["spec"]["template"]["spec"]["containers"][0][
                "env"]
    _kubectl_decodes(deployment, job, *sts.values())


def test_an_accessory_can_be_turned_off_and_external_ones_are_off(chart) -> None:
    folder, _ = chart()
    docs = _render(folder, "--set", "accessories.redis.enabled=false")
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "StatefulSet"} == {
        "rel-blog-postgres"}
    env = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"][0]["env"]
    assert "REDIS_URL" not in {e["name"] for e in env}
    # every accessory off: no StatefulSet, and the release hook is pre-install again
    docs = _render(folder, "--set", "accessories.redis.enabled=false",
                   "--set", "accessories.postgres.enabled=false")
    assert "StatefulSet" not in {d["kind"] for d in docs}
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "initContainers" not in job["spec"]["template"]["spec"]
    # a bad value is refused by the chart's schema
    bad = _helm("template", "rel", str(folder), "--set", "accessories.postgres.storage=lots",
                cwd=folder)
    assert bad.returncode != 0 and "storage" in bad.stderr

    folder, files = chart(ACCESSORIES.replace('storage = "5Gi"', "external = true"),
                          kubernetes=True)
    assert yaml.safe_load(files["values.yaml"])["accessories"]["postgres"]["enabled"] is False
    docs = _render(folder)
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "StatefulSet"} == {
        "rel-blog-redis"}
