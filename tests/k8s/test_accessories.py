"""Accessories on Kubernetes: a Postgres and a Redis StatefulSet per environment (one replica, a
PersistentVolumeClaim from its volumeClaimTemplate, a headless Service, a Secret with the
password), applied by server-side apply with strict field validation before the release
command, waited for until ready, their URLs in the release's Secret; `external = true` keeps
the keyring URL. Against the emulator's StatefulSet controller. Secrets come from the CI mode's
variables here (no keyring: the generated-password path is the VPS tests')."""

from __future__ import annotations

import base64
import json
import re
import textwrap

import pytest

from cockpit import config as config_mod
from cockpit import pipeline
from cockpit.errors import ConfigError, ProviderError
from cockpit.provider import Context, Options
from cockpit.secrets import SecretStore
from cockpit.state import Store
from tests.conftest import closing_contexts

from .conftest import IMAGE_V1, IMAGE_V2, Recorder

pytestmark = pytest.mark.timeout(300)

PW = {"staging": {"POSTGRES": "a1" * 24, "REDIS": "b2" * 24},
      "prod": {"POSTGRES": "c3" * 24, "REDIS": "d4" * 24}}
MIGRATE = "python manage.py migrate --noinput"


def toml(kubeconfig, *, accessories: str, release_command: str | None = None,
         deadline: float = 5.0) -> str:
    text = textwrap.dedent(f"""\
        [app]
        name = "shop"
        port = 8000
        health_path = "/up"
        {f'release_command = "{release_command}"' if release_command else ''}
        """)
    for env in ("staging", "prod"):
        text += textwrap.dedent(f"""
            [environments.{env}]
            provider = "kubernetes"
            kubeconfig = "{kubeconfig}"
            context = "emulator"
            namespace = "shop-{env}"
            replicas = 1
            gate = {{ count = 2, interval = 0.05, deadline = {deadline} }}
            """)
    text += '\n[secrets]\nstaging = ["SECRET_KEY"]\nprod = ["SECRET_KEY"]\n'
    return text + textwrap.dedent(accessories)


BOTH = """
    [accessories.postgres]
    version = "16"

    [accessories.redis]
    """


@pytest.fixture
def site(tmp_path, emulator, monkeypatch):
    """`site(accessories=..., **toml kwargs)`: a Context (secrets from the environment)."""
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "1")
    monkeypatch.setenv("COCKPIT_SECRETS_DIGEST_KEY", "k8s-acc-digest-key-0123456789abcdef")
    monkeypatch.setenv("COCKPIT_WATCH_SECONDS", "0")
    for env, items in PW.items():
        monkeypatch.setenv(f"COCKPIT_SECRET_{env.upper()}_SECRET_KEY", f"{env}-key-5e1f0a9b")
        for kind, value in items.items():
            monkeypatch.setenv(f"COCKPIT_SECRET_{env.upper()}_ACCESSORY_{kind}_PASSWORD", value)
    with closing_contexts() as made:
        def factory(accessories: str = BOTH, **kw) -> Context:
            (tmp_path / "cockpit.toml").write_text(toml(kubeconfig, accessories=accessories, **kw))
            cfg = config_mod.load(tmp_path / "cockpit.toml")
            ctx = Context(config=cfg, store=Store.open("shop", root=tmp_path / "state"),
                          secrets=SecretStore("shop"), options=Options(confirm="prod", yes=True))
            made.append(ctx)
            return ctx

        yield factory


def _release_secret(emulator, ns, release):
    sec = emulator.get("v1", "secrets", ns, f"shop-{release.id}")
    return {k: base64.b64decode(v).decode() for k, v in sec["data"].items()}


