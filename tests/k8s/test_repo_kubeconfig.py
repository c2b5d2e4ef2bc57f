"""A kubeconfig shipped inside the app's folder must not run commands without the user's say."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from cockpit.providers.kubernetes.kube import check_repo_kubeconfig, credential_commands

from cockpit.errors import ProviderError

EXEC_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: sh
      args: ["-c", "touch {marker}; echo '{}'"]
"""


def _project(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "app"
    root.mkdir()
    marker = tmp_path / "ran"
    (root / "kubeconfig").write_text(EXEC_KUBECONFIG.replace("{marker}", str(marker)))
    (root / "cockpit.toml").write_text(
        '[app]\nname = "shop"\n[environments.staging]\nprovider = "kubernetes"\n'
        'namespace = "shop-staging"\nkubeconfig = "kubeconfig"\n')
    return root, root / "kubeconfig", marker


def test_credential_commands_are_read_from_exec_and_auth_provider(tmp_path):
    _, kc, marker = _project(tmp_path)
    assert credential_commands(kc) == [f"sh -c touch {marker}; echo '{{}}'"]


def test_a_repo_kubeconfig_that_runs_commands_is_refused_without_asking(tmp_path, monkeypatch):
    root, kc, marker = _project(tmp_path)
    monkeypatch.delenv("COCKPIT_TRUST_KUBECONFIG", raising=False)
    with pytest.raises(ProviderError) as err:
        check_repo_kubeconfig(str(kc), root)
    assert "inside the app's folder" in err.value.what and "sha256:" in err.value.hint
    assert check_repo_kubeconfig(str(kc), root, ask=lambda q: True) is None
    with pytest.raises(ProviderError):
        check_repo_kubeconfig(str(kc), root, ask=lambda q: False)
    digest = "sha256:" + hashlib.sha256(kc.read_bytes()).hexdigest()
    monkeypatch.setenv("COCKPIT_TRUST_KUBECONFIG", digest)
    assert check_repo_kubeconfig(str(kc), root) is None
    check_repo_kubeconfig(str(kc), tmp_path / "elsewhere")  # outside the folder: the user's own


def test_cockpit_status_in_a_fresh_process_never_runs_the_repo_command(tmp_path):
    root, _, marker = _project(tmp_path)
    out = subprocess.run([sys.executable, "-m", "cockpit", "status", "--json"], cwd=root,
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert not marker.exists(), "the kubeconfig's exec command ran"
    assert "inside the app's folder" in out.stdout + out.stderr
