"""The same flow against a real cluster (kind, k3d, ...), only when asked.

Runs when KUBECONFIG points at a cluster and COCKPIT_K8S_IMAGE names an image pinned by digest
that the cluster can pull and that answers 2xx on /up at $PORT (examples/hello-app does):

    KUBECONFIG=~/.kube/config COCKPIT_K8S_IMAGE=localhost:5001/hello@sha256:... \\
        pytest -m k8s_real tests/k8s/test_real.py

Optional: COCKPIT_K8S_CONTEXT (default: the current context), COCKPIT_K8S_IMAGE2 (a second
release; default: the same image, which still makes a new revision). The test creates two
namespaces `cockpit-test-<random>-{staging,prod}` and deletes them at the end.
"""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path

import pytest

from cockpit import config as config_mod
from cockpit import pipeline
from cockpit.errors import GateFailed
from cockpit.provider import Context, Options
from cockpit.secrets import SecretStore
from cockpit.state import Store

from .conftest import Recorder

KUBECONFIG = os.environ.get("KUBECONFIG", "")
IMAGE = os.environ.get("COCKPIT_K8S_IMAGE", "")

pytestmark = [
    pytest.mark.k8s_real,
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not (KUBECONFIG and Path(KUBECONFIG.split(os.pathsep)[0]).expanduser()
                            .is_file() and "@sha256:" in IMAGE),
                       reason="set KUBECONFIG to a real cluster and COCKPIT_K8S_IMAGE to "
                              "repo@sha256:... to run against it"),
]


@pytest.fixture
def real_ctx(tmp_path, tmp_state, os_keyring):
    prefix = f"cockpit-test-{uuid.uuid4().hex[:6]}"
    context = os.environ.get("COCKPIT_K8S_CONTEXT")
    ctx_line = f'context = "{context}"' if context else ""
    text = textwrap.dedent(f"""\
        [app]
        name = "hello"
        port = 8000
        health_path = "/up"

        [environments.staging]
        provider = "kubernetes"
        {ctx_line}
        namespace = "{prefix}-staging"
        replicas = 2
        progress_deadline = 120
        gate = {{ count = 3, interval = 1.0, deadline = 240 }}

        [environments.prod]
        provider = "kubernetes"
        {ctx_line}
        namespace = "{prefix}-prod"
        replicas = 1
        gate = {{ count = 3, interval = 1.0, deadline = 240 }}

        [secrets]
        staging = ["SECRET_KEY"]
        prod = ["SECRET_KEY"]
        """)
    path = tmp_path / "cockpit.toml"
    path.write_text(text)
    cfg = config_mod.load(path)
    ctx = Context(config=cfg, store=Store.open("hello", root=tmp_state),
                  secrets=SecretStore("hello"), options=Options(confirm="prod", yes=True))
    for env in cfg.environments.values():
        ctx.secrets.set(env, "SECRET_KEY", f"real-cluster-{env.name}-{uuid.uuid4().hex}")
    yield ctx
    for env in cfg.environments.values():
        kube = pipeline.provider_for(ctx, env).kube(env)
        kube.get("delete namespace", kube.core.delete_namespace, env.settings.namespace)
    ctx.store.close()


def test_deploy_fail_undo_rollback_promote_logs_on_a_real_cluster(real_ctx):
    ctx = real_ctx
    staging = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, staging)
    assert [f for f in provider.preflight(staging) if f.severity == "error"] == []

    first = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE)
    assert first.status == "healthy"
    second = pipeline.deploy(ctx, "staging", Recorder(),
                             image=os.environ.get("COCKPIT_K8S_IMAGE2") or IMAGE)
    assert second.status == "healthy"

    missing = IMAGE.split("@")[0] + "@sha256:" + "0" * 64  # cannot be pulled: ErrImagePull
    with pytest.raises(GateFailed) as failed:
        pipeline.deploy(ctx, "staging", Recorder(), image=missing)
    assert f"rolled back to release {second.id}" in failed.value.what
    assert pipeline.live(ctx, "staging").current.id == second.id

    back = pipeline.rollback(ctx, "staging", Recorder(), to=first.id)
    assert back.id == first.id
    state = pipeline.live(ctx, "staging")
    assert state.current.id == first.id
    assert state.extra["rollout_state"] == "done"

    lines = list(provider.logs(staging, follow=False))
    assert lines and all(line.source.startswith("hello-") for line in lines)

    promoted = pipeline.promote(ctx, "staging", "prod", Recorder())
    assert promoted.digest == first.digest