def test_a_deploy_runs_each_accessory_as_a_statefulset_before_the_release(site, emulator):
    import kubernetes_validate
    from cockpit.providers.kubernetes import accessories as acc_k8s

    ctx = site(release_command=MIGRATE)
    env = ctx.config.env("staging")
    assert "DATABASE_URL" not in env.secret_names  # cockpit makes it: not a keyring secret
    rec = Recorder()
    release = pipeline.deploy(ctx, "staging", rec, image=IMAGE_V1)
    assert release.status == "healthy"

    sts = emulator.get("apps/v1", "statefulsets", "shop-staging", "shop-staging-postgres")
    assert sts["spec"]["replicas"] == 1 and sts["spec"]["serviceName"] == "shop-staging-postgres"
    assert sts["status"]["readyReplicas"] == 1
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "postgres:16"
    assert container["readinessProbe"]["exec"]["command"][-1].startswith("pg_isready")
    assert {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "shop-staging-postgres-auth", "key": "PASSWORD"}}} in container["env"]
    assert PW["staging"]["POSTGRES"] not in json.dumps(sts)  # the password is in the Secret
    svc = emulator.get("v1", "services", "shop-staging", "shop-staging-postgres")
    assert svc["spec"]["clusterIP"] == "None"
    pvc = emulator.get("v1", "persistentvolumeclaims", "shop-staging",
                       "data-shop-staging-postgres-0")
    assert pvc["status"]["phase"] == "Bound"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "ownerReferences" not in pvc["metadata"]
    pod = emulator.get("v1", "pods", "shop-staging", "shop-staging-postgres-0")
    assert pod["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {
        "claimName": "data-shop-staging-postgres-0"}}]
    assert "app" not in pod["metadata"]["labels"]  # the app's Service never routes to it
    redis = emulator.get("apps/v1", "statefulsets", "shop-staging", "shop-staging-redis")
    assert redis["spec"]["template"]["spec"]["containers"][0]["image"] == "redis:7"

    # the URLs reach the app (and the release command) through the release's Secret
    values = _release_secret(emulator, "shop-staging", release)
    assert re.fullmatch(rf"postgres(ql)?://shop:{PW['staging']['POSTGRES']}@"
                        r"shop-staging-postgres\.shop-staging\.svc:5432/shop",
                        values["DATABASE_URL"])  # the scheme: cockpit.accessories.url's
    assert values["REDIS_URL"] == (f"redis://default:{PW['staging']['REDIS']}@"
                                   "shop-staging-redis.shop-staging.svc:6379/0")
    # order: the statefulsets are ready before the release command's Job is applied
    paths = [(r["method"], r["path"]) for r in emulator.requests]
    sts_at = max(i for i, (mth, p) in enumerate(paths)
                 if mth == "PATCH" and p.endswith("/statefulsets/shop-staging-redis"))
    job_at = next(i for i, (mth, p) in enumerate(paths)
                  if mth == "PATCH" and "/jobs/shop-staging-release-" in p)
    assert sts_at < job_at
    assert all(r["query"].get("fieldValidation") == "Strict" for r in emulator.requests
               if r["method"] == "PATCH" and "/statefulsets/" in r["path"])
    steps = [e.step for e in rec.of("step_finished")]
    assert steps.index("accessories") < steps.index("release_command")
    assert PW["staging"]["POSTGRES"] not in rec.text()
    # every object is a valid one of the API (strict: no unknown field)
    for name in acc_k8s.names(env):
        for obj in (acc_k8s.statefulset(env, name), acc_k8s.headless_service(env, name),
                    acc_k8s.auth_secret(env, name, "x" * 48)):
            kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)
    # the dashboard's line per accessory
    state = pipeline.live(ctx, "staging")
    assert state.extra["accessories"] == [
        {"name": "postgres", "kind": "postgres", "state": "running", "health": "healthy"},
        {"name": "redis", "kind": "redis", "state": "running", "health": "healthy"}]


def test_staging_and_prod_never_share_an_accessory(site, emulator):
    ctx = site()
    staged = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    promoted = pipeline.promote(ctx, "staging", "prod", Recorder())
    assert emulator.get("apps/v1", "statefulsets", "shop-prod", "shop-prod-postgres")
    assert emulator.get("v1", "persistentvolumeclaims", "shop-prod", "data-shop-prod-postgres-0")
    stg = _release_secret(emulator, "shop-staging", staged)["DATABASE_URL"]
    prod = _release_secret(emulator, "shop-prod", promoted)["DATABASE_URL"]
    assert "shop-prod-postgres.shop-prod.svc" in prod and PW["prod"]["POSTGRES"] in prod
    assert stg != prod
    # one namespace for both environments is refused like any shared resource
    path = ctx.config.root / "cockpit.toml"
    path.write_text(path.read_text().replace('namespace = "shop-prod"',
                                             'namespace = "shop-staging"'))
    with pytest.raises(ConfigError, match="namespace"):
        config_mod.load(path)


