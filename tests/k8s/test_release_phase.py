"""`[app] release_command` on Kubernetes: a Job of the new image, run once per release after the
image is pushed and the release's Secret applied, before the Deployment is applied; a failing
Job stops the deploy (the serving release untouched) with its output and exit status. Against
the emulator, whose Job controller runs the image's declared release behaviour."""

from __future__ import annotations

import json

import pytest

from cockpit import config as config_mod
from cockpit import pipeline
from cockpit.provider import Context, Options
from cockpit.release_phase import ReleaseCommandFailed
from cockpit.secrets import SecretStore
from cockpit.state import Store
from tests.conftest import closing_contexts

from .conftest import IMAGE_V1, IMAGE_V2, REPO, SECRET_STAGING, Recorder, write_project

pytestmark = pytest.mark.timeout(900)  # fixtures may wait for the lab-wide keyring lock

IMAGE_MIGRATE_FAILS = f"{REPO}@sha256:" + "f" * 64
IMAGE_MIGRATE_HANGS = f"{REPO}@sha256:" + "a" * 64
COMMAND = "python manage.py migrate --noinput"
NS = "shop-staging"


@pytest.fixture
def project(tmp_path, emulator, os_keyring, tmp_state):
    """`project(command=..., **write_project kwargs)`: a Context whose [app] has a release
    command; SECRET_KEY in the keyring for both environments."""
    emulator.image(IMAGE_V1, release_logs=["Operations to perform: Apply all migrations",
                                           "Applying blog.0001_initial... OK"])
    emulator.image(IMAGE_MIGRATE_FAILS, release_exit=3, release_logs=[
        "Applying blog.0002_tags...",
        'django.db.utils.ProgrammingError: relation "blog_tag" already exists'])
    emulator.image(IMAGE_MIGRATE_HANGS, release_seconds=3600)
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    with closing_contexts() as made:
        def factory(command: str = COMMAND, **kw) -> Context:
            path = write_project(tmp_path, kubeconfig, **kw)
            text = path.read_text().replace('health_path = "/up"\n', 'health_path = "/up"\n'
                                            f"release_command = {json.dumps(command)}\n", 1)
            path.write_text(text)
            cfg = config_mod.load(path)
            ctx = Context(config=cfg, store=Store.open("shop", root=tmp_state),
                          secrets=SecretStore("shop"), options=Options(confirm="prod", yes=True))
            ctx.secrets.set(cfg.env("staging"), "SECRET_KEY", SECRET_STAGING)
            ctx.secrets.set(cfg.env("prod"), "SECRET_KEY", "prod-value-0f9e8d7c")
            made.append(ctx)
            return ctx

        yield factory


def jobs(emulator, ns=NS):
    return emulator.list("batch/v1", "jobs", ns)


def index(emulator, method, fragment):
    return [i for i, r in enumerate(emulator.requests)
            if r["method"] == method and fragment in r["path"]]


def test_the_plan_shows_the_release_step_before_the_deployment(project):
    ctx = project()
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    release = pipeline.make_release(ctx, env, IMAGE_V1, pipeline.digest_of(IMAGE_V1))
    plan = provider.plan_deploy(env, release)
    ids = [s.id for s in plan.steps]
    assert ids.index("release_command") < ids.index("deployment")
    step = plan.steps[ids.index("release_command")]
    assert COMMAND in step.title and f"shop-staging-release-{release.id}" in step.title
    assert not any("NOT run" in n or "not run" in n for n in plan.notes)


