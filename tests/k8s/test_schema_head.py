"""Rollback knows the schema on Kubernetes: after the release command's Job, a probe Job of the
same image (`alembic current` + `alembic history`, the release's Secret and env) reads the
schema head; the record is annotated on the release's ReplicaSet, so a rollback from another
machine (an empty state store) compares the heads and refuses with exit 5 until
--accept-schema. Against the emulator, whose images answer the probe like Alembic does."""

from __future__ import annotations

import json

import pytest

from cockpit import config as config_mod
from cockpit import pipeline
from cockpit.errors import Refused
from cockpit.provider import Context, Options
from cockpit.schema import MARK
from cockpit.secrets import SecretStore
from cockpit.state import Store
from tests.conftest import closing_contexts

from .conftest import IMAGE_V1, IMAGE_V2, REPO, SECRET_STAGING, Recorder, write_project

pytestmark = pytest.mark.timeout(900)  # fixtures may wait for the lab-wide keyring lock

COMMAND = "alembic upgrade head"
NS = "shop-staging"
IMAGE_PROBE_FAILS = f"{REPO}@sha256:" + "b" * 64
# what `alembic current && echo MARK && alembic history` prints in each image
HEAD_1 = ["INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.",
          "1a2b3c4d5e6f (head)", MARK, "<base> -> 1a2b3c4d5e6f (head), create notes"]
HEAD_2 = ["INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.",
          "9f8e7d6c5b4a (head)", MARK,
          "1a2b3c4d5e6f -> 9f8e7d6c5b4a (head), add tags to notes",
          "<base> -> 1a2b3c4d5e6f, create notes"]


@pytest.fixture
def site(tmp_path, emulator, os_keyring, tmp_state, monkeypatch):
    """`site(state=...)`: a Context on a project whose release command runs Alembic; `state`
    names the state store's folder (another folder: another machine)."""
    emulator.image(IMAGE_V1, commands={"alembic current": (0, HEAD_1)})
    emulator.image(IMAGE_V2, commands={"alembic current": (0, HEAD_2)})
    emulator.image(IMAGE_PROBE_FAILS, commands={"alembic current": (
        1, ["sqlalchemy.exc.OperationalError: could not connect to server"])})
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    path = write_project(tmp_path, kubeconfig)
    path.write_text(path.read_text().replace(
        'health_path = "/up"\n', f'health_path = "/up"\nrelease_command = "{COMMAND}"\n', 1))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COCKPIT_WATCH_SECONDS", "0")
    with closing_contexts() as made:
        def factory(state: str = "state", **options) -> Context:
            cfg = config_mod.load(path)
            ctx = Context(config=cfg, store=Store.open("shop", root=tmp_path / state),
                          secrets=SecretStore("shop"),
                          options=Options(confirm="prod", yes=True, **options))
            ctx.secrets.set(cfg.env("staging"), "SECRET_KEY", SECRET_STAGING)
            made.append(ctx)
            return ctx

        yield factory


def _rs_schema(emulator, release_id):
    for rs in emulator.list("apps/v1", "replicasets", NS):
        tmpl = rs["spec"]["template"]["metadata"]["annotations"]["cockpit.dev/release"]
        if json.loads(tmpl)["id"] == release_id:
            ann = rs["metadata"].get("annotations") or {}
            return {k: json.loads(v) for k, v in ann.items() if k.startswith("cockpit.dev/schema")}
    raise AssertionError(f"no replicaset of release {release_id}")