def test_the_claim_outlives_the_statefulset_and_a_changed_claim_is_refused(site, emulator):
    ctx = site()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    claim = emulator.get("v1", "persistentvolumeclaims", "shop-staging",
                         "data-shop-staging-postgres-0")
    emulator.delete("apps/v1", "statefulsets", "shop-staging", "shop-staging-postgres")
    emulator.wait_for(lambda: emulator.get("v1", "pods", "shop-staging",
                                           "shop-staging-postgres-0") is None)
    kept = emulator.get("v1", "persistentvolumeclaims", "shop-staging",
                        "data-shop-staging-postgres-0")
    assert kept["metadata"]["uid"] == claim["metadata"]["uid"]
    # the next deploy makes the StatefulSet again, on the same claim (the data stays)
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    again = emulator.get("v1", "persistentvolumeclaims", "shop-staging",
                         "data-shop-staging-postgres-0")
    assert again["metadata"]["uid"] == claim["metadata"]["uid"]
    # a new version rolls the pod (template), a new size is refused (volumeClaimTemplates)
    ctx2 = site(accessories=BOTH.replace('version = "16"', 'version = "17"'))
    pipeline.deploy(ctx2, "staging", Recorder(), image=IMAGE_V1)
    pod = emulator.get("v1", "pods", "shop-staging", "shop-staging-postgres-0")
    assert pod["spec"]["containers"][0]["image"] == "postgres:17"
    ctx3 = site(accessories=BOTH.replace('version = "16"', 'version = "17"\nstorage = "5Gi"'))
    with pytest.raises(ProviderError) as refused:
        pipeline.deploy(ctx3, "staging", Recorder(), image=IMAGE_V2)
    assert "422" in str(refused.value.to_dict()) or "Forbidden" in refused.value.what
    assert "updates to statefulset spec for fields other than" in refused.value.what


def test_an_accessory_that_never_gets_ready_stops_the_deploy(site, emulator):
    emulator.image("redis:7", health_status=503, logs=["NOAUTH Authentication required"])
    ctx = site(deadline=1.0)
    with pytest.raises(ProviderError) as failed:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    assert "accessory redis (shop-staging-redis) is not ready" in failed.value.what
    assert "NOAUTH" in failed.value.what
    assert emulator.get("apps/v1", "deployments", "shop-staging", "shop") is None


def test_strict_field_validation_refuses_an_unknown_field(site, emulator):
    from cockpit.providers.kubernetes import accessories as acc_k8s
    from cockpit.providers.kubernetes.kube import ApiFailure

    ctx = site()
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    provider.setup(env, Recorder())
    sts = acc_k8s.statefulset(env, "postgres")
    sts["spec"]["template"]["spec"]["containers"][0]["readyProbe"] = {}
    with pytest.raises(ApiFailure) as refused:
        provider.kube(env).apply(sts, strict=True)
    assert refused.value.status == 400 and "strict decoding error" in refused.value.what
    assert "readyProbe" in refused.value.what
    # and, as the API's validation does, a selector that does not match the pods' labels
    sts = acc_k8s.statefulset(env, "postgres")
    sts["spec"]["selector"]["matchLabels"]["cockpit.dev/accessory"] = "redis"
    with pytest.raises(ApiFailure) as refused:
        provider.kube(env).apply(sts, strict=True)
    assert refused.value.status == 422 and "`selector` does not match" in refused.value.what


def test_external_true_keeps_the_url_in_the_keyring(site, emulator, monkeypatch):
    ctx = site(accessories='\n[accessories.postgres]\nexternal = true\n')
    env = ctx.config.env("staging")
    assert "DATABASE_URL" in env.secret_names
    monkeypatch.setenv("COCKPIT_SECRET_STAGING_DATABASE_URL", "postgres://u:p@db.example.com/shop")
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    assert emulator.list("apps/v1", "statefulsets", "shop-staging") == []
    assert _release_secret(emulator, "shop-staging", release)["DATABASE_URL"] == (
        "postgres://u:p@db.example.com/shop")