def test_a_release_command_runs_once_as_a_job_before_the_deployment(project, emulator):
    ctx = project()
    rec = Recorder()
    release = pipeline.deploy(ctx, "staging", rec, image=IMAGE_V1)

    assert release.status == "healthy"
    [job] = jobs(emulator)
    name = f"shop-staging-release-{release.id}"
    assert job["metadata"]["name"] == name
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 600
    conds = {c["type"]: c["status"] for c in job["status"]["conditions"]}
    assert conds == {"SuccessCriteriaMet": "True", "Complete": "True"}
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE_V1
    assert container["command"] == ["sh", "-c", COMMAND]
    assert container["envFrom"][0]["secretRef"]["name"] == f"shop-{release.id}"
    assert {"name": "COCKPIT_RELEASE", "value": release.id} in container["env"]
    # the Service never routes to the Job's pod: it has no app/env labels
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert "app" not in pod_labels and "env" not in pod_labels
    # order, from the emulator's request log: secret, then the job (and its verdict), then
    # the deployment
    secret_at = index(emulator, "PATCH", f"/secrets/shop-{release.id}")[0]
    job_at = index(emulator, "PATCH", f"/jobs/{name}")[0]
    verdict_at = index(emulator, "GET", f"/jobs/{name}")[-1]
    deploy_at = index(emulator, "PATCH", "/deployments/shop")[0]
    assert secret_at < job_at < verdict_at < deploy_at
    output = [e.line for e in rec.of("log") if e.source == "release"]
    assert output == ["Operations to perform: Apply all migrations",
                      "Applying blog.0001_initial... OK"]
    steps = [e.step for e in rec.of("step_finished")]
    assert steps.index("release_command") < steps.index("deployment")

    # a re-run of the same release reuses the completed Job: the command does not run twice
    env = ctx.config.env("staging")
    provider = pipeline.provider_for(ctx, env)
    again = Recorder()
    provider.apply(provider.plan_deploy(env, release), again)
    assert len(index(emulator, "PATCH", f"/jobs/{name}")) == 1
    assert len(emulator.list("v1", "pods", NS, {"job-name": name})) == 1
    skipped = [e for e in again.of("step_skipped") if e.step == "release_command"]
    assert skipped and "already completed" in skipped[0].reason

    # the next release runs its own Job
    second = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert {j["metadata"]["name"] for j in jobs(emulator)} == {
        name, f"shop-staging-release-{second.id}"}


def test_a_failing_release_command_stops_the_deploy_and_the_old_release_serves(
        project, emulator):
    ctx = project()
    good = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    deploys_before = len(index(emulator, "PATCH", "/deployments/shop"))
    rec = Recorder()
    with pytest.raises(ReleaseCommandFailed) as failed:
        pipeline.deploy(ctx, "staging", rec, image=IMAGE_MIGRATE_FAILS)

    err = failed.value
    assert err.exit_code == 1 and err.status == 3
    assert "exited with status 3" in err.what
    assert 'relation "blog_tag" already exists' in err.what
    assert f"release {good.id} keeps serving" in err.what
    assert err.logs[-2:] == ["Applying blog.0002_tags...",
                             'django.db.utils.ProgrammingError: relation "blog_tag" '
                             "already exists"]
    assert err.to_dict()["exit_status"] == 3
    # nothing else was applied: the Deployment still runs the good release
    assert len(index(emulator, "PATCH", "/deployments/shop")) == deploys_before
    d = emulator.get("apps/v1", "deployments", NS, "shop")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1
    failed_job = next(j for j in jobs(emulator) if j["metadata"]["name"] != (
        f"shop-staging-release-{good.id}"))
    conds = {c["type"]: c.get("reason") for c in failed_job["status"]["conditions"]}
    assert conds == {"FailureTarget": "BackoffLimitExceeded", "Failed": "BackoffLimitExceeded"}
    assert [e.step for e in rec.of("step_failed")] == ["release_command"]
    # the journal and the release history record it
    run = ctx.store.runs("staging", limit=1)[0]
    assert run.status == "failed"
    assert {"step": "release_command", "status": "failed"}.items() <= next(
        s for s in run.steps if s["step"] == "release_command" and s["status"] == "failed"
    ).items()
    failed_release = next(r for r in ctx.store.releases("staging") if r.id != good.id)
    assert failed_release.status == "failed"
    state = pipeline.live(ctx, "staging")
    assert state.current.id == good.id