def test_each_release_records_its_schema_head_on_its_replicaset(site, emulator):
    ctx = site()
    rec = Recorder()
    r1 = pipeline.deploy(ctx, "staging", rec, image=IMAGE_V1)
    assert r1.meta["schema"] == {"tool": "alembic", "head": "1a2b3c4d5e6f",
                                 "applied": ["1a2b3c4d5e6f"],
                                 "labels": {"1a2b3c4d5e6f": "create notes"}}
    assert any("schema head of release" in e.text and "alembic 1a2b3c4d5e6f" in e.text
               for e in rec.of("message"))
    assert _rs_schema(emulator, r1.id) == {"cockpit.dev/schema": r1.meta["schema"]}
    # the probe ran as a Job of the release's image, with its Secret and env, after the
    # release command's Job; it is deleted once read
    name = f"shop-staging-schema-{r1.id}"
    [sent] = [json.loads(r["body"]) for r in emulator.requests
              if r["method"] == "PATCH" and r["path"].endswith(f"/jobs/{name}")]
    container = sent["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE_V1
    assert container["command"] == ["sh", "-c", f"alembic current && echo '{MARK}' && "
                                                "alembic history"]
    assert container["envFrom"] == [{"secretRef": {"name": f"shop-{r1.id}"}}]
    assert sent["metadata"]["labels"]["cockpit.dev/role"] == "schema-probe"
    release_job = [i for i, r in enumerate(emulator.requests) if r["method"] == "PATCH"
                   and r["path"].endswith(f"/jobs/shop-staging-release-{r1.id}")]
    probe_job = [i for i, r in enumerate(emulator.requests) if r["method"] == "PATCH"
                 and r["path"].endswith(f"/jobs/{name}")]
    assert release_job[0] < probe_job[0]
    assert emulator.get("batch/v1", "jobs", NS, name) is None
    # live state carries the record (another machine reads it from the cluster)
    r2 = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    state = pipeline.live(site(state="elsewhere"), "staging")
    by_id = {r.id: r for r in state.releases}
    assert by_id[r1.id].meta["schema"]["head"] == "1a2b3c4d5e6f"
    assert by_id[r2.id].meta["schema"]["head"] == "9f8e7d6c5b4a"
    # the Deployment never carries a revision's schema (new revisions would inherit it)
    d = emulator.get("apps/v1", "deployments", NS, "shop")
    assert not any(k.startswith("cockpit.dev/schema") for k in d["metadata"]["annotations"])
    assert SECRET_STAGING not in json.dumps(_rs_schema(emulator, r2.id))


def test_rollback_from_another_machine_refuses_with_the_migrations_in_between(
        site, emulator, capsys, tmp_path, monkeypatch):
    from cockpit.cli import main

    ctx = site()
    r1 = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V1)
    r2 = pipeline.deploy(ctx, "staging", Recorder(), image=IMAGE_V2)
    other = site(state="elsewhere")  # an empty state store: only the cluster knows the heads
    with pytest.raises(Refused) as refused:
        pipeline.rollback(other, "staging", Recorder(), to=r1.id)
    assert refused.value.exit_code == 5
    assert "9f8e7d6c5b4a (add tags to notes)" in refused.value.what
    assert "--accept-schema" in refused.value.hint
    assert pipeline.live(ctx, "staging").current.id == r2.id

    # the CLI, on a third machine: exit 5 listing the migration, then --accept-schema
    ctx.store.close()
    other.store.close()
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "third"))
    assert main(["rollback", "staging", "--to", r1.id, "--json"]) == 5
    error = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert "9f8e7d6c5b4a" in json.dumps(error) and "--accept-schema" in json.dumps(error)
    assert main(["rollback", "staging", "--to", r1.id, "--accept-schema", "--json"]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])["data"]["release"]
    assert done["id"] == r1.id
    assert done["meta"]["schema"]["head"] == "1a2b3c4d5e6f"
    assert done["meta"]["schema_db"]["head"] == "9f8e7d6c5b4a"
    # the database keeps release 2's head: recorded on release 1's revision for everyone
    assert _rs_schema(emulator, r1.id)["cockpit.dev/schema-db"]["head"] == "9f8e7d6c5b4a"
    # so going back to release 2 (onto its own schema) is not refused, from anywhere
    back = pipeline.rollback(site(state="fourth"), "staging", Recorder(), to=r2.id)
    assert back.id == r2.id
    assert "cockpit.dev/schema-db" not in _rs_schema(emulator, r2.id)


def test_a_failing_probe_is_a_warning_and_leaves_no_record(site, emulator):
    ctx = site()
    rec = Recorder()
    release = pipeline.deploy(ctx, "staging", rec, image=IMAGE_PROBE_FAILS)
    assert release.status == "healthy" and "schema" not in release.meta
    [warning] = [e for e in rec.of("message") if "was not recorded" in e.text]
    assert "exited with status 1" in warning.text and "could not connect" in warning.text
    assert _rs_schema(emulator, release.id) == {}
    assert emulator.get("batch/v1", "jobs", NS, f"shop-staging-schema-{release.id}") is None