def test_the_cli_shows_logs_and_restarts_the_accessories(site, emulator, capsys):
    from cockpit.cli import main

    emulator.image("postgres:16", logs=["database system is ready to accept connections"])
    ctx = site()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    ctx.store.close()
    assert main(["accessories", "status", "staging", "--json"]) == 0
    found = json.loads(capsys.readouterr().out.splitlines()[-1])["data"]["accessories"]
    assert [(a["name"], a["state"], a["health"], a["volume"]) for a in found] == [
        ("postgres", "running", "healthy", "data-shop-staging-postgres-0 (Bound)"),
        ("redis", "running", "healthy", "data-shop-staging-redis-0 (Bound)")]
    assert main(["accessories", "logs", "staging", "postgres", "--json"]) == 0
    lines = json.loads(capsys.readouterr().out.splitlines()[-1])["data"]["lines"]
    assert {"accessory": "postgres",
            "line": "database system is ready to accept connections"} in lines
    before = emulator.get("v1", "pods", "shop-staging", "shop-staging-redis-0")
    assert main(["accessories", "restart", "staging", "redis", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out["data"]["restarted"] == ["redis"]
    after = emulator.get("v1", "pods", "shop-staging", "shop-staging-redis-0")
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert emulator.get("apps/v1", "statefulsets", "shop-staging", "shop-staging-redis")[
        "status"]["readyReplicas"] == 1
    assert main(["accessories", "restart", "staging", "nosuch"]) == 2


def test_preflight_checks_the_rights_the_statefulsets_need(site, emulator):
    emulator.deny("patch", "statefulsets", "shop-staging")
    ctx = site()
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    bad = [f for f in provider.preflight(env) if f.severity == "error"]
    assert "not allowed to patch apps/statefulsets in namespace 'shop-staging'" in " | ".join(
        f.message for f in bad)


def test_external_is_a_kubernetes_key_and_storage_a_quantity(tmp_path):
    vps = textwrap.dedent("""\
        [app]
        name = "shop"

        [environments.prod]
        provider = "vps"
        host = "127.0.0.1"

        [accessories.postgres]
        external = true
        """)
    (tmp_path / "cockpit.toml").write_text(vps)
    with pytest.raises(ConfigError) as refused:
        config_mod.load(tmp_path / "cockpit.toml")
    assert "accessories.postgres.external" in str(refused.value)
    assert "on a VPS cockpit runs accessory 'postgres' itself" in str(refused.value)
    k8s = vps.replace('provider = "vps"\nhost = "127.0.0.1"', 'provider = "kubernetes"\n'
                      'namespace = "shop-prod"').replace("external = true", 'storage = "lots"')
    (tmp_path / "cockpit.toml").write_text(k8s)
    with pytest.raises(ConfigError) as refused:
        config_mod.load(tmp_path / "cockpit.toml")
    assert "accessories.postgres.storage" in str(refused.value)
    # a config hash does not move for tables without the new keys
    (tmp_path / "cockpit.toml").write_text(k8s.replace('storage = "lots"\n', ""))
    plain = config_mod.load(tmp_path / "cockpit.toml").env("prod").config_hash
    (tmp_path / "cockpit.toml").write_text(k8s.replace('storage = "lots"', "external = false"))
    assert config_mod.load(tmp_path / "cockpit.toml").env("prod").config_hash == plain


def test_accessory_logs_never_show_its_password(site, emulator, capsys):
    from cockpit.cli import main

    # an image that prints its environment (the password arrives by secretKeyRef)
    emulator.image("postgres:16", log_env=["POSTGRES_PASSWORD"])
    ctx = site()
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    ctx.store.close()
    raw = emulator.pod_logs("shop-staging", "shop-staging-postgres-0")
    assert any(PW["staging"]["POSTGRES"] in line for line in raw)  # the emulator's truth
    assert main(["accessories", "logs", "staging", "postgres", "--json"]) == 0
    out = capsys.readouterr().out
    assert "POSTGRES_PASSWORD=" in out and PW["staging"]["POSTGRES"] not in out