def test_a_release_command_over_its_deadline_fails_with_the_jobs_reason(project, emulator):
    ctx = project(extra="release_timeout = 1")
    with pytest.raises(ReleaseCommandFailed) as failed:
        pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_MIGRATE_HANGS)
    assert "DeadlineExceeded" in failed.value.what
    assert "nothing serves yet" in failed.value.what
    assert emulator.get("apps/v1", "deployments", NS, "shop") is None


def test_the_job_is_a_valid_batch_v1_job_and_needs_its_rights(project):
    import kubernetes_validate
    from cockpit.providers.kubernetes import manifests as m

    ctx = project()
    env = ctx.config.env("staging")
    release = pipeline.make_release(ctx, env, IMAGE_V1, pipeline.digest_of(IMAGE_V1))
    job = m.release_job(env, release, with_secret=True, deadline=600)
    kubernetes_validate.validate(job, kubernetes_validate.latest_version(), strict=True)
    assert {("patch", "batch", "jobs", None), ("get", "batch", "jobs", None)} <= set(
        m.access_checks(env))


def test_promote_runs_the_release_command_in_prods_namespace_with_prods_secret(
        project, emulator):
    ctx = project()
    staged = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    promoted = pipeline.promote(ctx, "staging", "prod", Recorder())
    [job] = jobs(emulator, "shop-prod")
    assert job["metadata"]["name"] == f"shop-prod-release-{promoted.id}"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE_V1
    assert container["envFrom"][0]["secretRef"]["name"] == f"shop-{promoted.id}"
    assert {"name": "COCKPIT_ENV", "value": "prod"} in container["env"]
    assert [j["metadata"]["name"] for j in jobs(emulator)] == [
        f"shop-staging-release-{staged.id}"]


def test_finished_release_jobs_beyond_revision_history_are_pruned(project, emulator):
    ctx = project(extra="revision_history = 1")
    pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    second = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    assert [j["metadata"]["name"] for j in jobs(emulator)] == [
        f"shop-staging-release-{second.id}"]
    # the pruned Job's pod went with it (garbage collection by owner)
    emulator.wait_for(lambda: len(emulator.list("v1", "pods", NS, {
        "cockpit.dev/role": "release-command"})) == 1)


def test_a_jobs_template_is_immutable_in_the_emulator_as_in_the_api(project, emulator):
    from cockpit.providers.kubernetes import manifests as m
    from cockpit.providers.kubernetes.kube import ApiFailure

    ctx = project()
    release = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    env = ctx.config.env("staging")
    kube = pipeline.provider_for(ctx, env).kube(env)
    job = m.release_job(env, release, with_secret=True, deadline=600)
    job["spec"]["template"]["spec"]["containers"][0]["image"] = IMAGE_V2
    with pytest.raises(ApiFailure) as refused:
        kube.call("apply job", __import__("kubernetes").client.BatchV1Api(kube.api)
                  .patch_namespaced_job, job["metadata"]["name"], NS, job,
                  field_manager="cockpit", force=True,
                  _content_type="application/apply-patch+yaml")
    assert refused.value.status == 422 and "field is immutable" in refused.value.what


def test_a_release_command_whose_whole_output_is_one_json_line_is_shown_as_printed(
        project, emulator):
    """A pod's log is text even when it parses as JSON (a tool printing one JSON line): it is
    never decoded and shown as a Python repr ({'ok': ...})."""
    line = '{"level": "error", "msg": "migration 7 failed", "code": 42}'
    image = f"{REPO}@sha256:" + "c" * 64
    emulator.image(image, release_exit=1, release_logs=[line])
    ctx = project()
    with pytest.raises(ReleaseCommandFailed) as failed:
        pipeline.deploy(ctx, "staging", Recorder(), image=image)
    assert failed.value.logs == [line]
    assert line in failed.value.what
